//! Time as an injected value: [`Timestamp`] (milliseconds since the Unix epoch) and
//! the [`Clock`] trait, so that every decision is deterministic under test.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// A timestamp from milliseconds since the Unix epoch.
    pub const fn from_unix_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// A timestamp from whole seconds since the Unix epoch.
    pub const fn from_unix_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (rounded down), as JWT `NumericDate` uses.
    pub const fn unix_secs(self) -> u64 {
        self.0 / 1000
    }

    /// This timestamp moved forward by `duration` (saturating).
    pub fn saturating_add(self, duration: Duration) -> Self {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// This timestamp moved back by `duration` (saturating at the epoch).
    pub fn saturating_sub(self, duration: Duration) -> Self {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_sub(millis))
    }

    /// The time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// A source of the current time. Libraries take a `Clock` (or a [`Timestamp`]) instead
/// of reading the system clock, so that tests need no sleeping.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_down_and_arithmetic_saturates() {
        let t = Timestamp::from_unix_millis(1_999);
        assert_eq!(t.unix_secs(), 1);
        assert_eq!(
            t.saturating_sub(Duration::from_secs(5)),
            Timestamp::from_unix_millis(0)
        );
        assert_eq!(
            Timestamp::from_unix_millis(u64::MAX).saturating_add(Duration::from_secs(1)),
            Timestamp::from_unix_millis(u64::MAX)
        );
        assert_eq!(
            Timestamp::from_unix_secs(3).saturating_duration_since(Timestamp::from_unix_secs(5)),
            Duration::ZERO
        );
    }
}
