//! Format version 2: flat, block-checksummed, streamable (see the
//! [module docs](super) for the byte layout).
//!
//! [`SnapshotWriter`] writes any `impl Write` one block at a time;
//! [`SnapshotReader`] reads any `impl Read` one block at a time (and version 1
//! input too). Neither allocates per entry: a block's entry table, keys and
//! values live in three buffers that are reused from block to block.

use std::io::{Read, Write};

use super::v1;
use super::{SNAPSHOT_HEADER_LEN, SNAPSHOT_MAGIC};
use crate::state::error::{Result, StateError};

/// Version number of the flat format.
pub(crate) const VERSION: u32 = 2;
/// Largest number of entries in one block.
pub const SNAPSHOT_BLOCK_MAX_ENTRIES: usize = 1 << 16;
/// A block is closed once its entry table, keys and values reach this many
/// bytes (a single larger entry gets a block of its own).
pub const SNAPSHOT_BLOCK_TARGET_BYTES: usize = 1 << 20;
/// Largest key or value, and largest key or value arena of one block, in bytes.
pub const SNAPSHOT_MAX_ENTRY_BYTES: usize = (1 << 31) - 1;

pub(crate) const BLOCK_HEADER_LEN: usize = 32;
pub(crate) const FOOTER_LEN: usize = 32;
pub(crate) const BLOCK_TAG: [u8; 4] = *b"LBLK";
pub(crate) const FOOTER_TAG: [u8; 4] = *b"LEND";
/// Bit 31 of an entry's value end marks a tombstone.
pub(crate) const TOMBSTONE_BIT: u32 = 1 << 31;
const END_MASK: u32 = TOMBSTONE_BIT - 1;

pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at.saturating_add(4)) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at.saturating_add(8)) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

/// The 32-byte file header of version 2.
pub(crate) fn file_header(timestamp_ns: u64) -> [u8; SNAPSHOT_HEADER_LEN] {
    let mut h = [0u8; SNAPSHOT_HEADER_LEN];
    h[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&timestamp_ns.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks magic, header checksum and version of any format version's
/// header; returns the version.
pub(crate) fn check_file_header(h: &[u8], location: &str) -> Result<u32> {
    if h.len() < SNAPSHOT_HEADER_LEN {
        return Err(StateError::corruption(
            location,
            format!(
                "truncated header: {} bytes, a snapshot needs at least {SNAPSHOT_HEADER_LEN}",
                h.len()
            ),
        ));
    }
    if h.get(0..8) != Some(&SNAPSHOT_MAGIC[..]) {
        return Err(StateError::corruption(
            format!("{location} at offset 0"),
            "bad magic: not a laminar-core state snapshot",
        ));
    }
    let stored = le_u32(h, 28);
    let computed = crc32c::crc32c(h.get(0..28).unwrap_or_default());
    if stored != computed {
        return Err(StateError::corruption(
            format!("{location} at offset 28"),
            format!("header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"),
        ));
    }
    let version = le_u32(h, 8);
    if version != v1::VERSION && version != VERSION {
        return Err(StateError::UnsupportedVersion {
            location: format!("{location} at offset 8"),
            found: version,
            supported: VERSION,
        });
    }
    if le_u32(h, 12) != 0 {
        return Err(StateError::corruption(
            format!("{location} at offset 12"),
            format!("reserved field is {:#x}, expected 0", le_u32(h, 12)),
        ));
    }
    if version == VERSION && le_u32(h, 24) != 0 {
        return Err(StateError::corruption(
            format!("{location} at offset 24"),
            format!("reserved field is {:#x}, expected 0", le_u32(h, 24)),
        ));
    }
    Ok(version)
}

/// A block header, checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockHeader {
    pub(crate) entries: usize,
    pub(crate) key_bytes: usize,
    pub(crate) value_bytes: usize,
    pub(crate) tombstones: usize,
    pub(crate) body_crc: u32,
}

impl BlockHeader {
    /// Bytes of the block's body (saturating: on a 32-bit target a forged
    /// header cannot wrap it into a small length).
    pub(crate) fn body_len(&self) -> usize {
        self.entries
            .saturating_mul(8)
            .saturating_add(self.key_bytes)
            .saturating_add(self.value_bytes)
    }
}

pub(crate) fn block_header(
    entries: usize,
    key_bytes: usize,
    value_bytes: usize,
    tombstones: usize,
    body_crc: u32,
) -> [u8; BLOCK_HEADER_LEN] {
    let mut h = [0u8; BLOCK_HEADER_LEN];
    h[0..4].copy_from_slice(&BLOCK_TAG);
    h[4..8].copy_from_slice(&(entries as u32).to_le_bytes());
    h[8..12].copy_from_slice(&(key_bytes as u32).to_le_bytes());
    h[12..16].copy_from_slice(&(value_bytes as u32).to_le_bytes());
    h[16..20].copy_from_slice(&(tombstones as u32).to_le_bytes());
    h[20..24].copy_from_slice(&body_crc.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// What follows the file header or a block: the next block or the footer.
pub(crate) enum Frame {
    Block(BlockHeader),
    Footer {
        entries: u64,
        blocks: u64,
        chain_crc: u32,
    },
}

/// Parses the 32 bytes at `offset` (a block header or the footer).
pub(crate) fn parse_frame(h: &[u8], location: &str, offset: u64) -> Result<Frame> {
    let at = |field: u64| format!("{location} at offset {}", offset + field);
    let stored = le_u32(h, 28);
    let computed = crc32c::crc32c(h.get(0..28).unwrap_or_default());
    let tag = h.get(0..4).unwrap_or_default();
    if tag != BLOCK_TAG && tag != FOOTER_TAG {
        return Err(StateError::corruption(
            at(0),
            format!("expected a block or the footer, found tag {tag:02x?}"),
        ));
    }
    let kind = if tag == BLOCK_TAG { "block" } else { "footer" };
    if stored != computed {
        return Err(StateError::corruption(
            at(28),
            format!("{kind} header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"),
        ));
    }
    if tag == FOOTER_TAG {
        if le_u32(h, 4) != 0 {
            return Err(StateError::corruption(
                at(4),
                "footer reserved field is not 0",
            ));
        }
        return Ok(Frame::Footer {
            entries: le_u64(h, 8),
            blocks: le_u64(h, 16),
            chain_crc: le_u32(h, 24),
        });
    }
    let entries = le_u32(h, 4) as usize;
    let key_bytes = le_u32(h, 8) as usize;
    let value_bytes = le_u32(h, 12) as usize;
    let tombstones = le_u32(h, 16) as usize;
    if entries == 0 || entries > SNAPSHOT_BLOCK_MAX_ENTRIES {
        return Err(StateError::corruption(
            at(4),
            format!("block of {entries} entries (1 to {SNAPSHOT_BLOCK_MAX_ENTRIES} allowed)"),
        ));
    }
    if key_bytes > SNAPSHOT_MAX_ENTRY_BYTES || value_bytes > SNAPSHOT_MAX_ENTRY_BYTES {
        return Err(StateError::corruption(
            at(8),
            format!("block arenas of {key_bytes} key and {value_bytes} value bytes exceed 2 GiB"),
        ));
    }
    if tombstones > entries {
        return Err(StateError::corruption(
            at(16),
            format!("{tombstones} tombstones in a block of {entries} entries"),
        ));
    }
    if le_u32(h, 24) != 0 {
        return Err(StateError::corruption(
            at(24),
            "block reserved field is not 0",
        ));
    }
    Ok(Frame::Block(BlockHeader {
        entries,
        key_bytes,
        value_bytes,
        tombstones,
        body_crc: le_u32(h, 20),
    }))
}

pub(crate) fn footer(entries: u64, blocks: u64, chain_crc: u32) -> [u8; FOOTER_LEN] {
    let mut f = [0u8; FOOTER_LEN];
    f[0..4].copy_from_slice(&FOOTER_TAG);
    f[8..16].copy_from_slice(&entries.to_le_bytes());
    f[16..24].copy_from_slice(&blocks.to_le_bytes());
    f[24..28].copy_from_slice(&chain_crc.to_le_bytes());
    let crc = crc32c::crc32c(&f[0..28]);
    f[28..32].copy_from_slice(&crc.to_le_bytes());
    f
}

/// Checks a block body (entry table, key arena, value arena) against its
/// header: checksum, monotonic ends that add up to the arenas, tombstones
/// with empty values, keys strictly ascending (and above `prev_key`).
/// `offset` is the body's position in the input, for error locations.
pub(crate) fn check_block_body(
    h: &BlockHeader,
    body: &[u8],
    prev_key: Option<&[u8]>,
    location: &str,
    offset: u64,
) -> Result<()> {
    let at = |rel: usize| format!("{location} at offset {}", offset + rel as u64);
    let computed = crc32c::crc32c(body);
    if computed != h.body_crc {
        return Err(StateError::corruption(
            at(0),
            format!(
                "block checksum mismatch (stored {:#010x}, computed {computed:#010x}) in the {} bytes from here",
                h.body_crc,
                body.len()
            ),
        ));
    }
    let table_len = 8 * h.entries;
    let keys = body
        .get(table_len..table_len + h.key_bytes)
        .unwrap_or_default();
    let (mut kprev, mut vprev, mut tombs) = (0usize, 0usize, 0usize);
    let mut last: Option<&[u8]> = prev_key;
    for i in 0..h.entries {
        let ke = le_u32(body, 8 * i) as usize;
        let raw = le_u32(body, 8 * i + 4);
        let ve = (raw & END_MASK) as usize;
        let tomb = raw & TOMBSTONE_BIT != 0;
        if ke < kprev || ke > h.key_bytes || ve < vprev || ve > h.value_bytes {
            return Err(StateError::corruption(
                at(8 * i),
                format!("entry {i} of the block has out-of-range offsets ({ke}, {ve})"),
            ));
        }
        if tomb {
            tombs += 1;
            if ve != vprev {
                return Err(StateError::corruption(
                    at(8 * i),
                    format!("tombstone entry {i} of the block has a value"),
                ));
            }
        }
        let key = keys.get(kprev..ke).unwrap_or_default();
        if last.is_some_and(|p| key <= p) {
            return Err(StateError::corruption(
                at(8 * i),
                format!("entry {i} of the block is not in strictly ascending key order"),
            ));
        }
        last = Some(key);
        kprev = ke;
        vprev = ve;
    }
    if kprev != h.key_bytes || vprev != h.value_bytes || tombs != h.tombstones {
        return Err(StateError::corruption(
            at(0),
            format!(
                "entry table ends at {kprev} key and {vprev} value bytes with {tombs} tombstones; \
                 the block header says {}, {} and {}",
                h.key_bytes, h.value_bytes, h.tombstones
            ),
        ));
    }
    Ok(())
}

/// Entry `i` of a checked block body: `(key, value)`, `None` value for a tombstone.
pub(crate) fn block_entry<'a>(
    h: &BlockHeader,
    body: &'a [u8],
    i: usize,
) -> (&'a [u8], Option<&'a [u8]>) {
    let table_len = 8 * h.entries;
    let (ks, vs) = if i == 0 {
        (0, 0)
    } else {
        (
            le_u32(body, 8 * (i - 1)) as usize,
            (le_u32(body, 8 * (i - 1) + 4) & END_MASK) as usize,
        )
    };
    let ke = le_u32(body, 8 * i) as usize;
    let raw = le_u32(body, 8 * i + 4);
    let ve = (raw & END_MASK) as usize;
    let key = body.get(table_len + ks..table_len + ke).unwrap_or_default();
    let vbase = table_len + h.key_bytes;
    if raw & TOMBSTONE_BIT != 0 {
        (key, None)
    } else {
        (
            key,
            Some(body.get(vbase + vs..vbase + ve).unwrap_or_default()),
        )
    }
}

fn io_err<'a>(what: &str, location: &'a str) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    let what = what.to_string();
    move |e| StateError::io(format!("{what} {location}"), e)
}

/// Streams entries into the version 2 format, one block at a time.
///
/// Entries must come in strictly ascending key order (puts and deletes
/// alike, each key at most once): [`put`](Self::put) and
/// [`delete`](Self::delete) return [`StateError::InvalidArgument`] otherwise
/// and the writer stays usable. Keys and values are copied into the open
/// block's buffers, which are written out and reused once the block holds
/// [`SNAPSHOT_BLOCK_TARGET_BYTES`] or [`SNAPSHOT_BLOCK_MAX_ENTRIES`]: memory
/// stays at about one block whatever the snapshot's size. Call
/// [`finish`](Self::finish) to write the last block and the footer; a
/// writer dropped without it leaves a file that readers reject as truncated.
///
/// ```
/// use laminar_core::state::{SnapshotReader, SnapshotWriter};
/// let mut w = SnapshotWriter::new(Vec::new()).unwrap();
/// w.put(b"a", b"1").unwrap();
/// w.delete(b"b").unwrap();
/// let bytes = w.finish().unwrap();
/// let mut r = SnapshotReader::new(&bytes[..], "example").unwrap();
/// let e = r.next_entry().unwrap().unwrap();
/// assert_eq!((e.key, e.value), (&b"a"[..], Some(&b"1"[..])));
/// let e = r.next_entry().unwrap().unwrap();
/// assert_eq!((e.key, e.value), (&b"b"[..], None));
/// assert!(r.next_entry().unwrap().is_none());
/// ```
#[derive(Debug)]
pub struct SnapshotWriter<W: Write> {
    out: W,
    table: Vec<u8>,
    keys: Vec<u8>,
    values: Vec<u8>,
    block_entries: usize,
    block_tombstones: usize,
    /// Start of the open block's last key in `keys`.
    last_key_start: usize,
    /// Last key of the blocks already written.
    prev_key: Vec<u8>,
    has_prev: bool,
    entries: u64,
    tombstones: u64,
    blocks: u64,
    bytes_written: u64,
    chain_crc: u32,
    max_entries: usize,
    target_bytes: usize,
}

impl<W: Write> SnapshotWriter<W> {
    /// Writes the file header (timestamped now) to `out`.
    pub fn new(out: W) -> Result<Self> {
        Self::with_timestamp(out, super::now_ns())
    }

    /// Writes the file header with the given creation time (nanoseconds
    /// since the Unix epoch) to `out`.
    pub fn with_timestamp(mut out: W, timestamp_ns: u64) -> Result<Self> {
        out.write_all(&file_header(timestamp_ns))
            .map_err(io_err("writing the header of", "a snapshot"))?;
        Ok(SnapshotWriter {
            out,
            table: Vec::new(),
            keys: Vec::new(),
            values: Vec::new(),
            block_entries: 0,
            block_tombstones: 0,
            last_key_start: 0,
            prev_key: Vec::new(),
            has_prev: false,
            entries: 0,
            tombstones: 0,
            blocks: 0,
            bytes_written: SNAPSHOT_HEADER_LEN as u64,
            chain_crc: 0,
            max_entries: SNAPSHOT_BLOCK_MAX_ENTRIES,
            target_bytes: SNAPSHOT_BLOCK_TARGET_BYTES,
        })
    }

    /// Closes blocks at `max_entries` entries (at most
    /// [`SNAPSHOT_BLOCK_MAX_ENTRIES`]) or `target_bytes` bytes, whichever
    /// comes first, instead of the defaults. Smaller blocks locate
    /// corruption more finely; larger ones cost fewer headers. Blocks
    /// already written keep their size.
    pub fn with_block_size(mut self, max_entries: usize, target_bytes: usize) -> Self {
        self.max_entries = max_entries.clamp(1, SNAPSHOT_BLOCK_MAX_ENTRIES);
        self.target_bytes = target_bytes.max(1);
        self
    }

    /// Appends a put of `key` with `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.push(key, Some(value))
    }

    /// Appends a delete (tombstone) of `key`.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.push(key, None)
    }

    fn last_key(&self) -> Option<&[u8]> {
        if self.block_entries > 0 {
            self.keys.get(self.last_key_start..)
        } else if self.has_prev {
            Some(&self.prev_key)
        } else {
            None
        }
    }

    fn push(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let vlen = value.map_or(0, <[u8]>::len);
        if key.len() > SNAPSHOT_MAX_ENTRY_BYTES || vlen > SNAPSHOT_MAX_ENTRY_BYTES {
            return Err(StateError::InvalidArgument(format!(
                "snapshot entry {} has a key of {} or a value of {vlen} bytes; at most {SNAPSHOT_MAX_ENTRY_BYTES} each",
                self.entries,
                key.len()
            )));
        }
        if self.last_key().is_some_and(|last| key <= last) {
            return Err(StateError::InvalidArgument(format!(
                "snapshot entry {}: keys must be strictly ascending",
                self.entries
            )));
        }
        let open = self.table.len() + self.keys.len() + self.values.len();
        if self.block_entries > 0
            && (open + 8 + key.len() + vlen > self.target_bytes
                || self.keys.len() + key.len() > SNAPSHOT_MAX_ENTRY_BYTES
                || self.values.len() + vlen > SNAPSHOT_MAX_ENTRY_BYTES)
        {
            self.flush_block()?;
        }
        self.last_key_start = self.keys.len();
        self.keys.extend_from_slice(key);
        let mut vend = match value {
            Some(v) => {
                self.values.extend_from_slice(v);
                self.values.len() as u32
            }
            None => self.values.len() as u32,
        };
        if value.is_none() {
            vend |= TOMBSTONE_BIT;
            self.block_tombstones += 1;
            self.tombstones += 1;
        }
        self.table
            .extend_from_slice(&(self.keys.len() as u32).to_le_bytes());
        self.table.extend_from_slice(&vend.to_le_bytes());
        self.block_entries += 1;
        self.entries += 1;
        if self.block_entries >= self.max_entries {
            self.flush_block()?;
        }
        Ok(())
    }

    fn flush_block(&mut self) -> Result<()> {
        if self.block_entries == 0 {
            return Ok(());
        }
        let mut crc = crc32c::crc32c(&self.table);
        crc = crc32c::crc32c_append(crc, &self.keys);
        crc = crc32c::crc32c_append(crc, &self.values);
        let h = block_header(
            self.block_entries,
            self.keys.len(),
            self.values.len(),
            self.block_tombstones,
            crc,
        );
        let write = |out: &mut W, b: &[u8]| {
            out.write_all(b)
                .map_err(io_err("writing a block of", "a snapshot"))
        };
        write(&mut self.out, &h)?;
        write(&mut self.out, &self.table)?;
        write(&mut self.out, &self.keys)?;
        write(&mut self.out, &self.values)?;
        self.chain_crc = crc32c::crc32c_append(self.chain_crc, &h);
        self.blocks += 1;
        self.bytes_written +=
            (BLOCK_HEADER_LEN + self.table.len() + self.keys.len() + self.values.len()) as u64;
        self.prev_key.clear();
        self.prev_key
            .extend_from_slice(self.keys.get(self.last_key_start..).unwrap_or_default());
        self.has_prev = true;
        self.table.clear();
        self.keys.clear();
        self.values.clear();
        self.block_entries = 0;
        self.block_tombstones = 0;
        Ok(())
    }

    /// Writes one whole block straight from contiguous arenas, without
    /// copying them into the writer's buffers. `ends` yields each entry's
    /// `(key end, value end)` relative to `keys` and `values` (no
    /// tombstones). The caller guarantees keys strictly ascending, also
    /// relative to what was written before, and no block is open.
    pub(crate) fn write_block_from(
        &mut self,
        ends: impl Iterator<Item = (usize, usize)>,
        keys: &[u8],
        values: &[u8],
        last_key: &[u8],
    ) -> Result<()> {
        debug_assert_eq!(self.block_entries, 0);
        self.table.clear();
        for (ke, ve) in ends {
            self.table.extend_from_slice(&(ke as u32).to_le_bytes());
            self.table.extend_from_slice(&(ve as u32).to_le_bytes());
        }
        let n = self.table.len() / 8;
        if n == 0 {
            return Ok(());
        }
        let mut crc = crc32c::crc32c(&self.table);
        crc = crc32c::crc32c_append(crc, keys);
        crc = crc32c::crc32c_append(crc, values);
        let h = block_header(n, keys.len(), values.len(), 0, crc);
        for b in [&h[..], &self.table, keys, values] {
            self.out
                .write_all(b)
                .map_err(io_err("writing a block of", "a snapshot"))?;
        }
        self.chain_crc = crc32c::crc32c_append(self.chain_crc, &h);
        self.blocks += 1;
        self.entries += n as u64;
        self.bytes_written +=
            (BLOCK_HEADER_LEN + self.table.len() + keys.len() + values.len()) as u64;
        self.table.clear();
        self.prev_key.clear();
        self.prev_key.extend_from_slice(last_key);
        self.has_prev = true;
        Ok(())
    }

    /// Entries (puts and deletes) appended so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Deletes (tombstones) appended so far.
    pub fn tombstones(&self) -> u64 {
        self.tombstones
    }

    /// Bytes written to the output so far (the open block is not counted
    /// until it is written).
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Writes the open block and the footer, flushes the output and returns it.
    pub fn finish(mut self) -> Result<W> {
        self.flush_block()?;
        let f = footer(self.entries, self.blocks, self.chain_crc);
        self.out
            .write_all(&f)
            .map_err(io_err("writing the footer of", "a snapshot"))?;
        self.out.flush().map_err(io_err("flushing", "a snapshot"))?;
        Ok(self.out)
    }
}

/// One entry read by a [`SnapshotReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotEntry<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value; `None` for a delete (tombstone).
    pub value: Option<&'a [u8]>,
}

#[derive(Debug)]
enum ReaderState {
    /// Version 2: reading blocks.
    Blocks {
        header: Option<BlockHeader>,
        next: usize,
        blocks: u64,
        chain_crc: u32,
        done: bool,
    },
    /// Version 1: the whole (checked) body in memory.
    V1 { layout: v1::Layout, next: usize },
}

/// Reads a snapshot (format version 2, or 1) from any `impl Read`, one
/// block at a time, checking every block's checksum and the key order
/// before handing out its entries.
///
/// Memory stays at about one block (a version 1 input, which has no blocks,
/// is read whole). Every error is a [`StateError`] naming `location` and the
/// byte offset of the bad bytes; no input panics. [`next_entry`]
/// returns `Ok(None)` only after the footer has been checked (entry and
/// block counts, chain checksum) and the input has ended.
///
/// [`next_entry`]: SnapshotReader::next_entry
#[derive(Debug)]
pub struct SnapshotReader<R: Read> {
    input: R,
    location: String,
    version: u32,
    timestamp_ns: u64,
    /// Input offset of the next unread byte.
    offset: u64,
    body: Vec<u8>,
    prev_key: Vec<u8>,
    has_prev: bool,
    entries: u64,
    state: ReaderState,
    failed: bool,
}

impl<R: Read> SnapshotReader<R> {
    /// Reads and checks the file header. `location` (say, the file's path)
    /// names the input in errors.
    pub fn new(mut input: R, location: impl Into<String>) -> Result<Self> {
        let location = location.into();
        let mut h = [0u8; SNAPSHOT_HEADER_LEN];
        let got = read_full(&mut input, &mut h, &location)?;
        let version = check_file_header(h.get(..got).unwrap_or_default(), &location)?;
        let mut reader = SnapshotReader {
            input,
            location,
            version,
            timestamp_ns: 0,
            offset: SNAPSHOT_HEADER_LEN as u64,
            body: Vec::new(),
            prev_key: Vec::new(),
            has_prev: false,
            entries: 0,
            state: ReaderState::Blocks {
                header: None,
                next: 0,
                blocks: 0,
                chain_crc: 0,
                done: false,
            },
            failed: false,
        };
        if version == v1::VERSION {
            let body_len = le_u64(&h, 16);
            let take = (&mut reader.input).take(body_len.saturating_add(1));
            let mut body = Vec::new();
            take_to_end(take, &mut body, body_len, &reader.location)?;
            let layout = v1::check_body(&h, &body, &reader.location)?;
            reader.timestamp_ns = layout.timestamp_ns;
            reader.body = body;
            reader.state = ReaderState::V1 { layout, next: 0 };
        } else {
            reader.timestamp_ns = le_u64(&h, 16);
        }
        Ok(reader)
    }

    /// Format version of the input (1 or 2).
    pub fn format_version(&self) -> u32 {
        self.version
    }

    /// Creation time recorded in the input, nanoseconds since the Unix epoch.
    pub fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns
    }

    /// Entries handed out so far.
    pub fn entries_read(&self) -> u64 {
        self.entries
    }

    /// The name given to [`new`](Self::new).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The next entry in ascending key order, or `Ok(None)` at the (checked)
    /// end of a complete snapshot. After an error every call fails.
    #[allow(clippy::should_implement_trait)]
    pub fn next_entry(&mut self) -> Result<Option<SnapshotEntry<'_>>> {
        if self.failed {
            return Err(StateError::corruption(
                self.location.clone(),
                "the snapshot reader already failed",
            ));
        }
        match self.advance() {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => {
                self.failed = true;
                return Err(e);
            }
        }
        self.entries += 1;
        match &self.state {
            ReaderState::Blocks {
                header: Some(h),
                next,
                ..
            } => {
                let (key, value) = block_entry(h, &self.body, next - 1);
                Ok(Some(SnapshotEntry { key, value }))
            }
            ReaderState::V1 { layout, next } => {
                let (key, value) = layout.entry(&self.body, next - 1).unwrap_or_default();
                Ok(Some(SnapshotEntry {
                    key,
                    value: Some(value),
                }))
            }
            ReaderState::Blocks { header: None, .. } => Ok(None),
        }
    }

    /// Moves to the next entry; `false` at the end.
    fn advance(&mut self) -> Result<bool> {
        match &mut self.state {
            ReaderState::V1 { layout, next } => {
                if *next < layout.len {
                    *next += 1;
                    Ok(true)
                } else {
                    Ok(false)
                }
            }
            ReaderState::Blocks { header, next, .. } => {
                if let Some(h) = header {
                    if *next < h.entries {
                        *next += 1;
                        return Ok(true);
                    }
                    // Remember the block's last key for the order check of the next one.
                    let (last, _) = block_entry(h, &self.body, h.entries - 1);
                    self.prev_key.clear();
                    self.prev_key.extend_from_slice(last);
                    self.has_prev = true;
                    *header = None;
                }
                self.load_next_block()
            }
        }
    }

    fn load_next_block(&mut self) -> Result<bool> {
        let ReaderState::Blocks {
            header,
            next,
            blocks,
            chain_crc,
            done,
        } = &mut self.state
        else {
            return Ok(false);
        };
        if *done {
            return Ok(false);
        }
        let mut h = [0u8; BLOCK_HEADER_LEN];
        let got = read_full(&mut self.input, &mut h, &self.location)?;
        if got < BLOCK_HEADER_LEN {
            return Err(StateError::corruption(
                format!("{} at offset {}", self.location, self.offset),
                format!("truncated: {got} bytes where a block or the footer ({BLOCK_HEADER_LEN} bytes) should be"),
            ));
        }
        match parse_frame(&h, &self.location, self.offset)? {
            Frame::Footer {
                entries,
                blocks: fblocks,
                chain_crc: fcrc,
            } => {
                if entries != self.entries || fblocks != *blocks || fcrc != *chain_crc {
                    return Err(StateError::corruption(
                        format!("{} at offset {}", self.location, self.offset + 8),
                        format!(
                            "footer says {entries} entries in {fblocks} blocks (chain checksum {fcrc:#010x}); \
                             read {} entries in {} blocks (chain checksum {:#010x})",
                            self.entries, blocks, chain_crc
                        ),
                    ));
                }
                self.offset += FOOTER_LEN as u64;
                let mut extra = [0u8; 1];
                let n = read_full(&mut self.input, &mut extra, &self.location)?;
                if n != 0 {
                    return Err(StateError::corruption(
                        format!("{} at offset {}", self.location, self.offset),
                        "trailing bytes after the footer",
                    ));
                }
                *done = true;
                Ok(false)
            }
            Frame::Block(bh) => {
                let body_offset = self.offset + BLOCK_HEADER_LEN as u64;
                let len = bh.body_len();
                self.body.clear();
                let take = (&mut self.input).take(len as u64);
                take_to_end(take, &mut self.body, len as u64, &self.location).map_err(|e| {
                    e.within(|| format!("block {} (header at offset {})", blocks, self.offset))
                })?;
                if self.body.len() != len {
                    return Err(StateError::corruption(
                        format!("{} at offset {}", self.location, body_offset),
                        format!(
                            "truncated block {}: {} of its {len} bytes present",
                            blocks,
                            self.body.len()
                        ),
                    ));
                }
                let prev = self.has_prev.then_some(self.prev_key.as_slice());
                check_block_body(&bh, &self.body, prev, &self.location, body_offset)
                    .map_err(|e| e.within(|| format!("block {blocks}")))?;
                *chain_crc = crc32c::crc32c_append(*chain_crc, &h);
                *blocks += 1;
                self.offset = body_offset + len as u64;
                *header = Some(bh);
                *next = 1;
                Ok(true)
            }
        }
    }
}

/// Reads into `buf` until it is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8], location: &str) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(buf.get_mut(got..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StateError::io(format!("reading {location}"), e)),
        }
    }
    Ok(got)
}

/// Reads `take` to its end into `buf`, reserving at most 64 MiB ahead of
/// the data, so a length from a header never allocates more than arrives.
fn take_to_end(
    mut take: impl Read,
    buf: &mut Vec<u8>,
    expected: u64,
    location: &str,
) -> Result<()> {
    buf.reserve(expected.min(64 << 20) as usize);
    take.read_to_end(buf)
        .map_err(|e| StateError::io(format!("reading {location}"), e))?;
    Ok(())
}
