//! Wall-clock milliseconds, as stores and token records keep them, and the [`Clock`] a
//! setup reads.
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

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

/// The time a setup's decisions read: the system's, or (for tests) the system's moved
/// forward by [`advance`](Clock::advance).
///
/// Set one with [`PowConfigBuilder::clock`](crate::config::PowConfigBuilder::clock) and
/// give the same clock to a [`MemoryStore`](crate::store::MemoryStore)
/// ([`with_clock`](crate::store::MemoryStore::with_clock)), and a test sees lifetimes end
/// (a code's minute, a device request's quarter hour, a sign-in older than `max_age`)
/// without waiting. Clones share their hands: advancing one advances all.
///
/// What reads it: that store's TTLs, the proofs a session records
/// (`record_session_method`), step-up rules, and
/// extensions' own lifetimes read through [`PowConfig::clock`](crate::PowConfig::clock)
/// (the provider's codes, tokens, device polls, client secrets and `max_age`). A
/// sign-in's own timestamps and sudo mode read the system's time.
///
/// ```
/// use std::time::Duration;
/// use pow_core::time::Clock;
///
/// let clock = Clock::adjustable();
/// let before = clock.now_ms();
/// clock.advance(Duration::from_secs(61));
/// assert!(clock.now_ms() - before >= 61_000);
/// assert_eq!(clock.offset(), Duration::from_secs(61));
///
/// // The system clock does not move.
/// let system = Clock::system();
/// system.advance(Duration::from_secs(61));
/// assert_eq!(system.offset(), Duration::ZERO);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Milliseconds added to the system's time; `None` for the system clock.
    offset: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's clock (the default).
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that starts at the system's time and moves ahead of it by every
    /// [`advance`](Self::advance): for tests of lifetimes and freshness.
    pub fn adjustable() -> Self {
        Self {
            offset: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    /// Moves an adjustable clock (and its clones) forward by `by`; the system clock does
    /// not move.
    pub fn advance(&self, by: Duration) {
        if let Some(offset) = &self.offset {
            offset.fetch_add(duration_ms(by), Ordering::SeqCst);
        }
    }

    /// How far ahead of the system's time this clock is.
    pub fn offset(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.offset_ms()).unwrap_or(0))
    }

    /// [`offset`](Self::offset) in nanoseconds (0 on the system clock: one branch).
    pub(crate) fn offset_nanos(&self) -> u64 {
        match &self.offset {
            None => 0,
            Some(offset) => u64::try_from(offset.load(Ordering::SeqCst))
                .unwrap_or(0)
                .saturating_mul(1_000_000),
        }
    }

    /// [`offset`](Self::offset) in milliseconds.
    fn offset_ms(&self) -> i64 {
        self.offset
            .as_ref()
            .map_or(0, |offset| offset.load(Ordering::SeqCst))
    }

    /// Milliseconds since the Unix epoch, as [`now_ms`] counts them, by this clock.
    pub fn now_ms(&self) -> i64 {
        now_ms().saturating_add(self.offset_ms())
    }

    /// Seconds since the Unix epoch by this clock (the unit of JWT claims).
    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// The time by this clock.
    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_default()
    }
}

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
    fn an_adjustable_clock_and_its_clones_move_together() {
        let clock = Clock::adjustable();
        let clone = clock.clone();
        let before = clock.now_ms();
        clone.advance(Duration::from_secs(600));
        assert_eq!(clock.offset(), Duration::from_secs(600));
        assert!(clock.now_ms() - before >= 600_000);
        // A clone of the system clock stays on the system's time.
        let system = Clock::system();
        system.clone().advance(Duration::from_secs(600));
        assert_eq!(system.offset(), Duration::ZERO);
        assert!(system.now_ms() <= now_ms());
    }

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
