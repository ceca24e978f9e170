//! The real clocks: the current moment for the core, and Unix time to local time of day for `[HH:MM]` stamps.
//!
//! The only place the server reads the time; the chat core receives it as an argument.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::core::catalog::HourMinute;
use crate::core::chat::Now;

/// The current moment on both clocks.
pub fn now() -> Now {
    Now { mono: Instant::now(), unix_ms: unix_ms(SystemTime::now()) }
}

/// Milliseconds since the Unix epoch; times before it (a badly set clock) are negative.
pub fn unix_ms(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

pub use crate::core::time::utc_timestamp;

/// Reads the time zone (`TZ`, else `/etc/localtime`) once, before any conversion.
pub fn init_local_time() {
    // SAFETY: tzset only reads the environment and the zone files; called once at start-up, before the
    // process has any other thread that could be changing the environment.
    unsafe { tzset() }
}

unsafe extern "C" {
    /// POSIX `tzset(3)`; the libc crate does not declare it.
    fn tzset();
}

/// The server's local time of day at `unix_ms`, through the C library's time zone rules. Messages come in
/// bursts within one minute, and zone offsets change only on whole minutes, so the last minute's answer is kept.
pub fn local_hour_minute(unix_ms: i64) -> HourMinute {
    thread_local! {
        static LAST: std::cell::Cell<Option<(i64, HourMinute)>> = const { std::cell::Cell::new(None) };
    }
    let minute = unix_ms.div_euclid(60_000);
    if let Some((cached_minute, at)) = LAST.get()
        && cached_minute == minute
    {
        return at;
    }
    let at = convert_local(unix_ms);
    LAST.set(Some((minute, at)));
    at
}

fn convert_local(unix_ms: i64) -> HourMinute {
    let seconds = unix_ms.div_euclid(1000) as libc::time_t;
    // SAFETY: localtime_r writes only into the `tm` we own and reads only the zone loaded by tzset.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let converted = unsafe { !libc::localtime_r(&seconds, &mut tm).is_null() };
    if !converted {
        // Out of the C library's range: fall back to UTC, which needs no tables.
        let minutes = unix_ms.div_euclid(60_000);
        return HourMinute {
            hour: (minutes.div_euclid(60).rem_euclid(24)) as u8,
            minute: minutes.rem_euclid(60) as u8,
        };
    }
    HourMinute { hour: tm.tm_hour as u8, minute: tm.tm_min as u8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_is_a_valid_time_of_day() {
        init_local_time();
        for ms in [0, 1_700_000_000_000, -1, i64::MAX / 2] {
            let at = local_hour_minute(ms);
            assert!(at.hour < 24 && at.minute < 60, "{at:?} for {ms}");
        }
    }

    #[test]
    fn unix_ms_counts_from_the_epoch() {
        assert_eq!(unix_ms(UNIX_EPOCH + std::time::Duration::from_millis(1234)), 1234);
        assert_eq!(unix_ms(UNIX_EPOCH - std::time::Duration::from_millis(5)), -5);
    }
}
