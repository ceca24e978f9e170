//! Flood control: a per-connection token bucket of lines. A client that outruns it is not read until the bucket
//! refills, so flooding slows the flooder (TCP pushes back on it) without dropping its lines or costing others.

use std::time::{Duration, Instant};

/// The default sustained rate, in lines per second: well above what a person types.
pub(crate) const DEFAULT_FLOOD_RATE: u32 = 5;
/// The default burst, in lines: room for a short paste.
pub(crate) const DEFAULT_FLOOD_BURST: u32 = 20;

/// Tokens are counted in thousandths of a line, so any rate refills smoothly with integer arithmetic.
const MILLI: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodLimit {
    /// Lines per second; 0 turns flood control off.
    pub(crate) rate: u32,
    /// Lines that may arrive at once after a quiet spell.
    pub(crate) burst: u32,
}

impl FloodLimit {
    pub(crate) fn enabled(&self) -> bool {
        self.rate > 0
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenBucket {
    /// Thousandths of a line available.
    milli_tokens: u64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(limit: FloodLimit, now: Instant) -> TokenBucket {
        TokenBucket { milli_tokens: u64::from(limit.burst.max(1)) * MILLI, refilled_at: now }
    }

    /// Takes one line's token if there is one.
    pub(crate) fn try_take(&mut self, limit: FloodLimit, now: Instant) -> bool {
        if !limit.enabled() {
            return true;
        }
        self.refill(limit, now);
        if self.milli_tokens >= MILLI {
            self.milli_tokens -= MILLI;
            true
        } else {
            false
        }
    }

    /// When the next whole token will be there.
    pub(crate) fn next_token_at(&self, limit: FloodLimit) -> Instant {
        let missing = MILLI.saturating_sub(self.milli_tokens);
        let rate = u64::from(limit.rate.max(1));
        // missing / (rate * MILLI) seconds, rounded up to a whole millisecond.
        let millis = (missing * 1000).div_ceil(rate * MILLI);
        self.refilled_at + Duration::from_millis(millis)
    }

    fn refill(&mut self, limit: FloodLimit, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled_at);
        let earned = elapsed.as_micros() as u64 * u64::from(limit.rate) / 1000;
        if earned == 0 {
            return;
        }
        let capacity = u64::from(limit.burst.max(1)) * MILLI;
        self.milli_tokens = (self.milli_tokens + earned).min(capacity);
        self.refilled_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: FloodLimit = FloodLimit { rate: 5, burst: 3 };

    #[test]
    fn a_burst_passes_then_lines_come_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(LIMIT, start);
        for _ in 0..3 {
            assert!(bucket.try_take(LIMIT, start));
        }
        assert!(!bucket.try_take(LIMIT, start));
        let next = bucket.next_token_at(LIMIT);
        assert_eq!(next, start + Duration::from_millis(200));
        assert!(!bucket.try_take(LIMIT, start + Duration::from_millis(199)));
        assert!(bucket.try_take(LIMIT, next));
        assert!(!bucket.try_take(LIMIT, next));
    }

    #[test]
    fn a_quiet_spell_refills_only_up_to_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(LIMIT, start);
        let later = start + Duration::from_secs(3600);
        let taken = (0..10).filter(|_| bucket.try_take(LIMIT, later)).count();
        assert_eq!(taken, 3);
    }

    #[test]
    fn rate_zero_means_unlimited() {
        let off = FloodLimit { rate: 0, burst: 1 };
        let now = Instant::now();
        let mut bucket = TokenBucket::new(off, now);
        assert!((0..10_000).all(|_| bucket.try_take(off, now)));
    }
}
