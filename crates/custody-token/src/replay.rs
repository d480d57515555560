//! Proof replay detection: the [`ReplayCache`] trait (shared across nodes later) and a
//! bounded in-memory implementation, [`MemoryReplayCache`].
//!
//! Sizing: each remembered proof costs about 100 bytes (a 32-byte id in a hash map and
//! a heap). A proof is remembered for the freshness window plus the future skew (70 s
//! by default), so a node serving `r` proofs per second holds `70 r` ids: 1.4 million
//! (about 140 MiB) at 20,000 requests per second. When full, the cache refuses new
//! proofs (fail closed) rather than forget one that could then be replayed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;

use crate::time::Timestamp;

/// The identity of a proof in the cache: SHA-256 over the proof key's thumbprint and
/// the proof's `jti`, so ids of different clients never collide and every entry has
/// the same size.
pub type ProofId = [u8; 32];

/// The answer of a replay check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayStatus {
    /// Never seen within its window; it is now remembered.
    Fresh,
    /// Seen before and still remembered: a replay.
    Replayed,
}

/// Why a replay cache could not answer. Any of these makes the verifier refuse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayCacheError {
    /// The cache is at capacity with unexpired ids.
    #[error("the proof replay cache is full")]
    Full,
    /// The backend failed (lock poisoned, store unreachable).
    #[error("the proof replay cache is unavailable")]
    Unavailable,
}

/// A set of recently seen proof ids, shared by every node that accepts proofs.
pub trait ReplayCache: Send + Sync {
    /// Atomically checks whether `id` is remembered and, if not, remembers it until
    /// `expires_at`. `now` lets the cache drop expired ids.
    fn check_and_insert(
        &self,
        id: &ProofId,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<ReplayStatus, ReplayCacheError>;
}

/// A bounded in-memory replay cache for one node.
#[derive(Debug)]
pub struct MemoryReplayCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    expiry: HashMap<ProofId, Timestamp>,
    queue: BinaryHeap<Reverse<(Timestamp, ProofId)>>,
}

impl MemoryReplayCache {
    /// Default capacity: 2 million ids (about 200 MiB at most).
    pub const DEFAULT_CAPACITY: usize = 2_000_000;

    /// A cache holding at most `capacity` unexpired ids.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The number of ids currently held (expired ones may linger until the next insert).
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .map(|inner| inner.expiry.len())
            .unwrap_or(0)
    }

    /// Whether the cache holds no id.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryReplayCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl Inner {
    fn purge(&mut self, now: Timestamp) {
        while let Some(Reverse((expires_at, id))) = self.queue.peek().copied() {
            if expires_at > now {
                break;
            }
            self.queue.pop();
            if self.expiry.get(&id) == Some(&expires_at) {
                self.expiry.remove(&id);
            }
        }
    }
}

impl ReplayCache for MemoryReplayCache {
    fn check_and_insert(
        &self,
        id: &ProofId,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<ReplayStatus, ReplayCacheError> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| ReplayCacheError::Unavailable)?;
        if let Some(&remembered) = inner.expiry.get(id)
            && remembered > now
        {
            return Ok(ReplayStatus::Replayed);
        }
        inner.purge(now);
        if inner.expiry.len() >= self.capacity {
            return Err(ReplayCacheError::Full);
        }
        inner.expiry.insert(*id, expires_at);
        inner.queue.push(Reverse((expires_at, *id)));
        Ok(ReplayStatus::Fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_are_seen_until_expiry_then_forgotten() {
        let cache = MemoryReplayCache::new(10);
        let t = Timestamp::from_unix_secs;
        assert_eq!(
            cache.check_and_insert(&[1; 32], t(70), t(0)).unwrap(),
            ReplayStatus::Fresh
        );
        assert_eq!(
            cache.check_and_insert(&[1; 32], t(70), t(69)).unwrap(),
            ReplayStatus::Replayed
        );
        assert_eq!(
            cache.check_and_insert(&[1; 32], t(140), t(70)).unwrap(),
            ReplayStatus::Fresh
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_full_cache_refuses_instead_of_forgetting() {
        let cache = MemoryReplayCache::new(2);
        let t = Timestamp::from_unix_secs;
        cache.check_and_insert(&[1; 32], t(70), t(0)).unwrap();
        cache.check_and_insert(&[2; 32], t(70), t(0)).unwrap();
        assert!(matches!(
            cache.check_and_insert(&[3; 32], t(70), t(1)),
            Err(ReplayCacheError::Full)
        ));
        // Still remembers the old ones: nothing was evicted to make room.
        assert_eq!(
            cache.check_and_insert(&[1; 32], t(70), t(2)).unwrap(),
            ReplayStatus::Replayed
        );
        // Once they expire, room is made by purging only expired ids.
        assert_eq!(
            cache.check_and_insert(&[3; 32], t(200), t(71)).unwrap(),
            ReplayStatus::Fresh
        );
    }
}
