//! [`TtlStore`]: TTL for any byte-level [`StateStore`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;
use rkyv::util::AlignedVec;

use super::queue::ExpiryQueue;
use super::ttl::{entry_header, split_header, Expiry, TtlConfig, CLEANUP_PER_WRITE};
use crate::state::error::{Result, StateError};
use crate::state::snapshot::StateSnapshot;
use crate::state::store::{ScanIter, StateStore, VALUE_ALIGN};

/// Length of the header a [`TtlStore`] puts before every value in its
/// inner store: the last-update time and the expiry-queue time, 8 bytes
/// little-endian each (16 bytes keep values 16-byte aligned).
const HEADER: usize = 16;

/// Key of the clock entry in a [`TtlStore`] snapshot; entries are `0x01 key`.
const CLOCK_KEY: &[u8] = b"\x00";
const ENTRY_TAG: u8 = 1;

fn parse(bytes: &[u8]) -> Option<(i64, i64)> {
    let u: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    let q: [u8; 8] = bytes.get(8..HEADER)?.try_into().ok()?;
    Some((i64::from_le_bytes(u), i64::from_le_bytes(q)))
}

fn with_header(updated: i64, queued: i64, value: &[u8]) -> Bytes {
    let mut buf = AlignedVec::<VALUE_ALIGN>::with_capacity(HEADER + value.len());
    buf.extend_from_slice(&updated.to_le_bytes());
    buf.extend_from_slice(&queued.to_le_bytes());
    buf.extend_from_slice(value);
    Bytes::from_owner(buf)
}

/// A [`StateStore`] whose entries expire [`ttl`](TtlConfig::ttl) after
/// their last update, wrapping any byte store `S` (`InMemoryStore`,
/// `AHashMapStore`, `MmapStateStore`, or a `Box<dyn StateStore>`), with the
/// options of [`TtlConfig`]. It is itself a `StateStore`, so it can be used
/// as `dyn StateStore`.
///
/// Each value is kept in `S` behind a 16-byte header (last update, queue
/// time), so values stay 16-byte aligned and typed reads
/// ([`StateStoreExt`](crate::state::StateStoreExt)) stay zero-copy where
/// `S` keeps alignment. Expiry works like [`TtlTable`](super::TtlTable)'s:
/// a FIFO of `(time, key)` items, one per entry, of which every write (and
/// [`advance_to`](Self::advance_to)) examines up to [`CLEANUP_PER_WRITE`]
/// due ones; [`cleanup`](Self::cleanup) and [`expire_due`](Self::expire_due)
/// remove due entries on demand; snapshots leave expired entries out. The
/// queue holds a copy of each key.
///
/// Semantics on top of `StateStore`'s:
///
/// - `get`, `get_ref`, `contains` and scans skip expired entries (with the
///   default [`TtlVisibility::NeverReturnExpired`](super::TtlVisibility));
///   under [`TtlUpdate::OnReadAndWrite`](super::TtlUpdate) `get`, `get_ref`
///   and `contains` restart the TTL (recorded through `&self` and written
///   to `S` on the next `&mut` call), scans do not;
/// - `len` and `size_bytes` count expired entries not cleaned up yet;
/// - `put` fails with [`StateError::Time`] on a processing-time clock that
///   went back;
/// - `snapshot` has its own layout: `b"\x00"` holds the store's clock (the
///   watermark of an event-time store), every entry is `0x01 key` with the
///   value behind a 16-byte time header; `restore` reads only that layout.
///
/// ```
/// use bytes::Bytes;
/// use laminar_core::state::{InMemoryStore, StateStore};
/// use laminar_core::state::time::{TtlConfig, TtlStore};
///
/// let mut store = TtlStore::new(InMemoryStore::new(), TtlConfig::event_time(100)?);
/// store.advance_to(0)?;
/// store.put(b"session:1", Bytes::from_static(b"open"))?;
/// let snap = store.snapshot();
/// store.advance_to(100)?;
/// assert!(store.get(b"session:1").is_none()); // expired
///
/// let dynamic: &mut dyn StateStore = &mut store;
/// dynamic.restore(snap)?; // back to watermark 0 with the entry
/// assert_eq!(dynamic.get(b"session:1").as_deref(), Some(&b"open"[..]));
/// # Ok::<(), laminar_core::state::StateError>(())
/// ```
pub struct TtlStore<S: StateStore> {
    inner: S,
    queue: ExpiryQueue<Box<[u8]>>,
    expiry: Expiry,
    refreshed: RefCell<HashMap<Vec<u8>, i64>>,
}

impl<S: StateStore> TtlStore<S> {
    /// Wraps `inner`, which is cleared first (its entries carry no times).
    pub fn new(mut inner: S, config: TtlConfig) -> Self {
        inner.clear();
        TtlStore {
            inner,
            queue: ExpiryQueue::default(),
            expiry: Expiry::new(config),
            refreshed: RefCell::new(HashMap::new()),
        }
    }

    /// The TTL settings.
    pub fn config(&self) -> &TtlConfig {
        &self.expiry.config
    }

    /// The time reads compare against now.
    pub fn now(&self) -> i64 {
        self.expiry.read_now()
    }

    /// The wrapped store (values behind their 16-byte headers).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the store (values behind their 16-byte headers).
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Items in the expiry queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Moves an event-time store's watermark and examines up to
    /// [`CLEANUP_PER_WRITE`] due queue items. [`StateError::Time`] if it
    /// would go back, [`StateError::InvalidArgument`] on a processing-time
    /// store.
    pub fn advance_to(&mut self, watermark: i64) -> Result<()> {
        self.expiry.advance_to(watermark)?;
        self.cleanup(CLEANUP_PER_WRITE)?;
        Ok(())
    }

    /// The last update of an entry: its header's, or a later read's.
    fn updated(&self, key: &[u8], header: i64) -> i64 {
        if !self.expiry.refresh_on_read() {
            return header;
        }
        match self.refreshed.try_borrow() {
            Ok(map) => map.get(key).map_or(header, |&t| t.max(header)),
            Err(_) => header,
        }
    }

    /// The visible value bytes (header included) of `key`, restarting its
    /// TTL if configured.
    fn visible<'a>(&self, key: &[u8], stored: &'a [u8]) -> Option<&'a [u8]> {
        let (header, _) = parse(stored)?;
        let now = self.expiry.read_now();
        let updated = self.updated(key, header);
        if !self.expiry.visible(updated, now) {
            return None;
        }
        if self.expiry.refresh_on_read() && now > updated {
            if let Ok(mut map) = self.refreshed.try_borrow_mut() {
                map.insert(key.to_vec(), now);
            }
        }
        stored.get(HEADER..)
    }

    /// Writes the reads' TTL restarts into the inner store.
    fn apply_refreshes(&mut self) -> Result<()> {
        let pending = std::mem::take(self.refreshed.get_mut());
        for (key, t) in pending {
            if let Some(stored) = self.inner.get_ref(&key) {
                if let (Some((u, q)), Some(value)) = (parse(stored), stored.get(HEADER..)) {
                    if t > u {
                        let bytes = with_header(t, q, value);
                        self.inner.put(&key, bytes)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Examines up to `max` due items of the expiry queue; returns how many
    /// expired entries it removed.
    pub fn cleanup(&mut self, max: usize) -> Result<usize> {
        self.apply_refreshes()?;
        let now = self.expiry.read_now();
        let mut removed = 0;
        for _ in 0..max {
            let Some((t, key)) = self.queue.pop_due(|t| self.expiry.is_expired(t, now)) else {
                break;
            };
            let Some(stored) = self.inner.get_ref(&key) else {
                continue; // deleted since it was queued
            };
            let Some((updated, queued)) = parse(stored) else {
                continue;
            };
            if queued != t {
                continue; // an older item of a key deleted and written again
            }
            if self.expiry.is_expired(updated, now) {
                self.inner.delete(&key)?;
                removed += 1;
            } else {
                let bytes = with_header(updated, updated, stored.get(HEADER..).unwrap_or_default());
                self.inner.put(&key, bytes)?;
                self.queue.requeue(updated, key);
            }
        }
        Ok(removed)
    }

    /// Removes every expired entry the queue has reached; returns how many.
    ///
    /// It runs until the front item is not due. That ends: every due item
    /// is removed, dropped or queued again at its entry's update time, which
    /// is not expired, so no item is examined twice.
    pub fn expire_due(&mut self) -> Result<usize> {
        let mut removed = 0;
        loop {
            removed += self.cleanup(64)?;
            let now = self.expiry.read_now();
            let due = self
                .queue
                .front_time()
                .is_some_and(|t| self.expiry.is_expired(t, now));
            if !due {
                return Ok(removed);
            }
        }
    }

    fn scan_filter<'a>(&'a self, it: ScanIter<'a>) -> ScanIter<'a> {
        let now = self.expiry.read_now();
        Box::new(it.filter_map(move |(k, v)| {
            let (header, _) = parse(&v)?;
            let updated = self.updated(&k, header);
            if !self.expiry.visible(updated, now) || v.len() < HEADER {
                return None;
            }
            Some((k, v.slice(HEADER..)))
        }))
    }
}

impl<S: StateStore> StateStore for TtlStore<S> {
    fn get(&self, key: &[u8]) -> Option<Bytes> {
        let stored = self.inner.get(key)?;
        let len = self.visible(key, &stored)?.len();
        Some(stored.slice(stored.len() - len..))
    }

    fn get_ref(&self, key: &[u8]) -> Option<&[u8]> {
        let stored = self.inner.get_ref(key)?;
        self.visible(key, stored)
    }

    fn put(&mut self, key: &[u8], value: Bytes) -> Result<()> {
        let now = self.expiry.write_now()?;
        self.cleanup(CLEANUP_PER_WRITE)?;
        let existing = self.inner.get_ref(key).and_then(parse);
        match existing {
            Some((_, queued)) => self.inner.put(key, with_header(now, queued, &value)),
            None => {
                let back = self.queue.new_time(now);
                self.inner.put(key, with_header(now, back, &value))?;
                self.queue.push_new(now, key.into());
                Ok(())
            }
        }
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.refreshed.get_mut().remove(key);
        self.inner.delete(key)
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn size_bytes(&self) -> usize {
        self.inner
            .size_bytes()
            .saturating_sub(HEADER * self.inner.len())
    }

    fn clear(&mut self) {
        self.inner.clear();
        self.queue.clear();
        self.refreshed.get_mut().clear();
    }

    fn flush(&mut self) -> Result<()> {
        self.apply_refreshes()?;
        self.inner.flush()
    }

    fn prefix_scan<'a>(&'a self, prefix: &'a [u8]) -> ScanIter<'a> {
        self.scan_filter(self.inner.prefix_scan(prefix))
    }

    fn range_scan<'a>(&'a self, range: Range<&'a [u8]>) -> ScanIter<'a> {
        self.scan_filter(self.inner.range_scan(range))
    }

    fn snapshot(&self) -> StateSnapshot {
        let now = self.expiry.read_now();
        let mut data = Vec::with_capacity(self.inner.len() + 1);
        data.push((CLOCK_KEY.to_vec(), self.expiry.to_bytes()));
        for (k, v) in self.inner.prefix_scan(b"") {
            let Some((header, _)) = parse(&v) else {
                continue;
            };
            let updated = self.updated(&k, header);
            if self.expiry.is_expired(updated, now) {
                continue;
            }
            let mut key = Vec::with_capacity(k.len() + 1);
            key.push(ENTRY_TAG);
            key.extend_from_slice(&k);
            let mut value = entry_header(updated).to_vec();
            value.extend_from_slice(v.get(HEADER..).unwrap_or_default());
            data.push((key, value));
        }
        StateSnapshot::new(data)
    }

    fn restore(&mut self, snapshot: StateSnapshot) -> Result<()> {
        let location = |n: usize| format!("TTL store snapshot entry {n}");
        let mut entries = snapshot.iter().enumerate();
        let mut expiry = Expiry::new(self.expiry.config.clone());
        match entries.next() {
            Some((_, (k, v))) if k == CLOCK_KEY => expiry.load(v, &location(0))?,
            _ => {
                return Err(StateError::corruption(
                    location(0),
                    "the TTL clock entry (key 0x00) is missing: not a TtlStore snapshot",
                ))
            }
        }
        let mut data = Vec::with_capacity(entries.len());
        let mut queue = Vec::with_capacity(entries.len());
        for (n, (k, v)) in entries {
            let key = match k.split_first() {
                Some((&ENTRY_TAG, rest)) => rest.to_vec(),
                _ => {
                    return Err(StateError::corruption(
                        location(n),
                        "key does not start with the entry tag 0x01",
                    ))
                }
            };
            let (updated, value) = split_header(v).ok_or_else(|| {
                StateError::corruption(location(n), "missing or malformed 16-byte time header")
            })?;
            let mut stored = Vec::with_capacity(HEADER + value.len());
            stored.extend_from_slice(&updated.to_le_bytes());
            stored.extend_from_slice(&updated.to_le_bytes());
            stored.extend_from_slice(value);
            queue.push((updated, key.clone().into_boxed_slice()));
            data.push((key, stored));
        }
        queue.sort_unstable();
        if let Some((last, _)) = queue.last() {
            expiry.cover(*last);
        }
        self.inner.restore(StateSnapshot::new(data))?;
        self.queue = ExpiryQueue::from_sorted(queue);
        self.expiry = expiry;
        self.refreshed.get_mut().clear();
        Ok(())
    }
}

/// A boxed store is a store, so `TtlStore<Box<dyn StateStore>>` wraps a
/// backend chosen at run time.
impl<S: StateStore + ?Sized> StateStore for Box<S> {
    fn get(&self, key: &[u8]) -> Option<Bytes> {
        (**self).get(key)
    }
    fn get_ref(&self, key: &[u8]) -> Option<&[u8]> {
        (**self).get_ref(key)
    }
    fn put(&mut self, key: &[u8], value: Bytes) -> Result<()> {
        (**self).put(key, value)
    }
    fn delete(&mut self, key: &[u8]) -> Result<()> {
        (**self).delete(key)
    }
    fn contains(&self, key: &[u8]) -> bool {
        (**self).contains(key)
    }
    fn len(&self) -> usize {
        (**self).len()
    }
    fn is_empty(&self) -> bool {
        (**self).is_empty()
    }
    fn size_bytes(&self) -> usize {
        (**self).size_bytes()
    }
    fn clear(&mut self) {
        (**self).clear()
    }
    fn flush(&mut self) -> Result<()> {
        (**self).flush()
    }
    fn prefix_scan<'a>(&'a self, prefix: &'a [u8]) -> ScanIter<'a> {
        (**self).prefix_scan(prefix)
    }
    fn range_scan<'a>(&'a self, range: Range<&'a [u8]>) -> ScanIter<'a> {
        (**self).range_scan(range)
    }
    fn snapshot(&self) -> StateSnapshot {
        (**self).snapshot()
    }
    fn restore(&mut self, snapshot: StateSnapshot) -> Result<()> {
        (**self).restore(snapshot)
    }
}
