//! [`MmapStateStore`]: values in a memory map (anonymous or file-backed), an
//! O(1) hash index in RAM, crash-safe commits at [`flush`](StateStore::flush).
//!
//! Layers, from unsafe to safe: `arena` (the only `unsafe`: mapped segments,
//! their growth, and zero-copy `Bytes` into them), `format` (byte layout, checksums, validated decoding), `file`
//! (locking, write-new-then-rename), and this module (index, accounting,
//! commit protocol).

mod arena;
pub(crate) mod file;
mod format;
mod scan;

use std::cell::OnceCell;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use self::arena::Arena;
use self::format::{
    pad16, read_record, record_header, record_len, Kind, Record, Slot, SlotState, DATA_START,
    MAGIC, REC_HEADER, SLOT_LEN, SLOT_OFFSETS, SLOT_PAGE,
};
use self::scan::ScanIndex;
use crate::state::collections::key_buf::KeyBuf;
use crate::state::collections::key_index::KeyIndex;
use crate::state::error::{Result, StateError};
use crate::state::snapshot::StateSnapshot;
use crate::state::store::{range_is_empty, ScanIter, StateStore};

/// Garbage (bytes of overwritten or deleted records) below which no automatic
/// compaction runs, so small stores are not rewritten over and over.
pub(crate) const MIN_COMPACT_GARBAGE: u64 = 1 << 20;

/// Granule by which the mapping grows (and to which its size is rounded).
const GROWTH_GRANULE: u64 = 64 * 1024;

/// Where a live value sits in the arena.
#[derive(Clone, Copy, Debug)]
struct Loc {
    /// Offset of the value (16-byte aligned).
    val_off: u64,
    /// Length of the value.
    val_len: u32,
}

/// State of the persistent mode.
#[derive(Debug)]
struct Persist {
    path: PathBuf,
    /// Sequence number of the last commit.
    seq: u64,
    /// Header slot holding the last commit (the next commit writes the other).
    active_slot: usize,
    /// End of the log at the last commit: bytes before it are never modified.
    committed_end: u64,
    /// The file grew since the last sync, so its size must be synced too.
    grown_since_sync: bool,
    /// The log no longer describes the in-RAM state (after `clear` or
    /// `restore`): the next commit rewrites the file from RAM.
    rewrite_pending: bool,
}

/// Which header slot an open uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pick {
    /// The last commit (every public open).
    Newest,
    /// The commit before it (a roll-back).
    Older,
}

/// Memory-mapped state store implementation.
///
/// Values live in a memory map; a hash index in RAM maps each key to the
/// 64-bit offset of its value. Two modes:
///
/// - [`MmapStateStore::in_memory`]: an anonymous mapping, nothing on disk.
/// - [`MmapStateStore::persistent`]: a file, locked while open; every change
///   becomes durable at [`flush`](StateStore::flush), the commit point.
///
/// # Performance
///
/// `get`, `get_ref`, `contains`, `put` and `delete` are one hash probe plus
/// (for writes) an append: O(1) amortized at any size. The index is a
/// linear-probing table whose slots hold the key inline, so a probe reads
/// its slot directly (no control-byte array first). `get_ref` returns a
/// slice of the mapping; values are stored at 16-byte-aligned offsets of
/// page-aligned mappings, so [`StateStoreExt::with_archived`](crate::state::StateStoreExt::with_archived)
/// reads `&Archived<T>` in place without copying.
///
/// `get` does not copy either: the [`Bytes`] it returns references the
/// mapping (as do the values of `prefix_scan` and `range_scan`). The store
/// keeps one shared `Bytes` per mapping segment and returns slices of it, so
/// `get` costs the probe plus an atomic reference count (an allocation only
/// when the value was written after that shared `Bytes` was made), and never
/// touches the value's cache lines until they are read. The atomic
/// increment and decrement still make `get` slower than
/// [`get_ref`](StateStore::get_ref), which is the cheapest read.
/// This is sound because the mapping is append-only: it is made of segments
/// that never move (growth maps a new segment after the last one instead of
/// moving it), a value's bytes are never written again once written, and
/// compaction, [`clear`](StateStore::clear) and
/// [`restore`](StateStore::restore) move to a fresh mapping (or file)
/// instead of reusing the old one. A `Bytes` from `get` therefore keeps the
/// value it had however the store changes afterwards, and outlives the store.
///
/// The price of that is what a held `Bytes` keeps alive:
///
/// - *Its segment.* The whole segment it points into (up to half the mapping)
///   stays mapped until the `Bytes` and every clone of it are dropped, even
///   after compaction, `clear` or dropping the store; in the in-memory mode
///   its touched pages stay in RAM (or swap). In the persistent mode a
///   segment of a file replaced by a compaction keeps that unlinked file's
///   disk blocks allocated and its file descriptor open. Copy a value you keep for long
///   (`Bytes::copy_from_slice`, `to_vec`) instead of holding the `Bytes`.
/// - *The file lock (persistent mode).* The store file stays locked while any
///   `Bytes` from it lives, so reopening it after dropping the store fails
///   with [`StateError::Locked`] until those values are dropped. (Otherwise
///   the next opener would append over records written after the last
///   `flush`, which a `Bytes` may reference.) Values from a file since
///   replaced by a compaction do not lock the current file.
///
/// Ordered scans and [`snapshot`](StateStore::snapshot) use a sorted array of
/// the keys, built by the first scan (O(n log n), 32 bytes per key) and then
/// kept up to date incrementally: keys inserted later go to a small ordered
/// set merged in at scan time, deleted keys are skipped, and the array is
/// rebuilt once those changes exceed an eighth of it. Scans then cost
/// O(log n + k), maintenance O(log n) amortized per insert or delete, and
/// nothing while no scan has run: point operations stay hash-table fast.
///
/// # RAM cost of the index
///
/// Each key costs one slot of 48 bytes in an open-addressing table (a
/// 32-byte inline key holding up to 22 key bytes, a 64-bit value offset, a
/// 32-bit length), kept between 31% and 62.5% full: about 77 to 154 bytes per
/// key, plus the key length for keys longer than 22 bytes, plus
/// 32 bytes per key for the scan array once a scan has run. Values (and the
/// log of superseded records) are not in RAM but in the mapping, which in
/// persistent mode the kernel pages in from and out to the file as needed
/// (the in-memory mode can only page to swap): with 16-byte keys and 1 KiB
/// values a persistent store can hold roughly ten times more state than the
/// RAM its index needs.
///
/// # Address space
///
/// The mapping is a list of segments: the first is the starting capacity
/// (or, when a file is opened, the whole file), and each growth adds one of
/// about half the mapped size, so there are O(log size) segments and the
/// mapped size is within about 1.5 times the log, as with one growing
/// mapping. A record never straddles two segments: the end of a segment
/// too small for the next record becomes a padding record (not garbage,
/// dropped by compaction). Segments no longer used by the store but still
/// referenced by a `Bytes` from `get` (see *Performance*) add to the address
/// space (and to RAM or disk, for the pages they hold) until it is dropped.
///
/// # Space reclamation
///
/// Writes append records; overwritten and deleted records become garbage,
/// counted in O(1) ([`fragmentation`](MmapStateStore::fragmentation)).
/// When garbage exceeds the live record bytes (and 1 MiB),
/// the live records are copied to a fresh mapping: each byte copied was
/// preceded by at least one byte of garbage written, so the cost is bounded
/// and amortized. The in-memory mode checks this on every `put`/`delete`; the
/// persistent mode at `flush` (a compaction is itself a commit, so it never
/// publishes a state the caller did not ask to commit). At each commit the
/// log is at most `2 × live + 1 MiB` bytes and the file at
/// most 1.5 times its log plus 64 KiB and the 8 KiB of headers; between two
/// flushes the file also holds the records written since the last flush.
///
/// # Crash safety (persistent mode)
///
/// The file starts with two header slots, each in its own 4 KiB page,
/// holding a sequence number, the committed end of the log, the live key
/// count and a CRC-32C. Records are only ever appended past the committed
/// end, and every record carries a CRC-32C seeded with its own offset.
/// `flush` (1) `msync`s the records written since the last commit (and
/// `fdatasync`s if the file grew), then (2) writes the new header into the
/// slot *not* holding the last commit and `msync`s it. Reopening picks the
/// valid slot with the highest sequence number and replays the log up to its
/// committed end, ignoring anything past it. A crash before (2) completes
/// leaves the older slot as the newest valid one; a torn slot fails its
/// checksum; so a reopen sees exactly the last completed flush or a later
/// one, never a mix.
///
/// Compaction (and the first commit after [`clear`](StateStore::clear) or
/// [`restore`](StateStore::restore)) writes the live records to
/// a hidden side file, `.<name>.laminar-compact` in the same directory,
/// syncs it, renames it over `<path>` and syncs the directory:
/// write-new-then-rename, atomic at the rename. Do not name a store so.
///
/// # Reopen cost
///
/// Reopening maps the file and replays the log once, sequentially: every
/// record's checksum is verified (so torn or flipped bytes anywhere in
/// committed data are reported as [`StateError::Corruption`] with the file
/// and offset) and the hash index is rebuilt. Values are read through the
/// page cache to checksum them but never copied into RAM; RAM grows only by
/// the index. The log is at most about twice the live data, so reopen reads
/// at most that much.
///
/// The cost is dominated by the hash-table inserts (one cache miss per key),
/// so it is of the same order as the inserts that wrote the keys: 308 ms
/// against 701 ms for the load and flush of 1M keys on the 2-core benchmark
/// VM on 24 November 2026 (`cargo bench --bench mmap -- mmap_reopen`, which
/// prints both). Reopening in a small
/// fraction of the write time would need the index itself persisted in a
/// mappable form; this version does not do that.
///
/// # Safety of the mapping
///
/// Mapping a file is only sound while no other process writes or truncates
/// it: such a write would change bytes behind a `&[u8]` (undefined
/// behaviour) or fault. The store takes an exclusive lock
/// ([`File::try_lock`](std::fs::File::try_lock)) before mapping, so a second
/// `MmapStateStore` on the same file, in this process or another, fails with
/// [`StateError::Locked`]. The lock is advisory: programs that ignore it must
/// not write the file while it is open. Writing into a sparse region of the
/// file on a full disk raises `SIGBUS`, as with any writable file mapping.
/// Within the process, no mapping ever moves or is unmapped while a slice
/// from [`get_ref`](StateStore::get_ref) (which borrows `&self`) or a
/// `Bytes` from [`get`](StateStore::get) (which holds its segment) points
/// into it, and no byte a value occupies is ever written again; the
/// argument is spelled out in the `arena` module.
///
/// Dropping a persistent store does not flush: changes after the last
/// `flush` are discarded, as after a crash. The file stays locked until
/// every `Bytes` from it is dropped too (see *Performance*).
pub struct MmapStateStore {
    index: KeyIndex<Loc>,
    arena: Arena,
    persist: Option<Persist>,
    /// Sorted keys for scans; reset when the key set changes.
    sorted: OnceCell<ScanIndex>,
    /// Offset of the first record (0 in memory, 8192 in a file).
    data_start: u64,
    /// Offset where the next record goes.
    log_end: u64,
    /// Bytes of the records of live entries.
    live_record_bytes: u64,
    /// Bytes of records that are no longer live (overwritten, deleted, tombstones).
    garbage_bytes: u64,
    /// Bytes of padding records (not garbage, dropped by `compact`).
    pad_bytes: u64,
    /// Sum of key and value lengths of live entries.
    size_bytes: usize,
    /// Capacity asked for at creation: the mapping never shrinks below it.
    initial_capacity: u64,
}

impl std::fmt::Debug for MmapStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapStateStore")
            .field("path", &self.path())
            .field("len", &self.index.len())
            .field("size_bytes", &self.size_bytes)
            .field("log_bytes", &(self.log_end - self.data_start))
            .field("garbage_bytes", &self.garbage_bytes)
            .field("mapped_len", &self.arena.len())
            .finish()
    }
}

fn round_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to).saturating_mul(to)
}

fn to_u32(n: usize, what: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| {
        StateError::InvalidArgument(format!(
            "{what} of {n} bytes is too long (the mmap store keeps lengths below 4 GiB)"
        ))
    })
}

/// The sequence number of the next commit (a file claiming the last one
/// cannot take more commits: an error, never a wrap-around).
fn next_seq(seq: u64) -> Result<u64> {
    seq.checked_add(1).ok_or_else(|| {
        StateError::CapacityExceeded("commit sequence numbers of the state file exhausted".into())
    })
}

/// Reads `buf.len()` bytes of `file` at `offset` (zeros past its end are an
/// error, like a short file).
fn read_exact_at(file: &std::fs::File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

/// Counters and index rebuilt by a replay.
struct Replayed {
    index: KeyIndex<Loc>,
    live_record_bytes: u64,
    garbage_bytes: u64,
    pad_bytes: u64,
    size_bytes: usize,
}

/// Keys a reopen reserves index room for before reading any record (see
/// [`replay`]).
const UPFRONT_KEYS: u64 = 1 << 20;

/// Replays the validated log `start..end` of `bytes`.
fn replay(
    bytes: &[u8],
    start: u64,
    end: u64,
    expected_keys: u64,
    location: &dyn Fn(u64) -> String,
) -> Result<Replayed> {
    // The key count comes from a checksummed header, but a header is easy
    // to forge and a sparse file cheap: reserve room for at most
    // `UPFRONT_KEYS` keys (and no more than the log could hold) up front.
    // Past that the index grows as replayed keys arrive, doubling as any
    // insert does, so what it holds is bounded by the keys the log really
    // has, whatever the header claims.
    let bound = expected_keys.min((end - start) / (2 * REC_HEADER));
    let upfront = bound.min(UPFRONT_KEYS);
    let mut r = Replayed {
        index: KeyIndex::with_capacity(usize::try_from(upfront).unwrap_or(0)),
        live_record_bytes: 0,
        garbage_bytes: 0,
        pad_bytes: 0,
        size_bytes: 0,
    };
    let mut off = start;
    while off < end {
        let (record, len) = read_record(bytes, off, end, location)?;
        match record {
            Record::Put {
                key,
                val_off,
                val_len,
            } => {
                r.live_record_bytes += len;
                let loc = Loc { val_off, val_len };
                match r.index.insert(KeyBuf::new(key), loc) {
                    Some(old) => {
                        let old_len = record_len(key.len() as u64, u64::from(old.val_len));
                        r.live_record_bytes -= old_len;
                        r.garbage_bytes += old_len;
                        r.size_bytes -= old.val_len as usize;
                    }
                    None => r.size_bytes += key.len(),
                }
                r.size_bytes += val_len as usize;
            }
            Record::Delete { key } => {
                r.garbage_bytes += len;
                if let Some(old) = r.index.remove(key) {
                    let old_len = record_len(key.len() as u64, u64::from(old.val_len));
                    r.live_record_bytes -= old_len;
                    r.garbage_bytes += old_len;
                    r.size_bytes -= key.len() + old.val_len as usize;
                }
            }
            Record::Pad => r.pad_bytes += len,
        }
        off += len;
    }
    Ok(r)
}

impl MmapStateStore {
    /// Creates a store in an anonymous memory mapping (nothing on disk).
    ///
    /// `capacity` is the initial size of the mapping in bytes, not a limit:
    /// the mapping grows as needed. The kernel provides its pages lazily, so
    /// a large capacity costs address space, not RAM. If the mapping cannot
    /// be created now, the first write retries it and reports the error.
    pub fn in_memory(capacity: usize) -> Self {
        MmapStateStore {
            index: KeyIndex::default(),
            arena: Arena::anon(round_up(capacity as u64, GROWTH_GRANULE)),
            persist: None,
            sorted: OnceCell::new(),
            data_start: 0,
            log_end: 0,
            live_record_bytes: 0,
            garbage_bytes: 0,
            pad_bytes: 0,
            size_bytes: 0,
            initial_capacity: capacity as u64,
        }
    }

    /// Opens the store file at `path`, creating it if it does not exist (or
    /// is empty), and locks it until the store is dropped.
    ///
    /// `initial_capacity` is the initial size of the log region of a new file
    /// in bytes (a sparse file: no block is written up front); an existing
    /// file keeps its size. Reopening restores the state of the last
    /// completed [`flush`](StateStore::flush).
    ///
    /// # Errors
    ///
    /// - [`StateError::Locked`] if another store has the file open.
    /// - [`StateError::Corruption`] (naming the file and offset) for a file of
    ///   another format, a truncated file or bytes failing a checksum.
    /// - [`StateError::UnsupportedVersion`] for a file of a newer format.
    /// - [`StateError::Io`] if a system call fails.
    pub fn persistent(path: impl AsRef<Path>, initial_capacity: usize) -> Result<Self> {
        Self::open_path(path.as_ref(), initial_capacity, Pick::Newest)
    }

    /// Opens the persistent store at `path` as of the commit *before* its
    /// last one, and makes that state the last commit, durably: the newer
    /// header is overwritten before this returns, so no later open returns
    /// to it. `#[state_store]` uses this to undo a table commit whose
    /// struct-wide flush did not complete.
    ///
    /// Fails with [`StateError::Corruption`] if the file holds no earlier
    /// commit (one commit only, or a file just rewritten by compaction).
    pub(crate) fn persistent_rolled_back(path: &Path, initial_capacity: usize) -> Result<Self> {
        let mut store = Self::open_path(path, initial_capacity, Pick::Older)?;
        let end = store.log_end;
        store.write_header(end)?;
        Ok(store)
    }

    fn open_path(path: &Path, initial_capacity: usize, pick: Pick) -> Result<Self> {
        let file = file::open_locked(path)?;
        // We hold the lock: no other store can be writing a temporary file.
        file::remove_stale_temp(path);
        let len = file
            .metadata()
            .map_err(|e| StateError::io(format!("reading metadata of {}", path.display()), e))?
            .len();
        if len == 0 {
            if pick == Pick::Older {
                return Err(StateError::corruption(
                    path.display().to_string(),
                    "empty file: no earlier commit to roll back to",
                ));
            }
            Self::create(path, initial_capacity as u64)
        } else {
            Self::open_existing(file, len, path, initial_capacity as u64, pick)
        }
    }

    fn empty_persistent(path: &Path, arena: Arena, seq: u64, initial_capacity: u64) -> Self {
        MmapStateStore {
            index: KeyIndex::default(),
            arena,
            persist: Some(Persist {
                path: path.to_path_buf(),
                seq,
                active_slot: 0,
                committed_end: DATA_START,
                grown_since_sync: false,
                rewrite_pending: false,
            }),
            sorted: OnceCell::new(),
            data_start: DATA_START,
            log_end: DATA_START,
            live_record_bytes: 0,
            garbage_bytes: 0,
            pad_bytes: 0,
            size_bytes: 0,
            initial_capacity,
        }
    }

    /// Writes a new, empty store file: built in the temporary file, then
    /// renamed over `path`, so a crash leaves either no store or a valid one.
    fn create(path: &Path, initial_capacity: u64) -> Result<Self> {
        let mut store = Self::empty_persistent(path, Arena::empty(), 0, initial_capacity);
        store.rewrite_file()?;
        Ok(store)
    }

    fn open_existing(
        file: std::fs::File,
        len: u64,
        path: &Path,
        initial: u64,
        pick: Pick,
    ) -> Result<Self> {
        let at = |off: u64| format!("{} at offset {off}", path.display());
        if len < DATA_START {
            let mut head = [0u8; 8];
            let looks_ours = {
                use std::io::Read;
                (&file).read_exact(&mut head).is_ok() && head == MAGIC
            };
            let what = if looks_ours {
                format!("truncated file: {len} bytes, a state file has at least {DATA_START}")
            } else {
                "not a laminar-core mmap state file (bad magic)".to_string()
            };
            return Err(StateError::corruption(
                at(if looks_ours { len } else { 0 }),
                what,
            ));
        }
        let mut best: Option<(usize, Slot)> = None;
        let mut older: Option<(usize, Slot)> = None;
        let mut bad_checksum = None;
        let mut any_magic = false;
        for (i, &slot_off) in SLOT_OFFSETS.iter().enumerate() {
            // Read through the file: the mapping comes after the checks.
            let mut raw = [0u8; SLOT_LEN];
            read_exact_at(&file, slot_off, &mut raw)
                .map_err(|e| StateError::io(format!("reading {}", path.display()), e))?;
            match format::decode_slot(&raw) {
                SlotState::Valid(s) => {
                    any_magic = true;
                    match best {
                        Some((_, b)) if b.seq >= s.seq => older = Some((i, s)),
                        _ => older = best.replace((i, s)),
                    }
                }
                SlotState::Version(found) => {
                    return Err(StateError::UnsupportedVersion {
                        location: at(slot_off + 8),
                        found,
                        supported: format::FORMAT_VERSION,
                    });
                }
                SlotState::BadChecksum { stored, computed } => {
                    any_magic = true;
                    bad_checksum.get_or_insert((slot_off, stored, computed));
                }
                SlotState::NoMagic => {}
            }
        }
        if pick == Pick::Older {
            best = match older {
                Some(o) => Some(o),
                None => {
                    return Err(StateError::corruption(
                        at(0),
                        "no earlier commit to roll back to (one valid header slot)",
                    ))
                }
            };
        }
        let Some((active_slot, slot)) = best else {
            if let Some((off, stored, computed)) = bad_checksum {
                return Err(StateError::corruption(
                    at(off + 48),
                    format!(
                        "no valid header slot: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
                    ),
                ));
            }
            debug_assert!(!any_magic);
            return Err(StateError::corruption(
                at(0),
                "not a laminar-core mmap state file (bad magic)",
            ));
        };
        let slot_at = at(SLOT_OFFSETS.get(active_slot).copied().unwrap_or(0));
        if slot.data_start != DATA_START {
            return Err(StateError::corruption(
                slot_at,
                format!("log start {} is not {DATA_START}", slot.data_start),
            ));
        }
        if slot.committed_end < DATA_START || slot.committed_end % 16 != 0 {
            return Err(StateError::corruption(
                slot_at,
                format!("invalid committed log end {}", slot.committed_end),
            ));
        }
        if slot.committed_end > len {
            return Err(StateError::corruption(
                at(len),
                format!(
                    "truncated file: {len} bytes, but the last commit covers {} bytes",
                    slot.committed_end
                ),
            ));
        }
        // Growth maps new windows of the file at its current end, which must
        // be aligned like every segment so records never straddle two. Only
        // a file cut outside the store is unaligned; extend it (sparse, past
        // the committed end, which replay ignores).
        let len = if len.is_multiple_of(GROWTH_GRANULE) {
            len
        } else {
            let aligned = round_up(len, GROWTH_GRANULE);
            file.set_len(aligned)
                .map_err(|e| StateError::io(format!("extending {}", path.display()), e))?;
            aligned
        };
        // A file longer than the process can map at once (a store created
        // with a large capacity, reopened under a tighter address-space
        // limit) is mapped up to its committed end; growth maps the rest.
        let committed = round_up(slot.committed_end, GROWTH_GRANULE);
        let mut arena = Arena::file(file, len, committed, DATA_START)
            .map_err(|e| StateError::io(format!("mapping {}", path.display()), e))?;
        arena.seal(slot.committed_end);
        let log = arena.slice(0, slot.committed_end).unwrap_or_default();
        arena.advise_sequential(true);
        let r = replay(log, DATA_START, slot.committed_end, slot.live_count, &at);
        arena.advise_sequential(false);
        let r = r?;
        if r.index.len() as u64 != slot.live_count {
            return Err(StateError::corruption(
                slot_at,
                format!(
                    "header records {} live keys but the log holds {}",
                    slot.live_count,
                    r.index.len()
                ),
            ));
        }
        Ok(MmapStateStore {
            index: r.index,
            arena,
            persist: Some(Persist {
                path: path.to_path_buf(),
                seq: slot.seq,
                active_slot,
                committed_end: slot.committed_end,
                grown_since_sync: false,
                rewrite_pending: false,
            }),
            sorted: OnceCell::new(),
            data_start: DATA_START,
            log_end: slot.committed_end,
            live_record_bytes: r.live_record_bytes,
            garbage_bytes: r.garbage_bytes,
            pad_bytes: r.pad_bytes,
            size_bytes: r.size_bytes,
            initial_capacity: initial,
        })
    }

    /// Returns `true` for a file-backed store.
    pub fn is_persistent(&self) -> bool {
        self.persist.is_some()
    }

    /// The store file of a persistent store.
    pub fn path(&self) -> Option<&Path> {
        self.persist.as_ref().map(|p| p.path.as_path())
    }

    /// Fraction of the log (`0.0..=1.0`) taken by garbage: records that were
    /// overwritten or deleted and that compaction would reclaim. O(1).
    pub fn fragmentation(&self) -> f64 {
        let log = self.log_end - self.data_start;
        if log == 0 {
            0.0
        } else {
            self.garbage_bytes as f64 / log as f64
        }
    }

    /// Current size of the mapping in bytes, summed over its segments (the
    /// file size in persistent mode). Segments the store no longer uses but
    /// that a `Bytes` from `get` still references are not counted.
    pub fn mapped_len(&self) -> u64 {
        self.arena.len()
    }

    /// Copies the live records into a fresh mapping (a fresh file, renamed
    /// over the old one, in persistent mode), reclaiming all garbage.
    ///
    /// In persistent mode this is also a commit, like [`flush`](StateStore::flush).
    /// Compaction runs automatically (see the type docs); call this to
    /// reclaim space right away.
    pub fn compact(&mut self) -> Result<()> {
        if self.persist.is_some() {
            self.rewrite_file()
        } else {
            self.compact_in_memory()
        }
    }

    /// Appends a padding record of at least `bytes` bytes to the log, so tests
    /// can reach large offsets cheaply (the gap is a sparse hole of the file).
    /// Padding is not garbage; [`compact`](Self::compact) drops it.
    #[doc(hidden)]
    pub fn append_gap_for_tests(&mut self, bytes: u64) -> Result<()> {
        let len = bytes
            .checked_add(2 * REC_HEADER)
            .map(|n| pad16(n - REC_HEADER))
            .ok_or_else(|| StateError::InvalidArgument(format!("gap of {bytes} bytes")))?;
        self.ensure(len)?;
        self.append_pad(len)
    }

    /// Appends a padding record of `len` bytes (a multiple of 16, at least
    /// 16) at the log end, which has room for its header.
    fn append_pad(&mut self, len: u64) -> Result<()> {
        let off = self.log_end;
        let h = record_header(off, Kind::Pad, len as u32, (len >> 32) as u32, &[], &[]);
        self.write_at(off, &h)?;
        self.advance(len);
        self.pad_bytes += len;
        Ok(())
    }

    /// Moves the log end past `len` bytes just written and publishes them:
    /// from now on they are only read (and may be shared), never rewritten.
    fn advance(&mut self, len: u64) {
        self.log_end += len;
        self.arena.seal(self.log_end);
    }

    fn should_compact(&self) -> bool {
        self.garbage_bytes >= MIN_COMPACT_GARBAGE && self.garbage_bytes > self.live_record_bytes
    }

    fn location(&self, off: u64) -> String {
        match self.path() {
            Some(p) => format!("{} at offset {off}", p.display()),
            None => format!("anonymous mapping at offset {off}"),
        }
    }

    fn io_context(&self, what: &str) -> String {
        match self.path() {
            Some(p) => format!("{what} {}", p.display()),
            None => format!("{what} an anonymous mapping"),
        }
    }

    /// Makes room for `n` more bytes of records, plus one record header,
    /// in the segment holding the log end (records never straddle two
    /// segments: a value must be one slice of one mapping).
    ///
    /// If the last segment is too small, a new one is mapped after it (the
    /// old ones never move: `Bytes` may reference them) and the rest of the
    /// old segment is filled with a padding record. The new segment takes
    /// the mapped size to about 1.5 times what it was, as a single growing
    /// mapping would, so there are O(log size) segments.
    fn ensure(&mut self, n: u64) -> Result<()> {
        let need = n.saturating_add(REC_HEADER);
        if self.arena.room(self.log_end) >= need {
            return Ok(());
        }
        let cur = self.arena.len();
        let add = need
            .max(cur / 2)
            .max(
                self.data_start
                    .saturating_add(self.initial_capacity)
                    .saturating_sub(cur),
            )
            .max(GROWTH_GRANULE);
        let add = round_up(add, GROWTH_GRANULE);
        let minimal = round_up(need, GROWTH_GRANULE);
        // If the generous size cannot be mapped (say a huge starting
        // capacity), fall back to what this write needs.
        let result = match self.arena.grow(add) {
            Err(_) if minimal < add => self.arena.grow(minimal),
            other => other,
        };
        result
            .map_err(|e| StateError::io(self.io_context(&format!("growing by {add} bytes:")), e))?;
        if let Some(p) = &mut self.persist {
            p.grown_since_sync = true;
        }
        // Segment ends are multiples of the granule and the log end is
        // 16-aligned, so the rest is 0 or a valid pad length (>= 16).
        let rest = cur.saturating_sub(self.log_end);
        if rest > 0 {
            self.append_pad(rest)?;
        }
        Ok(())
    }

    /// Copies `bytes` into the arena at `off` (inside the space `ensure`d).
    fn write_at(&mut self, off: u64, bytes: &[u8]) -> Result<()> {
        self.arena.write(off, bytes).ok_or_else(|| {
            StateError::corruption(
                self.location(off),
                "internal: write outside the mapped region",
            )
        })
    }

    /// Appends a put or delete record; returns the value offset.
    /// `put` of a borrowed value (the log copies it anyway).
    pub(crate) fn put_slice(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if self.persist.is_none() && self.should_compact() {
            self.compact_in_memory()?;
        }
        let val_off = self.append(Kind::Put, key, value)?;
        let len = record_len(key.len() as u64, value.len() as u64);
        self.live_record_bytes += len;
        let loc = Loc {
            val_off,
            val_len: value.len() as u32,
        };
        match self.index.insert(KeyBuf::new(key), loc) {
            Some(old) => {
                let old_len = record_len(key.len() as u64, u64::from(old.val_len));
                self.live_record_bytes -= old_len;
                self.garbage_bytes += old_len;
                self.size_bytes = self.size_bytes - old.val_len as usize + value.len();
            }
            None => {
                self.size_bytes += key.len() + value.len();
                self.note_inserted(key);
            }
        }
        Ok(())
    }

    fn append(&mut self, kind: Kind, key: &[u8], value: &[u8]) -> Result<u64> {
        let (k, v) = (to_u32(key.len(), "key")?, to_u32(value.len(), "value")?);
        let len = record_len(u64::from(k), u64::from(v));
        self.ensure(len)?;
        let off = self.log_end;
        let val_off = write_record(&mut self.arena, off, kind, key, value).ok_or_else(|| {
            StateError::corruption(
                self.location(off),
                "internal: write outside the mapped region",
            )
        })?;
        self.advance(len);
        Ok(val_off)
    }

    /// Copies every live record into `dst` from offset `start`; returns the
    /// new value offsets in index iteration order and the end of the log.
    fn copy_live(&self, dst: &mut Arena, start: u64) -> Result<(Vec<u64>, u64)> {
        let mut offsets = Vec::with_capacity(self.index.len());
        let mut off = start;
        for (key, loc) in self.index.iter() {
            let value = self
                .arena
                .slice(loc.val_off, u64::from(loc.val_len))
                .ok_or_else(|| {
                    StateError::corruption(self.location(loc.val_off), "value outside the mapping")
                })?;
            let val_off =
                write_record(dst, off, Kind::Put, key.as_slice(), value).ok_or_else(|| {
                    StateError::corruption(self.location(off), "internal: compaction overflow")
                })?;
            offsets.push(val_off);
            off += record_len(key.as_slice().len() as u64, u64::from(loc.val_len));
        }
        Ok((offsets, off))
    }

    /// Points the index at the compacted copy and resets the counters. The
    /// old arena is dropped; its segments stay mapped while a `Bytes` from
    /// `get` references them.
    fn install(&mut self, mut arena: Arena, offsets: Vec<u64>, end: u64) {
        for (loc, off) in self.index.values_mut().zip(offsets) {
            loc.val_off = off;
        }
        arena.seal(end);
        self.arena = arena;
        self.log_end = end;
        self.garbage_bytes = 0;
        self.pad_bytes = 0;
        debug_assert_eq!(self.live_record_bytes, end - self.data_start);
    }

    /// A new anonymous arena with room for `need` bytes: as large as the
    /// starting capacity if that can be mapped, else just `need`.
    fn fresh_anon(&self, need: u64) -> Result<Arena> {
        let minimal = round_up(need.max(1), GROWTH_GRANULE);
        let generous = minimal.max(round_up(self.initial_capacity, GROWTH_GRANULE));
        Arena::try_anon(generous)
            .or_else(|_| Arena::try_anon(minimal))
            .map_err(|e| StateError::io("creating an anonymous mapping", e))
    }

    /// Size of a compacted arena: the live records with room to grow, and
    /// with `generous` at least the starting capacity. Saturating: the
    /// starting capacity is the caller's and may be anything.
    fn compacted_capacity(&self, generous: bool) -> u64 {
        let live = self.live_record_bytes;
        let cap = self
            .data_start
            .saturating_add(live)
            .saturating_add((live / 2).max(GROWTH_GRANULE))
            .saturating_add(REC_HEADER);
        let floor = if generous {
            self.data_start.saturating_add(self.initial_capacity)
        } else {
            0
        };
        round_up(cap.max(floor), GROWTH_GRANULE)
    }

    fn compact_in_memory(&mut self) -> Result<()> {
        // As for growth: if the starting capacity cannot be mapped, fall
        // back to what the live records need.
        let mut arena = Arena::try_anon(self.compacted_capacity(true))
            .or_else(|_| Arena::try_anon(self.compacted_capacity(false)))
            .map_err(|e| StateError::io("creating an anonymous mapping for compaction", e))?;
        let (offsets, end) = self.copy_live(&mut arena, 0)?;
        self.install(arena, offsets, end);
        Ok(())
    }

    /// `true` if the next commit must rewrite the file (after `clear` or
    /// `restore`), which [`commit_log`](Self::commit_log) cannot do.
    pub(crate) fn rewrite_pending(&self) -> bool {
        self.persist.as_ref().is_some_and(|p| p.rewrite_pending)
    }

    /// Commits by appending only: syncs the log written since the last
    /// commit, then publishes it in the other header slot. Unlike
    /// [`flush`](StateStore::flush) it never compacts, so the previous
    /// commit stays in the file (for
    /// [`persistent_rolled_back`](Self::persistent_rolled_back)). Fails if a
    /// rewrite is pending ([`rewrite_pending`](Self::rewrite_pending)).
    pub(crate) fn commit_log(&mut self) -> Result<()> {
        let Some(p) = &self.persist else {
            return Ok(());
        };
        if p.rewrite_pending {
            return Err(StateError::InvalidArgument(format!(
                "{}: the state was cleared or restored, so the next commit must rewrite the file",
                p.path.display()
            )));
        }
        let (start, end) = (p.committed_end, self.log_end);
        if end == start {
            return Ok(());
        }
        let io = |what: &str, e| StateError::io(format!("{what} {}", p.path.display()), e);
        self.arena
            .sync_range(start, end - start)
            .map_err(|e| io("syncing the log of", e))?;
        if p.grown_since_sync {
            if let Some(f) = self.arena.backing_file() {
                f.sync_data().map_err(|e| io("syncing the size of", e))?;
            }
        }
        self.write_header(end)
    }

    /// Publishes the log up to `end` (already synced) as the next commit:
    /// writes the header slot not holding the last commit and syncs it.
    fn write_header(&mut self, end: u64) -> Result<()> {
        let Some(p) = &self.persist else {
            return Ok(());
        };
        let next = 1 - p.active_slot.min(1);
        let slot = Slot {
            seq: next_seq(p.seq)?,
            data_start: DATA_START,
            committed_end: end,
            live_count: self.index.len() as u64,
        };
        let slot_off = SLOT_OFFSETS.get(next).copied().unwrap_or(0);
        let seq = slot.seq;
        self.write_at(slot_off, &slot.encode())?;
        let Some(p) = &mut self.persist else {
            return Ok(());
        };
        let io = |what: &str, e| StateError::io(format!("{what} {}", p.path.display()), e);
        self.arena
            .sync_range(slot_off, SLOT_PAGE)
            .map_err(|e| io("syncing the header of", e))?;
        p.seq = seq;
        p.active_slot = next;
        p.committed_end = end;
        p.grown_since_sync = false;
        Ok(())
    }

    /// Writes the in-RAM state to the side file (`file::temp_path`), syncs it and renames it
    /// over `<path>`: a commit by write-new-then-rename.
    fn rewrite_file(&mut self) -> Result<()> {
        let Some(p) = &self.persist else {
            return Ok(());
        };
        let path = p.path.clone();
        let seq = next_seq(p.seq)?;
        let (tmp_file, tmp) = file::create_temp(&path)?;
        let io = |what: &str, e| StateError::io(format!("{what} {}", tmp.display()), e);
        let result = (|| {
            // The file may not grow to the starting capacity (a file system
            // limit on its size): then to what the live records need.
            let mut cap = self.compacted_capacity(true);
            let small = self.compacted_capacity(false);
            if tmp_file.set_len(cap).is_err() {
                cap = small;
                tmp_file.set_len(cap).map_err(|e| io("sizing", e))?;
            }
            // Nor may that much be mappable (an address-space limit): then
            // map and keep only what the live records need.
            let mut arena =
                Arena::file(tmp_file, cap, small, DATA_START).map_err(|e| io("mapping", e))?;
            if arena.len() < cap {
                if let Some(f) = arena.backing_file() {
                    f.set_len(arena.len()).map_err(|e| io("sizing", e))?;
                }
            }
            let (offsets, end) = self.copy_live(&mut arena, DATA_START)?;
            let slot = Slot {
                seq,
                data_start: DATA_START,
                committed_end: end,
                live_count: self.index.len() as u64,
            };
            arena.write(0, &slot.encode()).ok_or_else(|| {
                StateError::corruption(tmp.display().to_string(), "no room for header")
            })?;
            arena.sync_range(0, end).map_err(|e| io("syncing", e))?;
            if let Some(f) = arena.backing_file() {
                f.sync_all().map_err(|e| io("syncing", e))?;
            }
            Ok((arena, offsets, end))
        })();
        let (arena, offsets, end) = match result {
            Ok(x) => x,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(StateError::io(
                format!("renaming {} to {}", tmp.display(), path.display()),
                e,
            ));
        }
        // The new file is in place: switch to it even if the directory sync
        // fails, so later commits go to the file that `path` names.
        self.install(arena, offsets, end);
        if let Some(p) = &mut self.persist {
            p.seq = seq;
            p.active_slot = 0;
            p.committed_end = end;
            p.grown_since_sync = false;
            p.rewrite_pending = false;
        }
        file::sync_dir(&path)
    }

    #[inline]
    fn value_of(&self, key: &[u8]) -> Option<&[u8]> {
        let loc = self.index.get(key)?;
        self.arena.slice(loc.val_off, u64::from(loc.val_len))
    }

    /// The value of `key` as a `Bytes` referencing the mapping (no copy).
    #[inline]
    fn shared_value(&self, key: &[u8]) -> Option<Bytes> {
        let loc = self.index.get(key)?;
        self.arena.share(loc.val_off, u64::from(loc.val_len))
    }

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

    fn scan_index(&self) -> &ScanIndex {
        self.sorted
            .get_or_init(|| ScanIndex::build(self.index.keys().cloned()))
    }

    /// Keeps the scan view in step with a new key (if a scan built one).
    fn note_inserted(&mut self, key: &[u8]) {
        if let Some(view) = self.sorted.get_mut() {
            view.inserted(key);
            if view.worn_out() {
                self.sorted.take();
            }
        }
    }

    /// Keeps the scan view in step with a deleted key.
    fn note_deleted(&mut self, key: &[u8]) {
        if let Some(view) = self.sorted.get_mut() {
            view.deleted(key);
            if view.worn_out() {
                self.sorted.take();
            }
        }
    }

    fn pair(&self, key: &KeyBuf) -> Option<(Bytes, Bytes)> {
        let value = self.shared_value(key.as_slice())?;
        Some((Bytes::copy_from_slice(key.as_slice()), value))
    }
}

/// Writes a put or delete record at `off`; returns the value offset, or
/// `None` if it does not fit (or a length exceeds `u32`).
fn write_record(arena: &mut Arena, off: u64, kind: Kind, key: &[u8], value: &[u8]) -> Option<u64> {
    let k = u32::try_from(key.len()).ok()?;
    let v = u32::try_from(value.len()).ok()?;
    let h = record_header(off, kind, k, v, key, value);
    let key_off = off + REC_HEADER;
    let val_off = key_off + pad16(u64::from(k));
    arena.write(off, &h)?;
    arena.write(key_off, key)?;
    arena.write(val_off, value)?;
    Some(val_off)
}

impl StateStore for MmapStateStore {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.shared_value(key)
    }

    #[inline]
    fn get_ref(&self, key: &[u8]) -> Option<&[u8]> {
        self.value_of(key)
    }

    fn put(&mut self, key: &[u8], value: Bytes) -> Result<()> {
        self.put_slice(key, &value)
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        let Some(old) = self.index.get(key).copied() else {
            return Ok(());
        };
        if self.persist.is_some() {
            // A tombstone, so replaying the log forgets the key.
            self.append(Kind::Delete, key, &[])?;
            self.garbage_bytes += record_len(key.len() as u64, 0);
        } else if self.should_compact() {
            self.compact_in_memory()?;
        }
        self.index.remove(key);
        let old_len = record_len(key.len() as u64, u64::from(old.val_len));
        self.live_record_bytes -= old_len;
        self.garbage_bytes += old_len;
        self.size_bytes -= key.len() + old.val_len as usize;
        self.note_deleted(key);
        Ok(())
    }

    #[inline]
    fn contains(&self, key: &[u8]) -> bool {
        self.index.contains_key(key)
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn size_bytes(&self) -> usize {
        self.size_bytes
    }

    fn clear(&mut self) {
        self.index.clear();
        self.sorted.take();
        self.size_bytes = 0;
        match &mut self.persist {
            None => {
                // A fresh mapping, never the old one rewound: values handed
                // out by `get` reference it and must not change.
                self.arena = Arena::empty();
                self.log_end = self.data_start;
                self.live_record_bytes = 0;
                self.garbage_bytes = 0;
                self.pad_bytes = 0;
            }
            Some(p) => {
                // The committed log is left alone; the next commit rewrites
                // the file from RAM (cheap: only what is put after the clear).
                p.rewrite_pending = true;
                self.garbage_bytes += self.live_record_bytes;
                self.live_record_bytes = 0;
            }
        }
    }

    fn flush(&mut self) -> Result<()> {
        let Some(p) = &self.persist else {
            return Ok(());
        };
        if p.rewrite_pending || self.should_compact() {
            return self.rewrite_file();
        }
        self.commit_log()
    }

    fn prefix_scan<'a>(&'a self, prefix: &'a [u8]) -> ScanIter<'a> {
        Box::new(
            self.scan_index()
                .from(prefix)
                .take_while(move |k| k.as_slice().starts_with(prefix))
                .filter_map(move |k| self.pair(k)),
        )
    }

    fn range_scan<'a>(&'a self, range: Range<&'a [u8]>) -> ScanIter<'a> {
        if range_is_empty(&range) {
            return Box::new(std::iter::empty());
        }
        Box::new(
            self.scan_index()
                .from(range.start)
                .take_while(move |k| k.as_slice() < range.end)
                .filter_map(move |k| self.pair(k)),
        )
    }

    fn snapshot(&self) -> StateSnapshot {
        let mut b = StateSnapshot::builder(self.len(), self.size_bytes());
        for k in self.scan_index().from(b"") {
            if let Some(v) = self.value_of(k.as_slice()) {
                b.push_sorted(k.as_slice(), v);
            }
        }
        b.finish()
    }

    fn restore(&mut self, snapshot: StateSnapshot) -> Result<()> {
        // Check and reserve everything first, so a failure leaves the store as it was.
        let mut total = 0u64;
        for (k, v) in snapshot.iter() {
            to_u32(k.len(), "key")?;
            to_u32(v.len(), "value")?;
            total += record_len(k.len() as u64, v.len() as u64);
        }
        if self.persist.is_some() {
            self.ensure(total)?;
            self.clear();
        } else {
            // `clear` maps afresh: map first, so a failure changes nothing.
            let arena = self.fresh_anon(total.saturating_add(REC_HEADER))?;
            self.clear();
            self.arena = arena;
        }
        for (k, v) in snapshot.iter() {
            self.put_slice(k, v)?;
        }
        Ok(())
    }
}

static_assertions::assert_eq_size!(Option<(KeyBuf, Loc)>, [u8; 48]);
