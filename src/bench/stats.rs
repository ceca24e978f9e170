//! What a worker measured (counts, failures by cause, HDR histograms of times), how two workers' tallies
//! merge, and how a histogram becomes the percentiles a report shows.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The longest time a histogram tells apart from "longer": one hour, in nanoseconds.
const HISTOGRAM_MAX_NS: u64 = 3_600_000_000_000;
/// Significant decimal digits kept per recorded value (0.1% resolution).
const HISTOGRAM_DIGITS: u8 = 3;

/// A histogram of durations in nanoseconds.
pub(crate) fn new_histogram() -> Histogram<u64> {
    // Not an input path: the bounds are constants, valid for hdrhistogram (low >= 1, high >= 2 * low, 0..=5 digits).
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, HISTOGRAM_DIGITS).expect("constant histogram bounds are valid")
}

#[derive(Debug, Clone)]
pub(crate) struct Tally {
    /// From starting to connect until TCP is established.
    pub(crate) connect_ns: Histogram<u64>,
    /// From starting to connect until in the room.
    pub(crate) login_ns: Histogram<u64>,
    /// `--tls`: from starting to connect until the TLS handshake is done.
    pub(crate) handshake_ns: Histogram<u64>,
    /// From a message's send time (scheduled time, in rate mode) to its delivery, over every delivery.
    pub(crate) latency_ns: Histogram<u64>,
    /// Rate mode: how late the tool sent each message against its schedule (the tool's own delay).
    pub(crate) send_lag_ns: Histogram<u64>,
    pub(crate) failures: BTreeMap<String, u64>,
    pub(crate) attempted: u64,
    pub(crate) established: u64,
    /// `--tls`: connections whose handshake completed.
    pub(crate) handshaken: u64,
    pub(crate) in_room: u64,
    pub(crate) first_start_ns: Option<u64>,
    pub(crate) last_established_ns: u64,
    pub(crate) last_handshaken_ns: u64,
    pub(crate) last_in_room_ns: u64,
    pub(crate) sent: u64,
    pub(crate) expected: u64,
    pub(crate) received: u64,
    pub(crate) lost: u64,
    /// Deliveries that came with a lower sequence number than one already seen from the same sender.
    pub(crate) reordered: u64,
    pub(crate) last_delivery_ns: u64,
    /// Receivers the server closed (or that failed) after the run started.
    pub(crate) dropped_during_run: u64,
    /// Per room (`--rooms`), by room number: what its clients got.
    pub(crate) rooms: Vec<RoomTally>,
    /// Deliveries of a message said in another room than the receiver's: none, if the server keeps rooms
    /// apart. Not counted as received.
    pub(crate) crossed: u64,
    /// The busiest worker thread's CPU time while joining, and while running (or holding).
    pub(crate) join_cpu: Duration,
    pub(crate) run_cpu: Duration,
}

/// One room's share of a [`Tally`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RoomTally {
    /// Clients that got into the room.
    pub(crate) in_room: u64,
    pub(crate) expected: u64,
    pub(crate) received: u64,
    pub(crate) lost: u64,
    pub(crate) reordered: u64,
}

impl Tally {
    /// An empty tally for a run over `rooms` rooms.
    pub(crate) fn new(rooms: usize) -> Tally {
        Tally {
            connect_ns: new_histogram(),
            login_ns: new_histogram(),
            handshake_ns: new_histogram(),
            latency_ns: new_histogram(),
            send_lag_ns: new_histogram(),
            failures: BTreeMap::new(),
            attempted: 0,
            established: 0,
            handshaken: 0,
            in_room: 0,
            first_start_ns: None,
            last_established_ns: 0,
            last_handshaken_ns: 0,
            last_in_room_ns: 0,
            sent: 0,
            expected: 0,
            received: 0,
            lost: 0,
            reordered: 0,
            last_delivery_ns: 0,
            dropped_during_run: 0,
            rooms: vec![RoomTally::default(); rooms.max(1)],
            crossed: 0,
            join_cpu: Duration::ZERO,
            run_cpu: Duration::ZERO,
        }
    }

    pub(crate) fn fail(&mut self, cause: String) {
        *self.failures.entry(cause).or_default() += 1;
    }

    /// Adds another worker's tally to this one. Times of day take the extreme; CPU times take the busiest
    /// thread, which is the one that could become a bottleneck.
    pub(crate) fn merge(&mut self, other: &Tally) {
        for (mine, theirs) in [
            (&mut self.connect_ns, &other.connect_ns),
            (&mut self.login_ns, &other.login_ns),
            (&mut self.handshake_ns, &other.handshake_ns),
            (&mut self.latency_ns, &other.latency_ns),
            (&mut self.send_lag_ns, &other.send_lag_ns),
        ] {
            // Same bounds on both sides, so adding cannot fail.
            let _ = mine.add(theirs);
        }
        for (cause, count) in &other.failures {
            *self.failures.entry(cause.clone()).or_default() += count;
        }
        self.attempted += other.attempted;
        self.established += other.established;
        self.handshaken += other.handshaken;
        self.in_room += other.in_room;
        self.first_start_ns = match (self.first_start_ns, other.first_start_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_established_ns = self.last_established_ns.max(other.last_established_ns);
        self.last_handshaken_ns = self.last_handshaken_ns.max(other.last_handshaken_ns);
        self.last_in_room_ns = self.last_in_room_ns.max(other.last_in_room_ns);
        self.sent += other.sent;
        self.expected += other.expected;
        self.received += other.received;
        self.lost += other.lost;
        self.reordered += other.reordered;
        self.last_delivery_ns = self.last_delivery_ns.max(other.last_delivery_ns);
        self.dropped_during_run += other.dropped_during_run;
        if self.rooms.len() < other.rooms.len() {
            self.rooms.resize(other.rooms.len(), RoomTally::default());
        }
        for (mine, theirs) in self.rooms.iter_mut().zip(&other.rooms) {
            mine.in_room += theirs.in_room;
            mine.expected += theirs.expected;
            mine.received += theirs.received;
            mine.lost += theirs.lost;
            mine.reordered += theirs.reordered;
        }
        self.crossed += other.crossed;
        self.join_cpu = self.join_cpu.max(other.join_cpu);
        self.run_cpu = self.run_cpu.max(other.run_cpu);
    }
}

/// Percentiles of a histogram, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Percentiles {
    pub(crate) count: u64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p99_9_us: f64,
    pub(crate) max_us: f64,
}

impl Percentiles {
    pub(crate) fn of(h: &Histogram<u64>) -> Percentiles {
        let us = |ns: u64| (ns as f64 / 1000.0 * 10.0).round() / 10.0;
        if h.is_empty() {
            return Percentiles { count: 0, p50_us: 0.0, p90_us: 0.0, p99_us: 0.0, p99_9_us: 0.0, max_us: 0.0 };
        }
        Percentiles {
            count: h.len(),
            p50_us: us(h.value_at_quantile(0.5)),
            p90_us: us(h.value_at_quantile(0.9)),
            p99_us: us(h.value_at_quantile(0.99)),
            p99_9_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_counts_and_histograms() {
        let mut a = Tally::new(2);
        let mut b = Tally::new(2);
        a.rooms[1].received = 3;
        b.rooms[1].received = 4;
        b.rooms[0].lost = 1;
        b.crossed = 2;
        a.latency_ns.saturating_record(1_000);
        b.latency_ns.saturating_record(3_000_000);
        a.fail("connect: refused".into());
        b.fail("connect: refused".into());
        b.first_start_ns = Some(5);
        b.run_cpu = Duration::from_millis(7);
        a.merge(&b);
        assert_eq!(a.failures.get("connect: refused"), Some(&2));
        assert_eq!(a.first_start_ns, Some(5));
        assert_eq!(a.run_cpu, Duration::from_millis(7));
        assert_eq!((a.rooms[0].lost, a.rooms[1].received, a.crossed), (1, 7, 2));
        let p = Percentiles::of(&a.latency_ns);
        assert_eq!(p.count, 2);
        assert_eq!(p.p50_us, 1.0);
        assert!((p.max_us - 3000.0).abs() < 3.0, "{p:?}");
    }
}
