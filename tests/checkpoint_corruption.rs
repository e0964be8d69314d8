//! Corruption test of a small checkpoint chain (epoch 1 a base, epochs 2
//! and 3 deltas, so checkpoint 3 is base + 2 deltas + its manifest): every
//! byte of every file of checkpoint 3 flipped (one bit, cycling through the
//! eight positions), every file truncated to every
//! shorter length, and every file removed. Each time:
//!
//! - `restore_latest` without fallback is an `Err` whose message names the
//!   damaged file;
//! - with `Fallback::ToOlder` it restores exactly the newest checkpoint that
//!   does not use the damaged file (2 for the manifest or the last delta, 1
//!   for the first delta) with that checkpoint's content, or, for the base
//!   (which every checkpoint uses), an `Err` naming it;
//! - nothing panics, and the store is left empty after an `Err`.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::Path;

use bytes::Bytes;
use laminar_core::state::checkpoint::{CheckpointDir, CheckpointOptions, Checkpointed, Fallback};
use laminar_core::state::{InMemoryStore, StateStore};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

fn content<S: StateStore>(store: &S) -> Map {
    store
        .prefix_scan(b"")
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// Writes the chain; returns the cut of each epoch.
fn build(path: &Path) -> BTreeMap<u64, Map> {
    let options = CheckpointOptions::default()
        .retain(10)
        .materialize_ratio(f64::INFINITY)
        .max_deltas(usize::MAX);
    let mut dir = CheckpointDir::open_with(path, options).unwrap();
    let mut store = Checkpointed::new(InMemoryStore::new());
    let mut model = Map::new();
    let mut cuts = BTreeMap::new();
    for epoch in 1..=3u64 {
        for i in 0..12u64 {
            let key = format!("k{:02}", (i * 7 + epoch * 3) % 20).into_bytes();
            if (i + epoch) % 4 == 0 {
                store.delete(&key).unwrap();
                model.remove(&key);
            } else {
                let value = vec![(epoch * 16 + i) as u8; (i % 5) as usize];
                store.put(&key, Bytes::from(value.clone())).unwrap();
                model.insert(key, value);
            }
        }
        let capture = store.capture();
        assert_eq!(capture.is_base(), epoch == 1);
        dir.checkpoint(epoch, [("state", capture)])
            .unwrap()
            .wait()
            .unwrap();
        cuts.insert(epoch, model.clone());
    }
    cuts
}

/// `(file name, newest epoch that survives its damage)`.
fn chain_files(dir: &CheckpointDir) -> Vec<(String, Option<u64>)> {
    let manifest = dir.manifest(3).unwrap();
    let files = manifest.part("state").unwrap().files();
    assert_eq!(files.len(), 3, "base + 2 deltas");
    vec![
        (files[0].name().to_string(), None),
        (files[1].name().to_string(), Some(1)),
        (files[2].name().to_string(), Some(2)),
        (
            "checkpoint-00000000000000000003.manifest".to_string(),
            Some(2),
        ),
    ]
}

fn check_damage(
    dir: &CheckpointDir,
    cuts: &BTreeMap<u64, Map>,
    file: &str,
    survivor: Option<u64>,
    what: &str,
) {
    let mut store = Checkpointed::new(InMemoryStore::new());
    match dir.restore_latest(&mut [("state", &mut store)], Fallback::Never) {
        Ok(e) => panic!("{what}: restore succeeded (epoch {e:?})"),
        Err(err) => {
            let msg = err.to_string();
            assert!(
                msg.contains(file),
                "{what}: error does not name {file}: {msg}"
            );
            assert!(store.is_empty(), "{what}: store not left empty");
        }
    }
    let mut store = Checkpointed::new(InMemoryStore::new());
    match (
        dir.restore_latest(&mut [("state", &mut store)], Fallback::ToOlder),
        survivor,
    ) {
        (Ok(Some(e)), Some(expected)) => {
            assert_eq!(e, expected, "{what}: fell back to the wrong checkpoint");
            assert_eq!(content(&store), cuts[&e], "{what}: epoch {e} content");
        }
        (Err(err), None) => {
            let msg = err.to_string();
            assert!(
                msg.contains(file),
                "{what}: error does not name {file}: {msg}"
            );
            assert!(store.is_empty(), "{what}: store not left empty");
        }
        (other, _) => panic!("{what}: with fallback got {other:?}, expected {survivor:?}"),
    }
}

#[test]
fn every_flip_truncation_and_removal_is_an_error_or_an_older_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path();
    let cuts = build(path);
    let dir = CheckpointDir::open_with(
        path,
        CheckpointOptions::default()
            .retain(10)
            .materialize_ratio(f64::INFINITY),
    )
    .unwrap();
    // Undamaged, the chain restores.
    let mut store = Checkpointed::new(InMemoryStore::new());
    assert_eq!(
        dir.restore_latest(&mut [("state", &mut store)], Fallback::Never)
            .unwrap(),
        Some(3)
    );
    assert_eq!(content(&store), cuts[&3]);

    let mut damaged = 0;
    for (file, survivor) in chain_files(&dir) {
        let full = path.join(&file);
        let original = std::fs::read(&full).unwrap();
        // Damage in place (no truncate-to-zero rewrite, which makes some
        // file systems flush on close and the test slow).
        let handle = std::fs::OpenOptions::new().write(true).open(&full).unwrap();
        for i in 0..original.len() {
            // One bit per byte, cycling through the eight positions.
            let bit = 1u8 << (i % 8);
            handle.write_all_at(&[original[i] ^ bit], i as u64).unwrap();
            let what = format!("{file} bit {bit:#x} of byte {i}");
            check_damage(&dir, &cuts, &file, survivor, &what);
            damaged += 1;
            handle.write_all_at(&original[i..=i], i as u64).unwrap();
        }
        for len in (0..original.len()).rev() {
            handle.set_len(len as u64).unwrap();
            check_damage(
                &dir,
                &cuts,
                &file,
                survivor,
                &format!("{file} truncated to {len}"),
            );
            damaged += 1;
        }
        drop(handle);
        std::fs::remove_file(&full).unwrap();
        if file.ends_with(".manifest") {
            // Without its manifest, checkpoint 3 does not exist: the latest is 2.
            let mut store = Checkpointed::new(InMemoryStore::new());
            assert_eq!(
                dir.restore_latest(&mut [("state", &mut store)], Fallback::Never)
                    .unwrap(),
                Some(2)
            );
            assert_eq!(content(&store), cuts[&2]);
        } else {
            check_damage(&dir, &cuts, &file, survivor, &format!("{file} removed"));
        }
        std::fs::write(&full, &original).unwrap();
    }
    assert!(damaged > 500, "only {damaged} damaged variants");
    // Repaired, the chain restores again.
    let mut store = Checkpointed::new(InMemoryStore::new());
    assert_eq!(
        dir.restore_latest(&mut [("state", &mut store)], Fallback::Never)
            .unwrap(),
        Some(3)
    );
    assert_eq!(content(&store), cuts[&3]);
}
