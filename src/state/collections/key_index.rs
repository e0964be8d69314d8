//! [`KeyIndex`]: byte keys to small values on a [`ProbeTable`], the hash
//! index of `MmapStateStore`.
//!
//! Each slot holds the key inline (up to 22 bytes, see [`KeyBuf`]) beside
//! its value, so a lookup reads one slot (one cache line) without first
//! reading a control-byte array, as `hashbrown` does.

use hashbrown::DefaultHashBuilder;
use std::hash::BuildHasher;

use super::key_buf::{head_of, KeyBuf};
use super::probe_table::ProbeTable;

/// A hash map of byte keys to `V`.
pub(crate) struct KeyIndex<V> {
    table: ProbeTable<(KeyBuf, V)>,
    hasher: DefaultHashBuilder,
}

impl<V> Default for KeyIndex<V> {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl<V> KeyIndex<V> {
    /// An index with room for `n` keys before it grows.
    pub(crate) fn with_capacity(n: usize) -> Self {
        KeyIndex {
            table: ProbeTable::with_capacity(n),
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// Number of keys.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Removes every key.
    pub(crate) fn clear(&mut self) {
        self.table.clear();
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The value of `key`.
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<&V> {
        let head = head_of(key);
        self.table
            .find(self.hash(key), |e| e.0.matches(head, key))
            .map(|e| &e.1)
    }

    /// `true` if `key` is present.
    #[inline]
    pub(crate) fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub(crate) fn insert(&mut self, key: KeyBuf, v: V) -> Option<V> {
        let slice = key.as_slice();
        let (hash, head) = (self.hash(slice), head_of(slice));
        if let Some(e) = self.table.find_mut(hash, |e| e.0.matches(head, slice)) {
            return Some(std::mem::replace(&mut e.1, v));
        }
        let hasher = &self.hasher;
        // `None` only if the table's invariants were broken.
        let _ = self
            .table
            .insert_new(hash, (key, v), |e| hasher.hash_one(e.0.as_slice()));
        None
    }

    /// Removes `key`; returns its value.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<V> {
        let (hash, head) = (self.hash(key), head_of(key));
        let hasher = &self.hasher;
        self.table
            .remove(
                hash,
                |e| e.0.matches(head, key),
                |e| hasher.hash_one(e.0.as_slice()),
            )
            .map(|e| e.1)
    }

    /// Every key and value, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&KeyBuf, &V)> {
        self.table.iter().map(|(k, v)| (k, v))
    }

    /// Every value mutably, in the order of [`iter`](Self::iter).
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.table.iter_mut().map(|(_, v)| v)
    }

    /// Every key, in no particular order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &KeyBuf> {
        self.table.iter().map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn matches_a_hashmap_with_short_and_long_keys() {
        let mut idx = KeyIndex::default();
        let mut m = HashMap::new();
        for i in 0..20_000u32 {
            let key = if i % 5 == 0 {
                format!("a long key that does not fit inline {}", i % 3_000)
            } else {
                format!("k{}", i % 3_000)
            };
            if i % 3 == 0 {
                assert_eq!(idx.remove(key.as_bytes()), m.remove(&key));
            } else {
                assert_eq!(
                    idx.insert(KeyBuf::new(key.as_bytes()), i),
                    m.insert(key.clone(), i)
                );
            }
            assert_eq!(idx.get(key.as_bytes()), m.get(&key));
            assert_eq!(idx.len(), m.len());
        }
        assert_eq!(idx.iter().count(), m.len());
        for (k, v) in idx.iter() {
            assert_eq!(m.get(std::str::from_utf8(k.as_slice()).unwrap()), Some(v));
        }
        assert!(!idx.contains_key(b"absent"));
        idx.clear();
        assert_eq!(idx.len(), 0);
    }
}
