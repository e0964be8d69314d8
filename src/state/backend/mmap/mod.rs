//! [`MmapStateStore`]: values in a memory map (anonymous or file-backed), an
//! O(1) hash index in RAM, crash-safe commits at [`flush`](StateStore::flush).
//!
//! Layers, from unsafe to safe: `arena` (all of this backend's `unsafe`:
//! mapped segments, their growth, and zero-copy `Bytes` into them), `format`
//! (byte layout, checksums, validated decoding), `file` (locking,
//! write-new-then-rename); then the store, one file per job: `open` (opening
//! and recovery), `log` (appending records, their accounting, replay, growth
//! and compaction), `commit` (the commit protocol), `scan` (the ordered view
//! for scans) and this module (the type, its index and the `StateStore`
//! impl).

mod arena;
mod commit;
pub(crate) mod file;
mod format;
mod log;
mod open;
mod scan;

use std::cell::OnceCell;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use self::arena::Arena;
use self::format::{Kind, REC_HEADER};
use self::log::{LogStats, RecordLens};
use self::scan::ScanIndex;
use crate::state::collections::key_buf::KeyBuf;
use crate::state::collections::key_index::KeyIndex;
use crate::state::error::{Result, StateError};
use crate::state::snapshot::StateSnapshot;
use crate::state::store::{range_is_empty, ScanIter, StateStore};

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
/// so it is of the same order as the inserts that wrote the keys
/// (`cargo bench --bench mmap -- mmap_reopen` prints both; figures in
/// `BENCHMARKS.md`). Reopening in a small fraction of the write time would
/// need the index itself persisted in a mappable form; this version does
/// not do that.
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
    /// Live, garbage and padding bytes of the log, and the live entries' size.
    stats: LogStats,
    /// Capacity asked for at creation: the mapping never shrinks below it.
    initial_capacity: u64,
}

impl std::fmt::Debug for MmapStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapStateStore")
            .field("path", &self.path())
            .field("len", &self.index.len())
            .field("size_bytes", &self.stats.size_bytes)
            .field("log_bytes", &(self.log_end - self.data_start))
            .field("garbage_bytes", &self.stats.garbage)
            .field("mapped_len", &self.arena.len())
            .finish()
    }
}

fn round_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to).saturating_mul(to)
}

impl MmapStateStore {
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
            self.stats.garbage as f64 / log as f64
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

    /// Copies `bytes` into the arena at `off` (inside the space `ensure`d).
    fn write_at(&mut self, off: u64, bytes: &[u8]) -> Result<()> {
        self.arena.write(off, bytes).ok_or_else(|| {
            StateError::corruption(
                self.location(off),
                "internal: write outside the mapped region",
            )
        })
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
}

impl MmapStateStore {
    /// `put` of a borrowed value (the log copies it anyway).
    pub(crate) fn put_slice(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if self.persist.is_none() && self.stats.should_compact() {
            self.compact_in_memory()?;
        }
        let lens = RecordLens::of(key, value)?;
        let val_off = self.append(Kind::Put, key, value, lens)?;
        let loc = Loc {
            val_off,
            val_len: lens.val,
        };
        let old = self.index.insert(KeyBuf::new(key), loc);
        self.stats
            .put(lens.len, key.len(), lens.val, old.map(|o| o.val_len));
        if old.is_none() {
            self.note_inserted(key);
        }
        Ok(())
    }
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
            let lens = RecordLens::of(key, &[])?;
            self.append(Kind::Delete, key, &[], lens)?;
            self.stats.tombstone(lens.len);
        } else if self.stats.should_compact() {
            self.compact_in_memory()?;
        }
        self.index.remove(key);
        self.stats.retire(key.len(), old.val_len);
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
        self.stats.size_bytes
    }

    fn clear(&mut self) {
        self.index.clear();
        self.sorted.take();
        match &mut self.persist {
            None => {
                // A fresh mapping, never the old one rewound: values handed
                // out by `get` reference it and must not change.
                self.arena = Arena::empty();
                self.log_end = self.data_start;
                self.stats = LogStats::default();
            }
            Some(p) => {
                // The committed log is left alone; the next commit rewrites
                // the file from RAM (cheap: only what is put after the clear).
                p.rewrite_pending = true;
                self.stats.retire_all();
            }
        }
    }

    fn flush(&mut self) -> Result<()> {
        self.commit()
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
            total += RecordLens::of(k, v)?.len;
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
