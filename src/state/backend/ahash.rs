//! [`AHashMapStore`]: O(1) point operations with ahash, ordered scans from a key index.

use std::collections::BTreeSet;
use std::ops::{Bound, Range};

use bytes::Bytes;

use crate::state::collections::key_buf::{head_of, KeyBuf};
use crate::state::collections::probe_table::ProbeTable;
use crate::state::error::Result;
use crate::state::snapshot::StateSnapshot;
use crate::state::store::{aligned_bytes, range_is_empty, ScanIter, StateStore};

/// One hash-table entry: exactly one cache line (a 32-byte inline key and a
/// 32-byte value handle), aligned to one so a probe touches a single line.
#[repr(align(64))]
struct Entry {
    key: KeyBuf,
    value: Bytes,
}

static_assertions::assert_eq_size!(Entry, [u8; 64]);

/// Hash-table state store: O(1) point operations, ordered scans from a sorted key index.
///
/// Point operations (`get`, `get_ref`, `contains`, updates of existing keys)
/// touch only an open-addressing hash table (hashed with ahash, linear
/// probing) whose slots are one cache line each and hold the key inline (keys
/// up to 22 bytes) next to the value handle: a lookup is one hash, then the
/// key compare in its home slot, with no control-byte array and no pointer
/// chase before it, so a hit costs one cache miss plus the value's reference
/// count.
///
/// Scans are served in ascending key order by a `BTreeSet` of the same keys.
/// The index does not allocate a second copy of any key: short keys live inline
/// in its nodes and longer keys share one reference-counted allocation with the
/// hash table. Inserting a new key or deleting one updates both structures
/// (O(log n)); overwriting an existing key touches only the hash table.
///
/// Memory per entry, measured with a counting allocator at 1M entries of
/// 16-byte keys and 64-byte values (`cargo run --release --example memory`):
/// see the README's table. The value bytes themselves are shared with the
/// caller's [`Bytes`] and not copied.
pub struct AHashMapStore {
    table: ProbeTable<Entry>,
    order: BTreeSet<KeyBuf>,
    hasher: ahash::RandomState,
    size_bytes: usize,
}

impl Default for AHashMapStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for AHashMapStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AHashMapStore")
            .field("len", &self.table.len())
            .field("size_bytes", &self.size_bytes)
            .finish_non_exhaustive()
    }
}

impl AHashMapStore {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Creates an empty store with room for `capacity` entries before rehashing.
    ///
    /// `capacity` is a hint: if the memory for it cannot be had (or its size
    /// overflows, as for `usize::MAX`), the store starts empty and grows as
    /// entries arrive, rather than aborting.
    pub fn with_capacity(capacity: usize) -> Self {
        AHashMapStore {
            table: ProbeTable::with_capacity(capacity),
            order: BTreeSet::new(),
            hasher: ahash::RandomState::new(),
            size_bytes: 0,
        }
    }

    /// Number of entries the hash table holds before it must grow.
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    #[inline]
    fn find(&self, key: &[u8]) -> Option<&Entry> {
        let hash = self.hasher.hash_one(key);
        let head = head_of(key);
        self.table.find(hash, |e| e.key.matches(head, key))
    }

    fn scan<'a>(&'a self, keys: impl Iterator<Item = &'a KeyBuf> + 'a) -> ScanIter<'a> {
        Box::new(keys.filter_map(move |k| {
            let key = k.as_slice();
            self.find(key)
                .map(|e| (Bytes::copy_from_slice(key), e.value.clone()))
        }))
    }

    /// Inserts `key`, which is not in the table.
    fn insert_new(&mut self, key: KeyBuf, value: Bytes) {
        let hash = self.hasher.hash_one(key.as_slice());
        let hasher = &self.hasher;
        self.size_bytes += key.as_slice().len() + value.len();
        self.order.insert(key.clone());
        // `None` only if the table's invariants were broken; the entry is
        // then dropped rather than panicking.
        let _ = self.table.insert_new(hash, Entry { key, value }, |e| {
            hasher.hash_one(e.key.as_slice())
        });
    }
}

impl StateStore for AHashMapStore {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.find(key).map(|e| e.value.clone())
    }

    #[inline]
    fn get_ref(&self, key: &[u8]) -> Option<&[u8]> {
        self.find(key).map(|e| e.value.as_ref())
    }

    fn put(&mut self, key: &[u8], value: Bytes) -> Result<()> {
        let hash = self.hasher.hash_one(key);
        let head = head_of(key);
        // Fast path: overwrite in place without building an owned key.
        if let Some(entry) = self.table.find_mut(hash, |e| e.key.matches(head, key)) {
            self.size_bytes = self.size_bytes - entry.value.len() + value.len();
            entry.value = value;
            return Ok(());
        }
        self.insert_new(KeyBuf::new(key), value);
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        let hash = self.hasher.hash_one(key);
        let head = head_of(key);
        let hasher = &self.hasher;
        if let Some(entry) = self.table.remove(
            hash,
            |e| e.key.matches(head, key),
            |e| hasher.hash_one(e.key.as_slice()),
        ) {
            self.size_bytes -= key.len() + entry.value.len();
            self.order.remove(&entry.key);
        }
        Ok(())
    }

    #[inline]
    fn contains(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn size_bytes(&self) -> usize {
        self.size_bytes
    }

    fn clear(&mut self) {
        self.table.clear();
        self.order.clear();
        self.size_bytes = 0;
    }

    fn prefix_scan<'a>(&'a self, prefix: &'a [u8]) -> ScanIter<'a> {
        let keys = self
            .order
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |k| k.as_slice().starts_with(prefix));
        self.scan(keys)
    }

    fn range_scan<'a>(&'a self, range: Range<&'a [u8]>) -> ScanIter<'a> {
        if range_is_empty(&range) {
            return Box::new(std::iter::empty());
        }
        let keys = self
            .order
            .range::<[u8], _>((Bound::Included(range.start), Bound::Excluded(range.end)));
        self.scan(keys)
    }

    fn snapshot(&self) -> StateSnapshot {
        let mut b = StateSnapshot::builder(self.len(), self.size_bytes());
        for k in self.order.iter() {
            if let Some(e) = self.find(k.as_slice()) {
                b.push_sorted(k.as_slice(), &e.value);
            }
        }
        b.finish()
    }

    fn restore(&mut self, snapshot: StateSnapshot) -> Result<()> {
        self.clear();
        let hasher = &self.hasher;
        self.table
            .reserve(snapshot.len(), |e| hasher.hash_one(e.key.as_slice()));
        // Snapshot keys are strictly ascending (checked when decoded), so
        // each is new; a duplicate would only be overwritten.
        for (k, v) in snapshot.iter() {
            self.put(k, aligned_bytes(v))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_share_one_allocation_between_table_and_index() {
        let mut s = AHashMapStore::new();
        let key = [9u8; 40];
        s.put(&key, Bytes::from_static(b"v")).unwrap();
        let in_index = s.order.iter().next().unwrap().as_slice().as_ptr();
        let in_table = s.find(&key).unwrap().key.as_slice().as_ptr();
        assert_eq!(in_index, in_table);
    }

    /// A capacity whose memory cannot exist is a hint ignored, not an abort.
    #[test]
    fn impossible_capacity_starts_empty_and_grows() {
        for cap in [usize::MAX, usize::MAX / 2, 1 << 60] {
            let mut s = AHashMapStore::with_capacity(cap);
            assert_eq!(s.table.capacity(), 0, "capacity {cap}");
            for i in 0u32..100 {
                s.put(&i.to_be_bytes(), Bytes::from(vec![1; 3])).unwrap();
            }
            assert_eq!(s.len(), 100);
            assert_eq!(s.get(&7u32.to_be_bytes()).as_deref(), Some(&[1u8; 3][..]));
        }
        assert!(AHashMapStore::with_capacity(1000).table.capacity() >= 1000);
    }

    #[test]
    fn overwrite_keeps_one_index_entry_and_exact_size() {
        let mut s = AHashMapStore::new();
        s.put(b"k", Bytes::from_static(b"12345")).unwrap();
        s.put(b"k", Bytes::from_static(b"1")).unwrap();
        assert_eq!(s.order.len(), 1);
        assert_eq!(s.size_bytes(), 2);
        s.delete(b"k").unwrap();
        assert_eq!((s.order.len(), s.size_bytes()), (0, 0));
    }
}
