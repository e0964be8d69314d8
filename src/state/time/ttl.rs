//! [`TtlConfig`] and [`TtlTable`]: typed state whose entries expire.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use super::clock::{check_forward, Clock};
use super::queue::ExpiryQueue;
use crate::state::error::{Result, StateError};
use crate::state::key::Key;
use crate::state::snapshot::{SnapshotSink, SnapshotSource};
use crate::state::typed::{layout, NativeBackend, Table, Value};

/// How many due expiry-queue items every write (and every
/// [`TtlTable::advance_to`]) examines, at most: the bounded incremental
/// cleanup of TTL tables and stores.
///
/// Each write adds at most one item to the queue and takes up to this many
/// due ones off it, so while writes keep coming the backlog of expired
/// entries does not grow; explicit [`TtlTable::cleanup`] /
/// [`TtlTable::expire_due`] drain it on demand, and snapshots leave expired
/// entries out.
pub const CLEANUP_PER_WRITE: usize = 2;

/// When an entry's TTL restarts (Flink's `StateTtlConfig.UpdateType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TtlUpdate {
    /// On every write (`put`, `upsert`, `update`); reads do not extend the
    /// life of an entry. The default.
    #[default]
    OnCreateAndWrite,
    /// On every write and every read (`get`, `contains`).
    OnReadAndWrite,
}

/// Whether an expired entry that is not cleaned up yet can still be read
/// (Flink's `StateTtlConfig.StateVisibility`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TtlVisibility {
    /// Reads never return an expired entry, cleaned or not. The default.
    #[default]
    NeverReturnExpired,
    /// Reads return an expired entry until cleanup removes it.
    ReturnExpiredIfNotCleanedUp,
}

/// The time an entry's age is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeDomain {
    /// The table's watermark, which the caller moves with `advance_to`.
    EventTime,
    /// A [`Clock`] the table reads on every operation.
    ProcessingTime,
}

/// TTL settings of a table: how long an entry lives after its last update,
/// in the unit of the table's time (milliseconds by convention), and
/// Flink's `StateTtlConfig` options.
///
/// An entry updated at time `u` is expired at every time `now` with
/// `now - u >= ttl` (computed without overflow: an entry whose expiry would
/// lie past `i64::MAX` never expires). Writes stamp entries with the
/// current time: the watermark (event time; `i64::MIN` before the first
/// `advance_to`) or the clock (processing time).
///
/// ```
/// use laminar_core::state::time::{ManualClock, TtlConfig, TtlUpdate, TtlVisibility};
///
/// let cfg = TtlConfig::event_time(60_000)?
///     .with_update(TtlUpdate::OnReadAndWrite)
///     .with_visibility(TtlVisibility::ReturnExpiredIfNotCleanedUp);
/// assert_eq!(cfg.ttl(), 60_000);
/// assert!(TtlConfig::event_time(0).is_err()); // a TTL must be positive
///
/// let clock = ManualClock::new(0);
/// let cfg = TtlConfig::processing_time(1_000, clock.shared())?;
/// # let _ = cfg;
/// # Ok::<(), laminar_core::state::StateError>(())
/// ```
#[derive(Clone)]
pub struct TtlConfig {
    ttl: i64,
    update: TtlUpdate,
    visibility: TtlVisibility,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for TtlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlConfig")
            .field("ttl", &self.ttl)
            .field("update", &self.update)
            .field("visibility", &self.visibility)
            .field("domain", &self.domain())
            .finish()
    }
}

fn check_ttl(ttl: i64) -> Result<()> {
    if ttl <= 0 {
        return Err(StateError::InvalidArgument(format!(
            "a TTL must be positive, got {ttl}"
        )));
    }
    Ok(())
}

impl TtlConfig {
    /// Event-time TTL of `ttl` (> 0): entries age with the watermark the
    /// caller passes to `advance_to`. [`StateError::InvalidArgument`] if
    /// `ttl <= 0`.
    pub fn event_time(ttl: i64) -> Result<Self> {
        check_ttl(ttl)?;
        Ok(TtlConfig {
            ttl,
            update: TtlUpdate::default(),
            visibility: TtlVisibility::default(),
            clock: None,
        })
    }

    /// Processing-time TTL of `ttl` (> 0) against `clock`.
    /// [`StateError::InvalidArgument`] if `ttl <= 0`.
    pub fn processing_time(ttl: i64, clock: Arc<dyn Clock>) -> Result<Self> {
        let mut cfg = Self::event_time(ttl)?;
        cfg.clock = Some(clock);
        Ok(cfg)
    }

    /// What `#[state(ttl = ..)]` fields get (`ttl` is checked positive at
    /// compile time; a non-positive one would mean "never expires").
    pub(crate) fn from_attribute(
        ttl: i64,
        read_and_write: bool,
        return_expired: bool,
        processing: bool,
    ) -> Self {
        TtlConfig {
            ttl: if ttl > 0 { ttl } else { i64::MAX },
            update: if read_and_write {
                TtlUpdate::OnReadAndWrite
            } else {
                TtlUpdate::OnCreateAndWrite
            },
            visibility: if return_expired {
                TtlVisibility::ReturnExpiredIfNotCleanedUp
            } else {
                TtlVisibility::NeverReturnExpired
            },
            clock: processing.then(|| Arc::new(super::SystemClock) as Arc<dyn Clock>),
        }
    }

    /// The same settings with another update type.
    pub fn with_update(mut self, update: TtlUpdate) -> Self {
        self.update = update;
        self
    }

    /// The same settings with another visibility.
    pub fn with_visibility(mut self, visibility: TtlVisibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// The time to live.
    pub fn ttl(&self) -> i64 {
        self.ttl
    }

    /// When an entry's TTL restarts.
    pub fn update(&self) -> TtlUpdate {
        self.update
    }

    /// Whether expired entries may be read until cleaned up.
    pub fn visibility(&self) -> TtlVisibility {
        self.visibility
    }

    /// Event time or processing time.
    pub fn domain(&self) -> TimeDomain {
        if self.clock.is_some() {
            TimeDomain::ProcessingTime
        } else {
            TimeDomain::EventTime
        }
    }
}

/// The clock of one TTL table or store: its configuration and current time.
#[derive(Clone, Debug)]
pub(crate) struct Expiry {
    pub(crate) config: TtlConfig,
    /// The watermark (event time) or the last clock reading of a write
    /// (processing time); `i64::MIN` before either.
    now: i64,
    started: bool,
    /// Event time: an entry updated before this is hidden from reads
    /// (`i64::MIN`, hiding nothing, under `ReturnExpiredIfNotCleanedUp`).
    /// Precomputed when the watermark moves, so a read makes one compare.
    read_cutoff: i64,
    /// Event time: an entry updated before this is expired.
    exp_cutoff: i64,
}

/// The oldest update time that is not expired at `now`: entries updated
/// before it are expired (`i64::MIN` when none can be).
#[inline]
fn cutoff(now: i64, ttl: i64) -> i64 {
    let c = i128::from(now) - i128::from(ttl) + 1;
    i64::try_from(c).unwrap_or(if c < 0 { i64::MIN } else { i64::MAX })
}

impl Expiry {
    pub(crate) fn new(config: TtlConfig) -> Self {
        let mut e = Expiry {
            config,
            now: i64::MIN,
            started: false,
            read_cutoff: i64::MIN,
            exp_cutoff: i64::MIN,
        };
        e.set_now(i64::MIN, false);
        e
    }

    fn set_now(&mut self, now: i64, started: bool) {
        self.now = now;
        self.started = started;
        self.exp_cutoff = cutoff(now, self.config.ttl);
        self.read_cutoff = match self.config.visibility {
            TtlVisibility::NeverReturnExpired => cutoff(now, self.config.ttl),
            TtlVisibility::ReturnExpiredIfNotCleanedUp => i64::MIN,
        };
    }

    /// Entries updated before this are expired now.
    #[inline]
    pub(crate) fn exp_cutoff(&self) -> i64 {
        match &self.config.clock {
            None => self.exp_cutoff,
            Some(clock) => cutoff(clock.now().max(self.now), self.config.ttl),
        }
    }

    /// Entries updated before this are hidden from reads now.
    #[inline]
    pub(crate) fn read_cutoff(&self) -> i64 {
        match &self.config.clock {
            None => self.read_cutoff,
            Some(clock) => match self.config.visibility {
                TtlVisibility::NeverReturnExpired => {
                    cutoff(clock.now().max(self.now), self.config.ttl)
                }
                TtlVisibility::ReturnExpiredIfNotCleanedUp => i64::MIN,
            },
        }
    }

    /// The time a read compares against: never earlier than the last write's.
    #[inline]
    pub(crate) fn read_now(&self) -> i64 {
        match &self.config.clock {
            None => self.now,
            Some(clock) => clock.now().max(self.now),
        }
    }

    /// The time a write stamps: reads the clock (processing time) and
    /// rejects one that went back.
    #[inline]
    pub(crate) fn write_now(&mut self) -> Result<i64> {
        if let Some(clock) = &self.config.clock {
            let t = clock.now();
            check_forward(
                "processing-time clock of a TTL table",
                self.started.then_some(self.now),
                t,
            )?;
            self.set_now(t, true);
        }
        Ok(self.now)
    }

    pub(crate) fn check_advance(&self, watermark: i64) -> Result<()> {
        if self.config.clock.is_some() {
            return Err(StateError::InvalidArgument(
                "advance_to on a processing-time TTL table: it follows its clock".into(),
            ));
        }
        check_forward(
            "watermark of a TTL table",
            self.started.then_some(self.now),
            watermark,
        )
    }

    pub(crate) fn advance_to(&mut self, watermark: i64) -> Result<()> {
        if self.config.clock.is_some() {
            return Err(StateError::InvalidArgument(
                "advance_to on a processing-time TTL table: it follows its clock".into(),
            ));
        }
        check_forward(
            "watermark of a TTL table",
            self.started.then_some(self.now),
            watermark,
        )?;
        self.set_now(watermark, true);
        Ok(())
    }

    /// `now - updated >= ttl`, exactly.
    #[inline]
    pub(crate) fn is_expired(&self, updated: i64, now: i64) -> bool {
        (now as i128) - (updated as i128) >= self.config.ttl as i128
    }

    #[inline]
    pub(crate) fn visible(&self, updated: i64, now: i64) -> bool {
        self.config.visibility == TtlVisibility::ReturnExpiredIfNotCleanedUp
            || !self.is_expired(updated, now)
    }

    #[inline]
    pub(crate) fn refresh_on_read(&self) -> bool {
        self.config.update == TtlUpdate::OnReadAndWrite
    }

    /// The saved clock: the watermark of an event-time table; nothing for
    /// processing time (a restored table follows the clock of its process).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.now.to_le_bytes().to_vec();
        v.push(u8::from(self.started && self.config.clock.is_none()));
        v
    }

    pub(crate) fn load(&mut self, bytes: &[u8], location: &str) -> Result<()> {
        let (now, started) = match bytes {
            [n @ .., s] if n.len() == 8 && *s <= 1 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(n);
                (i64::from_le_bytes(b), *s == 1)
            }
            _ => {
                return Err(StateError::corruption(
                    location,
                    format!("TTL clock is {} bytes, expected 9", bytes.len()),
                ))
            }
        };
        if self.config.clock.is_none() {
            self.set_now(now, started);
        }
        Ok(())
    }

    /// Makes sure a restored event-time table does not start before the
    /// entries it holds.
    pub(crate) fn cover(&mut self, updated: i64) {
        if self.config.clock.is_none() && updated > self.now {
            self.set_now(updated, true);
        }
    }
}

/// One entry of a [`TtlTable`]: the value and when it was last updated.
///
/// An entry's current item in the expiry queue is the one at time
/// `queued`. A key deleted and written again before the queue reached its
/// old item leaves that item behind; cleanup drops such an item when its
/// time is not the entry's `queued`, so each live key keeps exactly one
/// item and the queue stays within the live entries plus the deletes of the
/// last TTL.
struct Entry<V> {
    value: V,
    updated: Cell<i64>,
    queued: Cell<i64>,
}

/// The 16-byte header in front of a TTL entry's value in snapshots.
pub(crate) fn entry_header(updated: i64) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..8].copy_from_slice(&updated.to_le_bytes());
    h
}

/// Splits a TTL entry's header from its value bytes.
pub(crate) fn split_header(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let head = bytes.get(..16)?;
    let rest = bytes.get(16..)?;
    let mut u = [0u8; 8];
    u.copy_from_slice(head.get(..8)?);
    if head.get(8..)?.iter().any(|&b| b != 0) {
        return None;
    }
    Some((i64::from_le_bytes(u), rest))
}

/// A typed in-memory table whose entries expire [`ttl`](TtlConfig::ttl)
/// after their last update, with Flink's `StateTtlConfig` options
/// ([`TtlConfig`]). `B` is an in-memory backend marker (`BTree` or
/// `AHash`); for `Mmap` or any byte store, use [`TtlStore`](super::TtlStore).
///
/// # Cleanup
///
/// Entries are put in an expiry queue (a FIFO ordered by time, since a
/// table's time never goes back) when they are created; no full scan ever
/// happens on the operator's thread:
///
/// - every write, and [`advance_to`](Self::advance_to), looks at up to
///   [`CLEANUP_PER_WRITE`] due items at the front of the queue: an entry
///   that is expired is removed, one that was updated since is queued again
///   at its new time (so updates cost no queue operation);
/// - [`cleanup(n)`](Self::cleanup) and [`expire_due`](Self::expire_due)
///   remove due entries on demand (work proportional to what they remove);
/// - [`write_snapshot`](Self::write_snapshot) leaves expired entries out.
///
/// Bound: an entry is removed at most one TTL after it expires if cleanup
/// keeps up with the queue (it does when each write examines
/// [`CLEANUP_PER_WRITE`] ≥ 1 items and writes arrive at a steady rate, or
/// when the caller runs `expire_due` per watermark), so [`len`](Self::len)
/// stays within the number of keys written during the last two TTLs
/// (`tests/time_model.rs`, `bounded_by_keys_active_within_ttl`, checks it
/// over a sliding key space). Reads never see an expired entry under the
/// default [`TtlVisibility::NeverReturnExpired`].
///
/// With [`TtlUpdate::OnReadAndWrite`] a `get` through `&self` restarts the
/// entry's TTL (the timestamp is a `Cell`), so the table is `Send` but not
/// `Sync`.
///
/// ```
/// # #[cfg(feature = "ahash")] {
/// use laminar_core::state::time::{TtlConfig, TtlTable};
/// use laminar_core::state::typed::AHash;
///
/// let mut seen: TtlTable<u64, String, AHash> = TtlTable::new(TtlConfig::event_time(1_000)?);
/// seen.advance_to(0)?;
/// for id in 0..5 {
///     seen.put(id, format!("event {id}"))?;
/// }
/// seen.advance_to(999)?;
/// assert_eq!(seen.get(3).map(String::as_str), Some("event 3"));
/// seen.advance_to(1_000)?; // 1 000 after their write: expired
/// assert_eq!(seen.get(3), None);
/// // advance_to removed CLEANUP_PER_WRITE (2) of them, expire_due the rest
/// assert_eq!(seen.len(), 3);
/// assert_eq!(seen.expire_due(), 3);
/// assert!(seen.is_empty());
/// assert!(seen.advance_to(10).is_err()); // a watermark never goes back
/// # }
/// # Ok::<(), laminar_core::state::StateError>(())
/// ```
pub struct TtlTable<K: Key, V, B: NativeBackend> {
    table: Table<K, Entry<V>, B>,
    queue: ExpiryQueue<K::Repr>,
    expiry: Expiry,
}

impl<K: Key, V: fmt::Debug, B: NativeBackend> fmt::Debug for TtlTable<K, V, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlTable")
            .field("config", &self.expiry.config)
            .field("now", &self.expiry.read_now())
            .field("live", &self.iter().collect::<Vec<_>>())
            .finish()
    }
}

impl<K: Key, V, B: NativeBackend> TtlTable<K, V, B> {
    /// An empty table with `config`.
    pub fn new(config: TtlConfig) -> Self {
        TtlTable {
            table: Table::new(),
            queue: ExpiryQueue::default(),
            expiry: Expiry::new(config),
        }
    }

    /// The table's TTL settings.
    pub fn config(&self) -> &TtlConfig {
        &self.expiry.config
    }

    /// Makes a processing-time table read `clock` from now on (for example
    /// a [`ManualClock`](super::ManualClock) in a test of a `#[state_store]`
    /// struct whose field says `ttl_time = processing`, which starts on the
    /// [`SystemClock`](super::SystemClock)). The table's entries keep their
    /// times, and its next write compares the new clock with the last
    /// write's time. [`StateError::InvalidArgument`] on an event-time table.
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) -> Result<()> {
        if self.expiry.config.clock.is_none() {
            return Err(StateError::InvalidArgument(
                "set_clock on an event-time TTL table: it follows its watermark".into(),
            ));
        }
        self.expiry.config.clock = Some(clock);
        Ok(())
    }

    /// The time reads compare against now.
    pub fn now(&self) -> i64 {
        self.expiry.read_now()
    }

    /// Moves an event-time table's watermark to `watermark` and examines up
    /// to [`CLEANUP_PER_WRITE`] due queue items. [`StateError::Time`] if it
    /// would go back; [`StateError::InvalidArgument`] on a processing-time
    /// table (it follows its clock). Nothing changes on error.
    pub fn advance_to(&mut self, watermark: i64) -> Result<()> {
        self.expiry.advance_to(watermark)?;
        self.cleanup_step();
        Ok(())
    }

    /// What [`advance_to`](Self::advance_to) would fail with, without moving.
    pub(crate) fn check_advance(&self, watermark: i64) -> Result<()> {
        self.expiry.check_advance(watermark)
    }

    /// Entries held, expired ones not cleaned up yet included.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// `true` if the table holds no entry at all.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Items in the expiry queue: one per entry, plus one per key deleted
    /// (and perhaps written again) that the queue has not reached yet; the
    /// first cleanup that reaches such an item drops it.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Approximate memory: the table's (see [`Table::size_bytes`], entries
    /// carry two timestamps) plus the expiry queue.
    pub fn size_bytes(&self) -> usize {
        self.table.size_bytes() + self.queue.len() * std::mem::size_of::<(i64, K::Repr)>()
    }

    /// The value of `key` if present and (by default) not expired; restarts
    /// its TTL under [`TtlUpdate::OnReadAndWrite`].
    #[inline]
    pub fn get(&self, key: K::Ref<'_>) -> Option<&V> {
        let repr = self.table.encode_key(key)?;
        let e = self.table.get_encoded(&repr)?;
        if e.updated.get() < self.expiry.read_cutoff() {
            return None;
        }
        if self.expiry.refresh_on_read() {
            let now = self.expiry.read_now();
            e.updated.set(now.max(e.updated.get()));
        }
        Some(&e.value)
    }

    /// `true` if [`get`](Self::get) would return a value (and, like it,
    /// restarts the TTL under [`TtlUpdate::OnReadAndWrite`]).
    #[inline]
    pub fn contains(&self, key: K::Ref<'_>) -> bool {
        self.get(key).is_some()
    }

    /// The value of `key` (inserting `make()` first if it is absent or
    /// expired), stamped with the current time: a write. (`make` is
    /// `FnMut`, not `FnOnce`: it may be needed after the lookup found an
    /// expired entry.)
    ///
    /// Fails on a processing-time clock that went back
    /// ([`StateError::Time`]) or a full dictionary.
    #[inline]
    pub fn upsert(&mut self, key: K::Ref<'_>, mut make: impl FnMut() -> V) -> Result<&mut V> {
        let now = self.expiry.write_now()?;
        self.cleanup_step();
        let repr = self.table.intern_key(key)?;
        let back = self.queue.new_time(now);
        let mut created = false;
        let entry = self.table.upsert_encoded(repr.clone(), || {
            created = true;
            Entry {
                value: make(),
                updated: Cell::new(now),
                queued: Cell::new(back),
            }
        })?;
        if created {
            self.queue.push_new(now, repr);
        } else {
            if !self.expiry.visible(entry.updated.get(), now) {
                entry.value = make();
            }
            entry.updated.set(now.max(entry.updated.get()));
        }
        Ok(&mut entry.value)
    }

    /// Inserts or replaces the value of `key` (a write); returns the
    /// previous value if a read would have returned it.
    #[inline]
    pub fn put(&mut self, key: K::Ref<'_>, value: V) -> Result<Option<V>> {
        let now = self.expiry.write_now()?;
        self.cleanup_step();
        let repr = self.table.intern_key(key)?;
        if let Some(e) = self.table.get_mut_encoded(&repr) {
            let was_visible = self.expiry.visible(e.updated.get(), now);
            let prev = std::mem::replace(&mut e.value, value);
            e.updated.set(now.max(e.updated.get()));
            return Ok(was_visible.then_some(prev));
        }
        let back = self.queue.new_time(now);
        self.table.upsert_encoded(repr.clone(), || Entry {
            value,
            updated: Cell::new(now),
            queued: Cell::new(back),
        })?;
        self.queue.push_new(now, repr);
        Ok(None)
    }

    /// Applies `f` to the value of `key` (from `V::default()` if it is absent
    /// or expired): a write.
    pub fn update<R>(&mut self, key: K::Ref<'_>, f: impl FnOnce(&mut V) -> R) -> Result<R>
    where
        V: Default,
    {
        self.upsert(key, V::default).map(f)
    }

    /// Removes `key`; returns its value if a read would have returned it.
    /// Its queue item stays until the queue reaches it (then it is dropped).
    pub fn delete(&mut self, key: K::Ref<'_>) -> Option<V> {
        let now = self.expiry.read_now();
        let repr = self.table.encode_key(key)?;
        let e = self.table.delete_encoded(&repr)?;
        self.expiry.visible(e.updated.get(), now).then_some(e.value)
    }

    /// Every entry a read would return, as `(key, &value)` (no TTL restart).
    pub fn iter(&self) -> impl Iterator<Item = (K::Ref<'_>, &V)> + '_ {
        let now = self.expiry.read_now();
        self.table
            .iter()
            .filter(move |(_, e)| self.expiry.visible(e.updated.get(), now))
            .map(|(k, e)| (k, &e.value))
    }

    /// The cleanup of one write: a look at the front of the queue, and
    /// [`cleanup`](Self::cleanup) only if an item there is due.
    #[inline]
    fn cleanup_step(&mut self) {
        let cut = self.expiry.exp_cutoff();
        if self.queue.front_time().is_some_and(|t| t < cut) {
            self.cleanup(CLEANUP_PER_WRITE);
        }
    }

    /// Examines up to `max` due items of the expiry queue; returns how many
    /// expired entries it removed.
    pub fn cleanup(&mut self, max: usize) -> usize {
        let cut = self.expiry.exp_cutoff();
        let mut removed = 0;
        for _ in 0..max {
            let Some((t, repr)) = self.queue.pop_due(|t| t < cut) else {
                break;
            };
            let Some(e) = self.table.get_encoded(&repr) else {
                continue; // deleted since it was queued
            };
            if e.queued.get() != t {
                continue; // an older item of a key deleted and written again
            }
            let updated = e.updated.get();
            if updated < cut {
                self.table.delete_encoded(&repr);
                removed += 1;
            } else {
                e.queued.set(updated);
                self.queue.requeue(updated, repr);
            }
        }
        removed
    }

    /// Removes every expired entry the queue has reached: work proportional
    /// to the due queue items, not to the table. Returns how many it removed.
    ///
    /// It runs until the front item is not due. That ends: every due item
    /// is removed, dropped or queued again at its entry's update time, which
    /// is past the cutoff, so no item is examined twice.
    pub fn expire_due(&mut self) -> usize {
        let cut = self.expiry.exp_cutoff();
        let mut removed = 0;
        while self.queue.front_time().is_some_and(|t| t < cut) {
            removed += self.cleanup(64);
        }
        removed
    }

    /// Removes every entry (the clock and settings stay).
    pub fn clear(&mut self) {
        self.table.clear();
        self.queue.clear();
    }
}

impl<K: Key, V: Value, B: NativeBackend> TtlTable<K, V, B> {
    /// Appends the table to `out` under field `name`: dictionaries and live
    /// entries as [`layout`] describes (expired entries are left out), and
    /// the table's clock (`name 00 03`).
    pub fn write_snapshot<S: SnapshotSink + ?Sized>(&self, name: &str, out: &mut S) -> Result<()> {
        let now = self.expiry.read_now();
        self.table.write_snapshot_with(name, out, |e| {
            let updated = e.updated.get();
            if self.expiry.is_expired(updated, now) {
                return Ok(None);
            }
            let mut bytes = entry_header(updated).to_vec();
            bytes.extend_from_slice(&e.value.to_snapshot_bytes()?);
            Ok(Some(bytes))
        })?;
        let clock = self.expiry.to_bytes();
        out.push_entry(
            |key| key.extend_from_slice(&layout::header(name, layout::TTL)),
            |sink| {
                sink.extend(&clock);
                Ok(())
            },
        )
    }

    /// Rebuilds a table with `config` from field `name` of a sorted
    /// snapshot's entries (as written by
    /// [`write_snapshot`](Self::write_snapshot)); returns it and how many
    /// entries it consumed. Every byte is validated.
    pub fn read_snapshot<S: SnapshotSource + ?Sized>(
        name: &str,
        entries: &S,
        config: TtlConfig,
    ) -> Result<(Self, usize)> {
        let location = format!("snapshot field `{name}` TTL clock");
        let (table, mut used) = Table::<K, Entry<V>, B>::read_snapshot_with(name, entries, |b| {
            let (updated, rest) = split_header(b).ok_or_else(|| {
                StateError::corruption("TTL entry", "missing or malformed 16-byte time header")
            })?;
            Ok(Entry {
                value: V::from_snapshot_bytes(rest)?,
                updated: Cell::new(updated),
                queued: Cell::new(updated),
            })
        })?;
        let mut expiry = Expiry::new(config);
        let clock_key = layout::header(name, layout::TTL);
        let at = entries.lower_bound(&clock_key);
        match entries.entry_at(at) {
            Some((k, v)) if k == clock_key.as_slice() => {
                expiry.load(v, &location)?;
                used += 1;
            }
            _ => return Err(StateError::corruption(location, "missing")),
        }
        let mut queue: Vec<(i64, K::Repr)> = table
            .iter_encoded()
            .map(|(r, e)| (e.updated.get(), r.clone()))
            .collect();
        queue.sort_unstable();
        if let Some((last, _)) = queue.last() {
            expiry.cover(*last);
        }
        Ok((
            TtlTable {
                table,
                queue: ExpiryQueue::from_sorted(queue),
                expiry,
            },
            used,
        ))
    }

    /// Replaces this table's entries and clock with `other`'s, keeping this
    /// table's settings (used by generated `restore`).
    pub fn assign(&mut self, other: Self) -> Result<()> {
        let config = self.expiry.config.clone();
        *self = other;
        self.expiry.config = config;
        Ok(())
    }
}
