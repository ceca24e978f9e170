//! What the main thread and the workers share: the clock origin, the phase the run is in, and counters the
//! progress line and the phase changes read. Only atomics: workers never wait on a lock.
//!
//! The main thread moves the phase forward; each worker looks at it at least every [`MAX_POLL_WAIT`].

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::bench::plan::Plan;

/// The longest a worker sleeps in `poll` before it looks at the phase again.
pub(crate) const MAX_POLL_WAIT: Duration = Duration::from_millis(10);

/// Where the run is. Phases only move forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Phase {
    /// Opening clients and logging them in.
    Join = 0,
    /// `connect`: every client is in (or failed); hold them.
    Hold = 1,
    /// `fanout`: senders send from `run_start_ns` for the run's duration, then everyone drains.
    Run = 2,
    /// Say goodbye, close every connection, and return the results.
    Leave = 3,
}

pub(crate) struct Shared {
    /// Every timestamp in the run, including those inside messages, is nanoseconds since this.
    pub(crate) origin: Instant,
    phase: AtomicU8,
    /// When senders start; set before the phase becomes [`Phase::Run`].
    run_start_ns: AtomicU64,
    pub(crate) established: AtomicU64,
    pub(crate) named: AtomicU64,
    /// Clients that never got in, or were closed before the run ended.
    pub(crate) failed: AtomicU64,
    /// Progress only: messages sent and deliveries received so far.
    pub(crate) sent: AtomicU64,
    pub(crate) received: AtomicU64,
    /// Messages each sender sent in all; final once `senders_done` equals the worker count.
    pub(crate) sent_by_sender: Vec<AtomicU64>,
    /// Workers that have stopped sending and published their senders' counts.
    pub(crate) senders_done: AtomicUsize,
    /// Workers that have received everything expected (or given up waiting).
    pub(crate) drained: AtomicUsize,
    /// A worker could not go on (its poll failed); the run ends early.
    pub(crate) aborted: AtomicBool,
}

impl Shared {
    pub(crate) fn new(senders: usize) -> Shared {
        Shared {
            origin: Instant::now(),
            phase: AtomicU8::new(Phase::Join as u8),
            run_start_ns: AtomicU64::new(u64::MAX),
            established: AtomicU64::new(0),
            named: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            sent_by_sender: (0..senders).map(|_| AtomicU64::new(0)).collect(),
            senders_done: AtomicUsize::new(0),
            drained: AtomicUsize::new(0),
            aborted: AtomicBool::new(false),
        }
    }

    /// Nanoseconds since [`Shared::origin`].
    pub(crate) fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    pub(crate) fn ns_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Join,
            1 => Phase::Hold,
            2 => Phase::Run,
            _ => Phase::Leave,
        }
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.phase.fetch_max(phase as u8, Ordering::AcqRel);
    }

    /// Starts the fan-out: senders begin at `start_ns`.
    pub(crate) fn start_run(&self, start_ns: u64) {
        self.run_start_ns.store(start_ns, Ordering::Release);
        self.set_phase(Phase::Run);
    }

    pub(crate) fn run_start_ns(&self) -> u64 {
        self.run_start_ns.load(Ordering::Acquire)
    }

    /// Messages said in each room, by room number (sender `i` talks in room `i % rooms`); final once every
    /// worker has stopped sending.
    pub(crate) fn sent_per_room(&self, plan: &Plan) -> Vec<u64> {
        let mut per_room = vec![0; plan.rooms.max(1)];
        for (sender, sent) in self.sent_by_sender.iter().enumerate() {
            per_room[plan.room_of(sender)] += sent.load(Ordering::Acquire);
        }
        per_room
    }
}
