//! The detectors of DESIGN §9, each over bounded keyed state
//! (capacity, expiry, least-recently-seen eviction) and each with its serde configuration:
//! [`rate`] (GCRA envelopes), [`hijack`] (session hijack and replay), [`travel`]
//! (impossible travel), [`access`] (bulk and cross-tenant access, probing) and
//! [`admin`] (new device or network for an admin).

use crate::finding::Finding;
use crate::signal::Signal;

pub mod access;
pub mod admin;
pub mod hijack;
pub mod rate;
pub mod travel;

/// One detector: judges each signal as it arrives, appending findings to `out`.
pub(crate) trait Detector: Send {
    /// Its name (state-size reports).
    fn name(&self) -> &'static str;
    /// Judges one signal.
    fn observe(&mut self, signal: &Signal, out: &mut Vec<Finding>);
    /// Keys held across all its maps.
    fn keys(&self) -> usize;
}

/// Milliseconds in `secs` seconds, saturating.
pub(crate) fn secs_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}
