//! Capture by change tracking: [`Checkpointed`] wraps a byte store and
//! records what changed since the last [`capture`](Checkpointed::capture).

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashMap;

use super::super::error::Result;
use super::super::snapshot::StateSnapshot;
use super::super::store::{aligned_bytes, ScanIter, StateStore};

/// Keys changed since the last capture: the new value, or `None` for a delete.
pub(crate) type ChangeMap = HashMap<Box<[u8]>, Option<Bytes>>;

/// Source of lineage ids: every tracked store gets its own, so the writer can
/// tell that a delta continues the chain it wrote last.
static NEXT_LINEAGE: AtomicU64 = AtomicU64::new(1);

/// Which store produced a capture, and its sequence number in that store.
///
/// The checkpoint writer applies a delta only on top of the capture with the
/// previous sequence number of the same lineage (or of the checkpoint the
/// store was restored from); anything else would mix two histories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lineage {
    pub(crate) id: u64,
    pub(crate) seq: u64,
}

impl Lineage {
    /// A new lineage id, distinct from every other one of this process.
    pub(crate) fn fresh() -> u64 {
        NEXT_LINEAGE.fetch_add(1, Ordering::Relaxed)
    }
}

/// What the next capture will contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// The changes since the last capture (a delta).
    Delta,
    /// The store was empty when tracking started: the changes are the whole
    /// state, so the next capture is a base at no extra cost.
    BaseFromChanges,
    /// The store holds state no capture has seen: the next capture copies
    /// every entry (one full scan, on the caller's thread).
    FullCopy,
}

/// The frozen content of one capture.
pub(crate) enum CaptureBody {
    /// A whole state, from the changes of a store that started empty.
    Base(ChangeMap),
    /// A whole state, copied from the store, sorted by key.
    Full(Vec<(Bytes, Bytes)>),
    /// Puts and deletes since the previous capture.
    Delta(ChangeMap),
    /// A whole state given as a snapshot ([`Capture::from_snapshot`]).
    Snapshot(StateSnapshot),
}

/// A frozen, consistent view of a store at one instant, ready to be written
/// by a checkpoint writer thread (it is `Send` and owns everything it needs).
///
/// Taking one ([`Checkpointable::capture`]) swaps a change set out of the
/// store: values are reference-counted [`Bytes`] clones, not copies.
pub struct Capture {
    pub(crate) body: CaptureBody,
    pub(crate) lineage: Lineage,
    /// Set by the writer when this capture could not be written, so the
    /// store's next capture is a full one.
    pub(crate) resync: Arc<AtomicBool>,
}

// A capture crosses to the writer thread; the directory handle may be
// moved to another thread too.
static_assertions::assert_impl_all!(Capture: Send);
static_assertions::assert_impl_all!(super::CheckpointDir: Send);

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("is_base", &self.is_base())
            .field("len", &self.len())
            .field("lineage", &self.lineage)
            .finish()
    }
}

impl Capture {
    /// A base capture of a whole snapshot: the bridge for state that has no
    /// change tracking of its own yet (typed tables, `#[state_store]`
    /// structs: `Capture::from_snapshot(state.snapshot())`). Taking the
    /// snapshot costs O(state) on the caller's thread, and every such
    /// checkpoint is a full base; read it back with
    /// [`CheckpointDir::read_snapshot`](super::CheckpointDir::read_snapshot).
    pub fn from_snapshot(snapshot: StateSnapshot) -> Capture {
        Capture {
            body: CaptureBody::Snapshot(snapshot),
            lineage: Lineage {
                id: Lineage::fresh(),
                seq: 1,
            },
            resync: Arc::new(AtomicBool::new(false)),
        }
    }

    /// `true` if the capture holds a whole state (a base), `false` for a delta.
    pub fn is_base(&self) -> bool {
        !matches!(self.body, CaptureBody::Delta(_))
    }

    /// Number of entries (for a delta: of keys put or deleted).
    pub fn len(&self) -> usize {
        match &self.body {
            CaptureBody::Base(m) | CaptureBody::Delta(m) => m.len(),
            CaptureBody::Full(v) => v.len(),
            CaptureBody::Snapshot(s) => s.len(),
        }
    }

    /// `true` if the capture holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Called by the writer when the capture could not be written: the
    /// store's next capture will be a full one.
    pub(crate) fn mark_lost(&self) {
        self.resync.store(true, Ordering::Release);
    }

    /// The entries, sorted by key (tombstones only in a delta).
    pub(crate) fn sorted(&self) -> Vec<(&[u8], Option<&[u8]>)> {
        let mut out: Vec<(&[u8], Option<&[u8]>)> = match &self.body {
            CaptureBody::Base(m) => m
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (&k[..], Some(&v[..]))))
                .collect(),
            CaptureBody::Delta(m) => m
                .iter()
                .map(|(k, v)| (&k[..], v.as_ref().map(|v| &v[..])))
                .collect(),
            CaptureBody::Full(v) => {
                return v.iter().map(|(k, v)| (&k[..], Some(&v[..]))).collect();
            }
            CaptureBody::Snapshot(s) => {
                return s.iter().map(|(k, v)| (k, Some(v))).collect();
            }
        };
        out.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out
    }
}

/// Something a [`CheckpointDir`](super::CheckpointDir) can checkpoint and
/// restore: a store that hands out [`Capture`]s and accepts restored entries.
///
/// Object safe, so stores of different types can be restored together
/// (`&mut [(&str, &mut dyn Checkpointable)]`).
///
/// The restore calls come from [`CheckpointDir`](super::CheckpointDir) in
/// this order: [`begin_restore`](Self::begin_restore), then
/// [`restore_entry`](Self::restore_entry) for every entry of the base and of
/// each delta in chain order, then [`end_restore`](Self::end_restore).
pub trait Checkpointable {
    /// Freezes the changes since the last capture (or the whole state, the
    /// first time) and starts recording the next ones.
    fn capture(&mut self) -> Capture;

    /// Empties the store before a restore.
    fn begin_restore(&mut self) -> Result<()>;

    /// Applies one restored entry: a put, or a delete for `None`.
    fn restore_entry(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()>;

    /// Ends a restore; the store now equals the checkpoint it was restored
    /// from, and its next capture may be a delta on that checkpoint's chain.
    /// Returns the lineage the next capture continues.
    fn end_restore(&mut self) -> Lineage;

    /// Called when a restore failed part-way: the store is left empty.
    fn abort_restore(&mut self);
}

/// A byte store that records every `put` and `delete` since the last
/// capture, so a checkpoint costs the operator's thread O(1) and writes only
/// what changed. See the [module docs](super) for the design and its costs.
///
/// It implements [`StateStore`] by forwarding, so an operator uses it as it
/// would use the wrapped store.
pub struct Checkpointed<S> {
    inner: S,
    changes: ChangeMap,
    pending: Pending,
    lineage: u64,
    seq: u64,
    resync: Arc<AtomicBool>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Checkpointed<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointed")
            .field("inner", &self.inner)
            .field("changes", &self.changes.len())
            .field("pending", &self.pending)
            .finish()
    }
}

impl<S: StateStore> Checkpointed<S> {
    /// Starts tracking `inner`.
    ///
    /// If `inner` is empty, the first capture is a base made of the changes
    /// (free). If it already holds entries, the first capture copies them
    /// all (one scan on the caller's thread; values are `Bytes` clones on the
    /// in-memory backends, copies on `MmapStateStore`).
    pub fn new(inner: S) -> Self {
        let pending = if inner.is_empty() {
            Pending::BaseFromChanges
        } else {
            Pending::FullCopy
        };
        Checkpointed {
            inner,
            changes: ChangeMap::default(),
            pending,
            lineage: Lineage::fresh(),
            seq: 0,
            resync: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The wrapped store (read-only: writes must go through the wrapper to
    /// be tracked).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Stops tracking and returns the wrapped store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Number of distinct keys changed since the last capture.
    pub fn changed_keys(&self) -> usize {
        self.changes.len()
    }

    /// `true` if the next capture will be a delta.
    pub fn next_is_delta(&self) -> bool {
        self.pending == Pending::Delta && !self.resync.load(Ordering::Acquire)
    }

    /// Freezes the changes since the last capture: O(1) for a delta or for
    /// the base of a store that started empty (the change set is swapped out,
    /// never copied); a scan of the whole store the first time a non-empty
    /// store is captured, or after [`StateStore::restore`] or a capture that
    /// could not be written.
    pub fn capture(&mut self) -> Capture {
        if self.resync.swap(false, Ordering::AcqRel) {
            self.pending = Pending::FullCopy;
        }
        self.seq += 1;
        let changes = std::mem::take(&mut self.changes);
        let body = match self.pending {
            Pending::Delta => CaptureBody::Delta(changes),
            Pending::BaseFromChanges => CaptureBody::Base(changes),
            Pending::FullCopy => CaptureBody::Full(self.inner.prefix_scan(b"").collect()),
        };
        self.pending = Pending::Delta;
        Capture {
            body,
            lineage: Lineage {
                id: self.lineage,
                seq: self.seq,
            },
            resync: Arc::clone(&self.resync),
        }
    }

    fn record(&mut self, key: &[u8], value: Option<Bytes>) {
        match (self.pending, value) {
            (Pending::FullCopy, _) => {}
            // A store that started empty needs no tombstone in its base.
            (Pending::BaseFromChanges, None) => {
                self.changes.remove(key);
            }
            // One hash and probe; the key is copied only when it is new.
            (_, value) => *self.changes.entry_ref(key).or_insert(None) = value,
        }
    }
}

impl<S: StateStore> Checkpointable for Checkpointed<S> {
    fn capture(&mut self) -> Capture {
        Checkpointed::capture(self)
    }

    fn begin_restore(&mut self) -> Result<()> {
        self.inner.clear();
        self.changes = ChangeMap::default();
        // Until end_restore, a capture would have to copy everything.
        self.pending = Pending::FullCopy;
        Ok(())
    }

    fn restore_entry(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        match value {
            Some(v) => self.inner.put(key, aligned_bytes(v)),
            None => self.inner.delete(key),
        }
    }

    fn end_restore(&mut self) -> Lineage {
        self.changes = ChangeMap::default();
        self.pending = Pending::Delta;
        self.resync.store(false, Ordering::Release);
        // A new lineage: a capture taken before the restore (still queued
        // for the writer) must not be able to stand in for the restored
        // chain, so the next delta continues only the restored checkpoint.
        self.lineage = Lineage::fresh();
        self.seq = 0;
        Lineage {
            id: self.lineage,
            seq: self.seq,
        }
    }

    fn abort_restore(&mut self) {
        self.inner.clear();
        self.changes = ChangeMap::default();
        self.pending = Pending::BaseFromChanges;
    }
}

impl<S: StateStore> StateStore for Checkpointed<S> {
    fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.inner.get(key)
    }

    fn get_ref(&self, key: &[u8]) -> Option<&[u8]> {
        self.inner.get_ref(key)
    }

    fn put(&mut self, key: &[u8], value: Bytes) -> Result<()> {
        let tracked = (self.pending != Pending::FullCopy).then(|| value.clone());
        self.inner.put(key, value)?;
        if let Some(value) = tracked {
            self.record(key, Some(value));
        }
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.inner.delete(key)?;
        self.record(key, None);
        Ok(())
    }

    fn contains(&self, key: &[u8]) -> bool {
        self.inner.contains(key)
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn size_bytes(&self) -> usize {
        self.inner.size_bytes()
    }

    /// Clears the store; the next capture is a base of what is put after
    /// this (free: nothing to copy).
    fn clear(&mut self) {
        self.inner.clear();
        self.changes = ChangeMap::default();
        self.pending = Pending::BaseFromChanges;
    }

    fn flush(&mut self) -> Result<()> {
        self.inner.flush()
    }

    fn prefix_scan<'a>(&'a self, prefix: &'a [u8]) -> ScanIter<'a> {
        self.inner.prefix_scan(prefix)
    }

    fn range_scan<'a>(&'a self, range: Range<&'a [u8]>) -> ScanIter<'a> {
        self.inner.range_scan(range)
    }

    fn snapshot(&self) -> StateSnapshot {
        self.inner.snapshot()
    }

    /// Restores the wrapped store; the next capture copies the whole state.
    fn restore(&mut self, snapshot: StateSnapshot) -> Result<()> {
        self.changes = ChangeMap::default();
        self.pending = Pending::FullCopy;
        self.inner.restore(snapshot)
    }
}
