//! `MmapStateStore::get` returns a `Bytes` that references the mapping (no
//! copy). These tests pin the guarantee that makes it sound: a value handed
//! out keeps the bytes it had for its whole life, whatever the store does
//! afterwards (overwrite, delete, growth far past the initial capacity,
//! compaction, clear, restore, flush, drop), in both modes.
#![cfg(feature = "mmap")]

mod common;

use std::path::Path;

use bytes::Bytes;
use common::rng::Rng;
use laminar_core::state::{MmapStateStore, StateError, StateStore};

/// A value that is recognisably the `i`-th one of round `round`.
fn value(i: u32, round: u32, len: usize) -> Bytes {
    Bytes::from(Rng(u64::from(i) << 32 | u64::from(round)).bytes(len))
}

fn open(persistent: bool, path: &Path) -> MmapStateStore {
    if persistent {
        MmapStateStore::persistent(path, 0).unwrap()
    } else {
        MmapStateStore::in_memory(0)
    }
}

/// Values held from `get`, with a private copy of what they must stay equal to.
#[derive(Default)]
struct Held(Vec<(Bytes, Vec<u8>, &'static str)>);

impl Held {
    /// Takes `get(key)`, checks it is zero-copy, and remembers it.
    fn take(&mut self, store: &MmapStateStore, key: &[u8], when: &'static str) {
        let b = store.get(key).unwrap();
        let r = store.get_ref(key).unwrap();
        assert_eq!(b.as_ptr(), r.as_ptr(), "{when}: get must not copy");
        assert_eq!(b.as_ptr() as usize % 16, 0, "{when}: values are 16-aligned");
        self.0.push((b.clone(), b.to_vec(), when));
    }

    fn check(&self, after: &str) {
        for (b, want, when) in &self.0 {
            assert_eq!(
                &b[..],
                &want[..],
                "value taken {when}, changed after {after}"
            );
        }
    }
}

#[test]
fn values_from_get_survive_every_mutation_in_both_modes() {
    for persistent in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zc.db");
        let mut store = open(persistent, &path);
        let mut held = Held::default();

        store.put(b"k", value(0, 0, 64)).unwrap();
        held.take(&store, b"k", "first put");
        store.put(b"k", value(0, 1, 64)).unwrap();
        held.check("overwrite");
        held.take(&store, b"k", "overwrite");
        store.delete(b"k").unwrap();
        held.check("delete");

        // Grow far past the initial capacity: many new segments.
        for i in 0..20_000u32 {
            store
                .put(&i.to_be_bytes(), value(i, 2, (i % 300) as usize))
                .unwrap();
            if i % 2_000 == 1 {
                held.take(&store, &i.to_be_bytes(), "growth");
            }
        }
        assert!(store.mapped_len() > 2 << 20);
        held.check("growth");

        store.flush().unwrap();
        held.check("flush");
        held.take(&store, &7u32.to_be_bytes(), "flush");

        // Overwrite everything twice: compaction runs (automatically in
        // memory, at flush in a file), then once more explicitly.
        for round in 3..5 {
            for i in 0..20_000u32 {
                store
                    .put(&i.to_be_bytes(), value(i, round, (i % 300) as usize))
                    .unwrap();
            }
            store.flush().unwrap();
            held.check("automatic compaction");
        }
        held.take(&store, &8u32.to_be_bytes(), "automatic compaction");
        store.compact().unwrap();
        held.check("compact");
        assert_eq!(store.fragmentation(), 0.0);
        held.take(&store, &9u32.to_be_bytes(), "compact");

        let snap = store.snapshot();
        store.clear();
        held.check("clear");
        for i in 0..100u32 {
            store.put(&i.to_be_bytes(), value(i, 9, 100)).unwrap();
        }
        held.check("puts after clear");
        held.take(&store, &10u32.to_be_bytes(), "clear");
        store.restore(snap).unwrap();
        held.check("restore");
        held.take(&store, &11u32.to_be_bytes(), "restore");
        assert_eq!(store.get(&11u32.to_be_bytes()).unwrap(), value(11, 4, 11));
        store.flush().unwrap();
        held.check("flush after restore");

        // Values from scans share the mapping too.
        let scanned: Vec<(Bytes, Bytes)> = store.prefix_scan(&[0, 0, 0]).collect();
        let copies: Vec<Vec<u8>> = scanned.iter().map(|(_, v)| v.to_vec()).collect();
        store.clear();
        store.flush().unwrap();
        for ((_, v), want) in scanned.iter().zip(&copies) {
            assert_eq!(&v[..], &want[..], "scanned value changed after clear");
        }

        drop(store);
        held.check("drop");
        drop(scanned);
        if persistent {
            // The held values all come from files replaced since (the flush
            // after `clear` rewrote the file), so the file is not locked.
            let mut store = MmapStateStore::persistent(&path, 0).unwrap();
            for i in 0..5_000u32 {
                store.put(&i.to_be_bytes(), value(i, 10, 200)).unwrap();
            }
            store.flush().unwrap();
            held.check("reopen and writes");
            store.compact().unwrap();
            drop(store);
            held.check("second drop");
        }
    }
}

/// A held value keeps the file it references locked: otherwise the next
/// opener would append over records written after the last flush, which
/// the value may reference.
#[test]
fn held_values_keep_the_file_locked_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock.db");
    let mut store = MmapStateStore::persistent(&path, 0).unwrap();
    store.put(b"committed", value(1, 0, 40)).unwrap();
    store.flush().unwrap();
    store.put(b"pending", value(2, 0, 40)).unwrap();
    let pending = store.get(b"pending").unwrap();
    let committed = store.get(b"committed").unwrap();
    drop(store);
    assert!(matches!(
        MmapStateStore::persistent(&path, 0),
        Err(StateError::Locked { .. })
    ));
    assert_eq!(pending, value(2, 0, 40));
    drop(pending);
    assert!(matches!(
        MmapStateStore::persistent(&path, 0),
        Err(StateError::Locked { .. })
    ));
    assert_eq!(committed, value(1, 0, 40));
    drop(committed);
    // Nothing references the file now: the unflushed put is gone, as after
    // a crash.
    let mut store = MmapStateStore::persistent(&path, 0).unwrap();
    assert!(store.get(b"pending").is_none());
    let committed = store.get(b"committed").unwrap();
    // A compaction replaces the file: values of the old one do not lock.
    store.compact().unwrap();
    drop(store);
    let mut store = MmapStateStore::persistent(&path, 0).unwrap();
    for i in 0..1_000u32 {
        store.put(&i.to_be_bytes(), value(i, 3, 100)).unwrap();
    }
    store.flush().unwrap();
    drop(store);
    assert_eq!(committed, value(1, 0, 40));
}

/// A value read on another thread while the store keeps appending,
/// growing and compacting.
#[test]
fn values_are_stable_across_threads_while_the_store_writes() {
    for persistent in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(persistent, &dir.path().join("t.db"));
        store.put(b"shared", value(5, 5, 256)).unwrap();
        let v = store.get(b"shared").unwrap();
        let reader = std::thread::spawn(move || {
            let want = value(5, 5, 256);
            for _ in 0..2_000 {
                assert_eq!(v, want);
                std::thread::yield_now();
            }
        });
        for round in 0..4 {
            for i in 0..5_000u32 {
                store.put(&i.to_be_bytes(), value(i, round, 150)).unwrap();
            }
            store.put(b"shared", value(6, round, 256)).unwrap();
            store.flush().unwrap();
        }
        store.compact().unwrap();
        reader.join().unwrap();
    }
}

/// Records never straddle two segments: values of every size around the
/// growth points read back whole, aligned, and after a reopen.
#[test]
fn values_at_segment_boundaries_read_back_whole() {
    for persistent in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        let mut store = open(persistent, &path);
        let len = |i: u32| (i as usize * 37) % 9_000;
        for i in 0..3_000u32 {
            store.put(&i.to_be_bytes(), value(i, 0, len(i))).unwrap();
        }
        for i in 0..3_000u32 {
            let got = store.get_ref(&i.to_be_bytes()).unwrap();
            assert_eq!(got, &value(i, 0, len(i))[..]);
            assert_eq!(got.as_ptr() as usize % 16, 0);
        }
        if persistent {
            store.flush().unwrap();
            drop(store);
            let store = MmapStateStore::persistent(&path, 0).unwrap();
            for i in 0..3_000u32 {
                assert_eq!(store.get(&i.to_be_bytes()).unwrap(), value(i, 0, len(i)));
            }
        }
    }
}
