//! Deadlines keyed by id: the earliest is known at once, and a key's deadline can be moved or cancelled.
//!
//! One type serves every timer set in Charla: the core's login and idle deadlines, and the loop's throttled and
//! closing connections. A min-heap holds `(when, key, generation)`; rescheduling or cancelling a key only bumps
//! or forgets its generation, leaving a stale entry that is skipped when it surfaces. Stale entries are swept out
//! once they outnumber the live ones, so a storm of connections that come and go leaves no memory behind.
//!
//! Keys are connection-table keys, small integers, so each key's live generation is kept in a vector indexed by
//! the key rather than a hash map: 8 bytes a key up to the highest key seen (the connection table's peak, which
//! the table itself keeps too), and no hashing on every reschedule.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Stale entries tolerated before a sweep, beyond as many as there are live ones.
const SWEEP_SLACK: usize = 64;

#[derive(Debug, Default)]
pub struct DeadlineHeap {
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// By key, the generation of its one live entry (0: none); entries of other generations are stale.
    live: Vec<u64>,
    /// Keys with a live entry: the non-zero slots of `live`.
    live_count: usize,
    /// The last generation given out; the first is 1, so 0 can mean none.
    last_generation: u64,
}

impl DeadlineHeap {
    pub fn new() -> DeadlineHeap {
        DeadlineHeap::default()
    }

    /// Sets `key`'s deadline to `at`, replacing any it had.
    pub fn schedule(&mut self, key: usize, at: Instant) {
        self.last_generation += 1;
        let generation = self.last_generation;
        if key >= self.live.len() {
            self.live.resize(key + 1, 0);
        }
        if std::mem::replace(&mut self.live[key], generation) == 0 {
            self.live_count += 1;
        } else {
            self.sweep_if_stale();
        }
        self.heap.push(Reverse((at, key, generation)));
    }

    /// Forgets `key`'s deadline, if it has one.
    pub fn cancel(&mut self, key: usize) {
        if self.forget(key) {
            self.drop_stale_top();
            self.sweep_if_stale();
        }
    }

    /// Whether `key` has a deadline.
    pub fn contains(&self, key: usize) -> bool {
        self.generation_of(key).is_some()
    }

    /// The earliest live deadline.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Removes and returns a key whose deadline is at or before `now`, earliest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<usize> {
        let &Reverse((at, key, _)) = self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        self.forget(key);
        self.drop_stale_top();
        Some(key)
    }

    /// Live deadlines.
    pub fn len(&self) -> usize {
        self.live_count
    }

    pub fn is_empty(&self) -> bool {
        self.live_count == 0
    }

    fn generation_of(&self, key: usize) -> Option<u64> {
        self.live.get(key).copied().filter(|&generation| generation != 0)
    }

    /// Clears `key`'s live generation; whether it had one.
    fn forget(&mut self, key: usize) -> bool {
        let Some(slot) = self.live.get_mut(key).filter(|slot| **slot != 0) else { return false };
        *slot = 0;
        self.live_count -= 1;
        // The vector keeps its length, the highest key seen: shortening it on every cancel would make a key at
        // the top that comes and goes cost a refill of everything below it each time.
        true
    }

    /// Keeps the invariant that the top of the heap, if any, is live, so [`DeadlineHeap::next`] is exact.
    fn drop_stale_top(&mut self) {
        while let Some(&Reverse((_, key, generation))) = self.heap.peek() {
            if self.generation_of(key) == Some(generation) {
                return;
            }
            self.heap.pop();
        }
    }

    fn sweep_if_stale(&mut self) {
        if self.heap.len() <= 2 * self.live_count + SWEEP_SLACK {
            return;
        }
        let live = &self.live;
        self.heap.retain(|Reverse((_, key, generation))| live.get(*key) == Some(generation));
        if self.heap.capacity() > 2 * self.heap.len() + SWEEP_SLACK {
            self.heap.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn due_keys_come_out_earliest_first() {
        let start = Instant::now();
        let mut heap = DeadlineHeap::new();
        heap.schedule(1, at(start, 30));
        heap.schedule(2, at(start, 10));
        heap.schedule(3, at(start, 20));
        assert_eq!(heap.next(), Some(at(start, 10)));
        assert_eq!(heap.pop_due(at(start, 5)), None);
        assert_eq!(heap.pop_due(at(start, 25)), Some(2));
        assert_eq!(heap.pop_due(at(start, 25)), Some(3));
        assert_eq!(heap.pop_due(at(start, 25)), None);
        assert_eq!(heap.len(), 1);
    }

    #[test]
    fn rescheduling_and_cancelling_replace_the_old_deadline() {
        let start = Instant::now();
        let mut heap = DeadlineHeap::new();
        heap.schedule(1, at(start, 10));
        heap.schedule(1, at(start, 50));
        heap.schedule(2, at(start, 20));
        heap.cancel(2);
        assert_eq!(heap.next(), Some(at(start, 50)), "the stale entries do not wake anyone early");
        assert_eq!(heap.pop_due(at(start, 60)), Some(1));
        assert_eq!(heap.pop_due(at(start, 60)), None);
        assert!(heap.is_empty());
    }

    #[test]
    fn cancelled_entries_do_not_pile_up() {
        let start = Instant::now();
        let mut heap = DeadlineHeap::new();
        heap.schedule(0, at(start, 1));
        for key in 1..100_000 {
            heap.schedule(key, at(start, 30));
            heap.cancel(key);
        }
        assert_eq!(heap.len(), 1);
        assert!(heap.heap.len() <= 2 + SWEEP_SLACK, "{} entries held", heap.heap.len());
        assert!(heap.heap.capacity() <= 4 * SWEEP_SLACK, "capacity {}", heap.heap.capacity());
    }
}
