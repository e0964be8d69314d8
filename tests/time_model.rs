//! Model-based property tests of timers and TTL state against plain models:
//! a `BTreeSet` of `(time, key)` timers, and a map `key -> (value,
//! last_update)` for TTL tables (`TtlTable` on every in-memory marker) and
//! `TtlStore` over every byte store, through snapshot/restore (via bytes),
//! with watermarks and clocks that jump far ahead, go back (an error that
//! changes nothing), and reach `i64::MIN`/`i64::MAX`.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
#[cfg(any(feature = "btree", feature = "ahash"))]
use laminar_core::state::time::TtlTable;
use laminar_core::state::time::{
    ManualClock, TimerQueue, TtlConfig, TtlStore, TtlUpdate, TtlVisibility,
};
#[cfg(any(feature = "btree", feature = "ahash"))]
use laminar_core::state::typed::NativeBackend;
use laminar_core::state::{InMemoryStore, StateError, StateSnapshot, StateStore};
use proptest::prelude::*;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Times that hit the edges of the range as well as a busy middle.
fn time() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => -50i64..50,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => Just(i64::MIN + 1),
        1 => Just(i64::MAX - 1),
        1 => any::<i64>(),
    ]
}

#[derive(Clone, Debug)]
enum TimerOp {
    Register(i64, u8),
    Delete(i64, u8),
    /// Advance to an absolute watermark (may be backwards: must fail).
    Advance(i64),
    /// Advance by a small step from the current watermark.
    Step(i64),
    Roundtrip,
}

fn timer_op() -> impl Strategy<Value = TimerOp> {
    prop_oneof![
        5 => (time(), 0u8..6).prop_map(|(t, k)| TimerOp::Register(t, k)),
        2 => (time(), 0u8..6).prop_map(|(t, k)| TimerOp::Delete(t, k)),
        2 => time().prop_map(TimerOp::Advance),
        3 => (0i64..20).prop_map(TimerOp::Step),
        1 => Just(TimerOp::Roundtrip),
    ]
}

fn roundtrip_timers(q: &TimerQueue<u8>) -> Result<TimerQueue<u8>, StateError> {
    let bytes = q.snapshot()?.to_bytes()?;
    TimerQueue::from_snapshot(&StateSnapshot::from_bytes(&bytes)?)
}

fn run_timers(ops: &[TimerOp]) -> Result<(), TestCaseError> {
    let mut q: TimerQueue<u8> = TimerQueue::new();
    let mut model: BTreeSet<(i64, u8)> = BTreeSet::new();
    let mut wm: Option<i64> = None;
    for op in ops {
        let target = match op {
            TimerOp::Register(t, k) => {
                prop_assert_eq!(q.register(*t, *k), model.insert((*t, *k)));
                None
            }
            TimerOp::Delete(t, k) => {
                prop_assert_eq!(q.delete(*t, k), model.remove(&(*t, *k)));
                None
            }
            TimerOp::Advance(t) => Some(*t),
            TimerOp::Step(d) => Some(wm.unwrap_or(0).saturating_add(*d)),
            TimerOp::Roundtrip => {
                q = roundtrip_timers(&q).map_err(|e| TestCaseError::fail(e.to_string()))?;
                None
            }
        };
        if let Some(t) = target {
            let res = q.advance_to(t);
            if wm.is_some_and(|w| t < w) {
                prop_assert!(matches!(res, Err(StateError::Time(_))));
            } else {
                let fired: Vec<(i64, u8)> = res
                    .map_err(|e| TestCaseError::fail(e.to_string()))?
                    .collect();
                let expect: Vec<(i64, u8)> = model
                    .iter()
                    .copied()
                    .take_while(|(ft, _)| *ft <= t)
                    .collect();
                for f in &expect {
                    model.remove(f);
                }
                prop_assert_eq!(fired, expect);
                wm = Some(t);
            }
        }
        prop_assert_eq!(q.len(), model.len());
        prop_assert_eq!(q.watermark(), wm);
        let pending: Vec<(i64, u8)> = q.iter().map(|(t, k)| (t, *k)).collect();
        prop_assert_eq!(pending, model.iter().copied().collect::<Vec<_>>());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]
    #[test]
    fn timers_match_model(ops in proptest::collection::vec(timer_op(), 1..80)) {
        run_timers(&ops)?;
    }
}

#[test]
fn timers_fire_at_the_edges_of_time() {
    let mut q: TimerQueue<u8> = TimerQueue::new();
    q.register(i64::MAX, 2);
    q.register(i64::MIN, 1);
    assert!(q.register_after(i64::MAX, 1, 3).is_err());
    assert!(q.register_after(i64::MIN, -1, 3).is_err());
    assert_eq!(q.len(), 2);
    let fired: Vec<_> = q.advance_to(i64::MIN).unwrap().collect();
    assert_eq!(fired, [(i64::MIN, 1)]);
    let fired: Vec<_> = q.advance_to(i64::MAX).unwrap().collect();
    assert_eq!(fired, [(i64::MAX, 2)]);
    // Registered at or before the watermark: fires on the next advance.
    q.register(5, 9);
    let fired: Vec<_> = q.advance_to(i64::MAX).unwrap().collect();
    assert_eq!(fired, [(5, 9)]);
    assert!(matches!(q.advance_to(0), Err(StateError::Time(_))));
}

#[test]
fn corrupt_timer_snapshots_are_errors() {
    let mut q: TimerQueue<u8> = TimerQueue::new();
    q.register(1, 1);
    q.register(2, 2);
    let snap = q.snapshot().unwrap();
    let bytes = snap.entry(0).map(|(_, v)| v.to_vec()).unwrap_or_default();
    for cut in 0..bytes.len() {
        let s = StateSnapshot::new(vec![(b"timers".to_vec(), bytes[..cut].to_vec())]);
        assert!(TimerQueue::<u8>::from_snapshot(&s).is_err(), "cut at {cut}");
    }
    // Out-of-order timers are rejected.
    use laminar_core::state::time::TimerSnapshot;
    use laminar_core::state::typed::Value;
    let bad = TimerSnapshot {
        watermark: None,
        timers: vec![(2i64, 1u8), (1, 1)],
    }
    .to_snapshot_bytes()
    .unwrap();
    let s = StateSnapshot::new(vec![(b"timers".to_vec(), bad)]);
    let err = TimerQueue::<u8>::from_snapshot(&s).unwrap_err();
    assert!(err.to_string().contains("ascending"), "{err}");
    let dup = TimerSnapshot {
        watermark: None,
        timers: vec![(1i64, 1u8), (1, 1)],
    }
    .to_snapshot_bytes()
    .unwrap();
    let s = StateSnapshot::new(vec![(b"timers".to_vec(), dup)]);
    assert!(TimerQueue::<u8>::from_snapshot(&s).is_err());
}

// ---------------------------------------------------------------- TTL

#[derive(Clone, Debug)]
enum TtlOp {
    Put(u8, u32),
    Get(u8),
    Delete(u8),
    /// Time to an absolute value (backwards: must fail, nothing changes).
    At(i64),
    /// Time forward by a step.
    Step(i64),
    Cleanup(usize),
    ExpireDue,
    Roundtrip,
}

fn ttl_op() -> impl Strategy<Value = TtlOp> {
    prop_oneof![
        6 => (0u8..8, any::<u32>()).prop_map(|(k, v)| TtlOp::Put(k, v)),
        5 => (0u8..8).prop_map(TtlOp::Get),
        2 => (0u8..8).prop_map(TtlOp::Delete),
        1 => time().prop_map(TtlOp::At),
        4 => (0i64..12).prop_map(TtlOp::Step),
        1 => (0usize..4).prop_map(TtlOp::Cleanup),
        1 => Just(TtlOp::ExpireDue),
        1 => Just(TtlOp::Roundtrip),
    ]
}

/// The settings a case runs with: TTL, options and time domain.
#[derive(Clone, Debug)]
struct Setup {
    ttl: i64,
    update: TtlUpdate,
    visibility: TtlVisibility,
    processing: bool,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just(1i64), Just(5), Just(10), Just(i64::MAX)],
        prop_oneof![
            Just(TtlUpdate::OnCreateAndWrite),
            Just(TtlUpdate::OnReadAndWrite)
        ],
        prop_oneof![
            Just(TtlVisibility::NeverReturnExpired),
            Just(TtlVisibility::ReturnExpiredIfNotCleanedUp)
        ],
        any::<bool>(),
    )
        .prop_map(|(ttl, update, visibility, processing)| Setup {
            ttl,
            update,
            visibility,
            processing,
        })
}

/// What the model and a subject under test share.
trait Subject {
    fn put(&mut self, k: u8, v: u32) -> Result<(), StateError>;
    fn get(&self, k: u8) -> Option<u32>;
    fn delete(&mut self, k: u8);
    fn cleanup(&mut self, n: usize);
    fn expire_due(&mut self);
    fn len(&self) -> usize;
    fn roundtrip(&mut self) -> Result<(), StateError>;
    /// Event time: advance the watermark (the error is the subject's).
    fn advance(&mut self, t: i64) -> Result<(), StateError>;
}

fn config(s: &Setup, clock: &ManualClock) -> TtlConfig {
    let cfg = if s.processing {
        TtlConfig::processing_time(s.ttl, clock.shared())
    } else {
        TtlConfig::event_time(s.ttl)
    };
    cfg.map(|c| c.with_update(s.update).with_visibility(s.visibility))
        .unwrap_or_else(|e| panic!("config: {e}"))
}

#[cfg(any(feature = "btree", feature = "ahash"))]
struct TableSubject<B: NativeBackend> {
    table: TtlTable<u8, u32, B>,
    cfg: TtlConfig,
}

#[cfg(any(feature = "btree", feature = "ahash"))]
impl<B: NativeBackend> Subject for TableSubject<B> {
    fn put(&mut self, k: u8, v: u32) -> Result<(), StateError> {
        if k.is_multiple_of(2) {
            self.table.put(k, v).map(drop)
        } else {
            self.table.update(k, |x| *x = v)
        }
    }
    fn get(&self, k: u8) -> Option<u32> {
        self.table.get(k).copied()
    }
    fn delete(&mut self, k: u8) {
        self.table.delete(k);
    }
    fn cleanup(&mut self, n: usize) {
        self.table.cleanup(n);
    }
    fn expire_due(&mut self) {
        self.table.expire_due();
    }
    fn len(&self) -> usize {
        self.table.len()
    }
    fn roundtrip(&mut self) -> Result<(), StateError> {
        let mut entries = Vec::new();
        self.table.write_snapshot("t", &mut entries)?;
        let bytes = StateSnapshot::new(entries).to_bytes()?;
        let snap = StateSnapshot::from_bytes(&bytes)?;
        let (t, used) = TtlTable::read_snapshot("t", &snap, self.cfg.clone())?;
        assert_eq!(used, snap.len());
        self.table = t;
        Ok(())
    }
    fn advance(&mut self, t: i64) -> Result<(), StateError> {
        self.table.advance_to(t)
    }
}

struct StoreSubject<S: StateStore> {
    store: TtlStore<S>,
}

impl<S: StateStore> Subject for StoreSubject<S> {
    fn put(&mut self, k: u8, v: u32) -> Result<(), StateError> {
        self.store
            .put(&[k], Bytes::copy_from_slice(&v.to_le_bytes()))
    }
    fn get(&self, k: u8) -> Option<u32> {
        let a = self.store.get(&[k]);
        let b = self.store.get_ref(&[k]).map(<[u8]>::to_vec);
        assert_eq!(a.as_deref(), b.as_deref());
        let scanned: Vec<_> = self
            .store
            .prefix_scan(&[k])
            .filter(|(key, _)| key.as_ref() == [k])
            .collect();
        if self.store.config().update() == TtlUpdate::OnCreateAndWrite {
            // Scans and reads agree (under OnReadAndWrite the reads above
            // refreshed the entry, which the model accounts for once).
            assert_eq!(scanned.first().map(|(_, v)| v.to_vec()), b);
        }
        let v = a?;
        Some(u32::from_le_bytes(v.as_ref().try_into().ok()?))
    }
    fn delete(&mut self, k: u8) {
        self.store.delete(&[k]).unwrap_or_else(|e| panic!("{e}"));
    }
    fn cleanup(&mut self, n: usize) {
        self.store.cleanup(n).unwrap_or_else(|e| panic!("{e}"));
    }
    fn expire_due(&mut self) {
        self.store.expire_due().unwrap_or_else(|e| panic!("{e}"));
    }
    fn len(&self) -> usize {
        self.store.len()
    }
    fn roundtrip(&mut self) -> Result<(), StateError> {
        let bytes = self.store.snapshot().to_bytes()?;
        self.store.restore(StateSnapshot::from_bytes(&bytes)?)
    }
    fn advance(&mut self, t: i64) -> Result<(), StateError> {
        self.store.advance_to(t)
    }
}

#[derive(Default)]
struct TtlModel {
    /// key -> (value, last update)
    map: BTreeMap<u8, (u32, i64)>,
    now: Option<i64>,
    /// Processing time: the clock at the last write (the table's floor).
    last_write: Option<i64>,
}

fn expired(s: &Setup, updated: i64, now: i64) -> bool {
    (now as i128) - (updated as i128) >= s.ttl as i128
}

fn run_ttl(
    s: &Setup,
    clock: &ManualClock,
    sub: &mut dyn Subject,
    ops: &[TtlOp],
) -> Result<(), TestCaseError> {
    let fail = |e: StateError| TestCaseError::fail(e.to_string());
    let mut m = TtlModel::default();
    let start = clock_now(clock);
    if s.processing {
        m.now = Some(start);
    }
    for op in ops {
        let now = m.now.unwrap_or(i64::MIN);
        match op {
            TtlOp::Put(k, v) => {
                sub.put(*k, *v).map_err(fail)?;
                m.map.insert(*k, (*v, now));
                m.last_write = Some(now);
            }
            TtlOp::Get(k) => {
                let got = sub.get(*k);
                match m.map.get(k).copied() {
                    None => prop_assert_eq!(got, None),
                    Some((v, u)) if !expired(s, u, now) => {
                        prop_assert_eq!(got, Some(v));
                        if s.update == TtlUpdate::OnReadAndWrite {
                            m.map.insert(*k, (v, now));
                        }
                    }
                    Some((v, _)) => match (s.visibility, got) {
                        (TtlVisibility::NeverReturnExpired, g) => {
                            prop_assert_eq!(g, None);
                            m.map.remove(k);
                        }
                        (_, None) => {
                            m.map.remove(k);
                        }
                        (_, Some(g)) => {
                            prop_assert_eq!(g, v);
                            if s.update == TtlUpdate::OnReadAndWrite {
                                m.map.insert(*k, (v, now));
                            }
                        }
                    },
                }
            }
            TtlOp::Delete(k) => {
                sub.delete(*k);
                m.map.remove(k);
            }
            TtlOp::At(_) | TtlOp::Step(_) => {
                let t = match op {
                    TtlOp::At(t) => *t,
                    TtlOp::Step(d) => now.saturating_add(*d),
                    _ => now,
                };
                let back = m.now.is_some_and(|n| t < n);
                if s.processing {
                    if !back {
                        clock.set(t);
                        m.now = Some(t);
                    } else if m.last_write.is_some_and(|w| t < w) {
                        // Behind the last write: a write must refuse the
                        // clock, and nothing changes.
                        clock.set(t);
                        let res = sub.put(0, 0);
                        prop_assert!(matches!(res, Err(StateError::Time(_))), "{:?}", res);
                        clock.set(now);
                    }
                } else {
                    let res = sub.advance(t);
                    if back {
                        prop_assert!(matches!(res, Err(StateError::Time(_))), "{:?}", res);
                    } else {
                        res.map_err(fail)?;
                        m.now = Some(t);
                    }
                }
            }
            TtlOp::Cleanup(n) => sub.cleanup(*n),
            TtlOp::ExpireDue => {
                sub.expire_due();
                m.map.retain(|_, (_, u)| !expired(s, *u, now));
                prop_assert_eq!(sub.len(), m.map.len());
            }
            TtlOp::Roundtrip => {
                sub.roundtrip().map_err(fail)?;
                // A restored processing-time table follows the clock of
                // its process: it has no earlier write to compare with.
                if s.processing {
                    m.last_write = None;
                }
                // Snapshots leave expired entries out.
                m.map.retain(|_, (_, u)| !expired(s, *u, now));
                prop_assert_eq!(sub.len(), m.map.len());
            }
        }
        let live = m
            .map
            .values()
            .filter(|(_, u)| !expired(s, *u, m.now.unwrap_or(i64::MIN)))
            .count();
        prop_assert!(sub.len() >= live, "len {} < live {}", sub.len(), live);
    }
    Ok(())
}

fn clock_now(c: &ManualClock) -> i64 {
    use laminar_core::state::time::Clock;
    c.now()
}

fn with_subject(
    s: &Setup,
    ops: &[TtlOp],
    make: impl Fn(TtlConfig) -> Box<dyn Subject>,
) -> Result<(), TestCaseError> {
    let clock = ManualClock::new(0);
    let mut sub = make(config(s, &clock));
    run_ttl(s, &clock, sub.as_mut(), ops)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    #[cfg(feature = "btree")]
    #[test]
    fn ttl_table_btree_matches_model(s in setup(), ops in proptest::collection::vec(ttl_op(), 1..80)) {
        with_subject(&s, &ops, |cfg| Box::new(TableSubject::<laminar_core::state::typed::BTree> {
            table: TtlTable::new(cfg.clone()), cfg,
        }))?;
    }

    #[cfg(feature = "ahash")]
    #[test]
    fn ttl_table_ahash_matches_model(s in setup(), ops in proptest::collection::vec(ttl_op(), 1..80)) {
        with_subject(&s, &ops, |cfg| Box::new(TableSubject::<laminar_core::state::typed::AHash> {
            table: TtlTable::new(cfg.clone()), cfg,
        }))?;
    }

    #[test]
    fn ttl_store_in_memory_matches_model(s in setup(), ops in proptest::collection::vec(ttl_op(), 1..80)) {
        with_subject(&s, &ops, |cfg| Box::new(StoreSubject { store: TtlStore::new(InMemoryStore::new(), cfg) }))?;
    }

    #[cfg(feature = "ahash")]
    #[test]
    fn ttl_store_ahash_matches_model(s in setup(), ops in proptest::collection::vec(ttl_op(), 1..80)) {
        with_subject(&s, &ops, |cfg| Box::new(StoreSubject {
            store: TtlStore::new(laminar_core::state::AHashMapStore::new(), cfg),
        }))?;
    }

    #[cfg(feature = "mmap")]
    #[test]
    fn ttl_store_mmap_matches_model(s in setup(), ops in proptest::collection::vec(ttl_op(), 1..80)) {
        with_subject(&s, &ops, |cfg| Box::new(StoreSubject {
            store: TtlStore::new(laminar_core::state::MmapStateStore::in_memory(1 << 16), cfg),
        }))?;
    }

    #[test]
    fn ttl_store_dyn_matches_model(s in setup(), ops in proptest::collection::vec(ttl_op(), 1..40)) {
        with_subject(&s, &ops, |cfg| {
            let inner: Box<dyn StateStore> = Box::new(InMemoryStore::new());
            Box::new(StoreSubject { store: TtlStore::new(inner, cfg) })
        })?;
    }
}

/// More due instants than one advance pops one by one: the rest are split
/// off; order and counts must not change.
#[test]
fn many_due_instants_fire_in_order() {
    let mut q: TimerQueue<u32> = TimerQueue::new();
    let mut model = BTreeSet::new();
    for i in 0..5_000u32 {
        let t = i64::from((i * 7919) % 3_001) - 1_500;
        let k = i % 3;
        assert_eq!(q.register(t, k), model.insert((t, k)));
    }
    for wm in [-1_490i64, -1_400, -1_000, 0, 1, 2, 1_000, i64::MAX] {
        let fired: Vec<(i64, u32)> = q.advance_to(wm).unwrap().collect();
        let expect: Vec<(i64, u32)> = model.iter().copied().filter(|(t, _)| *t <= wm).collect();
        for e in &expect {
            model.remove(e);
        }
        assert_eq!(fired, expect, "at watermark {wm}");
        assert_eq!(q.len(), model.len());
    }
    assert!(q.is_empty());
}

/// A key deleted and written again many times keeps one queue item: the
/// items of its earlier lives are dropped when the queue reaches them, so
/// the queue (and cleanup's work) does not grow with the stream.
#[cfg(feature = "btree")]
#[test]
fn delete_and_rewrite_keeps_the_queue_bounded() {
    use laminar_core::state::typed::BTree;
    let mut t: TtlTable<u64, u32, BTree> = TtlTable::new(TtlConfig::event_time(10).unwrap());
    for w in 0..5_000i64 {
        t.advance_to(w).unwrap();
        t.delete(0);
        t.put(0, 1).unwrap();
        t.put(1_000 + w as u64, 2).unwrap();
        t.expire_due();
        // Live: key 0 and the keys written in the last TTL.
        assert!(t.len() <= 12, "at {w}: {} live entries", t.len());
        assert!(
            t.queued() <= 2 * 12 + 2,
            "at {w}: {} queue items",
            t.queued()
        );
    }
}

/// `expire_due` goes on past a run of refreshed entries at the front of the
/// queue and removes the expired entry behind them.
#[cfg(feature = "btree")]
#[test]
fn expire_due_passes_refreshed_entries() {
    use laminar_core::state::typed::BTree;
    let mut t: TtlTable<u64, u32, BTree> = TtlTable::new(TtlConfig::event_time(10).unwrap());
    t.advance_to(0).unwrap();
    for k in 0..=65u64 {
        t.put(k, 1).unwrap();
    }
    t.put(200, 1).unwrap();
    t.advance_to(5).unwrap();
    for k in 0..=65u64 {
        t.put(k, 2).unwrap();
    }
    t.advance_to(12).unwrap();
    t.expire_due();
    assert_eq!(t.len(), 66, "key 200 expired at 10 and must be gone");
    assert!(t.get(200).is_none());

    let mut s = TtlStore::new(InMemoryStore::new(), TtlConfig::event_time(10).unwrap());
    s.advance_to(0).unwrap();
    for k in 0..=65u64 {
        s.put(&k.to_be_bytes(), Bytes::from_static(b"a")).unwrap();
    }
    s.put(b"late", Bytes::from_static(b"a")).unwrap();
    s.advance_to(5).unwrap();
    for k in 0..=65u64 {
        s.put(&k.to_be_bytes(), Bytes::from_static(b"b")).unwrap();
    }
    s.advance_to(12).unwrap();
    assert_eq!(s.expire_due().unwrap(), 1);
    assert_eq!(s.inner().len(), 66);
}
