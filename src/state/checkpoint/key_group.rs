//! Key groups: the unit in which keyed state is split across workers and
//! moved when a job is rescaled.
//!
//! A job's keyed state has a fixed number of key groups `G` for its
//! lifetime ([`KeyGroups`], default 128, at most 32768). No store records
//! `G`: the caller passes the same [`KeyGroups`] to every call. A
//! [`KeyGroupedSnapshot`] records the count it was split with, and
//! [`restore_key_groups`] refuses parts split with another. A key's group is
//!
//! ```text
//! key_group(key) = XXH64(key bytes, seed = 0x4B45_5947_524F_5550) mod G
//! ```
//!
//! where XXH64 is the 64-bit xxHash algorithm of its published
//! specification (implemented here in [`xxh64`], checked against the
//! reference implementation's values) and the seed is [`KEY_GROUP_SEED`]
//! (the ASCII bytes `KEYGROUP`, big-endian). The hash reads the key's bytes
//! as they are: for a byte store, the key it stores. The function, the seed
//! and the reduction by `mod` are part of the checkpoint format: every
//! process, platform and version of this crate puts a key in the same
//! group (golden values in the tests pin them). They never depend on
//! `std`'s `DefaultHasher` or a per-process seed. Hash a key's canonical
//! bytes: a dictionary code differs between dictionaries, so a key made of
//! codes must be hashed through the values they stand for.
//!
//! With `N` workers (`1 <= N <= G`), worker `i` owns the contiguous range of
//! groups `ceil(i·G/N) .. ceil((i+1)·G/N)` and group `g` belongs to worker
//! `floor(g·N/G)`: the assignment of Flink's `KeyGroupRangeAssignment`,
//! which spreads `G` groups over `N` workers so that range sizes differ by
//! at most one, and on a rescale moves whole groups only.
//!
//! [`KeyGroupedSnapshot`] holds a store's entries ordered by group with the
//! extent of each group, in memory (it has no byte format of its own: a
//! part is kept as the [`StateSnapshot`] of its range, and split again with
//! [`KeyGroupedSnapshot::for_range`] and that range when it is read back);
//! [`restore_key_groups`] restores the groups of one range, gathered from
//! the parts of any number of old workers that together cover it exactly
//! once, into a store.
//!
//! ```
//! use laminar_core::state::checkpoint::key_group::{
//!     restore_key_groups, KeyGroupedSnapshot, KeyGroups,
//! };
//! use laminar_core::state::{InMemoryStore, StateStore};
//!
//! let groups = KeyGroups::DEFAULT; // 128
//! // One worker holds every key; it checkpoints its store.
//! let mut old = InMemoryStore::new();
//! for i in 0..100u32 {
//!     old.put(format!("user:{i}").as_bytes(), bytes::Bytes::from(i.to_le_bytes().to_vec()))?;
//! }
//! let part = KeyGroupedSnapshot::of_store(&old, groups, groups.all())?;
//! // The job restarts with two workers: each restores only its groups.
//! let mut total = 0;
//! for worker in 0..2 {
//!     let range = groups.range_for_worker(2, worker)?;
//!     let mut store = InMemoryStore::new();
//!     restore_key_groups(&mut store, groups, std::slice::from_ref(&part), range)?;
//!     assert!(store.prefix_scan(b"").all(|(k, _)| range.contains(groups.group_of(&k))));
//!     total += store.len();
//! }
//! assert_eq!(total, 100);
//! # Ok::<(), laminar_core::state::StateError>(())
//! ```

use std::fmt;
use std::ops::Range;

use crate::state::error::{Result, StateError};
use crate::state::snapshot::StateSnapshot;
use crate::state::store::StateStore;

/// Seed of the key-group hash: the ASCII bytes `KEYGROUP` read big-endian.
/// Part of the checkpoint format; never changes.
pub const KEY_GROUP_SEED: u64 = 0x4B45_5947_524F_5550;

/// Number of key groups of a table that does not choose one.
pub const DEFAULT_KEY_GROUPS: u32 = 128;

/// Largest number of key groups a table may have (as in Flink: 2^15).
pub const MAX_KEY_GROUPS: u32 = 1 << 15;

/// A `(key, value)` pair.
type Entry = (Vec<u8>, Vec<u8>);

/// A key for an error message: `b"..."` with non-printable bytes escaped.
fn shown(key: &[u8]) -> String {
    format!("{:?}", bytes::Bytes::copy_from_slice(key))
}

// The five primes of the XXH64 specification.
const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

#[inline]
fn xxh_round(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

#[inline]
fn xxh_merge(acc: u64, lane_acc: u64) -> u64 {
    (acc ^ xxh_round(0, lane_acc))
        .wrapping_mul(P1)
        .wrapping_add(P4)
}

/// Little-endian `u64` of an 8-byte chunk (callers pass exactly 8 bytes).
#[inline]
fn le_u64(bytes: &[u8]) -> u64 {
    bytes
        .first_chunk::<8>()
        .map_or(0, |b| u64::from_le_bytes(*b))
}

/// XXH64 of `input` with `seed`: the 64-bit xxHash of its specification
/// (version 0.1.x of `xxhash_spec.md`), byte for byte on every platform.
///
/// Inputs of 32 bytes or more run through four lanes of 8-byte rounds,
/// shorter ones start from `seed + PRIME64_5`; the length, then the 8-, 4-
/// and 1-byte tail are mixed in, and the result is avalanched. All reads
/// are little-endian and all arithmetic is wrapping `u64`, so the value does
/// not depend on the machine.
///
/// ```
/// use laminar_core::state::checkpoint::key_group::xxh64;
/// assert_eq!(xxh64(b"", 0), 0xEF46_DB37_51D8_E999);
/// assert_eq!(xxh64(b"abc", 0), 0x44BC_2CF5_AD77_0999);
/// ```
pub fn xxh64(input: &[u8], seed: u64) -> u64 {
    let mut acc;
    let mut rest = input;
    if input.len() >= 32 {
        let mut lanes = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        let mut stripes = input.chunks_exact(32);
        for stripe in &mut stripes {
            for (lane, word) in lanes.iter_mut().zip(stripe.chunks_exact(8)) {
                *lane = xxh_round(*lane, le_u64(word));
            }
        }
        rest = stripes.remainder();
        let [v1, v2, v3, v4] = lanes;
        acc = v1
            .rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18));
        for lane in lanes {
            acc = xxh_merge(acc, lane);
        }
    } else {
        acc = seed.wrapping_add(P5);
    }
    acc = acc.wrapping_add(input.len() as u64);
    let mut words = rest.chunks_exact(8);
    for word in &mut words {
        acc = (acc ^ xxh_round(0, le_u64(word)))
            .rotate_left(27)
            .wrapping_mul(P1)
            .wrapping_add(P4);
    }
    let mut tail = words.remainder();
    if let Some((word, after)) = tail.split_first_chunk::<4>() {
        acc = (acc ^ u64::from(u32::from_le_bytes(*word)).wrapping_mul(P1))
            .rotate_left(23)
            .wrapping_mul(P2)
            .wrapping_add(P3);
        tail = after;
    }
    for &byte in tail {
        acc = (acc ^ u64::from(byte).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    acc ^= acc >> 33;
    acc = acc.wrapping_mul(P2);
    acc ^= acc >> 29;
    acc = acc.wrapping_mul(P3);
    acc ^ (acc >> 32)
}

/// The key-group hash of a key's bytes: [`xxh64`] with [`KEY_GROUP_SEED`].
#[inline]
pub fn key_hash(key_bytes: &[u8]) -> u64 {
    xxh64(key_bytes, KEY_GROUP_SEED)
}

/// The key group of a key's bytes among `groups`: [`key_hash`] mod the group
/// count, in `0..groups.count()`.
#[inline]
pub fn key_group(key_bytes: &[u8], groups: KeyGroups) -> u32 {
    // The remainder is below the count, a u32.
    (key_hash(key_bytes) % u64::from(groups.0)) as u32
}

/// A validated number of key groups, `1..=32768` (default 128), fixed for a
/// table's lifetime: it decides every key's group, so checkpoints written
/// with one count cannot be restored with another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyGroups(u32);

impl Default for KeyGroups {
    fn default() -> Self {
        KeyGroups::DEFAULT
    }
}

impl fmt::Display for KeyGroups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} key groups", self.0)
    }
}

impl KeyGroups {
    /// 128 key groups ([`DEFAULT_KEY_GROUPS`]).
    pub const DEFAULT: KeyGroups = KeyGroups(DEFAULT_KEY_GROUPS);

    /// 32768 key groups ([`MAX_KEY_GROUPS`]).
    pub const MAX: KeyGroups = KeyGroups(MAX_KEY_GROUPS);

    /// `count` key groups; fails with [`StateError::InvalidArgument`] unless
    /// `1 <= count <= 32768`.
    pub fn new(count: u32) -> Result<KeyGroups> {
        if (1..=MAX_KEY_GROUPS).contains(&count) {
            Ok(KeyGroups(count))
        } else {
            Err(StateError::InvalidArgument(format!(
                "a table has 1 to {MAX_KEY_GROUPS} key groups, not {count}"
            )))
        }
    }

    /// The number of groups.
    pub fn count(self) -> u32 {
        self.0
    }

    /// Every group: `0..count`.
    pub fn all(self) -> KeyGroupRange {
        KeyGroupRange {
            start: 0,
            end: self.0,
        }
    }

    /// The group of a key's bytes ([`key_group`]).
    #[inline]
    pub fn group_of(self, key_bytes: &[u8]) -> u32 {
        key_group(key_bytes, self)
    }

    /// Checks that `workers` can share these groups: `1 <= workers <= count`.
    fn check_workers(self, workers: u32) -> Result<()> {
        if workers == 0 || workers > self.0 {
            return Err(StateError::InvalidArgument(format!(
                "{workers} workers cannot share {self}: use 1 to {} workers",
                self.0
            )));
        }
        Ok(())
    }

    /// The groups of worker `worker` of `workers`:
    /// `ceil(worker·G/N) .. ceil((worker+1)·G/N)` (Flink's assignment).
    ///
    /// Fails with [`StateError::InvalidArgument`] unless
    /// `1 <= workers <= count` and `worker < workers`.
    pub fn range_for_worker(self, workers: u32, worker: u32) -> Result<KeyGroupRange> {
        self.check_workers(workers)?;
        if worker >= workers {
            return Err(StateError::InvalidArgument(format!(
                "worker index {worker} is not below the worker count {workers}"
            )));
        }
        let (g, n) = (u64::from(self.0), u64::from(workers));
        let bound = |i: u64| ((i * g).div_ceil(n)) as u32;
        Ok(KeyGroupRange {
            start: bound(u64::from(worker)),
            end: bound(u64::from(worker) + 1),
        })
    }

    /// The ranges of all `workers`, in worker order: contiguous, disjoint,
    /// covering `0..count`, sizes differing by at most one.
    pub fn worker_ranges(self, workers: u32) -> Result<Vec<KeyGroupRange>> {
        self.check_workers(workers)?;
        (0..workers)
            .map(|w| self.range_for_worker(workers, w))
            .collect()
    }

    /// The worker (of `workers`) that owns `group`: `floor(group·N/G)`.
    ///
    /// Fails with [`StateError::InvalidArgument`] unless
    /// `1 <= workers <= count` and `group < count`.
    pub fn worker_for_group(self, workers: u32, group: u32) -> Result<u32> {
        self.check_workers(workers)?;
        if group >= self.0 {
            return Err(StateError::InvalidArgument(format!(
                "key group {group} does not exist among {self}"
            )));
        }
        Ok((u64::from(group) * u64::from(workers) / u64::from(self.0)) as u32)
    }

    /// The worker (of `workers`) that owns the key with these bytes.
    pub fn worker_for_key(self, workers: u32, key_bytes: &[u8]) -> Result<u32> {
        self.worker_for_group(workers, self.group_of(key_bytes))
    }

    /// Checks that `range` lies within these groups.
    fn check_range(self, range: KeyGroupRange) -> Result<()> {
        if range.end > self.0 {
            return Err(StateError::InvalidArgument(format!(
                "{range} is not within the {self} of this table"
            )));
        }
        Ok(())
    }
}

/// A contiguous, half-open range of key groups `start..end` (Flink's
/// `KeyGroupRange`, whose end is inclusive, is `start..=end - 1` here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyGroupRange {
    start: u32,
    end: u32,
}

impl fmt::Display for KeyGroupRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key groups {}..{}", self.start, self.end)
    }
}

impl KeyGroupRange {
    /// The range that holds no group.
    pub const EMPTY: KeyGroupRange = KeyGroupRange { start: 0, end: 0 };

    /// Groups `start..end`; fails with [`StateError::InvalidArgument`] if
    /// `start > end` or `end > 32768`. (`start == end` is an empty range.)
    pub fn new(start: u32, end: u32) -> Result<KeyGroupRange> {
        if start > end || end > MAX_KEY_GROUPS {
            return Err(StateError::InvalidArgument(format!(
                "key group range {start}..{end} is not within 0..{MAX_KEY_GROUPS} or is reversed"
            )));
        }
        Ok(KeyGroupRange { start, end })
    }

    /// The first group.
    pub fn start(self) -> u32 {
        self.start
    }

    /// One past the last group.
    pub fn end(self) -> u32 {
        self.end
    }

    /// Number of groups.
    pub fn len(self) -> u32 {
        self.end - self.start
    }

    /// Returns `true` if the range holds no group.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// Returns `true` if `group` is in the range.
    pub fn contains(self, group: u32) -> bool {
        self.start <= group && group < self.end
    }

    /// The groups in both ranges (empty if they do not overlap).
    pub fn intersect(self, other: KeyGroupRange) -> KeyGroupRange {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        if start < end {
            KeyGroupRange { start, end }
        } else {
            KeyGroupRange::EMPTY
        }
    }

    /// The groups, ascending.
    pub fn iter(self) -> Range<u32> {
        self.start..self.end
    }
}

impl IntoIterator for KeyGroupRange {
    type Item = u32;
    type IntoIter = Range<u32>;
    fn into_iter(self) -> Range<u32> {
        self.iter()
    }
}

/// A store's entries for a range of key groups, ordered by group and by key
/// within a group, with the extent of every group: the shape in which a
/// worker's state is checkpointed so that a restore at another parallelism
/// takes whole groups (Flink's key-grouped state with its
/// `KeyGroupRangeOffsets`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyGroupedSnapshot {
    groups: KeyGroups,
    range: KeyGroupRange,
    /// Entries ordered by (group, key).
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// `offsets[i]..offsets[i + 1]` are the entries of group `range.start + i`;
    /// `range.len() + 1` offsets.
    offsets: Vec<usize>,
}

impl KeyGroupedSnapshot {
    /// Splits every entry of `snapshot` by its key group among `groups`.
    pub fn new(snapshot: StateSnapshot, groups: KeyGroups) -> KeyGroupedSnapshot {
        let mut tagged: Vec<(u32, Entry)> = snapshot
            .iter()
            .map(|(k, v)| (groups.group_of(k), (k.to_vec(), v.to_vec())))
            .collect();
        // Stable: entries of one group keep the snapshot's key order.
        tagged.sort_by_key(|(g, _)| *g);
        let range = groups.all();
        let mut offsets = Vec::with_capacity(range.len() as usize + 1);
        let mut entries = Vec::with_capacity(tagged.len());
        let mut tagged = tagged.into_iter().peekable();
        for group in range {
            offsets.push(entries.len());
            while let Some((_, entry)) = tagged.next_if(|(g, _)| *g == group) {
                entries.push(entry);
            }
        }
        offsets.push(entries.len());
        KeyGroupedSnapshot {
            groups,
            range,
            entries,
            offsets,
        }
    }

    /// Splits `snapshot`, which must hold only keys of the groups in
    /// `range` (a worker's own groups), by key group.
    ///
    /// Fails with [`StateError::InvalidArgument`] if `range` is not within
    /// `groups`, or if a key belongs to a group outside `range` (it was
    /// routed to the wrong worker; restoring it elsewhere would duplicate
    /// or lose it).
    pub fn for_range(
        snapshot: StateSnapshot,
        groups: KeyGroups,
        range: KeyGroupRange,
    ) -> Result<KeyGroupedSnapshot> {
        groups.check_range(range)?;
        let mut all = KeyGroupedSnapshot::new(snapshot, groups);
        if let Some(group) = all
            .range
            .iter()
            .find(|g| !range.contains(*g) && !all.group_entries(*g).is_empty())
        {
            let key = all
                .group_entries(group)
                .first()
                .map(|(k, _)| shown(k))
                .unwrap_or_default();
            return Err(StateError::InvalidArgument(format!(
                "key {key} is in key group {group}, outside the worker's {range}"
            )));
        }
        // `all` covers every group: offset `g` is where group `g` starts.
        let lo = all.offsets.get(range.start as usize).copied().unwrap_or(0);
        let hi = all
            .offsets
            .get(range.end as usize)
            .copied()
            .unwrap_or(all.entries.len());
        all.entries.truncate(hi);
        all.entries.drain(..lo);
        all.offsets = all
            .offsets
            .get(range.start as usize..=range.end as usize)
            .unwrap_or_default()
            .iter()
            .map(|o| o - lo)
            .collect();
        all.range = range;
        Ok(all)
    }

    /// [`for_range`](Self::for_range) of a snapshot of `store`.
    pub fn of_store<S: StateStore + ?Sized>(
        store: &S,
        groups: KeyGroups,
        range: KeyGroupRange,
    ) -> Result<KeyGroupedSnapshot> {
        KeyGroupedSnapshot::for_range(store.snapshot(), groups, range)
    }

    /// The group count the entries were split with.
    pub fn groups(&self) -> KeyGroups {
        self.groups
    }

    /// The groups this part covers.
    pub fn range(&self) -> KeyGroupRange {
        self.range
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns `true` if the part holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, ordered by key group, then by key.
    pub fn entries(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.entries
    }

    /// Where the entries of `group` sit in [`entries`](Self::entries), or
    /// `None` if the group is outside this part's range.
    pub fn extent(&self, group: u32) -> Option<Range<usize>> {
        if !self.range.contains(group) {
            return None;
        }
        let i = (group - self.range.start) as usize;
        Some(*self.offsets.get(i)?..*self.offsets.get(i + 1)?)
    }

    /// The entries of `group`, sorted by key (empty outside the range).
    pub fn group_entries(&self, group: u32) -> &[(Vec<u8>, Vec<u8>)] {
        self.extent(group)
            .and_then(|e| self.entries.get(e))
            .unwrap_or_default()
    }

    /// The entries of the groups in `range` (intersected with this part's),
    /// as a snapshot sorted by key.
    pub fn to_snapshot(&self, range: KeyGroupRange) -> StateSnapshot {
        let mut data: Vec<(Vec<u8>, Vec<u8>)> = range
            .intersect(self.range)
            .iter()
            .flat_map(|g| self.group_entries(g).iter().cloned())
            .collect();
        data.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        StateSnapshot::new(data)
    }

    /// One snapshot per worker when `workers` share the groups: the entries
    /// of [`KeyGroups::range_for_worker`] for each worker, in worker order.
    pub fn split(&self, workers: u32) -> Result<Vec<StateSnapshot>> {
        Ok(self
            .groups
            .worker_ranges(workers)?
            .into_iter()
            .map(|r| self.to_snapshot(r))
            .collect())
    }
}

/// Replaces the content of `store` with the entries of the key groups in
/// `range`, gathered from `parts` (the checkpoints of any number of old
/// workers, at any old parallelism): a worker's restore after a rescale.
///
/// The parts must cover every group of `range` exactly once (by their
/// ranges, whether or not a group holds entries): a group no part covers is
/// a missing worker's part, and restoring without it would lose its keys; a
/// group two parts cover means parts of different checkpoints were mixed,
/// and one of them lacks the other's puts or deletes.
///
/// Fails, leaving `store` untouched, with [`StateError::InvalidArgument`] if
/// a part was split with another group count than `groups`, `range` is not
/// within `groups`, or groups of `range` are in no part, and with
/// [`StateError::Corruption`] if the ranges of two parts overlap within
/// `range` or two parts hold the same key. An error of the store's own
/// [`restore`](StateStore::restore) is returned as it is.
pub fn restore_key_groups<S: StateStore + ?Sized>(
    store: &mut S,
    groups: KeyGroups,
    parts: &[KeyGroupedSnapshot],
    range: KeyGroupRange,
) -> Result<()> {
    groups.check_range(range)?;
    if let Some(i) = parts.iter().position(|p| p.groups != groups) {
        return Err(StateError::InvalidArgument(format!(
            "checkpoint part {i} was split into {}, this restore uses {groups}",
            parts.get(i).map_or(groups, |p| p.groups)
        )));
    }
    check_coverage(parts, range)?;
    let mut data: Vec<(usize, Entry)> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        for g in range.intersect(part.range) {
            data.extend(part.group_entries(g).iter().cloned().map(|e| (i, e)));
        }
    }
    data.sort_unstable_by(|a, b| a.1 .0.cmp(&b.1 .0));
    if let Some(w) = data.windows(2).find(|w| w[0].1 .0 == w[1].1 .0) {
        let (a, b) = (&w[0], &w[1]);
        return Err(StateError::corruption(
            format!(
                "key-group checkpoint parts {} and {}",
                a.0.min(b.0),
                a.0.max(b.0)
            ),
            format!(
                "both hold key {} (key group {}): their ranges overlap",
                shown(&a.1 .0),
                groups.group_of(&a.1 .0)
            ),
        ));
    }
    store.restore(StateSnapshot::new(
        data.into_iter().map(|(_, e)| e).collect(),
    ))
}

/// Checks that the ranges of `parts` cover every group of `range` exactly
/// once (see [`restore_key_groups`]).
fn check_coverage(parts: &[KeyGroupedSnapshot], range: KeyGroupRange) -> Result<()> {
    let mut covered: Vec<(KeyGroupRange, usize)> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| (range.intersect(p.range), i))
        .filter(|(r, _)| !r.is_empty())
        .collect();
    covered.sort_unstable_by_key(|(r, i)| (r.start, *i));
    let mut next = range.start;
    let mut last: Option<(KeyGroupRange, usize)> = None;
    for &(r, i) in &covered {
        if let Some((prev, j)) = last.filter(|_| r.start < next) {
            return Err(StateError::corruption(
                format!("key-group checkpoint parts {} and {}", j.min(i), j.max(i)),
                format!(
                    "both cover {}: parts of different checkpoints are mixed",
                    prev.intersect(r)
                ),
            ));
        }
        if r.start > next {
            return Err(missing_groups(next, r.start));
        }
        next = r.end;
        last = Some((r, i));
    }
    if next < range.end {
        return Err(missing_groups(next, range.end));
    }
    Ok(())
}

/// The error for groups `start..end` that no checkpoint part covers.
fn missing_groups(start: u32, end: u32) -> StateError {
    StateError::InvalidArgument(format!(
        "no checkpoint part covers key groups {start}..{end}: a worker's part is missing"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::InMemoryStore;
    use bytes::Bytes;

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 + 7) as u8).collect()
    }

    /// XXH64 of `pattern(len)` with seed 0 and with [`KEY_GROUP_SEED`], from
    /// the reference implementation (Python `xxhash` 3.x, `xxh64(data,
    /// seed).intdigest()`). Lengths cover every path: the short start, the
    /// 32-byte stripes, and the 8-, 4- and 1-byte tails.
    const GOLDEN: &[(usize, u64, u64)] = &[
        (0, 0xef46db3751d8e999, 0x9b126457520c3b54),
        (1, 0xa96c7f0ce858bbb7, 0xc6fbcbca84730f7e),
        (2, 0xac378c5993cd5f9a, 0xab727d951b0ae13e),
        (3, 0x56e6957632a487f9, 0x2c248f4faaf11b0a),
        (4, 0xc60d15b1e3ff8f04, 0x5c748d0fcc9251ef),
        (5, 0x808815858624dd4e, 0xce727053376d4b85),
        (7, 0xafbefc3d6c6f9a8e, 0x401fae7bec87f097),
        (8, 0x3da5c7aa269683e0, 0x1c038e30ac7763f8),
        (9, 0x4b17a9ba9e215c09, 0xc8788ef1efdf453d),
        (12, 0x8fe8ab1c1fd0666e, 0xfb7186c404d873da),
        (15, 0xae2a37eb9357caa7, 0xcb2e977352b37425),
        (16, 0xa19ad429b02bc413, 0xad8b700adc89d169),
        (17, 0xfe9f0feb7eeedc09, 0xea09223d2242ac2d),
        (31, 0x4a74f3a1a39ad4a1, 0x67c04d214cc791b8),
        (32, 0x8d57d6a4671cc43d, 0xbf8545a00fa351b7),
        (33, 0x62c9fd21ed857664, 0x3762ef3c8b599fb2),
        (35, 0x85cbcf9e0d9cbeca, 0x17c6f8ec09dae2ce),
        (40, 0x49b45332e280f187, 0x956cb1f0978ef77c),
        (63, 0x5c320a0d2707057f, 0xfff9a14cff83d109),
        (64, 0x7bbabbc45729d17e, 0xe5ef64878dbb9af5),
        (65, 0xf3980c34bae65dc1, 0xb41a70d943a14f06),
        (100, 0xefa0ad2d3e70c151, 0xd3170b702449bca7),
        (255, 0x2c3db4bb567f731e, 0x1dbff143243b643b),
    ];

    #[test]
    fn xxh64_matches_the_reference_implementation() {
        for &(len, unseeded, seeded) in GOLDEN {
            let data = pattern(len);
            assert_eq!(xxh64(&data, 0), unseeded, "len {len}, seed 0");
            assert_eq!(xxh64(&data, KEY_GROUP_SEED), seeded, "len {len}");
        }
        assert_eq!(xxh64(b"a", 0), 0xd24ec4f1a98c6e5b);
        assert_eq!(xxh64(b"abc", 0), 0x44bc2cf5ad770999);
        assert_eq!(
            xxh64(b"Nobody inspects the spammish repetition", 0),
            0xfbcea83c8a378bf1
        );
        assert_eq!(key_hash(&pattern(100_000)), 0x745a03cc02db67c1);
    }

    /// The key groups of these keys are part of the checkpoint format.
    #[test]
    fn key_groups_of_golden_keys() {
        let g128 = KeyGroups::DEFAULT;
        let g_max = KeyGroups::MAX;
        let one = KeyGroups::new(1).unwrap();
        let golden: &[(&[u8], u64, u32, u32)] = &[
            (b"", 0x9b126457520c3b54, 84, 15188),
            (b"user:1", 0xf2d586d938cbd133, 51, 20787),
            (b"user:2", 0xaf2f70ab7914e54d, 77, 25933),
            (b"eu-west", 0x69c990ea093b6873, 115, 26739),
            (b"\x00", 0xa188ebba4f8c9a31, 49, 6705),
            (&[0xFF; 8], 0xf63d28c270a46093, 19, 24723),
            (
                b"Nobody inspects the spammish repetition",
                0xfd49ab9c18c6eaf6,
                118,
                27382,
            ),
        ];
        for &(key, hash, in128, in_max) in golden {
            assert_eq!(key_hash(key), hash, "{key:?}");
            assert_eq!(key_group(key, g128), in128, "{key:?}");
            assert_eq!(g128.group_of(key), in128, "{key:?}");
            assert_eq!(key_group(key, g_max), in_max, "{key:?}");
            assert_eq!(key_group(key, one), 0);
        }
    }

    #[test]
    fn group_counts_are_validated() {
        assert_eq!(KeyGroups::default().count(), 128);
        assert_eq!(KeyGroups::new(1).unwrap().count(), 1);
        assert_eq!(KeyGroups::new(32768).unwrap(), KeyGroups::MAX);
        for bad in [0, 32769, u32::MAX] {
            let err = KeyGroups::new(bad).unwrap_err();
            assert!(matches!(err, StateError::InvalidArgument(_)), "{err}");
            assert!(err.to_string().contains(&bad.to_string()), "{err}");
        }
        let g = KeyGroups::DEFAULT;
        for (workers, worker) in [(0, 0), (129, 0), (4, 4), (u32::MAX, 1)] {
            assert!(matches!(
                g.range_for_worker(workers, worker),
                Err(StateError::InvalidArgument(_))
            ));
        }
        assert!(g.worker_ranges(0).is_err());
        assert!(g.worker_ranges(129).is_err());
        assert!(g.worker_for_group(2, 128).is_err());
        assert!(g.worker_for_group(0, 1).is_err());
        assert!(KeyGroupRange::new(3, 2).is_err());
        assert!(KeyGroupRange::new(0, 32769).is_err());
        assert!(KeyGroupRange::new(5, 5).unwrap().is_empty());
    }

    /// Flink's formulas with an inclusive end, written out as Flink states
    /// them, agree with ours; ranges partition the groups contiguously, their
    /// sizes differ by at most one, and the owner of every group is the
    /// worker whose range holds it.
    #[test]
    fn assignment_is_flinks_and_partitions_the_groups() {
        for count in [1u32, 2, 3, 7, 10, 128, 1000, 32768] {
            let g = KeyGroups::new(count).unwrap();
            let mut worker_counts: Vec<u32> = (1..=count.min(130)).collect();
            worker_counts.extend([count / 2, count.saturating_sub(1), count]);
            for n in worker_counts
                .into_iter()
                .filter(|n| (1..=count).contains(n))
            {
                let ranges = g.worker_ranges(n).unwrap();
                assert_eq!(ranges.len(), n as usize);
                let mut next = 0;
                let (mut lo, mut hi) = (u32::MAX, 0);
                for (i, r) in ranges.iter().enumerate() {
                    let i = i as u64;
                    let (c, n64) = (u64::from(count), u64::from(n));
                    #[allow(clippy::manual_div_ceil)] // Flink's formula, as Flink writes it
                    let flink_start = (i * c + n64 - 1) / n64;
                    let flink_end_inclusive = ((i + 1) * c - 1) / n64;
                    assert_eq!(u64::from(r.start()), flink_start);
                    assert_eq!(u64::from(r.end()) - 1, flink_end_inclusive);
                    assert_eq!(r.start(), next, "{count} groups, {n} workers");
                    next = r.end();
                    lo = lo.min(r.len());
                    hi = hi.max(r.len());
                }
                assert_eq!(next, count);
                assert!(hi - lo <= 1 && lo >= 1, "{count}/{n}: sizes {lo}..={hi}");
                if count <= 1000 {
                    for group in 0..count {
                        let w = g.worker_for_group(n, group).unwrap();
                        assert!(ranges[w as usize].contains(group), "{count}/{n}/{group}");
                    }
                }
            }
        }
    }

    #[test]
    fn ranges_intersect() {
        let r = |a, b| KeyGroupRange::new(a, b).unwrap();
        assert_eq!(r(0, 10).intersect(r(5, 20)), r(5, 10));
        assert_eq!(r(0, 5).intersect(r(5, 20)), KeyGroupRange::EMPTY);
        assert_eq!(r(3, 4).intersect(r(0, 128)), r(3, 4));
        assert_eq!(r(2, 6).iter().collect::<Vec<_>>(), vec![2, 3, 4, 5]);
        assert_eq!(r(2, 6).len(), 4);
        assert!(r(2, 6).contains(5) && !r(2, 6).contains(6) && !r(2, 6).contains(1));
        assert_eq!(r(2, 6).to_string(), "key groups 2..6");
    }

    fn store_with(keys: usize) -> InMemoryStore {
        let mut s = InMemoryStore::new();
        for i in 0..keys {
            let k = format!("key:{i}");
            s.put(k.as_bytes(), Bytes::from(k.clone().into_bytes()))
                .unwrap();
        }
        s
    }

    #[test]
    fn split_orders_by_group_and_records_extents() {
        let g = KeyGroups::new(16).unwrap();
        let s = store_with(500);
        let part = KeyGroupedSnapshot::of_store(&s, g, g.all()).unwrap();
        assert_eq!(part.len(), 500);
        assert_eq!(part.range(), g.all());
        assert_eq!(part.groups(), g);
        let mut seen = 0;
        for group in g.all() {
            let extent = part.extent(group).unwrap();
            assert_eq!(extent.start, seen);
            seen = extent.end;
            let entries = part.group_entries(group);
            assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(entries.iter().all(|(k, _)| g.group_of(k) == group));
        }
        assert_eq!(seen, 500);
        assert_eq!(part.extent(16), None);
        assert!(part.group_entries(16).is_empty());
        // Splitting for 3 workers and back gives every entry exactly once.
        let pieces = part.split(3).unwrap();
        assert_eq!(pieces.iter().map(|p| p.len()).sum::<usize>(), 500);
        let mut back = InMemoryStore::new();
        let parts: Vec<KeyGroupedSnapshot> = pieces
            .into_iter()
            .zip(g.worker_ranges(3).unwrap())
            .map(|(p, r)| KeyGroupedSnapshot::for_range(p, g, r).unwrap())
            .collect();
        restore_key_groups(&mut back, g, &parts, g.all()).unwrap();
        assert!(back.snapshot().iter().eq(s.snapshot().iter()));
    }

    #[test]
    fn for_range_refuses_keys_of_other_groups() {
        let g = KeyGroups::new(8).unwrap();
        let s = store_with(100);
        let range = g.range_for_worker(2, 0).unwrap();
        let err = KeyGroupedSnapshot::of_store(&s, g, range).unwrap_err();
        assert!(matches!(err, StateError::InvalidArgument(_)), "{err}");
        assert!(
            err.to_string()
                .contains("outside the worker's key groups 0..4"),
            "{err}"
        );
        assert!(
            err.to_string().starts_with("invalid argument: key b\"key:"),
            "{err}"
        );
        let too_wide = KeyGroupRange::new(0, 9).unwrap();
        assert!(KeyGroupedSnapshot::of_store(&InMemoryStore::new(), g, too_wide).is_err());
        // The keys of the range alone are accepted, and only they are kept.
        let own = KeyGroupedSnapshot::new(s.snapshot(), g).to_snapshot(range);
        let part = KeyGroupedSnapshot::for_range(own.clone(), g, range).unwrap();
        assert_eq!(part.len(), own.len());
        assert_eq!(part.range(), range);
        assert_eq!(part.extent(4), None);
        assert!(part.to_snapshot(g.all()).iter().eq(own.iter()));
    }

    #[test]
    fn restore_refuses_other_group_counts_and_overlapping_parts() {
        let g = KeyGroups::new(8).unwrap();
        let s = store_with(50);
        let whole = KeyGroupedSnapshot::new(s.snapshot(), g);
        let mut target = store_with(3);
        let before = target.snapshot();
        let other = KeyGroupedSnapshot::new(s.snapshot(), KeyGroups::new(16).unwrap());
        let err = restore_key_groups(&mut target, g, &[other], g.all()).unwrap_err();
        assert!(matches!(err, StateError::InvalidArgument(_)), "{err}");
        assert!(err.to_string().contains("16 key groups"), "{err}");
        let err = restore_key_groups(&mut target, g, &[whole.clone(), whole.clone()], g.all())
            .unwrap_err();
        assert!(matches!(err, StateError::Corruption { .. }), "{err}");
        assert!(err.to_string().contains("parts 0 and 1"), "{err}");
        assert!(
            err.to_string().contains("both cover key groups 0..8"),
            "{err}"
        );
        let wide = KeyGroupRange::new(0, 9).unwrap();
        assert!(restore_key_groups(&mut target, g, &[whole], wide).is_err());
        assert!(target.snapshot().iter().eq(before.iter()));
    }

    /// A set of parts that leaves groups of the range uncovered (a missing
    /// worker's part) would restore an incomplete state: refused, naming the
    /// groups, and the store is left untouched.
    #[test]
    fn restore_refuses_parts_that_miss_groups_of_the_range() {
        let g = KeyGroups::new(8).unwrap();
        let s = store_with(200);
        let parts: Vec<KeyGroupedSnapshot> = KeyGroupedSnapshot::new(s.snapshot(), g)
            .split(4)
            .unwrap()
            .into_iter()
            .zip(g.worker_ranges(4).unwrap())
            .map(|(p, r)| KeyGroupedSnapshot::for_range(p, g, r).unwrap())
            .collect();
        let mut target = store_with(3);
        let before = target.snapshot();
        // Worker 2 (groups 4..6) lost its part.
        let without_2 = [parts[0].clone(), parts[1].clone(), parts[3].clone()];
        let err = restore_key_groups(&mut target, g, &without_2, g.all()).unwrap_err();
        assert!(matches!(err, StateError::InvalidArgument(_)), "{err}");
        assert!(err.to_string().contains("key groups 4..6"), "{err}");
        assert_eq!(target.snapshot().data(), before.data());
        // No part at all.
        let err = restore_key_groups(&mut target, g, &[], g.all()).unwrap_err();
        assert!(err.to_string().contains("key groups 0..8"), "{err}");
        assert_eq!(target.snapshot().data(), before.data());
        // A range the remaining parts cover is fine.
        let covered = KeyGroupRange::new(0, 4).unwrap();
        restore_key_groups(&mut target, g, &without_2, covered).unwrap();
        assert!(target
            .prefix_scan(b"")
            .all(|(k, _)| covered.contains(g.group_of(&k))));
        // An empty range needs no part.
        restore_key_groups(&mut target, g, &[], KeyGroupRange::EMPTY).unwrap();
        assert!(target.is_empty());
    }

    /// Two parts whose ranges overlap are refused even where no key is in
    /// both (a stale part mixed into a checkpoint: one of them lacks the
    /// deletes or puts of the other).
    #[test]
    fn restore_refuses_overlapping_ranges_without_shared_keys() {
        let g = KeyGroups::new(8).unwrap();
        let s = store_with(200);
        let whole = KeyGroupedSnapshot::new(s.snapshot(), g);
        let r = |a, b| KeyGroupRange::new(a, b).unwrap();
        // An old single part of groups 0..4 (everything deleted since) and
        // the current parts 0..4 and 4..8.
        let stale =
            KeyGroupedSnapshot::for_range(StateSnapshot::new(Vec::new()), g, r(0, 4)).unwrap();
        let low = KeyGroupedSnapshot::for_range(whole.to_snapshot(r(0, 4)), g, r(0, 4)).unwrap();
        let high = KeyGroupedSnapshot::for_range(whole.to_snapshot(r(4, 8)), g, r(4, 8)).unwrap();
        let mut target = InMemoryStore::new();
        let err = restore_key_groups(&mut target, g, &[low, high, stale], g.all()).unwrap_err();
        assert!(matches!(err, StateError::Corruption { .. }), "{err}");
        assert!(err.to_string().contains("parts 0 and 2"), "{err}");
        assert!(err.to_string().contains("key groups 0..4"), "{err}");
        assert!(target.is_empty());
    }
}
