//! One adapter per compared system, all behind the [`System`] trait so the
//! measuring code in `measure.rs` is monomorphized per system (no dynamic
//! dispatch on the hot path of any of them).
//!
//! Adding a system: implement [`System`] (or reuse [`Ours`] / [`Ref`] for
//! anything implementing one of the two `StateStore` traits) and add one line
//! to [`for_each_system!`](crate::for_each_system).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
// Both `StateStore` traits, for method calls on concrete store types (each
// store implements only one of them, so calls stay unambiguous).
use laminar_core::state::StateStore as _;
use laminar_ref::state::StateStore as _;

use crate::workload::Workload;

/// A write in a batch: `(key, Some(value))` puts, `(key, None)` deletes.
pub type WriteOp<'a> = (&'a [u8], Option<&'a [u8]>);

/// Point lookups through whatever read handle a system needs (a read
/// transaction for redb and LMDB, the map itself for in-memory ones).
pub trait Reader {
    /// Looks `key` up and returns the index stored in the first eight bytes of
    /// its value, so every lookup really reads the value.
    fn get(&self, key: &[u8]) -> Option<u64>;
    /// Number of entries whose key starts with `prefix` (every entry is read).
    fn prefix_count(&self, prefix: &[u8]) -> u64;
    /// Number of entries with `start <= key < end` (every entry is read).
    fn range_count(&self, start: &[u8], end: &[u8]) -> u64;
}

/// One compared system.
pub trait System: Sized {
    /// Read handle.
    type Reader<'a>: Reader
    where
        Self: 'a;
    /// An empty system; persistent ones put their files under `dir`.
    fn create(dir: &Path, w: &Workload) -> Self;
    /// Opens a read handle (a read transaction for transactional stores).
    fn reader(&self) -> Self::Reader<'_>;
    /// Applies `ops` (one write transaction for transactional stores).
    fn write_batch(&mut self, ops: &[WriteOp<'_>]);
    /// Whether the system answers ordered scans (a hash map does not).
    const SCANS: bool = true;
    /// Writes per transaction in write benchmarks (transactional stores).
    fn batch_size(&self) -> usize {
        1000
    }
    /// Loads `pairs` into an empty system. Default: [`System::write_batch`] in
    /// batches of 100,000.
    fn load(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Option<&'static str> {
        let mut ops: Vec<WriteOp<'_>> = Vec::with_capacity(100_000);
        for chunk in pairs.chunks(100_000) {
            ops.clear();
            ops.extend(
                chunk
                    .iter()
                    .map(|(k, v)| (k.as_slice(), Some(v.as_slice()))),
            );
            self.write_batch(&ops);
        }
        None
    }
    /// Number of entries.
    fn len(&self) -> u64;
    /// Snapshot create + serialize, then deserialize + restore into a fresh
    /// store: `(create+serialize, restore, serialized bytes)`. `None` when the
    /// system has no snapshot API.
    fn snapshot_cycle(
        &mut self,
        _dir: &Path,
        _w: &Workload,
    ) -> Option<(Duration, Duration, usize)> {
        None
    }
    /// Durable flush, then close and reopen: `(flush, reopen)`. `None` for
    /// in-memory systems.
    fn flush_reopen(&mut self, _dir: &Path, _w: &Workload) -> Option<(Duration, Duration)> {
        None
    }
}

/// Our `restore` returns `Result<()>`, the reference's returns `()`.
trait RestoreOutcome {
    fn check(self);
}

impl RestoreOutcome for () {
    fn check(self) {}
}

impl<E: std::fmt::Debug> RestoreOutcome for Result<(), E> {
    fn check(self) {
        self.expect("restore");
    }
}

#[inline]
fn value_index(v: &[u8]) -> u64 {
    Workload::value_index(v)
}

// ---------------------------------------------------------------------------
// Our stores and the reference's: both `StateStore` traits have the same shape.
// ---------------------------------------------------------------------------

macro_rules! state_store_adapter {
    ($adapter:ident, $reader:ident, $trait:path, $snapshot:path, $doc:literal) => {
        #[doc = $doc]
        pub struct $adapter<S> {
            /// The store.
            pub store: S,
            make: fn(&Path) -> S,
            reopen: Option<fn(&Path) -> S>,
            path: PathBuf,
        }

        impl<S: $trait> $adapter<S> {
            /// Wraps `make`; `reopen` opens a persistent store's files again.
            pub fn with(dir: &Path, make: fn(&Path) -> S, reopen: Option<fn(&Path) -> S>) -> Self {
                let path = dir.join("store");
                $adapter {
                    store: make(&path),
                    make,
                    reopen,
                    path,
                }
            }
        }

        /// Read handle over a borrowed store.
        pub struct $reader<'a, S>(&'a S);

        impl<S: $trait> Reader for $reader<'_, S> {
            #[inline]
            fn get(&self, key: &[u8]) -> Option<u64> {
                self.0.get(key).map(|b| value_index(&b))
            }
            fn prefix_count(&self, prefix: &[u8]) -> u64 {
                let mut n = 0;
                for (k, v) in self.0.prefix_scan(prefix) {
                    std::hint::black_box((k.len(), value_index(&v)));
                    n += 1;
                }
                n
            }
            fn range_count(&self, start: &[u8], end: &[u8]) -> u64 {
                let mut n = 0;
                for (k, v) in self.0.range_scan(start..end) {
                    std::hint::black_box((k.len(), value_index(&v)));
                    n += 1;
                }
                n
            }
        }

        impl<S: $trait> $adapter<S> {
            fn do_write(&mut self, ops: &[WriteOp<'_>]) {
                for &(k, v) in ops {
                    match v {
                        Some(v) => self.store.put(k, Bytes::copy_from_slice(v)).expect("put"),
                        None => self.store.delete(k).expect("delete"),
                    }
                }
            }

            fn do_snapshot_cycle(&mut self, dir: &Path) -> Option<(Duration, Duration, usize)> {
                let t = Instant::now();
                let snap = self.store.snapshot();
                let bytes = snap.to_bytes().expect("serialize");
                let create = t.elapsed();
                drop(snap);
                let len = bytes.len();
                let mut fresh = (self.make)(&dir.join("restored"));
                let t = Instant::now();
                let snap = <$snapshot>::from_bytes(&bytes).expect("deserialize");
                RestoreOutcome::check(fresh.restore(snap));
                let restore = t.elapsed();
                assert_eq!(fresh.len(), self.store.len(), "restore lost entries");
                Some((create, restore, len))
            }

            fn do_flush_reopen(&mut self) -> Option<(Duration, Duration)> {
                let reopen = self.reopen?;
                let n = self.store.len();
                let t = Instant::now();
                self.store.flush().expect("flush");
                let flush = t.elapsed();
                // Close first (the file may be locked while open).
                let placeholder = (self.make)(&self.path.with_extension("tmp"));
                drop(std::mem::replace(&mut self.store, placeholder));
                let t = Instant::now();
                self.store = reopen(&self.path);
                let reopen_t = t.elapsed();
                assert_eq!(self.store.len(), n, "reopen lost entries");
                Some((flush, reopen_t))
            }
        }
    };
}

state_store_adapter!(
    Ours,
    OursReader,
    laminar_core::state::StateStore,
    laminar_core::state::StateSnapshot,
    "One of our `StateStore` backends."
);
state_store_adapter!(
    Ref,
    RefReader,
    laminar_ref::state::StateStore,
    laminar_ref::state::StateSnapshot,
    "One of the reference's (laminar-core 0.18.5) `StateStore` backends."
);

/// Declares a system type: `$name` wraps `$adapter<$store>` built by `$make`.
macro_rules! store_system {
    ($name:ident, $adapter:ident, $reader:ident, $store:ty, $make:expr, $reopen:expr) => {
        store_system!(@impl $name, $adapter, $reader, $store, $make, $reopen, 1000, default_load);
    };
    ($name:ident, $adapter:ident, $reader:ident, $store:ty, $make:expr, $reopen:expr, batch = $batch:expr, load = $load:ident) => {
        store_system!(@impl $name, $adapter, $reader, $store, $make, $reopen, $batch, $load);
    };
    (@impl $name:ident, $adapter:ident, $reader:ident, $store:ty, $make:expr, $reopen:expr, $batch:expr, $load:ident) => {
        /// A compared system (see `for_each_system!`).
        pub struct $name($adapter<$store>);

        impl System for $name {
            type Reader<'a> = $reader<'a, $store>;
            fn create(dir: &Path, _w: &Workload) -> Self {
                $name($adapter::with(dir, $make, $reopen))
            }
            fn reader(&self) -> Self::Reader<'_> {
                $reader(&self.0.store)
            }
            fn write_batch(&mut self, ops: &[WriteOp<'_>]) {
                self.0.do_write(ops)
            }
            fn batch_size(&self) -> usize {
                $batch
            }
            fn load(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Option<&'static str> {
                $load!(self, pairs)
            }
            fn len(&self) -> u64 {
                self.0.store.len() as u64
            }
            fn snapshot_cycle(&mut self, dir: &Path, _w: &Workload) -> Option<(Duration, Duration, usize)> {
                self.0.do_snapshot_cycle(dir)
            }
            fn flush_reopen(&mut self, _dir: &Path, _w: &Workload) -> Option<(Duration, Duration)> {
                self.0.do_flush_reopen()
            }
        }
    };
}

macro_rules! default_load {
    ($self:ident, $pairs:ident) => {{
        for (k, v) in $pairs {
            $self
                .0
                .store
                .put(k, Bytes::copy_from_slice(v))
                .expect("put");
        }
        None
    }};
}

/// The reference's `MmapStateStore::put` recomputes its fragmentation over the
/// whole index (O(n)) on every put past 100 keys: past 100,000 keys it is
/// loaded through `restore` (O(n log n)) instead, so that lookups can be
/// measured at all.
macro_rules! ref_mmap_load {
    ($self:ident, $pairs:ident) => {{
        if $pairs.len() <= 100_000 {
            default_load!($self, $pairs)
        } else {
            let snap = laminar_ref::state::StateSnapshot::new($pairs.to_vec());
            laminar_ref::state::StateStore::restore(&mut $self.0.store, snap);
            Some("loaded via restore (its put is O(n) past 100 keys)")
        }
    }};
}

const MMAP_CAPACITY: usize = 64 << 20;

store_system!(
    OursInMemory,
    Ours,
    OursReader,
    laminar_core::state::InMemoryStore,
    |_| laminar_core::state::InMemoryStore::new(),
    None
);
store_system!(
    OursAHash,
    Ours,
    OursReader,
    laminar_core::state::AHashMapStore,
    |_| laminar_core::state::AHashMapStore::new(),
    None
);
store_system!(
    RefInMemory,
    Ref,
    RefReader,
    laminar_ref::state::InMemoryStore,
    |_| laminar_ref::state::InMemoryStore::new(),
    None
);
store_system!(
    RefAHash,
    Ref,
    RefReader,
    laminar_ref::state::AHashMapStore,
    |_| laminar_ref::state::AHashMapStore::new(),
    None
);
store_system!(
    RefMmapMem,
    Ref,
    RefReader,
    laminar_ref::state::MmapStateStore,
    |_| laminar_ref::state::MmapStateStore::in_memory(MMAP_CAPACITY),
    None,
    batch = 10,
    load = ref_mmap_load
);
store_system!(
    RefMmapFile,
    Ref,
    RefReader,
    laminar_ref::state::MmapStateStore,
    |p| laminar_ref::state::MmapStateStore::persistent(p, MMAP_CAPACITY).expect("open"),
    Some(|p| laminar_ref::state::MmapStateStore::persistent(p, MMAP_CAPACITY).expect("reopen")),
    batch = 10,
    load = ref_mmap_load
);

// ---------------------------------------------------------------------------
// Bare in-memory maps.
// ---------------------------------------------------------------------------

/// `hashbrown::HashMap<Vec<u8>, Bytes>` with ahash; `get` clones the `Bytes`
/// (what a `StateStore::get` returns).
pub struct HashBrown(hashbrown::HashMap<Vec<u8>, Bytes, ahash::RandomState>);

impl Reader for &hashbrown::HashMap<Vec<u8>, Bytes, ahash::RandomState> {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<u64> {
        hashbrown::HashMap::get(*self, key)
            .cloned()
            .map(|b| value_index(&b))
    }
    fn prefix_count(&self, _prefix: &[u8]) -> u64 {
        u64::MAX
    }
    fn range_count(&self, _start: &[u8], _end: &[u8]) -> u64 {
        u64::MAX
    }
}

impl System for HashBrown {
    const SCANS: bool = false;
    type Reader<'a> = &'a hashbrown::HashMap<Vec<u8>, Bytes, ahash::RandomState>;
    fn create(_dir: &Path, _w: &Workload) -> Self {
        HashBrown(Default::default())
    }
    fn reader(&self) -> Self::Reader<'_> {
        &self.0
    }
    fn write_batch(&mut self, ops: &[WriteOp<'_>]) {
        for &(k, v) in ops {
            match v {
                Some(v) => {
                    let v = Bytes::copy_from_slice(v);
                    // Update in place without allocating the key when present.
                    if let Some(slot) = self.0.get_mut(k) {
                        *slot = v;
                    } else {
                        self.0.insert(k.to_vec(), v);
                    }
                }
                None => {
                    self.0.remove(k);
                }
            }
        }
    }
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
}

/// `std::collections::BTreeMap<Vec<u8>, Bytes>`; `get` clones the `Bytes`.
pub struct StdBTree(BTreeMap<Vec<u8>, Bytes>);

impl Reader for &BTreeMap<Vec<u8>, Bytes> {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<u64> {
        BTreeMap::get(*self, key).cloned().map(|b| value_index(&b))
    }
    fn prefix_count(&self, prefix: &[u8]) -> u64 {
        let mut n = 0;
        for (k, v) in self.range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded)) {
            if !k.starts_with(prefix) {
                break;
            }
            std::hint::black_box((k.len(), value_index(v)));
            n += 1;
        }
        n
    }
    fn range_count(&self, start: &[u8], end: &[u8]) -> u64 {
        if start >= end {
            return 0;
        }
        let mut n = 0;
        for (k, v) in self.range::<[u8], _>((Bound::Included(start), Bound::Excluded(end))) {
            std::hint::black_box((k.len(), value_index(v)));
            n += 1;
        }
        n
    }
}

impl System for StdBTree {
    type Reader<'a> = &'a BTreeMap<Vec<u8>, Bytes>;
    fn create(_dir: &Path, _w: &Workload) -> Self {
        StdBTree(BTreeMap::new())
    }
    fn reader(&self) -> Self::Reader<'_> {
        &self.0
    }
    fn write_batch(&mut self, ops: &[WriteOp<'_>]) {
        for &(k, v) in ops {
            match v {
                Some(v) => {
                    let v = Bytes::copy_from_slice(v);
                    if let Some(slot) = self.0.get_mut(k) {
                        *slot = v;
                    } else {
                        self.0.insert(k.to_vec(), v);
                    }
                }
                None => {
                    self.0.remove(k);
                }
            }
        }
    }
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
}

// ---------------------------------------------------------------------------
// redb
// ---------------------------------------------------------------------------

const REDB_TABLE: redb::TableDefinition<'static, &'static [u8], &'static [u8]> =
    redb::TableDefinition::new("kv");

/// redb 2: one read transaction per measured batch of reads; writes grouped
/// per transaction with `Durability::None` (made durable by `flush`).
pub struct Redb {
    db: Option<redb::Database>,
    path: PathBuf,
}

/// redb read handle: an open read-only table.
pub struct RedbReader(redb::ReadOnlyTable<&'static [u8], &'static [u8]>);

impl Reader for RedbReader {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<u64> {
        self.0
            .get(key)
            .expect("redb get")
            .map(|g| value_index(g.value()))
    }
    fn prefix_count(&self, prefix: &[u8]) -> u64 {
        let mut n = 0;
        for item in self.0.range::<&[u8]>(prefix..).expect("redb range") {
            let (k, v) = item.expect("redb item");
            if !k.value().starts_with(prefix) {
                break;
            }
            std::hint::black_box((k.value().len(), value_index(v.value())));
            n += 1;
        }
        n
    }
    fn range_count(&self, start: &[u8], end: &[u8]) -> u64 {
        if start >= end {
            return 0;
        }
        let mut n = 0;
        for item in self.0.range::<&[u8]>(start..end).expect("redb range") {
            let (k, v) = item.expect("redb item");
            std::hint::black_box((k.value().len(), value_index(v.value())));
            n += 1;
        }
        n
    }
}

impl Redb {
    fn db(&self) -> &redb::Database {
        self.db.as_ref().expect("redb open")
    }
}

impl System for Redb {
    type Reader<'a> = RedbReader;
    fn create(dir: &Path, _w: &Workload) -> Self {
        let path = dir.join("redb.db");
        let db = redb::Database::create(&path).expect("redb create");
        let tx = db.begin_write().expect("redb write");
        tx.open_table(REDB_TABLE).expect("redb table");
        tx.commit().expect("redb commit");
        Redb { db: Some(db), path }
    }
    fn reader(&self) -> RedbReader {
        let tx = self.db().begin_read().expect("redb read");
        RedbReader(tx.open_table(REDB_TABLE).expect("redb table"))
    }
    fn write_batch(&mut self, ops: &[WriteOp<'_>]) {
        let mut tx = self.db().begin_write().expect("redb write");
        tx.set_durability(redb::Durability::None);
        {
            let mut t = tx.open_table(REDB_TABLE).expect("redb table");
            for &(k, v) in ops {
                match v {
                    Some(v) => {
                        t.insert(k, v).expect("redb insert");
                    }
                    None => {
                        t.remove(k).expect("redb remove");
                    }
                }
            }
        }
        tx.commit().expect("redb commit");
    }
    fn len(&self) -> u64 {
        use redb::ReadableTableMetadata;
        self.reader().0.len().expect("redb len")
    }
    fn flush_reopen(&mut self, _dir: &Path, _w: &Workload) -> Option<(Duration, Duration)> {
        let n = self.len();
        let t = Instant::now();
        // An empty transaction committed with immediate durability makes every
        // earlier non-durable commit durable.
        let mut tx = self.db().begin_write().expect("redb write");
        tx.set_durability(redb::Durability::Immediate);
        tx.commit().expect("redb commit");
        let flush = t.elapsed();
        self.db = None;
        let t = Instant::now();
        self.db = Some(redb::Database::open(&self.path).expect("redb reopen"));
        let reopen = t.elapsed();
        assert_eq!(self.len(), n, "redb reopen lost entries");
        Some((flush, reopen))
    }
}

// ---------------------------------------------------------------------------
// heed (LMDB)
// ---------------------------------------------------------------------------

type HeedDb = heed::Database<heed::types::Bytes, heed::types::Bytes>;

/// heed 0.22 (LMDB): one read transaction per measured batch of reads; writes
/// grouped per transaction, environment opened with `NO_SYNC` (made durable by
/// `flush` = `force_sync`).
pub struct Heed {
    env: Option<heed::Env>,
    db: HeedDb,
    dir: PathBuf,
}

/// heed read handle: a read transaction.
pub struct HeedReader<'a> {
    txn: heed::RoTxn<'a, heed::WithTls>,
    db: HeedDb,
}

impl Reader for HeedReader<'_> {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<u64> {
        self.db
            .get(&self.txn, key)
            .expect("heed get")
            .map(value_index)
    }
    fn prefix_count(&self, prefix: &[u8]) -> u64 {
        let mut n = 0;
        for item in self.db.prefix_iter(&self.txn, prefix).expect("heed prefix") {
            let (k, v) = item.expect("heed item");
            std::hint::black_box((k.len(), value_index(v)));
            n += 1;
        }
        n
    }
    fn range_count(&self, start: &[u8], end: &[u8]) -> u64 {
        if start >= end {
            return 0;
        }
        let mut n = 0;
        let range = (Bound::Included(start), Bound::Excluded(end));
        for item in self.db.range(&self.txn, &range).expect("heed range") {
            let (k, v) = item.expect("heed item");
            std::hint::black_box((k.len(), value_index(v)));
            n += 1;
        }
        n
    }
}

impl Heed {
    fn open(dir: &Path) -> (heed::Env, HeedDb) {
        std::fs::create_dir_all(dir).expect("heed dir");
        let mut options = heed::EnvOpenOptions::new();
        options.map_size(64 << 30).max_dbs(1);
        // SAFETY (of the benchmark, not of this crate): NO_SYNC only skips
        // fsync at commit; `flush` syncs explicitly.
        unsafe {
            options.flags(heed::EnvFlags::NO_SYNC);
        }
        // SAFETY: the directory is private to this process and opened once.
        let env = unsafe { options.open(dir) }.expect("heed open");
        let mut wtxn = env.write_txn().expect("heed write");
        let db: HeedDb = env.create_database(&mut wtxn, None).expect("heed db");
        wtxn.commit().expect("heed commit");
        (env, db)
    }

    fn env(&self) -> &heed::Env {
        self.env.as_ref().expect("heed open")
    }
}

impl System for Heed {
    type Reader<'a> = HeedReader<'a>;
    fn create(dir: &Path, _w: &Workload) -> Self {
        let dir = dir.join("lmdb");
        let (env, db) = Heed::open(&dir);
        Heed {
            env: Some(env),
            db,
            dir,
        }
    }
    fn reader(&self) -> HeedReader<'_> {
        HeedReader {
            txn: self.env().read_txn().expect("heed read"),
            db: self.db,
        }
    }
    fn write_batch(&mut self, ops: &[WriteOp<'_>]) {
        let mut wtxn = self.env().write_txn().expect("heed write");
        for &(k, v) in ops {
            match v {
                Some(v) => self.db.put(&mut wtxn, k, v).expect("heed put"),
                None => {
                    self.db.delete(&mut wtxn, k).expect("heed delete");
                }
            }
        }
        wtxn.commit().expect("heed commit");
    }
    fn len(&self) -> u64 {
        let r = self.reader();
        r.db.len(&r.txn).expect("heed len")
    }
    fn flush_reopen(&mut self, _dir: &Path, _w: &Workload) -> Option<(Duration, Duration)> {
        let n = self.len();
        let t = Instant::now();
        self.env().force_sync().expect("heed sync");
        let flush = t.elapsed();
        let env = self.env.take().expect("heed open");
        let closing = env.prepare_for_closing();
        closing.wait();
        let t = Instant::now();
        let (env, db) = Heed::open(&self.dir);
        let reopen = t.elapsed();
        self.env = Some(env);
        self.db = db;
        assert_eq!(self.len(), n, "heed reopen lost entries");
        Some((flush, reopen))
    }
}

// ---------------------------------------------------------------------------
// fjall
// ---------------------------------------------------------------------------

/// fjall 2 (LSM tree): plain partition writes (no transaction), reads without
/// a snapshot; `flush` = `persist(SyncAll)`; 1 GiB block cache, compacted after
/// the load.
pub struct Fjall {
    keyspace: Option<fjall::Keyspace>,
    part: Option<fjall::PartitionHandle>,
    dir: PathBuf,
}

impl Reader for &fjall::PartitionHandle {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<u64> {
        fjall::PartitionHandle::get(self, key)
            .expect("fjall get")
            .map(|v| value_index(&v))
    }
    fn prefix_count(&self, prefix: &[u8]) -> u64 {
        let mut n = 0;
        for item in self.prefix(prefix) {
            let (k, v) = item.expect("fjall item");
            std::hint::black_box((k.len(), value_index(&v)));
            n += 1;
        }
        n
    }
    fn range_count(&self, start: &[u8], end: &[u8]) -> u64 {
        if start >= end {
            return 0;
        }
        let mut n = 0;
        for item in self.range(start..end) {
            let (k, v) = item.expect("fjall item");
            std::hint::black_box((k.len(), value_index(&v)));
            n += 1;
        }
        n
    }
}

impl Fjall {
    fn open(dir: &Path) -> (fjall::Keyspace, fjall::PartitionHandle) {
        // A 1 GiB block cache: the other systems keep everything in RAM too
        // (in memory, or in the page cache for the memory-mapped ones).
        let keyspace = fjall::Config::new(dir)
            .cache_size(1 << 30)
            .open()
            .expect("fjall open");
        let part = keyspace
            .open_partition("kv", fjall::PartitionCreateOptions::default())
            .expect("fjall partition");
        (keyspace, part)
    }
    fn part(&self) -> &fjall::PartitionHandle {
        self.part.as_ref().expect("fjall open")
    }
}

impl System for Fjall {
    type Reader<'a> = &'a fjall::PartitionHandle;
    fn create(dir: &Path, _w: &Workload) -> Self {
        let dir = dir.join("fjall");
        let (keyspace, part) = Fjall::open(&dir);
        Fjall {
            keyspace: Some(keyspace),
            part: Some(part),
            dir,
        }
    }
    fn reader(&self) -> Self::Reader<'_> {
        self.part()
    }
    fn load(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Option<&'static str> {
        let ops: Vec<WriteOp<'_>> = pairs
            .iter()
            .map(|(k, v)| (k.as_slice(), Some(v.as_slice())))
            .collect();
        self.write_batch(&ops);
        // Measure a settled tree, not one with a pile of fresh level-0 segments.
        let part = self.part();
        part.rotate_memtable_and_wait().expect("fjall flush");
        part.major_compact().expect("fjall compact");
        Some("load includes a memtable flush and a major compaction; 1 GiB block cache")
    }
    fn write_batch(&mut self, ops: &[WriteOp<'_>]) {
        let part = self.part();
        for &(k, v) in ops {
            match v {
                Some(v) => part.insert(k, v).expect("fjall insert"),
                None => part.remove(k).expect("fjall remove"),
            }
        }
    }
    fn len(&self) -> u64 {
        self.part().len().expect("fjall len") as u64
    }
    fn flush_reopen(&mut self, _dir: &Path, _w: &Workload) -> Option<(Duration, Duration)> {
        let n = self.len();
        let t = Instant::now();
        self.keyspace
            .as_ref()
            .expect("fjall open")
            .persist(fjall::PersistMode::SyncAll)
            .expect("fjall persist");
        let flush = t.elapsed();
        self.part = None;
        self.keyspace = None;
        let t = Instant::now();
        let (keyspace, part) = Fjall::open(&self.dir);
        let reopen = t.elapsed();
        self.keyspace = Some(keyspace);
        self.part = Some(part);
        assert_eq!(self.len(), n, "fjall reopen lost entries");
        Some((flush, reopen))
    }
}

// ---------------------------------------------------------------------------
// RocksDB (feature `rocksdb`, off by default)
// ---------------------------------------------------------------------------

/// RocksDB: writes grouped in a `WriteBatch` without WAL sync; `flush` = a
/// memtable flush + WAL sync.
#[cfg(feature = "rocksdb")]
pub struct Rocks {
    db: Option<rocksdb::DB>,
    dir: PathBuf,
}

#[cfg(feature = "rocksdb")]
impl Reader for &rocksdb::DB {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<u64> {
        self.get_pinned(key)
            .expect("rocksdb get")
            .map(|v| value_index(&v))
    }
    fn prefix_count(&self, prefix: &[u8]) -> u64 {
        let mut n = 0;
        let it = self.iterator(rocksdb::IteratorMode::From(
            prefix,
            rocksdb::Direction::Forward,
        ));
        for item in it {
            let (k, v) = item.expect("rocksdb item");
            if !k.starts_with(prefix) {
                break;
            }
            std::hint::black_box((k.len(), value_index(&v)));
            n += 1;
        }
        n
    }
    fn range_count(&self, start: &[u8], end: &[u8]) -> u64 {
        let mut n = 0;
        let it = self.iterator(rocksdb::IteratorMode::From(
            start,
            rocksdb::Direction::Forward,
        ));
        for item in it {
            let (k, v) = item.expect("rocksdb item");
            if &*k >= end {
                break;
            }
            std::hint::black_box((k.len(), value_index(&v)));
            n += 1;
        }
        n
    }
}

#[cfg(feature = "rocksdb")]
impl Rocks {
    fn open(dir: &Path) -> rocksdb::DB {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        rocksdb::DB::open(&opts, dir).expect("rocksdb open")
    }
    fn db(&self) -> &rocksdb::DB {
        self.db.as_ref().expect("rocksdb open")
    }
}

#[cfg(feature = "rocksdb")]
impl System for Rocks {
    type Reader<'a> = &'a rocksdb::DB;
    fn create(dir: &Path, _w: &Workload) -> Self {
        let dir = dir.join("rocksdb");
        Rocks {
            db: Some(Rocks::open(&dir)),
            dir,
        }
    }
    fn reader(&self) -> Self::Reader<'_> {
        self.db()
    }
    fn write_batch(&mut self, ops: &[WriteOp<'_>]) {
        let mut batch = rocksdb::WriteBatch::default();
        for &(k, v) in ops {
            match v {
                Some(v) => batch.put(k, v),
                None => batch.delete(k),
            }
        }
        self.db().write(batch).expect("rocksdb write");
    }
    fn len(&self) -> u64 {
        self.db().iterator(rocksdb::IteratorMode::Start).count() as u64
    }
    fn flush_reopen(&mut self, _dir: &Path, _w: &Workload) -> Option<(Duration, Duration)> {
        let n = self.len();
        let t = Instant::now();
        self.db().flush().expect("rocksdb flush");
        self.db().flush_wal(true).expect("rocksdb wal");
        let flush = t.elapsed();
        self.db = None;
        let t = Instant::now();
        self.db = Some(Rocks::open(&self.dir));
        let reopen = t.elapsed();
        assert_eq!(self.len(), n, "rocksdb reopen lost entries");
        Some((flush, reopen))
    }
}

// ---------------------------------------------------------------------------
// Fixed-width bare map: the baseline of the typed path.
// ---------------------------------------------------------------------------

/// `hashbrown::HashMap<[u8; 16], [u8; 64]>` with ahash: keys and values
/// inline in the table, `get` returns a reference (no clone). The baseline the
/// typed hash path is held to.
pub struct HashBrownFixed(hashbrown::HashMap<[u8; 16], [u8; 64], ahash::RandomState>);

#[inline]
fn fixed<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = b.len().min(N);
    out[..n].copy_from_slice(&b[..n]);
    out
}

impl Reader for &hashbrown::HashMap<[u8; 16], [u8; 64], ahash::RandomState> {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<u64> {
        hashbrown::HashMap::get(*self, &fixed::<16>(key)).map(|v| value_index(v))
    }
    fn prefix_count(&self, _prefix: &[u8]) -> u64 {
        u64::MAX
    }
    fn range_count(&self, _start: &[u8], _end: &[u8]) -> u64 {
        u64::MAX
    }
}

impl System for HashBrownFixed {
    const SCANS: bool = false;
    type Reader<'a> = &'a hashbrown::HashMap<[u8; 16], [u8; 64], ahash::RandomState>;
    fn create(_dir: &Path, _w: &Workload) -> Self {
        HashBrownFixed(Default::default())
    }
    fn reader(&self) -> Self::Reader<'_> {
        &self.0
    }
    fn write_batch(&mut self, ops: &[WriteOp<'_>]) {
        for &(k, v) in ops {
            match v {
                Some(v) => {
                    self.0.insert(fixed(k), fixed(v));
                }
                None => {
                    self.0.remove(&fixed::<16>(k));
                }
            }
        }
    }
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
}

// ---------------------------------------------------------------------------
// Our typed tables (feature `typed` of this crate, on once they are on main).
// ---------------------------------------------------------------------------

/// Declares a typed-table system: `Table<$key, [u8; 64], $backend>`, the
/// 16-byte workload key converted to `$key` by `$conv` (inline, no allocation).
#[cfg(feature = "typed")]
macro_rules! typed_system {
    ($name:ident, $key:ty, $backend:ty, $conv:expr) => {
        /// A typed table (see `typed_system!`).
        pub struct $name(laminar_core::state::typed::Table<$key, [u8; 64], $backend>);

        impl Reader for &laminar_core::state::typed::Table<$key, [u8; 64], $backend> {
            #[inline]
            fn get(&self, key: &[u8]) -> Option<u64> {
                let conv: fn(&[u8]) -> $key = $conv;
                <laminar_core::state::typed::Table<$key, [u8; 64], $backend>>::get(*self, conv(key))
                    .map(|v| value_index(v))
            }
            fn prefix_count(&self, _prefix: &[u8]) -> u64 {
                u64::MAX
            }
            fn range_count(&self, _start: &[u8], _end: &[u8]) -> u64 {
                u64::MAX
            }
        }

        impl System for $name {
            const SCANS: bool = false;
            type Reader<'a> = &'a laminar_core::state::typed::Table<$key, [u8; 64], $backend>;
            fn create(_dir: &Path, _w: &Workload) -> Self {
                $name(laminar_core::state::typed::Table::new())
            }
            fn reader(&self) -> Self::Reader<'_> {
                &self.0
            }
            fn write_batch(&mut self, ops: &[WriteOp<'_>]) {
                let conv: fn(&[u8]) -> $key = $conv;
                for &(k, v) in ops {
                    match v {
                        Some(v) => {
                            self.0.put(conv(k), fixed(v)).expect("typed put");
                        }
                        None => {
                            self.0.delete(conv(k));
                        }
                    }
                }
            }
            fn len(&self) -> u64 {
                self.0.len() as u64
            }
        }
    };
}

#[cfg(feature = "typed")]
typed_system!(
    TypedAHashBytes16,
    [u8; 16],
    laminar_core::state::typed::AHash,
    |k| fixed(k)
);
#[cfg(feature = "typed")]
typed_system!(
    TypedAHashU128,
    u128,
    laminar_core::state::typed::AHash,
    |k| { u128::from_be_bytes(fixed(k)) }
);
#[cfg(feature = "typed")]
typed_system!(
    TypedBTreeBytes16,
    [u8; 16],
    laminar_core::state::typed::BTree,
    |k| fixed(k)
);
#[cfg(feature = "typed")]
typed_system!(
    TypedBTreeU128,
    u128,
    laminar_core::state::typed::BTree,
    |k| { u128::from_be_bytes(fixed(k)) }
);

// ---------------------------------------------------------------------------
// Our MmapStateStore (feature `mmap` of this crate, on once it is on main).
// ---------------------------------------------------------------------------

#[cfg(feature = "mmap")]
store_system!(
    OursMmapMem,
    Ours,
    OursReader,
    laminar_core::state::MmapStateStore,
    |_| laminar_core::state::MmapStateStore::in_memory(MMAP_CAPACITY),
    None
);
#[cfg(feature = "mmap")]
store_system!(
    OursMmapFile,
    Ours,
    OursReader,
    laminar_core::state::MmapStateStore,
    |p| laminar_core::state::MmapStateStore::persistent(p, MMAP_CAPACITY).expect("open"),
    Some(|p| laminar_core::state::MmapStateStore::persistent(p, MMAP_CAPACITY).expect("reopen"))
);
