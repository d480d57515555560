//! The simulation's clock: the system clock plus an offset that only moves forward.
//!
//! One [`SimClock`] is the time source of the server under test (tokens, proofs,
//! revocation epochs, grants, audit events, the detection bus) and of every client of
//! the simulation, so moving it forward by 15 minutes between two steps of the slow
//! attacker is, for every party, 15 minutes passing. Within a step time flows as the
//! system clock does, so the fast attacker runs in real time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use custody_token::{Clock, SystemClock, Timestamp};

/// The system clock shifted forward by an offset that [`SimClock::advance`] grows.
#[derive(Debug, Default)]
pub struct SimClock {
    offset_ms: AtomicU64,
}

impl SimClock {
    /// A clock reading the system clock (offset zero).
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by` for every reader at once.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// How far the clock has been moved forward.
    pub fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        SystemClock
            .now()
            .saturating_add(Duration::from_millis(self.offset_ms.load(Ordering::SeqCst)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_reading_forward() {
        let clock = SimClock::new();
        let before = clock.now();
        clock.advance(Duration::from_secs(900));
        let after = clock.now();
        assert!(after.saturating_duration_since(before) >= Duration::from_secs(900));
        assert_eq!(clock.offset(), Duration::from_secs(900));
    }
}
