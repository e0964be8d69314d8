//! [`StateSnapshot`], its flat on-disk format, and streaming
//! [`SnapshotWriter`] / [`SnapshotReader`].
//!
//! # Format version 2 (written)
//!
//! All integers are little-endian. A snapshot is a header, any number of
//! blocks, and a footer:
//!
//! ```text
//! header (32) | block 0 | block 1 | ... | footer (32)
//! ```
//!
//! **Header**
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 8 | magic `b"LMNRSNAP"` |
//! | 8  | 4 | format version (`2`) |
//! | 12 | 4 | reserved, `0` |
//! | 16 | 8 | creation time, nanoseconds since the Unix epoch |
//! | 24 | 4 | reserved, `0` |
//! | 28 | 4 | CRC-32C of bytes `0..28` |
//!
//! **Block** (1 to [`SNAPSHOT_BLOCK_MAX_ENTRIES`] entries; writers close a
//! block at about [`SNAPSHOT_BLOCK_TARGET_BYTES`])
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 4 | tag `b"LBLK"` |
//! | 4  | 4 | number of entries `n` |
//! | 8  | 4 | key arena length `K` (below 2^31) |
//! | 12 | 4 | value arena length `V` (below 2^31) |
//! | 16 | 4 | number of tombstones among the `n` entries |
//! | 20 | 4 | CRC-32C of the block body (bytes `32..32 + 8n + K + V`) |
//! | 24 | 4 | reserved, `0` |
//! | 28 | 4 | CRC-32C of bytes `0..28` |
//! | 32 | 8n | entry table: per entry, key end (`u32`) and value end (`u32`, bit 31 set for a tombstone) |
//! | 32 + 8n | K | key arena: the keys back to back |
//! | 32 + 8n + K | V | value arena: the values back to back |
//!
//! Ends are cumulative offsets into the block's arenas: entry `i` has key
//! `keys[end(i-1)..end(i)]` (with `end(-1) = 0`), and likewise its value. A
//! tombstone (a delete, in incremental deltas) has an empty value.
//!
//! **Footer**
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 4 | tag `b"LEND"` |
//! | 4  | 4 | reserved, `0` |
//! | 8  | 8 | number of entries in all blocks |
//! | 16 | 8 | number of blocks |
//! | 24 | 4 | chain checksum: CRC-32C of all block headers (32 bytes each), in order |
//! | 28 | 4 | CRC-32C of bytes `0..28` |
//!
//! Nothing may follow the footer.
//!
//! **Order.** Entries are in strictly ascending byte order of their keys
//! across the whole snapshot, puts and tombstones alike, and no key appears
//! twice. [`SnapshotWriter`] refuses anything else; readers check it.
//!
//! **Checks.** A reader checks the header, then each block's header checksum
//! before it trusts the block's lengths, the block's body checksum before it
//! hands out an entry, the entry table (monotonic, adding up to the arenas),
//! the key order, and finally the footer's counts and chain checksum (so a
//! dropped, repeated or reordered block is found) and the end of the input.
//! Every failure is a [`StateError`] naming the input and the byte offset of
//! the bad field or block; no input panics.
//!
//! Nothing in this format depends on rkyv or on the platform's pointer width.
//!
//! # Format version 1 (read only)
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 8 | magic `b"LMNRSNAP"` |
//! | 8  | 4 | format version (`1`) |
//! | 12 | 4 | reserved, must be `0` |
//! | 16 | 8 | body length in bytes |
//! | 24 | 4 | CRC-32C of the body |
//! | 28 | 4 | CRC-32C of bytes `0..28` (the header) |
//! | 32 | body length | rkyv 0.8 archive of the entries (64-bit relative pointers) |
//!
//! Version 1 bodies are parsed by hand (see the `v1` source module), so they
//! load whatever rkyv pointer width the application selects.

use std::io::{Read, Write};
use std::sync::OnceLock;

use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

use super::error::{Result, StateError};
use super::store::SerializeValue;

pub(crate) mod dict;
pub(crate) mod v1;
pub(crate) mod v2;

pub use v2::{
    SnapshotEntry, SnapshotReader, SnapshotWriter, SNAPSHOT_BLOCK_MAX_ENTRIES,
    SNAPSHOT_BLOCK_TARGET_BYTES, SNAPSHOT_MAX_ENTRY_BYTES,
};

/// Magic bytes that open every serialized snapshot.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"LMNRSNAP";
/// Snapshot format version written by this build (it also reads version 1).
pub const SNAPSHOT_FORMAT_VERSION: u32 = v2::VERSION;
/// Length of the snapshot header in bytes (both format versions).
pub const SNAPSHOT_HEADER_LEN: usize = 32;

const LOCATION: &str = "snapshot bytes";

pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A point-in-time copy of a store's entries, sorted by key, for checkpointing.
///
/// Flat: all keys in one arena, all values in another, and two offset
/// tables, so building, serializing and reading one allocate a handful of
/// buffers, not one per entry. Build one with
/// [`StateStore::snapshot`](super::StateStore::snapshot), [`StateSnapshot::new`]
/// or a [`StateSnapshotBuilder`]; persist it with [`to_bytes`](Self::to_bytes)
/// or [`write_to`](Self::write_to) and read it back, verified, with
/// [`from_bytes`](Self::from_bytes) or [`read_from`](Self::read_from).
///
/// It derives rkyv's `Archive` too (as [`ArchivedStateSnapshot`]), so it can
/// sit inside an application's own archived types; the snapshot files of
/// this crate do not use rkyv.
#[derive(Debug, Clone, Default, Archive, Serialize, Deserialize)]
pub struct StateSnapshot {
    keys: Vec<u8>,
    values: Vec<u8>,
    /// End of key `i` in `keys`.
    key_ends: Vec<u64>,
    /// End of value `i` in `values`.
    value_ends: Vec<u64>,
    timestamp_ns: u64,
    /// Materialized pairs for the deprecated [`StateSnapshot::data`].
    #[rkyv(with = rkyv::with::Skip)]
    pairs: OnceLock<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl PartialEq for StateSnapshot {
    fn eq(&self, other: &Self) -> bool {
        self.timestamp_ns == other.timestamp_ns
            && self.keys == other.keys
            && self.values == other.values
            && self.key_ends == other.key_ends
            && self.value_ends == other.value_ends
    }
}

impl Eq for StateSnapshot {}

#[inline]
fn span(ends: &[u64], i: usize) -> Option<(usize, usize)> {
    let end = *ends.get(i)? as usize;
    let start = match i.checked_sub(1) {
        Some(p) => *ends.get(p)? as usize,
        None => 0,
    };
    Some((start, end))
}

impl StateSnapshot {
    /// Builds a snapshot from `(key, value)` pairs in any order.
    ///
    /// Pairs are sorted by key; when a key appears more than once the last
    /// pair wins, as if the pairs had been `put` in order.
    pub fn new(data: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        let bytes = data.iter().map(|(k, v)| k.len() + v.len()).sum();
        let mut b = StateSnapshotBuilder::with_capacity(data.len(), bytes);
        for (k, v) in &data {
            b.push(k, v);
        }
        b.finish()
    }

    /// A builder for a snapshot of about `entries` entries and `bytes` bytes
    /// of keys and values.
    pub fn builder(entries: usize, bytes: usize) -> StateSnapshotBuilder {
        StateSnapshotBuilder::with_capacity(entries, bytes)
    }

    /// Entry `i` in key order, or `None` past the end.
    #[inline]
    pub fn entry(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let (ks, ke) = span(&self.key_ends, i)?;
        let (vs, ve) = span(&self.value_ends, i)?;
        Some((self.keys.get(ks..ke)?, self.values.get(vs..ve)?))
    }

    /// The key of entry `i`.
    #[inline]
    fn key(&self, i: usize) -> &[u8] {
        span(&self.key_ends, i)
            .and_then(|(s, e)| self.keys.get(s..e))
            .unwrap_or_default()
    }

    /// The entries as `(key, value)` pairs, in strictly ascending key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            snapshot: self,
            front: 0,
            back: self.len(),
        }
    }

    /// Looks a key up by binary search.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let mut lo = 0usize;
        let mut hi = self.len();
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.key(mid).cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.entry(mid).map(|(_, v)| v),
            }
        }
        None
    }

    /// The entries, sorted by strictly ascending key.
    #[deprecated(
        since = "0.2.0",
        note = "snapshots are flat now: use `iter()`, which borrows (this copies every entry once, on first call)"
    )]
    pub fn data(&self) -> &[(Vec<u8>, Vec<u8>)] {
        self.pairs
            .get_or_init(|| self.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect())
    }

    /// Consumes the snapshot and returns its sorted entries (one allocation
    /// per key and per value).
    #[deprecated(
        since = "0.2.0",
        note = "snapshots are flat now: use `iter()` (this allocates every key and value)"
    )]
    pub fn into_data(self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
    }

    /// Wall-clock creation time, nanoseconds since the Unix epoch.
    pub fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.key_ends.len()
    }

    /// Returns `true` if the snapshot has no entry.
    pub fn is_empty(&self) -> bool {
        self.key_ends.is_empty()
    }

    /// Sum of key and value lengths, in bytes.
    pub fn size_bytes(&self) -> usize {
        self.keys.len() + self.values.len()
    }

    /// End of key `i` and of value `i` (`0, 0` before the first entry).
    #[inline]
    fn ends_before(&self, i: usize) -> (u64, u64) {
        match i.checked_sub(1) {
            None => (0, 0),
            Some(p) => (
                self.key_ends.get(p).copied().unwrap_or(0),
                self.value_ends.get(p).copied().unwrap_or(0),
            ),
        }
    }

    /// Block boundaries for writing: `(first entry, end entry)` runs of at
    /// most [`SNAPSHOT_BLOCK_MAX_ENTRIES`] entries and about
    /// [`SNAPSHOT_BLOCK_TARGET_BYTES`] bytes.
    fn blocks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let n = self.len();
        let mut start = 0usize;
        std::iter::from_fn(move || {
            if start >= n {
                return None;
            }
            let (kbase, vbase) = self.ends_before(start);
            let mut end = start + 1;
            let limit = (start + SNAPSHOT_BLOCK_MAX_ENTRIES).min(n);
            while end < limit {
                let (ke, ve) = self.ends_before(end + 1);
                let kb = ke.saturating_sub(kbase);
                let vb = ve.saturating_sub(vbase);
                let bytes = 8 * (end + 1 - start) as u64 + kb + vb;
                if bytes > SNAPSHOT_BLOCK_TARGET_BYTES as u64
                    || kb > SNAPSHOT_MAX_ENTRY_BYTES as u64
                    || vb > SNAPSHOT_MAX_ENTRY_BYTES as u64
                {
                    break;
                }
                end += 1;
            }
            let run = (start, end);
            start = end;
            Some(run)
        })
    }

    /// Exact length of the serialized form ([`to_bytes`](Self::to_bytes)).
    pub fn serialized_len(&self) -> usize {
        let blocks = self.blocks().count();
        SNAPSHOT_HEADER_LEN
            + blocks * v2::BLOCK_HEADER_LEN
            + 8 * self.len()
            + self.size_bytes()
            + v2::FOOTER_LEN
    }

    /// Writes the snapshot in format version 2 (see the [module docs](self))
    /// to `out`, block by block, straight from its arenas. Returns the
    /// number of bytes written. A key or value of 2 GiB or more is an
    /// [`StateError::InvalidArgument`].
    pub fn write_to<W: Write>(&self, out: W) -> Result<u64> {
        let mut w = SnapshotWriter::with_timestamp(out, self.timestamp_ns)?;
        let inconsistent = |i: usize| {
            StateError::InvalidArgument(format!(
                "snapshot entry {i}: offsets do not fit the arenas (a snapshot deserialized from a bad archive?)"
            ))
        };
        for (start, end) in self.blocks() {
            let (kbase, vbase) = self.ends_before(start);
            let (kend, vend) = self.ends_before(end);
            if kend.saturating_sub(kbase) > SNAPSHOT_MAX_ENTRY_BYTES as u64
                || vend.saturating_sub(vbase) > SNAPSHOT_MAX_ENTRY_BYTES as u64
            {
                return Err(StateError::InvalidArgument(format!(
                    "snapshot entry {start}: keys and values must be below 2 GiB each"
                )));
            }
            let keys = self
                .keys
                .get(kbase as usize..kend as usize)
                .ok_or_else(|| inconsistent(start))?;
            let values = self
                .values
                .get(vbase as usize..vend as usize)
                .ok_or_else(|| inconsistent(start))?;
            let mut prev = (kbase, vbase);
            for i in start..end {
                let e = self.ends_before(i + 1);
                if e.0 < prev.0 || e.1 < prev.1 || (i > 0 && self.key(i) <= self.key(i - 1)) {
                    return Err(inconsistent(i));
                }
                prev = e;
            }
            let ends = (start..end).map(|i| {
                let (ke, ve) = self.ends_before(i + 1);
                ((ke - kbase) as usize, (ve - vbase) as usize)
            });
            w.write_block_from(ends, keys, values, self.key(end - 1))?;
        }
        let written = w.bytes_written() + v2::FOOTER_LEN as u64;
        w.finish()?;
        Ok(written)
    }

    /// Serializes the snapshot in format version 2 (see the [module docs](self)).
    ///
    /// The buffer is allocated once at its exact size
    /// ([`serialized_len`](Self::serialized_len)) and is 16-byte aligned.
    pub fn to_bytes(&self) -> Result<AlignedVec> {
        let mut buf = AlignedVec::<16>::with_capacity(self.serialized_len());
        self.write_to(&mut buf)?;
        Ok(buf)
    }

    /// Reads a snapshot written by [`to_bytes`](Self::to_bytes) or
    /// [`write_to`](Self::write_to) (format version 2) or by an earlier
    /// release (format version 1), verifying every layer of the format.
    /// Works on input at any alignment. A snapshot holding tombstones (an
    /// incremental delta) is refused: read it with a [`SnapshotReader`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let view = StateSnapshot::view(bytes)?;
        let mut b = StateSnapshotBuilder::with_capacity(view.len(), view.size_bytes());
        b.snapshot.timestamp_ns = view.timestamp_ns();
        match &view.inner {
            ViewInner::V1 { body, layout } => {
                for i in 0..layout.len {
                    let (k, v) = layout.entry(body, i).unwrap_or_default();
                    b.push_sorted(k, v);
                }
            }
            ViewInner::V2 { bytes, blocks } => {
                for blk in blocks {
                    let body = bytes
                        .get(blk.body..blk.body.saturating_add(blk.header.body_len()))
                        .unwrap_or_default();
                    b.push_block(&blk.header, body);
                }
            }
        }
        Ok(b.finish())
    }

    /// Reads a snapshot (either format version) from `input`, block by
    /// block, into a new snapshot: the only full copy of the state in
    /// memory is the result. `location` names the input in errors.
    pub fn read_from<R: Read>(input: R, location: impl Into<String>) -> Result<Self> {
        let mut r = SnapshotReader::new(input, location)?;
        let mut b = StateSnapshotBuilder::with_capacity(0, 0);
        b.snapshot.timestamp_ns = r.timestamp_ns();
        while let Some(e) = r.next_entry()? {
            match e.value {
                Some(v) => b.push_sorted(e.key, v),
                None => {
                    return Err(StateError::InvalidArgument(format!(
                        "{}: entry {} is a tombstone; a full snapshot has none",
                        r.location(),
                        r.entries_read() - 1
                    )))
                }
            }
        }
        Ok(b.finish())
    }

    /// Validates `bytes` (either format version) and returns a zero-copy
    /// view of the snapshot: lookups and iteration read the input in place.
    ///
    /// Every checksum, length and the key order are checked up front; the
    /// input may be at any alignment.
    pub fn view(bytes: &[u8]) -> Result<SnapshotView<'_>> {
        let version = v2::check_file_header(bytes, LOCATION)?;
        let header = bytes.get(..SNAPSHOT_HEADER_LEN).unwrap_or_default();
        let body = bytes.get(SNAPSHOT_HEADER_LEN..).unwrap_or_default();
        if version == v1::VERSION {
            let layout = v1::check_body(header, body, LOCATION)?;
            let size = (0..layout.len)
                .filter_map(|i| layout.entry(body, i))
                .map(|(k, v)| k.len() + v.len())
                .sum();
            return Ok(SnapshotView {
                inner: ViewInner::V1 { body, layout },
                timestamp_ns: layout.timestamp_ns,
                len: layout.len,
                size,
            });
        }
        let mut blocks = Vec::new();
        let mut pos = SNAPSHOT_HEADER_LEN;
        let mut chain = 0u32;
        let (mut len, mut size) = (0usize, 0usize);
        let mut prev: Option<&[u8]> = None;
        loop {
            let Some(h) = bytes.get(pos..pos + v2::BLOCK_HEADER_LEN) else {
                return Err(StateError::corruption(
                    format!("{LOCATION} at offset {pos}"),
                    format!(
                        "truncated: {} bytes where a block or the footer ({} bytes) should be",
                        bytes.len() - pos,
                        v2::BLOCK_HEADER_LEN
                    ),
                ));
            };
            match v2::parse_frame(h, LOCATION, pos as u64)? {
                v2::Frame::Footer {
                    entries,
                    blocks: n,
                    chain_crc,
                } => {
                    if entries != len as u64 || n != blocks.len() as u64 || chain_crc != chain {
                        return Err(StateError::corruption(
                            format!("{LOCATION} at offset {}", pos + 8),
                            format!(
                                "footer says {entries} entries in {n} blocks (chain checksum {chain_crc:#010x}); \
                                 found {len} entries in {} blocks (chain checksum {chain:#010x})",
                                blocks.len()
                            ),
                        ));
                    }
                    let end = pos + v2::FOOTER_LEN;
                    if bytes.len() != end {
                        return Err(StateError::corruption(
                            format!("{LOCATION} at offset {end}"),
                            format!("{} trailing bytes after the footer", bytes.len() - end),
                        ));
                    }
                    break;
                }
                v2::Frame::Block(bh) => {
                    let body_at = pos + v2::BLOCK_HEADER_LEN;
                    let Some(body) = bytes.get(body_at..body_at.saturating_add(bh.body_len()))
                    else {
                        return Err(StateError::corruption(
                            format!("{LOCATION} at offset {body_at}"),
                            format!(
                                "truncated block {}: {} of its {} bytes present",
                                blocks.len(),
                                bytes.len() - body_at,
                                bh.body_len()
                            ),
                        ));
                    };
                    let i = blocks.len();
                    v2::check_block_body(&bh, body, prev, LOCATION, body_at as u64)
                        .map_err(|e| e.within(|| format!("block {i}")))?;
                    if bh.tombstones > 0 {
                        return Err(StateError::InvalidArgument(format!(
                            "{LOCATION}: block {i} holds tombstones (an incremental delta); \
                             read it with SnapshotReader"
                        )));
                    }
                    prev = Some(v2::block_entry(&bh, body, bh.entries - 1).0);
                    chain = crc32c::crc32c_append(chain, h);
                    len += bh.entries;
                    size += bh.key_bytes + bh.value_bytes;
                    blocks.push(ViewBlock {
                        body: body_at,
                        header: bh,
                        first: len - bh.entries,
                    });
                    pos = body_at.saturating_add(bh.body_len());
                }
            }
        }
        Ok(SnapshotView {
            inner: ViewInner::V2 { bytes, blocks },
            timestamp_ns: le_timestamp(bytes),
            len,
            size,
        })
    }
}

fn le_timestamp(bytes: &[u8]) -> u64 {
    v2::le_u64(bytes, 16)
}

/// Iterator over a [`StateSnapshot`]'s `(key, value)` pairs, in key order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    snapshot: &'a StateSnapshot,
    front: usize,
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let e = self.snapshot.entry(self.front);
        self.front += 1;
        e
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        self.snapshot.entry(self.back)
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a StateSnapshot {
    type Item = (&'a [u8], &'a [u8]);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Builds a [`StateSnapshot`] entry by entry, into its arenas.
///
/// Entries may come in any order; [`finish`](Self::finish) sorts them if
/// they did not come in strictly ascending key order (one pass and one copy
/// of the arenas), keeping the last of equal keys, as if they had been
/// `put` in order.
#[derive(Debug, Default)]
pub struct StateSnapshotBuilder {
    snapshot: StateSnapshot,
    sorted: bool,
    scratch: Option<AlignedVec>,
}

impl StateSnapshotBuilder {
    /// A builder with room for `entries` entries and `bytes` bytes of keys
    /// and values (estimates; the arenas grow as needed).
    pub fn with_capacity(entries: usize, bytes: usize) -> Self {
        let mut snapshot = StateSnapshot {
            timestamp_ns: now_ns(),
            ..StateSnapshot::default()
        };
        snapshot.key_ends.reserve(entries);
        snapshot.value_ends.reserve(entries);
        // Either arena may need all of the estimate. Reserving it for both
        // costs address space only (pages are touched as they fill), and
        // saves copying a large arena when it outgrows a smaller guess.
        snapshot.keys.reserve(bytes);
        snapshot.values.reserve(bytes);
        StateSnapshotBuilder {
            snapshot,
            sorted: true,
            scratch: None,
        }
    }

    /// Number of entries pushed.
    pub fn len(&self) -> usize {
        self.snapshot.len()
    }

    /// Returns `true` if nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_empty()
    }

    #[inline]
    fn last_key(&self) -> Option<&[u8]> {
        let n = self.snapshot.len();
        n.checked_sub(1).map(|i| self.snapshot.key(i))
    }

    #[inline]
    fn close_entry(&mut self, key_start: usize) {
        if self.sorted {
            let n = self.snapshot.len();
            if n > 0 {
                let prev = self.snapshot.key(n - 1);
                let key = self.snapshot.keys.get(key_start..).unwrap_or_default();
                if key <= prev {
                    self.sorted = false;
                }
            }
        }
        self.snapshot.key_ends.push(self.snapshot.keys.len() as u64);
        self.snapshot
            .value_ends
            .push(self.snapshot.values.len() as u64);
    }

    /// Appends `key` with `value`.
    #[inline]
    pub fn push(&mut self, key: &[u8], value: &[u8]) {
        let start = self.snapshot.keys.len();
        self.snapshot.keys.extend_from_slice(key);
        self.snapshot.values.extend_from_slice(value);
        self.close_entry(start);
    }

    /// Appends an entry whose key is written by `key` and whose value by
    /// `value` (straight into the arenas). If `value` fails, nothing is
    /// appended and its error is returned.
    pub fn push_with(
        &mut self,
        key: impl FnOnce(&mut Vec<u8>),
        value: impl FnOnce(&mut ValueSink<'_>) -> Result<()>,
    ) -> Result<()> {
        let kstart = self.snapshot.keys.len();
        let vstart = self.snapshot.values.len();
        key(&mut self.snapshot.keys);
        let mut sink = ValueSink {
            values: &mut self.snapshot.values,
            scratch: &mut self.scratch,
        };
        if let Err(e) = value(&mut sink) {
            self.snapshot.keys.truncate(kstart);
            self.snapshot.values.truncate(vstart);
            return Err(e);
        }
        self.close_entry(kstart);
        Ok(())
    }

    /// Appends an entry known to sort after every entry so far.
    #[inline]
    pub(crate) fn push_sorted(&mut self, key: &[u8], value: &[u8]) {
        debug_assert!(self.last_key().is_none_or(|l| key > l));
        self.snapshot.keys.extend_from_slice(key);
        self.snapshot.values.extend_from_slice(value);
        self.snapshot.key_ends.push(self.snapshot.keys.len() as u64);
        self.snapshot
            .value_ends
            .push(self.snapshot.values.len() as u64);
    }

    /// Appends the key of an entry known to sort after every entry so far;
    /// its value follows with [`push_value`](Self::push_value) (values go
    /// in the order of their keys, possibly a few keys later).
    #[inline]
    pub(crate) fn push_key_sorted(&mut self, key: &[u8]) {
        self.snapshot.keys.extend_from_slice(key);
        self.snapshot.key_ends.push(self.snapshot.keys.len() as u64);
    }

    /// Appends the value of the oldest key pushed without one.
    #[inline]
    pub(crate) fn push_value(&mut self, value: &[u8]) {
        self.snapshot.values.extend_from_slice(value);
        self.snapshot
            .value_ends
            .push(self.snapshot.values.len() as u64);
    }

    /// Appends a checked version 2 block without tombstones, whose keys sort
    /// after every entry so far: three copies, whatever its entry count.
    fn push_block(&mut self, h: &v2::BlockHeader, body: &[u8]) {
        let s = &mut self.snapshot;
        let kbase = s.keys.len() as u64;
        let vbase = s.values.len() as u64;
        let table = body.get(..8 * h.entries).unwrap_or_default();
        s.key_ends.reserve(h.entries);
        s.value_ends.reserve(h.entries);
        for e in table.chunks_exact(8) {
            s.key_ends.push(kbase + u64::from(v2::le_u32(e, 0)));
            s.value_ends.push(vbase + u64::from(v2::le_u32(e, 4)));
        }
        let keys_at = 8 * h.entries;
        s.keys
            .extend_from_slice(body.get(keys_at..keys_at + h.key_bytes).unwrap_or_default());
        let values_at = keys_at + h.key_bytes;
        s.values.extend_from_slice(
            body.get(values_at..values_at + h.value_bytes)
                .unwrap_or_default(),
        );
    }

    /// The snapshot, sorted by key with the last of equal keys kept.
    pub fn finish(mut self) -> StateSnapshot {
        if self.sorted {
            // Give back the reserve (for large arenas the allocator unmaps
            // the tail in place).
            self.snapshot.keys.shrink_to_fit();
            self.snapshot.values.shrink_to_fit();
            return self.snapshot;
        }
        let s = &self.snapshot;
        let n = s.len();
        // Sort by an 8-byte big-endian key prefix, then the whole key, then
        // position (so the last of equal keys sorts last).
        let mut order: Vec<(u64, usize)> = (0..n)
            .map(|i| {
                let k = s.key(i);
                let mut p = [0u8; 8];
                let m = k.len().min(8);
                p[..m].copy_from_slice(&k[..m]);
                (u64::from_be_bytes(p), i)
            })
            .collect();
        order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| s.key(a.1).cmp(s.key(b.1)))
                .then(a.1.cmp(&b.1))
        });
        let mut out = StateSnapshotBuilder::with_capacity(n, 0);
        out.snapshot.keys.reserve(s.keys.len());
        out.snapshot.values.reserve(s.values.len());
        out.snapshot.timestamp_ns = s.timestamp_ns;
        let mut j = 0;
        while j < order.len() {
            // Skip to the last of a run of equal keys.
            let mut last = j;
            while order
                .get(last + 1)
                .is_some_and(|o| s.key(o.1) == s.key(order[j].1))
            {
                last += 1;
            }
            if let Some((k, v)) = s.entry(order[last].1) {
                out.push_sorted(k, v);
            }
            j = last + 1;
        }
        self.snapshot = out.snapshot;
        self.snapshot
    }
}

/// Where [`StateSnapshotBuilder::push_with`] writes a value.
#[derive(Debug)]
pub struct ValueSink<'a> {
    values: &'a mut Vec<u8>,
    scratch: &'a mut Option<AlignedVec>,
}

impl ValueSink<'_> {
    /// Appends raw bytes to the value.
    #[inline]
    pub fn extend(&mut self, bytes: &[u8]) {
        self.values.extend_from_slice(bytes);
    }

    /// Appends `value` archived with rkyv (the bytes
    /// [`encode_value`](crate::state::encode_value) makes), through a
    /// scratch buffer that is reused from entry to entry.
    pub fn archive<T: SerializeValue>(&mut self, value: &T) -> Result<()> {
        let mut buf = self.scratch.take().unwrap_or_default();
        buf.clear();
        let buf = rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(value, buf)
            .map_err(|e| StateError::Serialization(e.to_string()))?;
        self.values.extend_from_slice(&buf);
        *self.scratch = Some(buf);
        Ok(())
    }
}

/// A validated, zero-copy view of serialized snapshot bytes (either format
/// version), from [`StateSnapshot::view`].
#[derive(Debug, Clone)]
pub struct SnapshotView<'a> {
    inner: ViewInner<'a>,
    timestamp_ns: u64,
    len: usize,
    size: usize,
}

#[derive(Debug, Clone)]
enum ViewInner<'a> {
    V1 {
        body: &'a [u8],
        layout: v1::Layout,
    },
    V2 {
        bytes: &'a [u8],
        blocks: Vec<ViewBlock>,
    },
}

#[derive(Debug, Clone)]
struct ViewBlock {
    /// Offset of the block body in the input.
    body: usize,
    header: v2::BlockHeader,
    /// Index of the block's first entry in the snapshot.
    first: usize,
}

impl<'a> SnapshotView<'a> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns `true` if the snapshot has no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Wall-clock creation time, nanoseconds since the Unix epoch.
    pub fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns
    }

    /// Sum of key and value lengths, in bytes.
    pub fn size_bytes(&self) -> usize {
        self.size
    }

    /// Entry `i` in key order.
    pub fn entry(&self, i: usize) -> Option<(&'a [u8], &'a [u8])> {
        match &self.inner {
            ViewInner::V1 { body, layout } => layout.entry(body, i),
            ViewInner::V2 { bytes, blocks } => {
                let b = blocks.get(blocks.partition_point(|b| b.first <= i).checked_sub(1)?)?;
                let body = bytes.get(b.body..b.body.saturating_add(b.header.body_len()))?;
                let (k, v) = v2::block_entry(&b.header, body, i.checked_sub(b.first)?);
                Some((k, v.unwrap_or_default()))
            }
        }
    }

    /// The entries, sorted by strictly ascending key.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + '_ {
        (0..self.len).map(|i| self.entry(i).unwrap_or_default())
    }

    /// Looks a key up by binary search, reading the input in place.
    pub fn get(&self, key: &[u8]) -> Option<&'a [u8]> {
        let (mut lo, mut hi) = (0usize, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (k, v) = self.entry(mid)?;
            match k.cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(v),
            }
        }
        None
    }
}

impl ArchivedStateSnapshot {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.key_ends.len()
    }

    /// Returns `true` if the snapshot has no entry.
    pub fn is_empty(&self) -> bool {
        self.key_ends.is_empty()
    }

    /// Wall-clock creation time, nanoseconds since the Unix epoch.
    pub fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns.to_native()
    }

    /// Entry `i`, or `None` past the end (or if the archived offsets do not
    /// fit the arenas).
    pub fn entry(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let end = |ends: &rkyv::vec::ArchivedVec<rkyv::rend::u64_le>, i: usize| {
            let e = ends.get(i)?.to_native() as usize;
            let s = match i.checked_sub(1) {
                Some(p) => ends.get(p)?.to_native() as usize,
                None => 0,
            };
            Some((s, e))
        };
        let (ks, ke) = end(&self.key_ends, i)?;
        let (vs, ve) = end(&self.value_ends, i)?;
        Some((self.keys.get(ks..ke)?, self.values.get(vs..ve)?))
    }

    /// The archived entries in order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        (0..self.len()).map(|i| self.entry(i).unwrap_or_default())
    }

    /// Looks a key up by binary search, without deserializing anything.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (k, v) = self.entry(mid)?;
            match k.cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(v),
            }
        }
        None
    }
}

/// Where typed tables and `#[state_store]` structs write their snapshot
/// entries: a [`StateSnapshotBuilder`] (straight into its arenas) or, as
/// before, a `Vec<(Vec<u8>, Vec<u8>)>`.
pub trait SnapshotSink {
    /// Appends one entry whose key is written by `key` and value by `value`.
    fn push_entry(
        &mut self,
        key: impl FnOnce(&mut Vec<u8>),
        value: impl FnOnce(&mut ValueSink<'_>) -> Result<()>,
    ) -> Result<()>;

    /// Room for about `entries` more entries.
    fn reserve_entries(&mut self, entries: usize) {
        let _ = entries;
    }
}

impl SnapshotSink for StateSnapshotBuilder {
    #[inline]
    fn push_entry(
        &mut self,
        key: impl FnOnce(&mut Vec<u8>),
        value: impl FnOnce(&mut ValueSink<'_>) -> Result<()>,
    ) -> Result<()> {
        self.push_with(key, value)
    }

    fn reserve_entries(&mut self, entries: usize) {
        self.snapshot.key_ends.reserve(entries);
        self.snapshot.value_ends.reserve(entries);
    }
}

impl SnapshotSink for Vec<(Vec<u8>, Vec<u8>)> {
    fn push_entry(
        &mut self,
        key: impl FnOnce(&mut Vec<u8>),
        value: impl FnOnce(&mut ValueSink<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut k = Vec::new();
        key(&mut k);
        let mut v = Vec::new();
        let mut scratch = None;
        value(&mut ValueSink {
            values: &mut v,
            scratch: &mut scratch,
        })?;
        self.push((k, v));
        Ok(())
    }

    fn reserve_entries(&mut self, entries: usize) {
        self.reserve(entries);
    }
}

/// Sorted snapshot entries that typed tables and `#[state_store]` structs
/// read their fields from: a [`StateSnapshot`] or, as before, a slice of
/// `(key, value)` pairs sorted by key.
pub trait SnapshotSource {
    /// Number of entries.
    fn entry_count(&self) -> usize;
    /// Entry `i` (in ascending key order).
    fn entry_at(&self, i: usize) -> Option<(&[u8], &[u8])>;

    /// Index of the first entry whose key is not below `key`.
    fn lower_bound(&self, key: &[u8]) -> usize {
        let (mut lo, mut hi) = (0usize, self.entry_count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry_at(mid) {
                Some((k, _)) if k < key => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }
}

impl SnapshotSource for StateSnapshot {
    fn entry_count(&self) -> usize {
        self.len()
    }
    #[inline]
    fn entry_at(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.entry(i)
    }
}

impl SnapshotSource for [(Vec<u8>, Vec<u8>)] {
    fn entry_count(&self) -> usize {
        self.len()
    }
    fn entry_at(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.get(i).map(|(k, v)| (k.as_slice(), v.as_slice()))
    }
}

impl SnapshotSource for Vec<(Vec<u8>, Vec<u8>)> {
    fn entry_count(&self) -> usize {
        self.len()
    }
    fn entry_at(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.get(i).map(|(k, v)| (k.as_slice(), v.as_slice()))
    }
}

impl<const N: usize> SnapshotSource for [(Vec<u8>, Vec<u8>); N] {
    fn entry_count(&self) -> usize {
        N
    }
    fn entry_at(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.get(i).map(|(k, v)| (k.as_slice(), v.as_slice()))
    }
}

/// Restores `store` from a snapshot read from `reader`, entry by entry,
/// without materializing the snapshot: the store is cleared, then every
/// entry is put. On error the store is cleared again (never a mix of two
/// states) and the error returned. Tombstones are refused.
pub fn restore_from_reader<S, R>(store: &mut S, reader: &mut SnapshotReader<R>) -> Result<()>
where
    S: super::StateStore + ?Sized,
    R: Read,
{
    store.clear();
    let result = (|| {
        while let Some(e) = reader.next_entry()? {
            let Some(v) = e.value else {
                return Err(StateError::InvalidArgument(format!(
                    "{}: entry {} is a tombstone; a full snapshot has none",
                    reader.location(),
                    reader.entries_read() - 1
                )));
            };
            store.put(e.key, bytes::Bytes::copy_from_slice(v))?;
        }
        Ok(())
    })();
    if result.is_err() {
        store.clear();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StateSnapshot {
        StateSnapshot::new(vec![
            (b"b".to_vec(), b"2".to_vec()),
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"3".to_vec()),
        ])
    }

    #[test]
    fn new_sorts_and_keeps_last_duplicate() {
        let s = sample();
        let got: Vec<_> = s.iter().collect();
        assert_eq!(got, [(&b"a"[..], &b"1"[..]), (&b"b"[..], &b"3"[..])]);
    }

    #[test]
    fn round_trip_and_view() {
        let s = sample();
        let bytes = s.to_bytes().unwrap();
        assert_eq!(bytes.len(), s.serialized_len());
        assert_eq!(&bytes[0..8], b"LMNRSNAP");
        assert_eq!(StateSnapshot::from_bytes(&bytes).unwrap(), s);
        let view = StateSnapshot::view(&bytes).unwrap();
        assert_eq!(view.len(), 2);
        assert_eq!(view.get(b"b"), Some(&b"3"[..]));
        assert_eq!(view.get(b"c"), None);
        assert_eq!(view.timestamp_ns(), s.timestamp_ns());
        let mut v = Vec::new();
        s.write_to(&mut v).unwrap();
        assert_eq!(&v[..], &bytes[..]);
        assert_eq!(StateSnapshot::read_from(&v[..], "test").unwrap(), s);
    }

    #[test]
    fn misaligned_input_reads_and_views() {
        let s = sample();
        let bytes = s.to_bytes().unwrap();
        let mut shifted = vec![0u8; bytes.len() + 1];
        shifted[1..].copy_from_slice(&bytes);
        assert_eq!(StateSnapshot::from_bytes(&shifted[1..]).unwrap(), s);
        assert_eq!(StateSnapshot::view(&shifted[1..]).unwrap().len(), 2);
    }

    #[test]
    fn future_version_is_reported() {
        let mut bytes = sample().to_bytes().unwrap().to_vec();
        bytes[8..12].copy_from_slice(&3u32.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[0..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        match StateSnapshot::from_bytes(&bytes) {
            Err(StateError::UnsupportedVersion {
                found: 3,
                supported: 2,
                ..
            }) => {}
            other => panic!("expected UnsupportedVersion, got {other:?}"),
        }
    }

    #[test]
    fn unsorted_block_with_valid_checksums_is_rejected() {
        // Forge a block whose keys are out of order but whose checksums are right.
        let mut bytes = v2::file_header(0).to_vec();
        let mut body = Vec::new();
        for (ke, ve) in [(1u32, 0u32), (2, 0)] {
            body.extend_from_slice(&ke.to_le_bytes());
            body.extend_from_slice(&ve.to_le_bytes());
        }
        body.extend_from_slice(b"ba");
        let h = v2::block_header(2, 2, 0, 0, crc32c::crc32c(&body));
        bytes.extend_from_slice(&h);
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&v2::footer(2, 1, crc32c::crc32c(&h)));
        let err = StateSnapshot::from_bytes(&bytes).unwrap_err();
        assert!(err.to_string().contains("ascending"), "{err}");
        let mut r = SnapshotReader::new(&bytes[..], "forged").unwrap();
        let err = r.next_entry().unwrap_err();
        assert!(err.to_string().contains("ascending"), "{err}");
        // The same arenas in a snapshot are refused by `write_to`.
        let forged = StateSnapshot {
            keys: b"ba".to_vec(),
            values: vec![],
            key_ends: vec![1, 2],
            value_ends: vec![0, 0],
            timestamp_ns: 0,
            pairs: OnceLock::new(),
        };
        assert!(forged.to_bytes().is_err());
    }

    #[test]
    fn builder_archives_values_like_encode_value() {
        let mut b = StateSnapshot::builder(2, 0);
        b.push_with(
            |k| k.extend_from_slice(b"k2"),
            |v| v.archive(&vec![1u32, 2]),
        )
        .unwrap();
        b.push_with(|k| k.extend_from_slice(b"k1"), |v| v.archive(&7u64))
            .unwrap();
        let s = b.finish();
        assert_eq!(
            s.get(b"k1"),
            Some(&crate::state::encode_value(&7u64).unwrap()[..])
        );
        assert_eq!(
            s.get(b"k2"),
            Some(&crate::state::encode_value(&vec![1u32, 2]).unwrap()[..])
        );
    }

    #[test]
    fn dictionary_bytes_round_trip() {
        let values: Vec<&[u8]> = vec![b"", b"eu", b"\xff\x00"];
        let mut out = AlignedVec::new();
        dict::encode(values.iter().copied(), &mut out).unwrap();
        assert_eq!(dict::decode(&out).unwrap(), values);
        for n in 0..out.len() {
            assert!(dict::decode(&out[..n]).is_err(), "truncated at {n}");
        }
    }
}
