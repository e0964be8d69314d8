//! Corruption test: flip bytes and truncate a persisted store at many
//! offsets; every reopen must be an `Err` with a message naming the file, or
//! a state that was committed at some flush; none may panic.
//!
//! By default every byte of both header slots and every 11th byte of the rest
//! of the file is flipped; set `CORRUPTION_STRIDE=1` to flip every byte.
#![cfg(feature = "mmap")]

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use bytes::Bytes;
use laminar_core::state::{MmapStateStore, StateError, StateStore};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

fn content(store: &MmapStateStore) -> Map {
    store
        .snapshot()
        .iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// Builds a store committed several times; returns its bytes and every
/// committed state (oldest first).
fn build(path: &Path) -> (Vec<u8>, Vec<Map>) {
    let mut store = MmapStateStore::persistent(path, 0).unwrap();
    let mut states = vec![Map::new()];
    for round in 0..4u32 {
        for i in 0..60u32 {
            let key = format!("k{:03}", (i * 7 + round) % 90);
            store
                .put(
                    key.as_bytes(),
                    Bytes::from(vec![(i + round) as u8; (i % 40) as usize]),
                )
                .unwrap();
            if i % 9 == 0 {
                store.delete(format!("k{:03}", i % 90).as_bytes()).unwrap();
            }
        }
        store.flush().unwrap();
        states.push(content(&store));
    }
    // Records written after the last flush: never committed.
    store.put(b"uncommitted", Bytes::from_static(b"x")).unwrap();
    drop(store);
    (std::fs::read(path).unwrap(), states)
}

enum Outcome {
    Error,
    State(usize),
}

fn check(path: &Path, bytes: &[u8], states: &[Map], what: &str) -> Outcome {
    std::fs::write(path, bytes).unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| {
        MmapStateStore::persistent(path, 0).map(|s| content(&s))
    }))
    .unwrap_or_else(|_| panic!("{what}: reopen panicked"));
    match result {
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(&path.display().to_string()), "{what}: {msg}");
            if let StateError::Corruption { location, .. } = &e {
                assert!(location.contains("offset"), "{what}: {msg}");
            }
            Outcome::Error
        }
        Ok(got) => match states.iter().position(|s| *s == got) {
            Some(i) => Outcome::State(i),
            None => panic!("{what}: reopened to a state that was never committed"),
        },
    }
}

#[test]
fn flipped_bytes_are_detected_or_give_a_committed_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (original, states) = build(&path);
    let latest = states.len() - 1;
    let stride: usize = std::env::var("CORRUPTION_STRIDE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11)
        .max(1);
    // Where the committed log ends: everything past it is ignored.
    let used = original.iter().rposition(|&b| b != 0).unwrap_or(0) + 1;
    let mut offsets: Vec<usize> = (0..64).chain(4096..4096 + 64).collect();
    offsets.extend((8192..used).step_by(stride));
    offsets.extend([used, used + 100, original.len() - 1]);
    let (mut errors, mut older, mut same) = (0, 0, 0);
    for &off in &offsets {
        if off >= original.len() {
            continue;
        }
        for mask in [0x01u8, 0xFF] {
            let mut bytes = original.clone();
            bytes[off] ^= mask;
            match check(&path, &bytes, &states, &format!("flip {mask:#x} at {off}")) {
                Outcome::Error => errors += 1,
                Outcome::State(i) if i == latest => same += 1,
                Outcome::State(_) => older += 1,
            }
        }
    }
    eprintln!(
        "{} flips: {errors} errors, {older} older states, {same} latest",
        offsets.len() * 2
    );
    assert!(
        errors > offsets.len() / 2,
        "most flips in committed data must be detected"
    );
    assert!(
        older > 0,
        "a torn newest header must fall back to the older slot"
    );
}

#[test]
fn truncations_are_detected_or_give_a_committed_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (original, states) = build(&path);
    let mut cuts: Vec<usize> = (0..original.len()).step_by(97).collect();
    cuts.extend([
        1,
        8,
        51,
        52,
        4095,
        4096,
        4148,
        8191,
        8192,
        8193,
        original.len() - 1,
    ]);
    for cut in cuts {
        if cut >= original.len() {
            continue;
        }
        match check(
            &path,
            &original[..cut],
            &states,
            &format!("truncate at {cut}"),
        ) {
            Outcome::Error => {}
            // A zero-length file is a new, empty store (documented).
            Outcome::State(0) => assert!(cut == 0 || states[0].is_empty()),
            Outcome::State(_) => {}
        }
    }
}
