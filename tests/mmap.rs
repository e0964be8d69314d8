//! `MmapStateStore`: the shared model test in both modes (plus flush, reopen
//! and compact in the persistent mode), and the file-level behaviours:
//! locking, empty/foreign/future/truncated files, space bounds, 64-bit offsets.
#![cfg(feature = "mmap")]

mod common;

use std::path::Path;

use bytes::Bytes;
use common::model::{self, apply, cases, check_invariants, Model, Op};
use common::rng::Rng;
use laminar_core::state::{MmapStateStore, StateError, StateStore, StateStoreExt};
use proptest::prelude::*;

/// Operations of the persistent mode: the shared ones plus commit and reopen.
#[derive(Debug, Clone)]
enum POp {
    Base(Op),
    Flush,
    Reopen,
    Compact,
}

fn pop() -> impl Strategy<Value = POp> {
    prop_oneof![
        20 => model::op().prop_map(POp::Base),
        2 => Just(POp::Flush),
        2 => Just(POp::Reopen),
        1 => Just(POp::Compact),
    ]
}

fn open(path: &Path) -> MmapStateStore {
    MmapStateStore::persistent(path, 4096).expect("open")
}

fn run_persistent(ops: &[POp]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    let mut store = open(&path);
    let mut model = Model::default();
    // The model as of the last commit (flush or compaction).
    let mut committed = Model::default();
    for op in ops {
        match op {
            POp::Base(op) => apply(&mut store, &mut model, op)?,
            POp::Flush => {
                store
                    .flush()
                    .map_err(|e| TestCaseError::fail(format!("flush: {e}")))?;
                committed.map = model.map.clone();
                committed.typed = model.typed.clone();
            }
            POp::Compact => {
                store
                    .compact()
                    .map_err(|e| TestCaseError::fail(format!("compact: {e}")))?;
                prop_assert_eq!(store.fragmentation(), 0.0);
                committed.map = model.map.clone();
                committed.typed = model.typed.clone();
            }
            POp::Reopen => {
                drop(store);
                store = MmapStateStore::persistent(&path, 4096)
                    .map_err(|e| TestCaseError::fail(format!("reopen: {e}")))?;
                model.map = committed.map.clone();
                model.typed = committed.typed.clone();
            }
        }
        check_invariants(&store, &model)?;
        prop_assert!((0.0..=1.0).contains(&store.fragmentation()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1000)))]

    #[test]
    fn in_memory_mode_matches_model(ops in model::ops(64)) {
        model::run(&mut MmapStateStore::in_memory(0), &ops)?;
    }

    #[test]
    fn persistent_mode_matches_model_across_flush_reopen_compact(
        ops in proptest::collection::vec(pop(), 1..64)
    ) {
        run_persistent(&ops)?;
    }
}

#[test]
fn get_ref_values_are_16_byte_aligned_and_typed_reads_are_zero_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut stores = vec![
        MmapStateStore::in_memory(1 << 16),
        MmapStateStore::persistent(dir.path().join("a.db"), 1 << 16).unwrap(),
    ];
    for store in &mut stores {
        for i in 0..200u32 {
            let key = vec![b'k'; (i % 37) as usize];
            store
                .put(&key, Bytes::from(vec![1u8; (i % 29) as usize]))
                .unwrap();
            store
                .put_typed(&i.to_be_bytes(), &(u64::from(i), format!("v{i}")))
                .unwrap();
        }
        for i in 0..200u32 {
            let v = store.get_ref(&i.to_be_bytes()).unwrap();
            assert_eq!(v.as_ptr() as usize % 16, 0);
            let (n, s) = store
                .with_archived::<(u64, String), _>(&i.to_be_bytes(), |a| {
                    (a.0.to_native(), a.1.as_str().to_owned())
                })
                .unwrap()
                .unwrap();
            assert_eq!((n, s), (u64::from(i), format!("v{i}")));
        }
    }
}

#[test]
fn second_open_is_locked_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut first = MmapStateStore::persistent(&path, 0).unwrap();
    first.put(b"k", Bytes::from_static(b"v")).unwrap();
    first.flush().unwrap();
    match MmapStateStore::persistent(&path, 0) {
        Err(StateError::Locked { path: p }) => assert_eq!(p, path),
        other => panic!("expected Locked, got {other:?}"),
    }
    // Still locked after a compaction replaced the file.
    first.compact().unwrap();
    assert!(matches!(
        MmapStateStore::persistent(&path, 0),
        Err(StateError::Locked { .. })
    ));
    drop(first);
    let second = MmapStateStore::persistent(&path, 0).unwrap();
    assert_eq!(second.get(b"k").unwrap().as_ref(), b"v");
    assert!(second.is_persistent());
    assert_eq!(second.path(), Some(path.as_path()));
}

#[test]
fn zero_length_file_opens_as_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::File::create(&path).unwrap();
    let mut store = MmapStateStore::persistent(&path, 0).unwrap();
    assert!(store.is_empty());
    store.put(b"", Bytes::from_static(b"empty key")).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = MmapStateStore::persistent(&path, 0).unwrap();
    assert_eq!(store.get(b"").unwrap().as_ref(), b"empty key");
}

#[test]
fn foreign_truncated_and_future_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Another format, small and large.
    for (name, len) in [("small.txt", 100usize), ("big.txt", 100_000)] {
        let path = dir.path().join(name);
        std::fs::write(&path, vec![b'x'; len]).unwrap();
        let err = MmapStateStore::persistent(&path, 0).unwrap_err();
        assert!(matches!(err, StateError::Corruption { .. }), "{err}");
        assert!(err.to_string().contains("bad magic"), "{err}");
        assert!(err.to_string().contains(name), "{err}");
    }
    // A store truncated into its header pages, and into its log.
    let path = dir.path().join("t.db");
    let mut store = MmapStateStore::persistent(&path, 0).unwrap();
    for i in 0..100u32 {
        store
            .put(&i.to_be_bytes(), Bytes::from(vec![7u8; 100]))
            .unwrap();
    }
    store.flush().unwrap();
    drop(store);
    let full = std::fs::read(&path).unwrap();
    for cut in [10usize, 5000, 9000, 20_000] {
        std::fs::write(&path, &full[..cut]).unwrap();
        let err = MmapStateStore::persistent(&path, 0).unwrap_err();
        assert!(err.to_string().contains("truncated"), "cut {cut}: {err}");
    }
    // A future format version (with a valid checksum).
    let mut future = full.clone();
    future[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32c::crc32c(&future[0..48]);
    future[48..52].copy_from_slice(&crc.to_le_bytes());
    future[4096..4096 + 52].fill(0);
    std::fs::write(&path, &future).unwrap();
    let version = match MmapStateStore::persistent(&path, 0) {
        Err(StateError::UnsupportedVersion {
            found, supported, ..
        }) => (found, supported),
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    };
    assert_eq!(version, (2, 1));
}

#[test]
fn update_heavy_workload_keeps_the_file_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.db");
    let mut store = MmapStateStore::persistent(&path, 0).unwrap();
    let mut mem = MmapStateStore::in_memory(0);
    let keys = 4_000u32;
    let value = |i: u32, round: u32| Bytes::from(vec![(i ^ round) as u8; 240]);
    // Each record: 16-byte header + 16 (4-byte key padded) + 240 = 272 bytes.
    let live_records = u64::from(keys) * 272;
    let mut max_file = 0;
    let mut max_mem = 0;
    // 10x the live size in updates, flushing every 1,000 writes.
    for round in 0..10u32 {
        for i in 0..keys {
            store.put(&i.to_be_bytes(), value(i, round)).unwrap();
            mem.put(&i.to_be_bytes(), value(i, round)).unwrap();
            if i % 1000 == 999 {
                store.flush().unwrap();
                max_file = max_file.max(std::fs::metadata(&path).unwrap().len());
            }
            max_mem = max_mem.max(mem.mapped_len());
        }
    }
    // Documented bound at a commit: log <= 2 x live + MIN_COMPACT_GARBAGE,
    // file <= 1.5 x log + 64 KiB + 8 KiB; one flush interval (1,000 records) may add to it.
    let bound = (2 * live_records + (1 << 20)) * 3 / 2 + 64 * 1024 + 8192 + 1000 * 272 * 3 / 2;
    assert!(
        max_file <= bound,
        "file reached {max_file} bytes, bound {bound}"
    );
    assert!(
        max_mem <= bound,
        "mapping reached {max_mem} bytes, bound {bound}"
    );
    assert!(store.fragmentation() <= 0.75);
    drop(store);
    let store = MmapStateStore::persistent(&path, 0).unwrap();
    for i in 0..keys {
        assert_eq!(store.get(&i.to_be_bytes()).unwrap(), value(i, 9));
    }
}

#[test]
fn compact_reclaims_garbage_and_keeps_content() {
    // A starting capacity that cannot be mapped (or whose sum with the
    // header overflows) falls back to what the records need, here too.
    for (persistent, cap) in [
        (false, 0),
        (true, 0),
        (false, usize::MAX),
        (true, usize::MAX),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut store = if persistent {
            MmapStateStore::persistent(dir.path().join("c.db"), cap).unwrap()
        } else {
            MmapStateStore::in_memory(cap)
        };
        for i in 0..1000u32 {
            store
                .put(&i.to_be_bytes(), Bytes::from(vec![1u8; 50]))
                .unwrap();
        }
        for i in 0..500u32 {
            store.delete(&i.to_be_bytes()).unwrap();
        }
        assert!(store.fragmentation() > 0.4);
        store.compact().unwrap();
        assert_eq!(store.fragmentation(), 0.0);
        assert_eq!(store.len(), 500);
        assert!(store.get(&10u32.to_be_bytes()).is_none());
        assert_eq!(store.get(&700u32.to_be_bytes()).unwrap().len(), 50);
    }
}

/// Offsets past 4 GiB: a sparse gap moves the log end past 2^32 cheaply.
#[cfg(feature = "__test-hooks")] // `append_gap_for_tests`
#[test]
fn offsets_beyond_4_gib_work_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.db");
    let mut store = MmapStateStore::persistent(&path, 0).unwrap();
    store
        .put(b"low", Bytes::from_static(b"below 4 GiB"))
        .unwrap();
    store.append_gap_for_tests(4u64 << 30).unwrap();
    for i in 0..100u32 {
        store.put_typed(&i.to_be_bytes(), &u64::from(i)).unwrap();
    }
    assert!(store.mapped_len() > 1 << 32);
    store.flush().unwrap();
    drop(store);
    let mut store = MmapStateStore::persistent(&path, 0).unwrap();
    assert_eq!(store.get(b"low").unwrap().as_ref(), b"below 4 GiB");
    for i in 0..100u32 {
        assert_eq!(
            store.get_typed::<u64>(&i.to_be_bytes()).unwrap(),
            Some(u64::from(i))
        );
        assert_eq!(
            store.get_ref(&i.to_be_bytes()).unwrap().as_ptr() as usize % 16,
            0
        );
    }
    // Compaction drops the gap.
    store.compact().unwrap();
    assert!(store.mapped_len() < 1 << 20);
    assert!(std::fs::metadata(&path).unwrap().len() < 1 << 20);
    assert_eq!(
        store.get_typed::<u64>(&99u32.to_be_bytes()).unwrap(),
        Some(99)
    );
}

#[test]
fn unflushed_changes_are_discarded_on_drop_and_restore_commits_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let mut store = MmapStateStore::persistent(&path, 0).unwrap();
    store.put(b"a", Bytes::from_static(b"1")).unwrap();
    store.put(b"b", Bytes::from_static(b"2")).unwrap();
    store.flush().unwrap();
    let snap = store.snapshot();
    store.put(b"c", Bytes::from_static(b"3")).unwrap();
    store.delete(b"a").unwrap();
    drop(store);
    let mut store = MmapStateStore::persistent(&path, 0).unwrap();
    assert!(store.snapshot().iter().eq(snap.iter()));
    store.clear();
    store.put(b"z", Bytes::from_static(b"26")).unwrap();
    store.flush().unwrap();
    store.restore(snap.clone()).unwrap();
    drop(store); // restore not flushed: the cleared state stays
    let mut store = MmapStateStore::persistent(&path, 0).unwrap();
    assert_eq!(store.len(), 1);
    store.restore(snap.clone()).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = MmapStateStore::persistent(&path, 0).unwrap();
    assert!(store.snapshot().iter().eq(snap.iter()));
}

#[test]
fn in_memory_capacity_is_a_start_size_not_a_limit_nor_eagerly_filled() {
    // 64 GiB of address space: only touched pages cost memory.
    let mut big = MmapStateStore::in_memory(64 << 30);
    big.put(b"k", Bytes::from_static(b"v")).unwrap();
    assert_eq!(big.get(b"k").unwrap().as_ref(), b"v");
    // A tiny start grows as needed.
    let mut small = MmapStateStore::in_memory(16);
    for i in 0..10_000u32 {
        small
            .put(&i.to_be_bytes(), Bytes::from(vec![3u8; 100]))
            .unwrap();
    }
    assert!(small.mapped_len() > 1_000_000);
    assert_eq!(small.len(), 10_000);
    assert_eq!(small.get(&9_999u32.to_be_bytes()).unwrap().len(), 100);
    assert!(!small.is_persistent());
    assert_eq!(small.path(), None);
}

/// Scans interleaved with many inserts and deletes (past the point where the
/// scan view is rebuilt) agree with a `BTreeMap`.
#[test]
fn scans_interleaved_with_writes_match_a_btreemap() {
    let mut store = MmapStateStore::in_memory(0);
    let mut model = std::collections::BTreeMap::new();
    let mut rng = Rng(12345);
    for step in 0..20_000u32 {
        let x = rng.next();
        let key = format!("{:04}", (x >> 33) % 3000).into_bytes();
        if (x >> 20).is_multiple_of(3) {
            store.delete(&key).unwrap();
            model.remove(&key);
        } else {
            store
                .put(&key, Bytes::from(step.to_le_bytes().to_vec()))
                .unwrap();
            model.insert(key.clone(), step.to_le_bytes().to_vec());
        }
        if step % 97 == 0 {
            let prefix = &key[..2];
            let got: Vec<_> = store.prefix_scan(prefix).map(|(k, _)| k.to_vec()).collect();
            let want: Vec<_> = model
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            assert_eq!(got, want, "step {step}");
            let got: Vec<_> = store
                .range_scan(b"1000".as_slice()..b"2000".as_slice())
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect();
            let want: Vec<_> = model
                .range(b"1000".to_vec()..b"2000".to_vec())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(got, want, "step {step}");
        }
    }
    let snap = store.snapshot();
    assert!(snap
        .iter()
        .eq(model.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))));
}

/// A file whose header claims the last sequence number: commits are refused
/// with an error, never wrapped around (which would let the older slot win).
#[test]
fn exhausted_sequence_number_is_an_error_not_a_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seq.db");
    let mut store = MmapStateStore::persistent(&path, 0).unwrap();
    store.put(b"k", Bytes::from_static(b"v")).unwrap();
    store.flush().unwrap();
    drop(store);
    let mut bytes = std::fs::read(&path).unwrap();
    // The newest slot is B (the creation wrote A, the flush B).
    let slot = &mut bytes[4096..4096 + 52];
    slot[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    let crc = crc32c::crc32c(&slot[0..48]);
    slot[48..52].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let mut store = MmapStateStore::persistent(&path, 0).unwrap();
    assert_eq!(store.get(b"k").unwrap().as_ref(), b"v");
    store.put(b"k2", Bytes::from_static(b"v2")).unwrap();
    assert!(matches!(
        store.flush(),
        Err(StateError::CapacityExceeded(_))
    ));
    assert!(matches!(
        store.compact(),
        Err(StateError::CapacityExceeded(_))
    ));
}
