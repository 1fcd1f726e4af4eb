//! Wall-clock milliseconds, as stores and token records keep them.
//!
//! Every expiry pow-rs writes (store TTLs, session and token records) is a count of
//! milliseconds since the Unix epoch; these helpers are the one place that reads the clock
//! and converts durations, so all of them round the same way.
//!
//! ```
//! use std::time::Duration;
//! use pow_core::time::{duration_ms, duration_ms_ceil, now_ms};
//!
//! assert!(now_ms() > 1_600_000_000_000);
//! assert_eq!(duration_ms(Duration::from_micros(1_500)), 1);
//! assert_eq!(duration_ms_ceil(Duration::from_micros(1_500)), 2);
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; 0 for a clock set before it.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// [`now_ms`] as an unsigned number, for backends that store expiries unsigned.
pub fn now_ms_unsigned() -> u64 {
    u64::try_from(now_ms()).unwrap_or(0)
}

/// `duration` in whole milliseconds, rounded down and saturating.
pub fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `duration` in whole milliseconds, rounded up (a TTL never ends early) and saturating.
pub fn duration_ms_ceil(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_and_saturate() {
        assert_eq!(duration_ms(Duration::from_nanos(999_999)), 0);
        assert_eq!(duration_ms_ceil(Duration::from_nanos(1)), 1);
        assert_eq!(duration_ms_ceil(Duration::ZERO), 0);
        assert_eq!(duration_ms(Duration::MAX), i64::MAX);
        assert_eq!(duration_ms_ceil(Duration::MAX), u64::MAX);
        // The two clocks agree: read between two signed reads, the unsigned one lies between
        // them (reading both at once could straddle a millisecond).
        let before = u64::try_from(now_ms()).unwrap_or(0);
        let unsigned = now_ms_unsigned();
        let after = u64::try_from(now_ms()).unwrap_or(0);
        assert!(
            before <= unsigned && unsigned <= after,
            "{before} {unsigned} {after}"
        );
    }
}
