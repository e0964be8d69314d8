//! [`ProbeTable`]: an open-addressing hash table with linear probing over
//! cache-line-sized slots.
//!
//! A SwissTable (`hashbrown`) keeps one control byte per slot in a separate
//! array: a lookup first loads the control group, then the matching slot,
//! two dependent cache misses in a table larger than the cache. Here a
//! lookup goes straight to the home slot and compares the key stored there;
//! with slots of one cache line, a hit costs one miss, and the next slots of
//! a probe sequence are the next lines, which the hardware prefetcher
//! fetches alongside.
//!
//! Deletion shifts later entries of the probe sequence back (no tombstones),
//! so probe sequences never lengthen under churn. The table keeps its load at
//! most 5/8, which bounds the expected probe length of a hit to about 1.8
//! slots and of a miss to about 3.6.

use crate::state::mem::huge_pages::LargeSlice;

/// Bytes of a slot that [`ProbeTable::prefetch`] requests: a batch of
/// lookups of large values must not fill the CPU's few line-fill buffers
/// with value bytes that a key comparison does not need.
const PREFETCH_MAX: usize = 128;

/// Largest load, as a fraction `MAX_LOAD_NUM / MAX_LOAD_DEN`.
const MAX_LOAD_NUM: usize = 5;
const MAX_LOAD_DEN: usize = 8;

/// Open-addressing hash table of `T`; the caller supplies hashes and key
/// comparisons.
#[derive(Clone)]
pub(crate) struct ProbeTable<T> {
    /// On huge pages once large (see `huge_pages`): a lookup in a big table
    /// then misses on its slot without also missing the TLB.
    slots: LargeSlice<Option<T>>,
    len: usize,
}

impl<T> Default for ProbeTable<T> {
    fn default() -> Self {
        ProbeTable {
            slots: LargeSlice::default(),
            len: 0,
        }
    }
}

/// Slot count for `n` entries: a power of two at least `n * 8 / 5`.
fn slots_for(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    n.saturating_mul(MAX_LOAD_DEN)
        .div_ceil(MAX_LOAD_NUM)
        .max(8)
        .checked_next_power_of_two()
        .unwrap_or(usize::MAX / 2 + 1)
}

/// `n` empty slots.
fn empty_slots<T>(n: usize) -> LargeSlice<Option<T>> {
    LargeSlice::collect((0..n).map(|_| None))
}

impl<T> ProbeTable<T> {
    /// A table with room for `n` entries before it grows. `n` is a hint:
    /// if that much memory cannot be had (or its size overflows), the table
    /// starts empty and grows as entries arrive.
    pub(crate) fn with_capacity(n: usize) -> Self {
        let n = slots_for(n);
        ProbeTable {
            slots: LargeSlice::try_collect((0..n).map(|_| None)).unwrap_or_default(),
            len: 0,
        }
    }

    /// Number of entries.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Entries that fit before the table grows.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len() / MAX_LOAD_DEN * MAX_LOAD_NUM
    }

    /// Removes every entry, keeping the allocation.
    pub(crate) fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.len = 0;
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// Index of the entry matching `eq` in the probe sequence of `hash`.
    #[inline]
    pub(crate) fn position(&self, hash: u64, eq: impl Fn(&T) -> bool) -> Option<usize> {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        // The load is below one, so every probe sequence reaches an empty
        // slot; the bound only guards against a broken invariant.
        for _ in 0..self.slots.len() {
            match self.slots.get(i)? {
                None => return None,
                Some(t) if eq(t) => return Some(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
        None
    }

    /// The entry matching `eq` among those with hash `hash`.
    #[inline]
    pub(crate) fn find(&self, hash: u64, eq: impl Fn(&T) -> bool) -> Option<&T> {
        let i = self.position(hash, eq)?;
        self.slots.get(i)?.as_ref()
    }

    /// Starts loading the home slot of `hash`, so that a
    /// [`find`](Self::find) soon after does not wait for it: the lines its
    /// first [`PREFETCH_MAX`] bytes touch (all of a slot of a few dozen
    /// bytes, both lines if it straddles two; a key and the start of a
    /// larger value).
    #[inline]
    #[cfg_attr(not(feature = "ahash"), allow(dead_code))] // used by `ProbeMap`
    pub(crate) fn prefetch(&self, hash: u64) {
        if let Some(slot) = self.slots.get(hash as usize & self.mask()) {
            crate::state::mem::prefetch::lines(slot, std::mem::size_of_val(slot).min(PREFETCH_MAX));
        }
    }

    /// The entry matching `eq`, mutably.
    #[inline]
    pub(crate) fn find_mut(&mut self, hash: u64, eq: impl Fn(&T) -> bool) -> Option<&mut T> {
        let i = self.position(hash, eq)?;
        self.slots.get_mut(i)?.as_mut()
    }

    /// The entry in slot `i` (from [`position`](Self::position) or
    /// [`insert_new`](Self::insert_new)).
    #[inline]
    #[cfg_attr(not(feature = "ahash"), allow(dead_code))] // used by `ProbeMap`
    pub(crate) fn slot_mut(&mut self, i: usize) -> Option<&mut T> {
        self.slots.get_mut(i)?.as_mut()
    }

    /// Every entry, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }

    /// Every entry mutably, in slot order (the order of [`iter`](Self::iter)
    /// while the table is not modified).
    #[cfg_attr(not(feature = "mmap"), allow(dead_code))]
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().flatten()
    }

    /// Keeps only the entries for which `keep` returns `true`.
    #[cfg_attr(not(feature = "ahash"), allow(dead_code))] // used by `ProbeMap`
    pub(crate) fn retain(
        &mut self,
        mut keep: impl FnMut(&mut T) -> bool,
        rehash: impl Fn(&T) -> u64,
    ) {
        // Removing in place would shift entries past the cursor; rebuild
        // from the survivors instead (O(slots), like a resize).
        let mut old = std::mem::take(&mut self.slots);
        let survivors: Vec<T> = old
            .iter_mut()
            .filter_map(Option::take)
            .filter_map(|mut t| keep(&mut t).then_some(t))
            .collect();
        drop(old);
        self.slots = empty_slots(slots_for(survivors.len()));
        self.len = 0;
        for t in survivors {
            let h = rehash(&t);
            self.place(h, t);
        }
    }

    /// Makes room for `additional` more entries; `rehash` gives an entry's hash.
    pub(crate) fn reserve(&mut self, additional: usize, rehash: impl Fn(&T) -> u64) {
        let need = self.len.saturating_add(additional);
        if need <= self.capacity() {
            return;
        }
        let mut old = std::mem::replace(&mut self.slots, empty_slots(slots_for(need)));
        self.len = 0;
        for t in old.iter_mut().filter_map(Option::take) {
            let h = rehash(&t);
            self.place(h, t);
        }
    }

    /// Inserts `t`, which must not match any entry (check with `find` first);
    /// returns its slot.
    pub(crate) fn insert_new(
        &mut self,
        hash: u64,
        t: T,
        rehash: impl Fn(&T) -> u64,
    ) -> Option<usize> {
        if self.len >= self.capacity() {
            let grow = self.len.max(4);
            self.reserve(grow, rehash);
        }
        self.place(hash, t)
    }

    /// Puts `t` in the first empty slot of its probe sequence (room assured);
    /// returns the slot.
    fn place(&mut self, hash: u64, t: T) -> Option<usize> {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        for _ in 0..self.slots.len() {
            match self.slots.get_mut(i) {
                Some(slot @ None) => {
                    *slot = Some(t);
                    self.len += 1;
                    return Some(i);
                }
                Some(Some(_)) => i = (i + 1) & mask,
                None => return None,
            }
        }
        None
    }

    /// Removes and returns the entry matching `eq`, shifting later entries
    /// of the probe sequence back so no lookup needs a tombstone.
    pub(crate) fn remove(
        &mut self,
        hash: u64,
        eq: impl Fn(&T) -> bool,
        rehash: impl Fn(&T) -> u64,
    ) -> Option<T> {
        let mut hole = self.position(hash, eq)?;
        let removed = self.slots.get_mut(hole)?.take()?;
        self.len -= 1;
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let Some(t) = self.slots.get(j).and_then(Option::as_ref) else {
                break;
            };
            let home = rehash(t) as usize & mask;
            // The entry at `j` may move into the hole if the hole lies on its
            // probe path, i.e. its distance from home reaches back to it.
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots.swap(hole, j);
                hole = j;
            }
        }
        Some(removed)
    }

    /// Sum over the entries of their distance from their home slots under
    /// `hash`: how well a hash spreads keys, for tests of hashers.
    #[cfg(all(test, feature = "ahash"))]
    pub(crate) fn total_displacement(&self, hash: impl Fn(&T) -> u64) -> usize {
        let mask = self.mask();
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some(i.wrapping_sub(hash(s.as_ref()?) as usize) & mask))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A deliberately poor hash so that probe sequences collide and wrap.
    fn h(k: &u32) -> u64 {
        u64::from(*k % 97).wrapping_mul(0x9E37_79B9) ^ u64::from(*k % 3)
    }

    #[test]
    fn random_operations_match_a_hashmap() {
        let mut t: ProbeTable<(u32, u32)> = ProbeTable::default();
        let mut m: HashMap<u32, u32> = HashMap::new();
        let mut seed = 0x1234_5678_9ABC_DEF0u64;
        for step in 0..200_000u32 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let k = (seed % 3_000) as u32;
            let rehash = |e: &(u32, u32)| h(&e.0);
            match seed % 7 {
                0..=3 => {
                    if let Some(e) = t.find_mut(h(&k), |e| e.0 == k) {
                        e.1 = step;
                    } else {
                        t.insert_new(h(&k), (k, step), rehash);
                    }
                    m.insert(k, step);
                }
                _ => assert_eq!(
                    t.remove(h(&k), |e| e.0 == k, rehash).map(|e| e.1),
                    m.remove(&k)
                ),
            }
            assert_eq!(t.find(h(&k), |e| e.0 == k).map(|e| e.1), m.get(&k).copied());
            assert_eq!(t.len(), m.len());
            assert!(t.len() <= t.capacity());
        }
        for (k, v) in &m {
            assert_eq!(t.find(h(k), |e| e.0 == *k).map(|e| e.1), Some(*v));
        }
        t.clear();
        assert_eq!(t.len(), 0);
        assert!(t.find(h(&1), |e| e.0 == 1).is_none());
    }

    #[test]
    fn empty_table_finds_nothing_and_grows_on_insert() {
        let mut t: ProbeTable<u32> = ProbeTable::default();
        assert!(t.find(0, |_| true).is_none());
        assert!(t.remove(0, |_| true, |_| 0).is_none());
        t.insert_new(5, 5, |x| u64::from(*x));
        assert_eq!(t.find(5, |x| *x == 5), Some(&5));
        assert_eq!(slots_for(1), 8);
        assert!(ProbeTable::<u32>::with_capacity(1000).capacity() >= 1000);
    }
}
