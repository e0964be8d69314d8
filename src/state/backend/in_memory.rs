//! [`InMemoryStore`]: the ordered, `BTreeMap`-based reference backend.

use std::collections::BTreeMap;
use std::ops::{Bound, Range};

use bytes::Bytes;

use super::key_buf::{KeyBuf, INLINE_CAP};
use crate::state::error::Result;
use crate::state::snapshot::StateSnapshot;
use crate::state::store::{aligned_bytes, range_is_empty, ScanIter, StateStore};

/// In-memory state store using a `BTreeMap` for sorted key access.
///
/// This backend defines the reference semantics of [`StateStore`]: point
/// operations in O(log n), prefix and range scans in O(log n + k).
///
/// Keys of up to 22 bytes are kept inline in the tree nodes with their first
/// eight bytes cached as an integer, so a lookup compares integers instead of
/// chasing a pointer per visited key. Values are [`Bytes`]: `get` returns a
/// reference-counted clone, and values written by
/// [`put_typed`](crate::state::StateStoreExt::put_typed) stay 16-byte aligned
/// for zero-copy typed reads.
#[derive(Debug, Default, Clone)]
pub struct InMemoryStore {
    map: BTreeMap<KeyBuf, Bytes>,
    size_bytes: usize,
}

impl InMemoryStore {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    fn lookup(&self, key: &[u8]) -> Option<&Bytes> {
        if key.len() <= INLINE_CAP {
            // Inline probe: no allocation, integer-first comparisons.
            self.map.get(&KeyBuf::new(key))
        } else {
            self.map.get(key)
        }
    }
}

pub(crate) fn scan_from<'a, V: 'a>(
    iter: impl Iterator<Item = (&'a KeyBuf, &'a V)> + 'a,
    value: impl Fn(&'a V) -> Bytes + 'a,
) -> impl Iterator<Item = (Bytes, Bytes)> + 'a {
    iter.map(move |(k, v)| (Bytes::copy_from_slice(k.as_slice()), value(v)))
}

impl StateStore for InMemoryStore {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.lookup(key).cloned()
    }

    #[inline]
    fn get_ref(&self, key: &[u8]) -> Option<&[u8]> {
        self.lookup(key).map(|v| v.as_ref())
    }

    fn put(&mut self, key: &[u8], value: Bytes) -> Result<()> {
        let added = value.len();
        match self.map.insert(KeyBuf::new(key), value) {
            Some(old) => self.size_bytes = self.size_bytes - old.len() + added,
            None => self.size_bytes += key.len() + added,
        }
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        if let Some(old) = self.map.remove(key) {
            self.size_bytes -= key.len() + old.len();
        }
        Ok(())
    }

    #[inline]
    fn contains(&self, key: &[u8]) -> bool {
        self.lookup(key).is_some()
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn size_bytes(&self) -> usize {
        self.size_bytes
    }

    fn clear(&mut self) {
        self.map.clear();
        self.size_bytes = 0;
    }

    fn prefix_scan<'a>(&'a self, prefix: &'a [u8]) -> ScanIter<'a> {
        let iter = self
            .map
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(k, _)| k.as_slice().starts_with(prefix));
        Box::new(scan_from(iter, Bytes::clone))
    }

    fn range_scan<'a>(&'a self, range: Range<&'a [u8]>) -> ScanIter<'a> {
        if range_is_empty(&range) {
            return Box::new(std::iter::empty());
        }
        let iter = self
            .map
            .range::<[u8], _>((Bound::Included(range.start), Bound::Excluded(range.end)));
        Box::new(scan_from(iter, Bytes::clone))
    }

    fn snapshot(&self) -> StateSnapshot {
        StateSnapshot::from_sorted(
            self.map
                .iter()
                .map(|(k, v)| (k.as_slice().to_vec(), v.to_vec()))
                .collect(),
        )
    }

    fn restore(&mut self, snapshot: StateSnapshot) -> Result<()> {
        self.clear();
        for (k, v) in snapshot.into_data() {
            self.size_bytes += k.len() + v.len();
            self.map.insert(KeyBuf::new(&k), aligned_bytes(&v));
        }
        Ok(())
    }
}
