//! The live progress line: once a second, on stderr, only when stderr is a terminal (never in pipes or logs).

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::bench::shared::{Phase, Shared};

/// How often the line is redrawn.
const INTERVAL: Duration = Duration::from_secs(1);

pub(crate) struct Progress {
    enabled: bool,
    started: Instant,
    next: Instant,
    drawn: bool,
    clients: usize,
}

impl Progress {
    pub(crate) fn new(clients: usize) -> Progress {
        let now = Instant::now();
        Progress { enabled: std::io::stderr().is_terminal(), started: now, next: now + INTERVAL, drawn: false, clients }
    }

    /// Redraws the line if a second has passed since the last time.
    pub(crate) fn tick(&mut self, shared: &Shared) {
        let now = Instant::now();
        if !self.enabled || now < self.next {
            return;
        }
        self.next = now + INTERVAL;
        let phase = match shared.phase() {
            Phase::Join => "joining",
            Phase::Hold => "holding",
            Phase::Run => "running",
            Phase::Leave => "leaving",
        };
        let line = format!(
            "[{:>4}s] {phase}: {} established, {}/{} in room, {} failed | {} sent, {} delivered",
            self.started.elapsed().as_secs(),
            shared.established.load(Ordering::Relaxed),
            shared.named.load(Ordering::Relaxed),
            self.clients,
            shared.failed.load(Ordering::Relaxed),
            shared.sent.load(Ordering::Relaxed),
            shared.received.load(Ordering::Relaxed),
        );
        let mut err = std::io::stderr().lock();
        // A progress line that cannot be drawn is not worth stopping a run for.
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Clears the line before the final report.
    pub(crate) fn finish(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.drawn = false;
        }
    }
}
