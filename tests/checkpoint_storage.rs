//! Checkpoints on a second home: `RemoteCheckpoints` over every
//! `CheckpointStorage` (the local directory always; with the `object-store`
//! feature, `object_store`'s in-memory and local-filesystem stores, and S3
//! when `LAMINAR_S3_ENDPOINT` names a server, e.g. the moto server `.ci/run`
//! starts; `LAMINAR_S3_BUCKET` names an existing bucket, default
//! `laminar-test`).
//!
//! Each storage gets the same checks: the primitive operations (byte
//! ranges, listing by prefix, multipart-sized files, conditional put), an
//! incremental chain uploaded and restored into a fresh directory on
//! "another machine" (only new files uploaded, the restored store continues
//! the chain), a second writer that cannot commit an epoch already
//! committed, a damaged local file refused at upload, a damaged remote file
//! refused at restore, and garbage collection.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::sync::Arc;

use bytes::Bytes;
use laminar_core::state::checkpoint::storage::{
    is_not_found, CheckpointStorage, LocalStorage, RemoteCheckpoints,
};
use laminar_core::state::checkpoint::{CheckpointDir, CheckpointOptions, Checkpointed, Fallback};
use laminar_core::state::{InMemoryStore, StateError, StateStore};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

fn content<S: StateStore>(store: &S) -> Map {
    store
        .prefix_scan(b"")
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

fn io_kind(e: &StateError) -> Option<ErrorKind> {
    match e {
        StateError::Io { source, .. } => Some(source.kind()),
        _ => None,
    }
}

/// A unique prefix per test run, so tests can share one bucket.
fn run_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{test}-{}-{nanos}", std::process::id())
}

fn primitives(storage: &dyn CheckpointStorage, prefix: &str) {
    let a = format!("{prefix}/a.bin");
    let b = format!("{prefix}/sub/b.bin");
    // Larger than the multipart threshold (8 MiB) and not a multiple of it.
    let big: Vec<u8> = (0..(17u32 << 20) + 12345)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_eq!(storage.put(&a, &mut &big[..]).unwrap(), big.len() as u64);
    assert_eq!(storage.put(&b, &mut &b"small"[..]).unwrap(), 5);
    assert_eq!(storage.get(&b).unwrap(), b"small");
    assert_eq!(storage.get(&a).unwrap(), big);
    let mut sink = Vec::new();
    assert_eq!(storage.get_to(&a, &mut sink).unwrap(), big.len() as u64);
    assert_eq!(sink, big);
    let range = (9u64 << 20) - 7..(9 << 20) + 100;
    assert_eq!(
        storage.get_range(&a, range.clone()).unwrap(),
        big[range.start as usize..range.end as usize]
    );
    assert!(storage.get_range(&b, 3..9).is_err(), "range past the end");
    let mut listed = storage.list(prefix).unwrap();
    listed.sort();
    assert_eq!(listed, vec![a.clone(), b.clone()]);
    assert_eq!(
        storage.list(&format!("{prefix}/sub")).unwrap(),
        vec![b.clone()]
    );
    // Replacing a file.
    storage.put(&b, &mut &b"other"[..]).unwrap();
    assert_eq!(storage.get(&b).unwrap(), b"other");
    // Conditional put.
    let c = format!("{prefix}/c");
    assert!(storage.put_if_absent(&c, b"first").unwrap());
    assert!(!storage.put_if_absent(&c, b"second").unwrap());
    assert_eq!(storage.get(&c).unwrap(), b"first");
    // Missing files, bad names.
    let missing = storage.get(&format!("{prefix}/missing")).unwrap_err();
    assert!(is_not_found(&missing), "{missing}");
    assert!(matches!(
        storage.get("../etc/passwd"),
        Err(StateError::InvalidArgument(_))
    ));
    assert!(matches!(
        storage.put("", &mut &b""[..]),
        Err(StateError::InvalidArgument(_))
    ));
    for name in [&a, &b, &c] {
        storage.delete(name).unwrap();
    }
    storage.delete(&c).unwrap(); // twice: not an error
    assert!(storage.list(prefix).unwrap().is_empty());
    let counters = storage.counters();
    assert!(counters.bytes_written >= big.len() as u64);
    assert!(counters.bytes_read >= 2 * big.len() as u64);
}

/// Writes 3 checkpoints (a base and 2 deltas), uploading each; returns the
/// content after each epoch.
fn write_chain(dir: &mut CheckpointDir, remote: &RemoteCheckpoints) -> BTreeMap<u64, Map> {
    let mut store = Checkpointed::new(InMemoryStore::new());
    let mut model = Map::new();
    let mut cuts = BTreeMap::new();
    for epoch in 1..=3u64 {
        for i in 0..200u64 {
            let key = format!("k{:04}", (i * 7 + epoch * 13) % 300).into_bytes();
            if (i + epoch) % 5 == 0 {
                store.delete(&key).unwrap();
                model.remove(&key);
            } else {
                let value = format!("v{epoch}-{i}").into_bytes();
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
        let stats = remote.upload(dir, epoch).unwrap();
        // Each epoch uploads its own part file and its manifest; the
        // earlier files of the chain are there already.
        assert_eq!(stats.files, 2, "epoch {epoch}: {stats:?}");
        assert_eq!(stats.skipped as u64, epoch - 1, "epoch {epoch}: {stats:?}");
        // A retried upload of the same checkpoint is harmless.
        let again = remote.upload(dir, epoch).unwrap();
        assert_eq!(again.files, 0);
        cuts.insert(epoch, model.clone());
    }
    cuts
}

fn checkpoints(storage: Arc<dyn CheckpointStorage>, prefix: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let remote = RemoteCheckpoints::shared(Arc::clone(&storage), prefix).unwrap();
    assert_eq!(remote.epochs().unwrap(), Vec::<u64>::new());
    let cuts = {
        // No background merges: the chain stays base + deltas.
        let options = CheckpointOptions::default()
            .materialize_ratio(f64::INFINITY)
            .max_deltas(usize::MAX);
        let mut dir = CheckpointDir::open_with(tmp.path().join("a"), options).unwrap();
        write_chain(&mut dir, &remote)
    };
    assert_eq!(remote.epochs().unwrap(), vec![1, 2, 3]);

    // Another machine: a fresh local directory.
    let mut dir_b = CheckpointDir::open(tmp.path().join("b")).unwrap();
    let mut restored = Checkpointed::new(InMemoryStore::new());
    let epoch = remote
        .restore_latest(&dir_b, &mut [("state", &mut restored)], Fallback::Never)
        .unwrap();
    assert_eq!(epoch, Some(3));
    assert_eq!(content(restored.inner()), cuts[&3]);
    // An older epoch, on purpose.
    let mut older = Checkpointed::new(InMemoryStore::new());
    let manifest = remote.manifest(1).unwrap();
    let dir_c = CheckpointDir::open(tmp.path().join("c")).unwrap();
    remote
        .restore(&manifest, &dir_c, &mut [("state", &mut older)])
        .unwrap();
    assert_eq!(content(older.inner()), cuts[&1]);
    drop(dir_c);

    // The restored store continues the chain: its next capture is a delta,
    // uploaded alone (base and deltas are in the storage under their names).
    restored
        .put(b"after", Bytes::from_static(b"restore"))
        .unwrap();
    let capture = restored.capture();
    assert!(!capture.is_base());
    dir_b
        .checkpoint(4, [("state", capture)])
        .unwrap()
        .wait()
        .unwrap();
    let stats = remote.upload(&dir_b, 4).unwrap();
    assert_eq!((stats.files, stats.skipped), (2, 3), "{stats:?}");
    let mut expected = cuts[&3].clone();
    expected.insert(b"after".to_vec(), b"restore".to_vec());
    drop(dir_b);
    let dir_d = CheckpointDir::open(tmp.path().join("d")).unwrap();
    let mut again = Checkpointed::new(InMemoryStore::new());
    assert_eq!(
        remote
            .restore_latest(&dir_d, &mut [("state", &mut again)], Fallback::Never)
            .unwrap(),
        Some(4)
    );
    assert_eq!(content(again.inner()), expected);
    drop(dir_d);

    // A second writer with its own directory cannot commit epoch 4 again.
    {
        let mut dir_e = CheckpointDir::open(tmp.path().join("e")).unwrap();
        let mut other = Checkpointed::new(InMemoryStore::new());
        other.put(b"x", Bytes::from_static(b"y")).unwrap();
        dir_e
            .checkpoint(4, [("state", other.capture())])
            .unwrap()
            .wait()
            .unwrap();
        let err = remote.upload(&dir_e, 4).unwrap_err();
        assert_eq!(io_kind(&err), Some(ErrorKind::AlreadyExists), "{err}");
        assert!(err.to_string().contains("another writer"), "{err}");
        assert_eq!(remote.manifest(4).unwrap(), remote.manifest(4).unwrap());
    }

    // A local file damaged before upload is refused and never stored.
    {
        let mut dir_f = CheckpointDir::open(tmp.path().join("f")).unwrap();
        let mut other = Checkpointed::new(InMemoryStore::new());
        other.put(b"x", Bytes::from_static(b"y")).unwrap();
        dir_f
            .checkpoint(10, [("other", other.capture())])
            .unwrap()
            .wait()
            .unwrap();
        let manifest = dir_f.manifest(10).unwrap();
        let file = &manifest.parts()[0].files()[0];
        let path = dir_f.path().join(file.name());
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x80;
        std::fs::write(&path, &bytes).unwrap();
        let err = remote.upload(&dir_f, 10).unwrap_err();
        assert!(matches!(err, StateError::Corruption { .. }), "{err}");
        assert!(err.to_string().contains(file.name()), "{err}");
        assert_eq!(remote.epochs().unwrap(), vec![1, 2, 3, 4]);
        let stored = storage.list(prefix).unwrap();
        assert!(
            !stored.iter().any(|n| n.ends_with(file.name())),
            "{stored:?}"
        );
    }

    // A damaged remote file is refused at restore, naming it; with
    // fallback, the newest checkpoint not using it is restored.
    {
        let delta4 = remote.manifest(4).unwrap().parts()[0].files()[3]
            .name()
            .to_string();
        let name = format!("{prefix}/{delta4}");
        let mut bytes = storage.get(&name).unwrap();
        bytes[7] ^= 1;
        storage.put(&name, &mut &bytes[..]).unwrap();
        let dir_g = CheckpointDir::open(tmp.path().join("g")).unwrap();
        let mut target = Checkpointed::new(InMemoryStore::new());
        let err = remote
            .restore_latest(&dir_g, &mut [("state", &mut target)], Fallback::Never)
            .unwrap_err();
        assert!(err.to_string().contains(&delta4), "{err}");
        assert!(target.inner().is_empty());
        assert_eq!(
            remote
                .restore_latest(&dir_g, &mut [("state", &mut target)], Fallback::ToOlder)
                .unwrap(),
            Some(3)
        );
        assert_eq!(content(target.inner()), cuts[&3]);
    }

    // Garbage collection keeps the newest 2 manifests and what they use.
    let deleted = remote.collect_garbage(2).unwrap();
    assert_eq!(remote.epochs().unwrap(), vec![3, 4]);
    assert!(deleted >= 2, "{deleted}");
    let dir_h = CheckpointDir::open(tmp.path().join("h")).unwrap();
    let mut target = Checkpointed::new(InMemoryStore::new());
    remote
        .restore(
            &remote.manifest(3).unwrap(),
            &dir_h,
            &mut [("state", &mut target)],
        )
        .unwrap();
    assert_eq!(content(target.inner()), cuts[&3]);
    for name in storage.list(prefix).unwrap() {
        storage.delete(&name).unwrap();
    }
}

#[test]
fn local_storage() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = LocalStorage::open(tmp.path()).unwrap();
    primitives(&storage, "prims");
    checkpoints(Arc::new(storage), "job/ckpt");
}

/// Two writers race to commit the same epoch: exactly one wins.
#[test]
fn local_storage_conditional_put_race() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Arc::new(LocalStorage::open(tmp.path()).unwrap());
    for round in 0..20 {
        let name = format!("race/m{round}");
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4u8)
                .map(|w| {
                    let storage = Arc::clone(&storage);
                    let name = name.clone();
                    s.spawn(move || storage.put_if_absent(&name, &[w; 64]).unwrap())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(wins, 1, "round {round}");
        let stored = storage.get(&name).unwrap();
        assert!(stored.iter().all(|&b| b == stored[0]) && stored.len() == 64);
    }
}

#[cfg(feature = "object-store")]
mod object_store_backends {
    use super::*;
    use laminar_core::state::checkpoint::storage::ObjectStorage;

    #[test]
    fn in_memory() {
        let storage = ObjectStorage::in_memory().unwrap();
        primitives(&storage, "prims");
        checkpoints(Arc::new(storage), "job/ckpt");
    }

    #[test]
    fn local_filesystem() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = ObjectStorage::local(tmp.path()).unwrap();
        primitives(&storage, "prims");
        checkpoints(Arc::new(storage), "job/ckpt");
    }

    /// `None` (with a printed notice) when no S3 server is configured.
    pub(crate) fn s3() -> Option<ObjectStorage> {
        let Ok(endpoint) = std::env::var("LAMINAR_S3_ENDPOINT") else {
            eprintln!(
                "NOTICE: LAMINAR_S3_ENDPOINT is not set; skipping the S3 test \
                 (.ci/run starts a moto server and sets it)"
            );
            return None;
        };
        let bucket = std::env::var("LAMINAR_S3_BUCKET").unwrap_or_else(|_| "laminar-test".into());
        Some(ObjectStorage::s3(&bucket, Some(&endpoint)).unwrap())
    }

    #[test]
    fn s3_server() {
        let Some(storage) = s3() else { return };
        let prefix = run_prefix("prims");
        primitives(&storage, &prefix);
        checkpoints(Arc::new(storage), &run_prefix("ckpt"));
    }

    /// Many writers race to create one manifest on S3: exactly one wins.
    #[test]
    fn s3_conditional_put_race() {
        let Some(storage) = s3() else { return };
        let storage = Arc::new(storage);
        let name = format!("{}/m", run_prefix("race"));
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4u8)
                .map(|w| {
                    let storage = Arc::clone(&storage);
                    let name = name.clone();
                    s.spawn(move || storage.put_if_absent(&name, &[w; 64]).unwrap())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(wins, 1);
        storage.delete(&name).unwrap();
    }
}

/// Write rate of a checkpoint of `LAMINAR_BENCH_ENTRIES` (default 1M)
/// entries: to the local directory alone, and to the local directory then
/// uploaded to each storage. Prints the rates; asserts nothing about time.
/// `cargo test --release --features object-store --test checkpoint_storage -- --ignored --nocapture`
#[test]
#[ignore]
fn write_rate() {
    let entries: u64 = std::env::var("LAMINAR_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().unwrap();
    #[cfg_attr(not(feature = "object-store"), allow(unused_mut))]
    let mut storages: Vec<(&str, Arc<dyn CheckpointStorage>)> = vec![(
        "LocalStorage",
        Arc::new(LocalStorage::open(tmp.path().join("local-storage")).unwrap()),
    )];
    #[cfg(feature = "object-store")]
    {
        use laminar_core::state::checkpoint::storage::ObjectStorage;
        storages.push((
            "object_store InMemory",
            Arc::new(ObjectStorage::in_memory().unwrap()),
        ));
        storages.push((
            "object_store LocalFileSystem",
            Arc::new(ObjectStorage::local(tmp.path().join("os-local")).unwrap()),
        ));
        if let Some(s3) = object_store_backends::s3() {
            storages.push(("object_store S3 (moto)", Arc::new(s3)));
        }
    }
    let fill = || {
        let mut store = Checkpointed::new(InMemoryStore::new());
        for i in 0..entries {
            let key = format!("key:{i:012}");
            store
                .put(key.as_bytes(), Bytes::copy_from_slice(&i.to_le_bytes()))
                .unwrap();
        }
        store
    };
    let run = |label: &str, storage: Option<&Arc<dyn CheckpointStorage>>, n: usize| {
        let mut store = fill();
        let mut dir = CheckpointDir::open(tmp.path().join(format!("dir-{n}"))).unwrap();
        let start = std::time::Instant::now();
        dir.checkpoint(1, [("state", store.capture())])
            .unwrap()
            .wait()
            .unwrap();
        // The writer thread frees the capture and collects garbage after
        // the commit: count that in the local part, for both.
        dir.wait_idle().unwrap();
        let local = start.elapsed();
        let mut bytes = 0;
        if let Some(storage) = storage {
            let remote =
                RemoteCheckpoints::shared(Arc::clone(storage), &run_prefix(&format!("bench-{n}")))
                    .unwrap();
            bytes = remote.upload(&dir, 1).unwrap().bytes;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{label:<44} {entries} entries in {secs:.3} s ({:.2} M entries/s; local part {:.3} s; uploaded {:.1} MB)",
            entries as f64 / secs / 1e6,
            local.as_secs_f64(),
            bytes as f64 / 1e6
        );
        secs
    };
    let base = run("local checkpoint directory only", None, 0);
    for (i, (label, storage)) in storages.iter().enumerate() {
        let secs = run(
            &format!("local directory + upload to {label}"),
            Some(storage),
            i + 1,
        );
        println!("    {:.2}x the local directory's time", secs / base);
    }
}
