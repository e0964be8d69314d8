//! The ordered view of the keys used by scans and snapshots, and its upkeep
//! by the store.
//!
//! The hash index has no order. The first scan sorts the live keys into an
//! array (O(n log n)); afterwards the array is kept usable incrementally
//! instead of being thrown away at every insert:
//!
//! - a key inserted later goes into a small ordered `pending` set (unless it
//!   is still in the array from before a delete);
//! - a key deleted later stays in the array as a *stale* entry, skipped at
//!   scan time because the hash index no longer has it.
//!
//! Scans merge the array with `pending`. When `pending` plus the stale
//! entries exceed an eighth of the array (plus 1,024), the view is dropped
//! and rebuilt by the next scan, so maintenance costs O(log n) amortized per
//! insert or delete, and nothing at all while no scan has run.

use std::collections::BTreeSet;
use std::iter::Peekable;
use std::ops::Bound;

use bytes::Bytes;

use super::MmapStateStore;
use crate::state::collections::key_buf::KeyBuf;

/// Sorted keys plus the changes since they were sorted.
#[derive(Debug, Default)]
pub(crate) struct ScanIndex {
    /// Keys sorted at build time; may hold keys deleted since.
    sorted: Vec<KeyBuf>,
    /// Keys inserted since the build that are not in `sorted`.
    pending: BTreeSet<KeyBuf>,
    /// Entries of `sorted` that are not live.
    stale: usize,
}

impl ScanIndex {
    /// Sorts `keys` (the live keys).
    pub(crate) fn build(keys: impl Iterator<Item = KeyBuf>) -> Self {
        let mut sorted: Vec<KeyBuf> = keys.collect();
        sorted.sort_unstable();
        ScanIndex {
            sorted,
            pending: BTreeSet::new(),
            stale: 0,
        }
    }

    fn in_sorted(&self, key: &[u8]) -> bool {
        self.sorted
            .binary_search_by(|k| k.as_slice().cmp(key))
            .is_ok()
    }

    /// Records that `key`, absent until now, became live.
    pub(crate) fn inserted(&mut self, key: &[u8]) {
        if self.in_sorted(key) {
            self.stale = self.stale.saturating_sub(1);
        } else {
            self.pending.insert(KeyBuf::new(key));
        }
    }

    /// Records that the live `key` was deleted.
    pub(crate) fn deleted(&mut self, key: &[u8]) {
        if !self.pending.remove(key) {
            self.stale += 1;
        }
    }

    /// `true` when rebuilding is cheaper than carrying the changes along.
    pub(crate) fn worn_out(&self) -> bool {
        self.pending.len() + self.stale > self.sorted.len() / 8 + 1024
    }

    /// Keys (live or stale) `>= start`, ascending.
    pub(crate) fn from<'a>(&'a self, start: &[u8]) -> Merge<'a> {
        let at = self.sorted.partition_point(|k| k.as_slice() < start);
        let sorted = self.sorted.get(at..).unwrap_or_default().iter();
        let pending = self
            .pending
            .range::<[u8], _>((Bound::Included(start), Bound::Unbounded));
        Merge {
            a: sorted.peekable(),
            b: pending.peekable(),
        }
    }
}

/// Ascending merge of the sorted array and the pending set (disjoint).
pub(crate) struct Merge<'a> {
    a: Peekable<std::slice::Iter<'a, KeyBuf>>,
    b: Peekable<std::collections::btree_set::Range<'a, KeyBuf>>,
}

impl<'a> Iterator for Merge<'a> {
    type Item = &'a KeyBuf;

    fn next(&mut self) -> Option<&'a KeyBuf> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) => {
                if x < y {
                    self.a.next()
                } else {
                    self.b.next()
                }
            }
            (Some(_), None) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

impl MmapStateStore {
    /// Live entries with keys `>= start`, in key order, as slices of the
    /// mapping (no copy): what the typed `Mmap` tables scan with.
    pub(crate) fn entries_from<'a>(
        &'a self,
        start: &[u8],
    ) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.scan_index()
            .from(start)
            .filter_map(move |k| Some((k.as_slice(), self.value_of(k.as_slice())?)))
    }

    pub(super) fn scan_index(&self) -> &ScanIndex {
        self.sorted
            .get_or_init(|| ScanIndex::build(self.index.keys().cloned()))
    }

    /// Keeps the scan view in step with a new key (if a scan built one).
    pub(super) fn note_inserted(&mut self, key: &[u8]) {
        if let Some(view) = self.sorted.get_mut() {
            view.inserted(key);
            if view.worn_out() {
                self.sorted.take();
            }
        }
    }

    /// Keeps the scan view in step with a deleted key.
    pub(super) fn note_deleted(&mut self, key: &[u8]) {
        if let Some(view) = self.sorted.get_mut() {
            view.deleted(key);
            if view.worn_out() {
                self.sorted.take();
            }
        }
    }

    pub(super) fn pair(&self, key: &KeyBuf) -> Option<(Bytes, Bytes)> {
        let value = self.shared_value(key.as_slice())?;
        Some((Bytes::copy_from_slice(key.as_slice()), value))
    }
}
