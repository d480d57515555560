//! Bounded keyed state ([`BoundedMap`]): every detector keeps its per-key state here,
//! so memory is capped whatever the keys an attacker makes us see.
//!
//! A map holds at most `capacity` keys. An entry not touched for `ttl_ms` counts as
//! absent (its state is stale) and is dropped first; when the map is full, inserting
//! a new key evicts the least recently seen one. Keys are hashed with the standard
//! library's randomly keyed SipHash, so colliding keys cannot be chosen in advance.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// How many expired entries one insertion removes at most (bounds its latency).
const EXPIRE_PER_INSERT: usize = 8;

struct Entry<V> {
    value: V,
    seen_ms: i64,
    stamp: u64,
}

/// A map with a capacity, least-recently-seen eviction and expiry.
pub(crate) struct BoundedMap<K, V> {
    map: HashMap<K, Entry<V>>,
    /// Recency order: stamp → key (smallest stamp = least recently seen).
    order: BTreeMap<u64, K>,
    next_stamp: u64,
    capacity: usize,
    ttl_ms: i64,
    evicted: u64,
}

impl<K: Hash + Eq + Clone, V> BoundedMap<K, V> {
    /// A map of at most `capacity` keys (at least one) whose entries expire after
    /// `ttl_ms` without being seen.
    pub(crate) fn new(capacity: usize, ttl_ms: i64) -> Self {
        Self {
            map: HashMap::new(),
            order: BTreeMap::new(),
            next_stamp: 0,
            capacity: capacity.max(1),
            ttl_ms: ttl_ms.max(1),
            evicted: 0,
        }
    }

    /// Number of keys held.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Keys evicted or expired so far.
    #[cfg(test)]
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }

    fn is_expired(&self, seen_ms: i64, now_ms: i64) -> bool {
        now_ms.saturating_sub(seen_ms) > self.ttl_ms
    }

    /// The live entry for `key`, without touching it.
    #[cfg(test)]
    pub(crate) fn peek<Q>(&self, key: &Q, now_ms: i64) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map
            .get(key)
            .filter(|e| !self.is_expired(e.seen_ms, now_ms))
            .map(|e| &e.value)
    }

    /// The entry for `key`, marked as seen at `now_ms`; created with `make` when the
    /// key is absent or its entry expired. The flag is true when it was (re)created.
    /// `None` only if the map broke its own invariant (never expected).
    pub(crate) fn touch<Q>(
        &mut self,
        key: &Q,
        now_ms: i64,
        make: impl FnOnce() -> V,
    ) -> Option<(&mut V, bool)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let stamp = self.next_stamp;
        self.next_stamp = self.next_stamp.wrapping_add(1);
        let ttl = self.ttl_ms;
        let existing = self
            .map
            .get(key)
            .map(|e| (e.stamp, now_ms.saturating_sub(e.seen_ms) > ttl));
        let Some((old_stamp, expired)) = existing else {
            self.make_room(now_ms);
            let owned = key.to_owned();
            self.order.insert(stamp, owned.clone());
            let entry = self.map.entry(owned).or_insert(Entry {
                value: make(),
                seen_ms: now_ms,
                stamp,
            });
            return Some((&mut entry.value, true));
        };
        // INVARIANT: `order` and `map` hold the same keys.
        if let Some(k) = self.order.remove(&old_stamp) {
            self.order.insert(stamp, k);
        }
        let entry = self.map.get_mut(key)?;
        entry.stamp = stamp;
        if expired {
            entry.value = make();
            entry.seen_ms = now_ms;
        } else {
            entry.seen_ms = entry.seen_ms.max(now_ms);
        }
        Some((&mut entry.value, expired))
    }

    /// Drops expired entries from the old end, then the least recently seen one if
    /// the map is still full.
    fn make_room(&mut self, now_ms: i64) {
        for _ in 0..EXPIRE_PER_INSERT {
            let Some((&stamp, key)) = self.order.first_key_value() else {
                break;
            };
            let expired = self
                .map
                .get(key)
                .is_none_or(|e| self.is_expired(e.seen_ms, now_ms));
            if !expired {
                break;
            }
            self.remove_stamp(stamp);
        }
        while self.map.len() >= self.capacity {
            let Some((&stamp, _)) = self.order.first_key_value() else {
                break;
            };
            self.remove_stamp(stamp);
        }
    }

    fn remove_stamp(&mut self, stamp: u64) {
        if let Some(key) = self.order.remove(&stamp) {
            self.map.remove(&key);
            self.evicted = self.evicted.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_evicts_the_least_recently_seen_key() {
        let mut m: BoundedMap<String, u32> = BoundedMap::new(3, 1_000_000);
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            m.touch(*k, i as i64, || 0);
        }
        // Seeing "a" again makes "b" the least recently seen.
        m.touch("a", 10, || 0);
        m.touch("d", 11, || 0);
        assert_eq!(m.len(), 3);
        assert!(m.peek("b", 11).is_none());
        assert!(m.peek("a", 11).is_some());
        assert!(m.peek("c", 11).is_some());
        assert_eq!(m.evicted(), 1);
    }

    #[test]
    fn expired_entries_read_as_absent_and_are_recreated() {
        let mut m: BoundedMap<String, u32> = BoundedMap::new(10, 100);
        *m.touch("k", 0, || 0).unwrap().0 = 5;
        assert_eq!(m.peek("k", 100), Some(&5));
        assert_eq!(m.peek("k", 101), None);
        let (v, created) = m.touch("k", 150, || 1).unwrap();
        assert!(created);
        assert_eq!(*v, 1);
        let (v, created) = m.touch("k", 200, || 9).unwrap();
        assert!(!created);
        assert_eq!(*v, 1);
    }

    #[test]
    fn a_million_distinct_keys_stay_within_capacity() {
        let mut m: BoundedMap<String, u64> = BoundedMap::new(1_000, 60_000);
        for i in 0..1_000_000u64 {
            m.touch(format!("key-{i}").as_str(), i as i64, || i);
            assert!(m.len() <= 1_000);
        }
        assert_eq!(m.len(), 1_000);
        assert_eq!(m.order.len(), 1_000);
        assert_eq!(m.peek("key-999999", 999_999), Some(&999_999));
        assert!(m.peek("key-0", 999_999).is_none());
    }
}
