//! When and where history is saved: at most once per interval while it changes, with the disk work (write,
//! fsync, rename, fsync) on a background thread so a slow disk never stalls the event loop. After a failure the
//! save is retried one interval later, then after twice as long each time up to [`MAX_RETRY_DELAY`], so a disk
//! that stays full or read-only costs one log line a minute, not one a second.
//!
//! The loop serialises the ring (about a millisecond for 10,000 messages) and hands the bytes over; the thread
//! wakes the loop through a `mio::Waker` when it is done. Only one save is in flight at a time. At shutdown the
//! loop waits for the writer, but not forever: a disk that hangs costs the unsaved messages, not the exit.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::core::chat::Chat;
use crate::core::history::{History, rooms_to_json};
use crate::server::history_file;

/// The longest wait between retries of a save that keeps failing; the wait starts at the save interval and
/// doubles after each failure up to this (or stays at the interval, if that is longer).
pub(crate) const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// How long shutdown waits for the history writer, for a save in flight and the final save together, before
/// giving up on them and exiting with the history unsaved.
pub(crate) const FINISH_TIMEOUT: Duration = Duration::from_secs(5);

struct Job {
    revision: u64,
    json: Vec<u8>,
}

struct Outcome {
    revision: u64,
    result: Result<(), SaveFailure>,
    took: Duration,
}

struct SaveFailure {
    error: io::Error,
    /// What is at the history path instead, for the log: the previous file, or that there is none.
    on_disk: String,
}

pub(crate) struct HistorySaver {
    interval: Duration,
    saved_revision: u64,
    /// When the next save starts, while there are unsaved changes and none is in flight.
    due: Option<Instant>,
    /// The revision being written by the thread, if any.
    in_flight: Option<u64>,
    /// Saves that failed in a row; sets the wait before the next retry.
    failures: u32,
    /// Set by `finish`: a failed save is not retried, so the log must not say it will be.
    finishing: bool,
    jobs: Option<SyncSender<Job>>,
    outcomes: Receiver<Outcome>,
    thread: Option<JoinHandle<()>>,
}

impl HistorySaver {
    /// Starts the writer thread. `waker` is woken after each save so the loop can take its outcome.
    pub(crate) fn start(
        path: PathBuf,
        interval: Duration,
        saved_revision: u64,
        waker: Arc<mio::Waker>,
    ) -> io::Result<HistorySaver> {
        let (jobs, job_queue) = mpsc::sync_channel::<Job>(1);
        let (outcome_sender, outcomes) = mpsc::channel();
        let thread = std::thread::Builder::new().name("history-writer".to_owned()).spawn(move || {
            for job in job_queue {
                let started = Instant::now();
                let result = history_file::save(&path, &job.json)
                    .map_err(|error| SaveFailure { error, on_disk: history_file::describe_on_disk(&path) });
                let outcome = Outcome { revision: job.revision, result, took: started.elapsed() };
                if outcome_sender.send(outcome).is_err() {
                    return;
                }
                // If the loop is gone there is nobody to wake.
                let _ = waker.wake();
            }
        })?;
        Ok(HistorySaver {
            interval,
            saved_revision,
            due: None,
            in_flight: None,
            failures: 0,
            finishing: false,
            jobs: Some(jobs),
            outcomes,
            thread: Some(thread),
        })
    }

    /// The next moment [`HistorySaver::tick`] has work to do.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.due
    }

    /// Takes finished saves' outcomes, schedules a save one interval after an unsaved change, and starts it
    /// when that time comes.
    pub(crate) fn tick(&mut self, history: &impl SavedHistory, now: Instant) {
        self.take_outcomes(now);
        if history.revision() == self.saved_revision || self.in_flight.is_some() {
            return;
        }
        match self.due {
            None => self.due = Some(now + self.interval),
            Some(due) if due <= now => {
                self.due = None;
                self.start_save(history, now);
            }
            Some(_) => {}
        }
    }

    /// Saves whatever is unsaved and waits for it, for at most [`FINISH_TIMEOUT`]: for shutdown. Returns
    /// whether history is on disk.
    pub(crate) fn finish(mut self, history: &impl SavedHistory) -> bool {
        self.finishing = true;
        let deadline = Instant::now() + FINISH_TIMEOUT;
        if !self.wait_in_flight(deadline) {
            return self.abandon_writer();
        }
        if history.revision() != self.saved_revision {
            self.start_save(history, Instant::now());
            if !self.wait_in_flight(deadline) {
                return self.abandon_writer();
            }
        }
        history.revision() == self.saved_revision
    }

    /// The writer is stuck in a save (a hung disk, a stalled network file system): leave it behind rather than
    /// join it, which would never return. It ends with the process.
    fn abandon_writer(&mut self) -> bool {
        log::error!(
            "history not saved: the disk did not finish a save within {FINISH_TIMEOUT:?}; exiting without it, \
             so messages since the last save are lost"
        );
        self.thread = None;
        false
    }

    fn start_save(&mut self, history: &impl SavedHistory, now: Instant) {
        let Some(jobs) = &self.jobs else { return };
        let json = match history.to_json() {
            Ok(json) => json,
            Err(e) => {
                // Nothing is written: an empty or partial file must never replace a good one.
                log::error!("history not saved: cannot serialise it: {e}; the file on disk is unchanged");
                self.due = Some(now + self.interval);
                return;
            }
        };
        let job = Job { revision: history.revision(), json };
        match jobs.send(job) {
            Ok(()) => self.in_flight = Some(history.revision()),
            Err(_) => log::error!("history writer thread is gone; history is no longer saved"),
        }
    }

    fn take_outcomes(&mut self, now: Instant) {
        loop {
            match self.outcomes.try_recv() {
                Ok(outcome) => self.record(outcome, now),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    /// Waits until `deadline` for the save in flight, if any. Returns false if it is still running then.
    fn wait_in_flight(&mut self, deadline: Instant) -> bool {
        if self.in_flight.is_none() {
            return true;
        }
        match self.outcomes.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(outcome) => self.record(outcome, Instant::now()),
            Err(RecvTimeoutError::Timeout) => return false,
            Err(RecvTimeoutError::Disconnected) => self.in_flight = None,
        }
        true
    }

    fn record(&mut self, outcome: Outcome, now: Instant) {
        self.in_flight = None;
        match outcome.result {
            Ok(()) => {
                self.saved_revision = outcome.revision;
                log::debug!("history saved in {:?}", outcome.took);
                if self.failures > 0 {
                    log::info!("history saved again, after {} failed attempts", self.failures);
                    self.failures = 0;
                }
            }
            Err(SaveFailure { error, on_disk }) if self.finishing => {
                log::error!("history not saved: {error}; {on_disk}");
            }
            Err(SaveFailure { error, on_disk }) => {
                self.failures += 1;
                let delay = self.retry_delay();
                log::error!("history not saved: {error}; {on_disk}; retrying in {delay:?}");
                self.due = Some(now + delay);
            }
        }
    }

    /// The wait before retrying after `self.failures` failed saves in a row: one interval, then doubling.
    fn retry_delay(&self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(16);
        self.interval.saturating_mul(1 << doublings).min(MAX_RETRY_DELAY.max(self.interval))
    }
}

/// What the saver writes: something that says when it changed, and how it reads as a file.
pub(crate) trait SavedHistory {
    /// Changes whenever what [`SavedHistory::to_json`] returns would.
    fn revision(&self) -> u64;
    fn to_json(&self) -> Result<Vec<u8>, serde_json::Error>;
}

/// The chat's every room.
impl SavedHistory for Chat {
    fn revision(&self) -> u64 {
        self.history_revision()
    }

    fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        rooms_to_json(self.histories())
    }
}

/// One ring, as the lobby's (the saver's own tests use it).
impl SavedHistory for History {
    fn revision(&self) -> u64 {
        History::revision(self)
    }

    fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        History::to_json(self)
    }
}

impl Drop for HistorySaver {
    fn drop(&mut self) {
        // Closing the job channel ends the thread's loop once its current save, if any, is written. A writer
        // left behind by `finish` is not here to join.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::history::StoredMessage;

    fn saver_in(dir: &std::path::Path) -> (HistorySaver, mio::Poll) {
        let poll = mio::Poll::new().expect("poll");
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).expect("waker"));
        let saver = HistorySaver::start(dir.join("h.json"), Duration::from_secs(1), 0, waker).expect("start");
        (saver, poll)
    }

    fn wait_for_outcome(saver: &mut HistorySaver, poll: &mut mio::Poll, now: Instant) {
        let mut events = mio::Events::with_capacity(4);
        while saver.in_flight.is_some() {
            poll.poll(&mut events, Some(Duration::from_secs(5))).expect("poll");
            saver.take_outcomes(now);
        }
    }

    #[test]
    fn saves_one_interval_after_a_change_without_blocking_the_caller() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut saver, mut poll) = saver_in(dir.path());
        let mut history = History::new(10);
        let start = Instant::now();
        saver.tick(&history, start);
        assert_eq!(saver.next_deadline(), None, "nothing to save");
        history.push(StoredMessage { ts: 1, user: "Ana".into(), text: "hola".into(), action: false });
        saver.tick(&history, start);
        assert_eq!(saver.next_deadline(), Some(start + Duration::from_secs(1)));
        saver.tick(&history, start + Duration::from_secs(1));
        assert!(saver.in_flight.is_some(), "the save runs on the writer thread");
        wait_for_outcome(&mut saver, &mut poll, start + Duration::from_secs(1));
        assert_eq!(saver.saved_revision, history.revision());
        let json = std::fs::read_to_string(dir.path().join("h.json")).expect("saved");
        assert!(json.contains("hola"));
    }

    #[test]
    fn a_failed_save_is_retried_after_an_interval_and_finish_saves_the_rest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut saver, mut poll) = saver_in(dir.path());
        // A file cannot be renamed over a directory, even by root.
        std::fs::create_dir(dir.path().join("h.json")).expect("blocker");
        let mut history = History::new(10);
        history.push(StoredMessage { ts: 1, user: "Ana".into(), text: "hola".into(), action: false });
        let start = Instant::now();
        saver.tick(&history, start);
        saver.tick(&history, start + Duration::from_secs(1));
        wait_for_outcome(&mut saver, &mut poll, start + Duration::from_secs(1));
        assert_eq!(saver.saved_revision, 0);
        assert_eq!(saver.next_deadline(), Some(start + Duration::from_secs(2)), "retried one interval later");
        std::fs::remove_dir(dir.path().join("h.json")).expect("unblock");
        assert!(saver.finish(&history), "the final save succeeds");
        assert!(dir.path().join("h.json").is_file());
    }

    #[test]
    fn retries_back_off_from_one_interval_doubling_up_to_a_minute() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut saver, _poll) = saver_in(dir.path());
        let delays: Vec<u64> = (1..=9)
            .map(|failures| {
                saver.failures = failures;
                saver.retry_delay().as_secs()
            })
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        saver.failures = u32::MAX;
        assert_eq!(saver.retry_delay(), MAX_RETRY_DELAY);
        saver.interval = Duration::from_secs(300);
        assert_eq!(saver.retry_delay(), Duration::from_secs(300), "never sooner than the save interval");
    }
}
