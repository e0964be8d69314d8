//! Model-based test of checkpoints: operations interleaved with capture,
//! writing on the writer thread, waiting, restarts and restores from the
//! checkpoint directory, on every byte backend. Every restored state is
//! compared with the model's state at that checkpoint's cut (the moment of
//! its capture), whatever happened to the live store afterwards.
//!
//! 24 cases per backend by default (each case fsyncs a few dozen files);
//! set `CHECKPOINT_PROPTEST_CASES` for more.

use std::collections::BTreeMap;

use bytes::Bytes;
use laminar_core::state::checkpoint::{
    CheckpointDir, CheckpointHandle, CheckpointOptions, Checkpointed, Fallback,
};
use laminar_core::state::{InMemoryStore, StateStore};
use proptest::prelude::*;

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Clear,
    /// Capture and start checkpoint `next epoch` (not waited for).
    Checkpoint,
    /// Wait for every started checkpoint; each must be durable.
    Wait,
    /// Restore retained checkpoint number `i` (mod the count) into a fresh store.
    RestoreFresh(usize),
    /// Restore retained checkpoint number `i` into the live store and go on
    /// from there (its next delta continues that checkpoint's chain).
    RestoreLive(usize),
    /// Drop the directory and the live store, reopen, restore the latest
    /// checkpoint into a new live store and go on from there.
    Restart,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(prop_oneof![Just(0u8), Just(b'a'), Just(b'b'), Just(0xFF)], 0..3),
        1 => proptest::collection::vec(any::<u8>(), 0..20),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (key(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(k, v)| Op::Put(k, v)),
        10 => key().prop_map(Op::Delete),
        1 => Just(Op::Clear),
        8 => Just(Op::Checkpoint),
        3 => Just(Op::Wait),
        3 => any::<usize>().prop_map(Op::RestoreFresh),
        2 => any::<usize>().prop_map(Op::RestoreLive),
        2 => Just(Op::Restart),
    ]
}

fn cases() -> u32 {
    std::env::var("CHECKPOINT_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24)
}

fn content<S: StateStore>(store: &S) -> Map {
    store
        .prefix_scan(b"")
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// Runs `ops` with stores made by `fresh` (each call a new, empty store).
fn run<S: StateStore>(
    mut fresh: impl FnMut() -> S,
    ops: &[Op],
    options: CheckpointOptions,
) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ckpt");
    let mut dir = Some(CheckpointDir::open_with(&path, options.clone()).unwrap());
    let mut store = Checkpointed::new(fresh());
    let mut model = Map::new();
    // The model's state at each checkpoint's cut.
    let mut cuts: BTreeMap<u64, Map> = BTreeMap::new();
    let mut pending: Vec<CheckpointHandle> = Vec::new();
    let mut epoch = 0u64;
    for op in ops {
        let d = dir.as_mut().unwrap();
        match op {
            Op::Put(k, v) => {
                store.put(k, Bytes::copy_from_slice(v)).unwrap();
                model.insert(k.clone(), v.clone());
            }
            Op::Delete(k) => {
                store.delete(k).unwrap();
                model.remove(k);
            }
            Op::Clear => {
                store.clear();
                model.clear();
            }
            Op::Checkpoint => {
                epoch += 1;
                let handle = d.checkpoint(epoch, [("main", store.capture())]).unwrap();
                cuts.insert(epoch, model.clone());
                pending.push(handle);
            }
            Op::Wait => {
                for h in pending.drain(..) {
                    let e = h.epoch();
                    prop_assert!(h.wait().is_ok(), "checkpoint {} failed", e);
                }
            }
            Op::RestoreFresh(i) => {
                d.wait_idle().unwrap();
                let epochs = d.epochs().unwrap();
                if epochs.is_empty() {
                    continue;
                }
                let e = epochs[i % epochs.len()];
                let manifest = d.manifest(e).unwrap();
                let mut restored = Checkpointed::new(fresh());
                d.restore(&manifest, &mut [("main", &mut restored)])
                    .unwrap();
                prop_assert_eq!(&content(&restored), &cuts[&e], "epoch {}", e);
                prop_assert_eq!(restored.len(), cuts[&e].len());
            }
            Op::RestoreLive(i) => {
                for h in pending.drain(..) {
                    prop_assert!(h.wait().is_ok());
                }
                d.wait_idle().unwrap();
                let epochs = d.epochs().unwrap();
                if epochs.is_empty() {
                    continue;
                }
                let e = epochs[i % epochs.len()];
                let manifest = d.manifest(e).unwrap();
                d.restore(&manifest, &mut [("main", &mut store)]).unwrap();
                prop_assert!(store.next_is_delta());
                model = cuts[&e].clone();
                prop_assert_eq!(&content(&store), &model);
            }
            Op::Restart => {
                for h in pending.drain(..) {
                    prop_assert!(h.wait().is_ok());
                }
                drop(dir.take());
                let d = dir.insert(CheckpointDir::open_with(&path, options.clone()).unwrap());
                store = Checkpointed::new(fresh());
                let restored = d
                    .restore_latest(&mut [("main", &mut store)], Fallback::Never)
                    .unwrap();
                model = restored.map(|e| cuts[&e].clone()).unwrap_or_default();
                prop_assert_eq!(restored, cuts.keys().next_back().copied());
                prop_assert_eq!(&content(&store), &model);
            }
        }
    }
    // Every checkpoint started must be durable, and the latest must restore.
    for h in pending.drain(..) {
        prop_assert!(h.wait().is_ok());
    }
    let d = dir.as_mut().unwrap();
    // Retention runs on the writer thread after a checkpoint is durable.
    d.wait_idle().unwrap();
    let retained = d.epochs().unwrap();
    prop_assert!(retained.len() <= 3);
    prop_assert_eq!(retained.last().copied(), cuts.keys().next_back().copied());
    for e in retained {
        let mut restored = Checkpointed::new(fresh());
        d.restore(&d.manifest(e).unwrap(), &mut [("main", &mut restored)])
            .unwrap();
        prop_assert_eq!(&content(&restored), &cuts[&e], "epoch {}", e);
    }
    // Retention left no file that a retained manifest does not name.
    let mut named: Vec<String> = Vec::new();
    for e in d.epochs().unwrap() {
        let m = d.manifest(e).unwrap();
        named.push(format!("checkpoint-{e:020}.manifest"));
        for f in m.part("main").unwrap().files() {
            named.push(f.name().to_string());
        }
    }
    drop(dir);
    for entry in std::fs::read_dir(&path).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        // A merged base waiting for the next checkpoint may remain until the
        // next open removes it.
        prop_assert!(
            name == "LOCK" || named.contains(&name) || name.ends_with("-merged.part"),
            "unreferenced file {} left",
            name
        );
    }
    Ok(())
}

fn options() -> impl Strategy<Value = CheckpointOptions> {
    (
        prop_oneof![Just(0.0), Just(0.5), Just(f64::INFINITY)],
        0usize..4,
    )
        .prop_map(|(ratio, max_deltas)| {
            CheckpointOptions::default()
                .retain(3)
                .materialize_ratio(ratio)
                .max_deltas(max_deltas)
        })
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..80)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn in_memory_store_checkpoints_match_model(ops in ops(), options in options()) {
        run(InMemoryStore::new, &ops, options)?;
    }

    #[cfg(feature = "ahash")]
    #[test]
    fn ahash_store_checkpoints_match_model(ops in ops(), options in options()) {
        run(laminar_core::state::AHashMapStore::new, &ops, options)?;
    }

    #[cfg(feature = "mmap")]
    #[test]
    fn mmap_in_memory_checkpoints_match_model(ops in ops(), options in options()) {
        run(|| laminar_core::state::MmapStateStore::in_memory(1 << 16), &ops, options)?;
    }

    #[cfg(feature = "mmap")]
    #[test]
    fn mmap_persistent_checkpoints_match_model(ops in ops(), options in options()) {
        let files = tempfile::tempdir().unwrap();
        let mut n = 0;
        run(
            || {
                n += 1;
                laminar_core::state::MmapStateStore::persistent(
                    files.path().join(format!("store-{n}.db")),
                    1 << 16,
                )
                .unwrap()
            },
            &ops,
            options,
        )?;
    }
}

/// A store that already holds state when it is wrapped: its first capture
/// copies everything; later ones are deltas.
#[test]
fn wrapping_a_filled_store_takes_a_full_first_capture() {
    let tmp = tempfile::tempdir().unwrap();
    let mut inner = InMemoryStore::new();
    inner.put(b"a", Bytes::from_static(b"1")).unwrap();
    let mut store = Checkpointed::new(inner);
    assert!(!store.next_is_delta());
    let mut dir = CheckpointDir::open(tmp.path()).unwrap();
    let first = store.capture();
    assert!(first.is_base());
    assert_eq!(first.len(), 1);
    dir.checkpoint(1, [("s", first)]).unwrap().wait().unwrap();
    store.put(b"b", Bytes::from_static(b"2")).unwrap();
    store.delete(b"a").unwrap();
    let second = store.capture();
    assert!(!second.is_base());
    assert_eq!(second.len(), 2);
    dir.checkpoint(2, [("s", second)]).unwrap().wait().unwrap();
    let mut restored = Checkpointed::new(InMemoryStore::new());
    assert_eq!(
        dir.restore_latest(&mut [("s", &mut restored)], Fallback::Never)
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        content(&restored),
        Map::from([(b"b".to_vec(), b"2".to_vec())])
    );
}

/// A second writer on the same directory is refused.
#[test]
fn second_open_is_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let _first = CheckpointDir::open(tmp.path()).unwrap();
    let second = CheckpointDir::open(tmp.path());
    assert!(
        matches!(second, Err(laminar_core::state::StateError::Locked { .. })),
        "{second:?}"
    );
}

/// A delta that does not continue the directory's chain (the store was not
/// restored from it) fails, and the store's next capture is a full one.
#[test]
fn foreign_delta_fails_then_resyncs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Checkpointed::new(InMemoryStore::new());
    store.put(b"k", Bytes::from_static(b"v")).unwrap();
    {
        let mut dir = CheckpointDir::open(tmp.path()).unwrap();
        dir.checkpoint(1, [("s", store.capture())])
            .unwrap()
            .wait()
            .unwrap();
    }
    // A new directory handle knows no chain for this store.
    let mut dir = CheckpointDir::open(tmp.path()).unwrap();
    store.put(b"k2", Bytes::from_static(b"v2")).unwrap();
    let delta = store.capture();
    assert!(!delta.is_base());
    let err = dir
        .checkpoint(2, [("s", delta)])
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(err.to_string().contains("does not follow"), "{err}");
    assert!(!store.next_is_delta());
    let full = store.capture();
    assert!(full.is_base());
    dir.checkpoint(3, [("s", full)]).unwrap().wait().unwrap();
    let mut restored = Checkpointed::new(InMemoryStore::new());
    dir.restore_latest(&mut [("s", &mut restored)], Fallback::Never)
        .unwrap();
    assert_eq!(content(&restored), content(&store));
    // Epochs must grow.
    assert!(dir.checkpoint(3, [("s", store.capture())]).is_err());
}

/// Two parts of one checkpoint restore from the same epoch.
#[test]
fn two_parts_one_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dir = CheckpointDir::open(tmp.path()).unwrap();
    let mut a = Checkpointed::new(InMemoryStore::new());
    #[cfg(feature = "ahash")]
    let mut b = Checkpointed::new(laminar_core::state::AHashMapStore::new());
    #[cfg(not(feature = "ahash"))]
    let mut b = Checkpointed::new(InMemoryStore::new());
    for i in 0..10u8 {
        a.put(&[i], Bytes::from(vec![i])).unwrap();
        b.put(&[i, i], Bytes::from(vec![i; 3])).unwrap();
        dir.checkpoint(u64::from(i) + 1, [("a", a.capture()), ("b", b.capture())])
            .unwrap();
    }
    dir.wait_idle().unwrap();
    let mut ra = Checkpointed::new(InMemoryStore::new());
    let mut rb = Checkpointed::new(InMemoryStore::new());
    let epoch = dir
        .restore_latest(
            &mut [
                (
                    "a",
                    &mut ra as &mut dyn laminar_core::state::checkpoint::Checkpointable,
                ),
                ("b", &mut rb),
            ],
            Fallback::Never,
        )
        .unwrap();
    assert_eq!(epoch, Some(10));
    assert_eq!(content(&ra), content(&a));
    assert_eq!(content(&rb), content(&b));
}

#[test]
fn retention_keeps_k() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dir =
        CheckpointDir::open_with(tmp.path(), CheckpointOptions::default().retain(2)).unwrap();
    let mut s = Checkpointed::new(InMemoryStore::new());
    for e in 1..=5u64 {
        s.put(&e.to_be_bytes(), Bytes::from_static(b"x")).unwrap();
        dir.checkpoint(e, [("s", s.capture())])
            .unwrap()
            .wait()
            .unwrap();
    }
    dir.wait_idle().unwrap();
    let files: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(dir.epochs().unwrap(), vec![4, 5], "{files:?}");
}

/// A `#[state_store]` struct checkpoints through the directory with
/// `Capture::from_snapshot` (a full base each time) and comes back whole.
#[cfg(all(feature = "macros", feature = "ahash"))]
#[test]
fn state_store_struct_through_the_directory() {
    use laminar_core::state::checkpoint::Capture;
    use laminar_core::state::state_store;

    #[state_store(backend = AHash)]
    struct Counts {
        #[state(key = u64)]
        per_user: u64,
        total: u64,
    }

    let tmp = tempfile::tempdir().unwrap();
    let mut dir = CheckpointDir::open(tmp.path()).unwrap();
    let mut state = Counts::new();
    let mut expected = BTreeMap::new();
    for epoch in 1..=3u64 {
        for user in 0..(epoch * 4) {
            state.per_user.put(user, user * epoch).unwrap();
            expected.insert(user, user * epoch);
        }
        state.total = epoch;
        let capture = Capture::from_snapshot(state.snapshot().unwrap());
        assert!(capture.is_base());
        dir.checkpoint(epoch, [("counts", capture)])
            .unwrap()
            .wait()
            .unwrap();
    }
    drop(dir);
    let dir = CheckpointDir::open(tmp.path()).unwrap();
    let manifest = dir.latest().unwrap().unwrap();
    assert_eq!(manifest.epoch(), 3);
    let restored = Counts::from_snapshot(&dir.read_snapshot(&manifest, "counts").unwrap()).unwrap();
    assert_eq!(restored.total, 3);
    let got: BTreeMap<u64, u64> = restored.per_user.iter().map(|(k, v)| (k, *v)).collect();
    assert_eq!(got, expected);
}

/// A checkpoint whose file cannot be written fails (its handle says so), the
/// previous checkpoint stays the latest, and the store's next capture is a
/// full one that succeeds.
#[test]
fn failed_write_leaves_the_previous_checkpoint_and_resyncs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dir = CheckpointDir::open(tmp.path()).unwrap();
    let mut store = Checkpointed::new(InMemoryStore::new());
    store.put(b"a", Bytes::from_static(b"1")).unwrap();
    dir.checkpoint(1, [("s", store.capture())])
        .unwrap()
        .wait()
        .unwrap();
    let after_1 = content(&store);
    // A directory where the delta's temporary file should go: creating it fails.
    let blocker = tmp.path().join(".tmp-s-00000000000000000002-delta.part");
    std::fs::create_dir(&blocker).unwrap();
    store.put(b"b", Bytes::from_static(b"2")).unwrap();
    let handle = dir.checkpoint(2, [("s", store.capture())]).unwrap();
    let err = handle.wait().unwrap_err();
    assert!(
        err.to_string()
            .contains(".tmp-s-00000000000000000002-delta.part"),
        "{err}"
    );
    assert_eq!(dir.epochs().unwrap(), vec![1]);
    assert!(!store.next_is_delta());
    let mut restored = Checkpointed::new(InMemoryStore::new());
    dir.restore_latest(&mut [("s", &mut restored)], Fallback::Never)
        .unwrap();
    assert_eq!(content(&restored), after_1);
    std::fs::remove_dir(&blocker).unwrap();
    store.put(b"c", Bytes::from_static(b"3")).unwrap();
    let full = store.capture();
    assert!(full.is_base());
    dir.checkpoint(3, [("s", full)]).unwrap().wait().unwrap();
    let mut restored = Checkpointed::new(InMemoryStore::new());
    assert_eq!(
        dir.restore_latest(&mut [("s", &mut restored)], Fallback::Never)
            .unwrap(),
        Some(3)
    );
    assert_eq!(content(&restored), content(&store));
    // A directory that open cannot remove does not stop it either.
    std::fs::create_dir(tmp.path().join(".tmp-stuck")).unwrap();
    drop(dir);
    CheckpointDir::open(tmp.path()).unwrap();
}

/// A capture taken before a restore and checkpointed after it cannot stand
/// in for the restored chain: the next delta is refused (and the capture
/// after that is full), so no checkpoint mixes the two histories.
#[test]
fn a_capture_from_before_a_restore_does_not_continue_the_restored_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dir = CheckpointDir::open(tmp.path()).unwrap();
    let mut first = Checkpointed::new(InMemoryStore::new());
    first.put(b"a", Bytes::from_static(b"1")).unwrap();
    dir.checkpoint(1u64, [("p", first.capture())])
        .unwrap()
        .wait()
        .unwrap();
    // A fresh store's first capture is a base of its own history.
    let mut s = Checkpointed::new(InMemoryStore::new());
    s.put(b"stale", Bytes::from_static(b"x")).unwrap();
    let early = s.capture();
    let m1 = dir.manifest(1).unwrap();
    dir.restore(&m1, &mut [("p", &mut s)]).unwrap();
    // The pre-restore capture is written as epoch 2: a delta that no longer
    // follows anything, or a base of the old history.
    let _ = dir.checkpoint(2u64, [("p", early)]).unwrap().wait();
    s.put(b"b", Bytes::from_static(b"2")).unwrap();
    let third = dir.checkpoint(3u64, [("p", s.capture())]).unwrap().wait();
    if third.is_err() {
        // Refused: the store's next capture is a full one.
        dir.checkpoint(4u64, [("p", s.capture())])
            .unwrap()
            .wait()
            .unwrap();
    }
    let latest = dir.latest().unwrap().unwrap();
    let mut r = Checkpointed::new(InMemoryStore::new());
    dir.restore(&latest, &mut [("p", &mut r)]).unwrap();
    assert_eq!(content(&r), content(&s), "epoch {}", latest.epoch());
    assert!(r.get(b"stale").is_none());
}

/// Opening a directory whose newest manifest is damaged deletes no older
/// checkpoint, so a fallback restore still finds the complete one.
#[test]
fn a_damaged_newest_manifest_keeps_the_older_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = Checkpointed::new(InMemoryStore::new());
    {
        let mut dir =
            CheckpointDir::open_with(tmp.path(), CheckpointOptions::default().retain(2)).unwrap();
        for e in 1..=2u64 {
            s.put(&e.to_be_bytes(), Bytes::from_static(b"x")).unwrap();
            dir.checkpoint(e, [("s", s.capture())])
                .unwrap()
                .wait()
                .unwrap();
        }
        dir.wait_idle().unwrap();
    }
    let newest = tmp.path().join(format!("checkpoint-{:020}.manifest", 2));
    let mut bytes = std::fs::read(&newest).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&newest, &bytes).unwrap();
    // A smaller retention at open must not prune either.
    let dir = CheckpointDir::open_with(tmp.path(), CheckpointOptions::default().retain(1)).unwrap();
    assert_eq!(dir.epochs().unwrap(), vec![1, 2]);
    let mut r = Checkpointed::new(InMemoryStore::new());
    let got = dir
        .restore_latest(&mut [("s", &mut r)], Fallback::ToOlder)
        .unwrap();
    assert_eq!(got, Some(1));
    assert_eq!(r.len(), 1);
}
