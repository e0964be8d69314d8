//! Rescaling keyed state by key groups, in the style of Flink's
//! `testKeyGroupSnapshotRestoreScaleUp` / `ScaleDown` / `UnevenDistribute`:
//! N workers each hold the keys of their groups and checkpoint them; M new
//! workers each restore exactly their groups from every old checkpoint.
//! Checked on every byte backend (128 groups; 1→2, 2→4, 4→2, 3→7, 15→77, and
//! a chain through all of them).

use std::collections::BTreeMap;

use bytes::Bytes;
use laminar_core::state::checkpoint::key_group::{
    restore_key_groups, KeyGroupedSnapshot, KeyGroups,
};
use laminar_core::state::{InMemoryStore, StateSnapshot, StateStore};

/// The byte backends of this build.
#[derive(Clone, Copy, Debug)]
enum Backend {
    InMemory,
    #[cfg(feature = "ahash")]
    AHash,
    #[cfg(feature = "mmap")]
    MmapInMemory,
    #[cfg(feature = "mmap")]
    MmapPersistent,
}

fn backends() -> Vec<Backend> {
    #[allow(unused_mut)]
    let mut v = vec![Backend::InMemory];
    #[cfg(feature = "ahash")]
    v.push(Backend::AHash);
    #[cfg(feature = "mmap")]
    {
        v.push(Backend::MmapInMemory);
        v.push(Backend::MmapPersistent);
    }
    v
}

/// Where persistent stores of one test live.
struct Env {
    dir: tempfile::TempDir,
    opened: usize,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            opened: 0,
        }
    }

    /// The file of the last persistent store `store` opened.
    #[cfg(feature = "mmap")]
    fn last_path(&self) -> std::path::PathBuf {
        self.dir.path().join(format!("worker-{}.db", self.opened))
    }

    fn store(&mut self, backend: Backend) -> Box<dyn StateStore> {
        self.opened += 1;
        let _path = self.dir.path().join(format!("worker-{}.db", self.opened));
        match backend {
            Backend::InMemory => Box::new(InMemoryStore::new()),
            #[cfg(feature = "ahash")]
            Backend::AHash => Box::new(laminar_core::state::AHashMapStore::new()),
            #[cfg(feature = "mmap")]
            Backend::MmapInMemory => Box::new(laminar_core::state::MmapStateStore::in_memory(4096)),
            #[cfg(feature = "mmap")]
            Backend::MmapPersistent => {
                Box::new(laminar_core::state::MmapStateStore::persistent(&_path, 4096).unwrap())
            }
        }
    }
}

/// The job's state: 1,500 keys (text and binary), with values that name them.
fn model() -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut m = BTreeMap::new();
    for i in 0..1200u32 {
        m.insert(
            format!("user:{i}").into_bytes(),
            format!("v{i}").into_bytes(),
        );
    }
    for i in 0..300u32 {
        let k = [&[0x00, 0xFF][..], &i.to_be_bytes()].concat();
        m.insert(k, vec![i as u8; (i % 200) as usize]);
    }
    m.insert(Vec::new(), b"the empty key".to_vec());
    m
}

/// N workers of `backend`, each fed the keys routed to it by key group, with
/// some overwrites and deletes on the way, as a running job would.
fn run_workers(
    env: &mut Env,
    backend: Backend,
    groups: KeyGroups,
    n: u32,
    m: &BTreeMap<Vec<u8>, Vec<u8>>,
) -> Vec<Box<dyn StateStore>> {
    let mut workers: Vec<Box<dyn StateStore>> = (0..n).map(|_| env.store(backend)).collect();
    for (i, (k, v)) in m.iter().enumerate() {
        let w = groups.worker_for_key(n, k).unwrap() as usize;
        let s = &mut workers[w];
        s.put(k, Bytes::from_static(b"stale")).unwrap();
        s.put(k, Bytes::from(v.clone())).unwrap();
        if i % 7 == 0 {
            let doomed = [k.as_slice(), b"#deleted"].concat();
            s.put(&doomed, Bytes::from_static(b"x")).unwrap();
            s.delete(&doomed).unwrap();
        }
    }
    workers
}

/// Each worker's checkpoint: snapshot, bytes, verified read-back, split by
/// group for the worker's own range (which also checks the routing).
fn checkpoint(groups: KeyGroups, workers: &[Box<dyn StateStore>]) -> Vec<KeyGroupedSnapshot> {
    let n = workers.len() as u32;
    workers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let bytes = s.snapshot().to_bytes().unwrap();
            let snap = StateSnapshot::from_bytes(&bytes).unwrap();
            let range = groups.range_for_worker(n, i as u32).unwrap();
            KeyGroupedSnapshot::for_range(snap, groups, range).unwrap()
        })
        .collect()
}

/// Restores `m` new workers from `parts` and checks that each holds exactly
/// the keys of its groups, with their values, and nothing else.
fn restore_and_check(
    env: &mut Env,
    backend: Backend,
    groups: KeyGroups,
    parts: &[KeyGroupedSnapshot],
    m: u32,
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
    what: &str,
) -> Vec<Box<dyn StateStore>> {
    let mut restored = Vec::new();
    let mut total = 0;
    for j in 0..m {
        let range = groups.range_for_worker(m, j).unwrap();
        let mut s = env.store(backend);
        // Whatever a reused worker held before is replaced.
        s.put(b"leftover from an earlier run", Bytes::from_static(b"!"))
            .unwrap();
        restore_key_groups(&mut *s, groups, parts, range).unwrap();
        s.flush().unwrap();
        let got: Vec<(Vec<u8>, Vec<u8>)> = s
            .prefix_scan(b"")
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = model
            .iter()
            .filter(|(k, _)| range.contains(groups.group_of(k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert!(
            !want.is_empty(),
            "{what}: worker {j} of {m} has no key to check"
        );
        assert_eq!(got, want, "{what}: worker {j} of {m} ({range})");
        assert_eq!(s.len(), want.len(), "{what}: worker {j} of {m}");
        // A persistent worker's restore is durable: its file reopens to it.
        #[cfg(feature = "mmap")]
        if matches!(backend, Backend::MmapPersistent) {
            drop(s);
            let reopened =
                laminar_core::state::MmapStateStore::persistent(env.last_path(), 4096).unwrap();
            let again: Vec<(Vec<u8>, Vec<u8>)> = reopened
                .prefix_scan(b"")
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect();
            assert_eq!(again, want, "{what}: worker {j} of {m} after reopen");
            s = Box::new(reopened);
        }
        total += s.len();
        restored.push(s);
    }
    assert_eq!(total, model.len(), "{what}");
    restored
}

fn rescale(from: u32, to: u32) {
    let groups = KeyGroups::DEFAULT;
    let model = model();
    for backend in backends() {
        let mut env = Env::new();
        let what = format!("{backend:?} {from}->{to}");
        let old = run_workers(&mut env, backend, groups, from, &model);
        let parts = checkpoint(groups, &old);
        assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), model.len());
        restore_and_check(&mut env, backend, groups, &parts, to, &model, &what);
    }
}

#[test]
fn scale_up_1_to_2() {
    rescale(1, 2);
}

#[test]
fn scale_up_2_to_4() {
    rescale(2, 4);
}

#[test]
fn scale_down_4_to_2() {
    rescale(4, 2);
}

#[test]
fn uneven_distribute_3_to_7() {
    rescale(3, 7);
}

#[test]
fn uneven_distribute_15_to_77() {
    rescale(15, 77);
}

/// Restored workers checkpoint again and the job rescales again: 1 → 2 → 4
/// → 2 → 3 → 7 → 15 → 77 → 128 → 1, each step checked in full.
#[test]
fn a_chain_of_rescales_keeps_every_key_exactly_once() {
    let groups = KeyGroups::DEFAULT;
    let model = model();
    for backend in backends() {
        let mut env = Env::new();
        let mut workers = run_workers(&mut env, backend, groups, 1, &model);
        let mut from = 1;
        for to in [2u32, 4, 2, 3, 7, 15, 77, 128, 1] {
            let parts = checkpoint(groups, &workers);
            let what = format!("{backend:?} chain {from}->{to}");
            workers = restore_and_check(&mut env, backend, groups, &parts, to, &model, &what);
            from = to;
        }
    }
}

/// A restore of one group out of 128 takes that group's entries only.
#[test]
fn restoring_one_group_takes_only_its_keys() {
    let groups = KeyGroups::DEFAULT;
    let model = model();
    let mut env = Env::new();
    let old = run_workers(&mut env, Backend::InMemory, groups, 4, &model);
    let parts = checkpoint(groups, &old);
    let range = laminar_core::state::checkpoint::key_group::KeyGroupRange::new(77, 78).unwrap();
    let mut s = InMemoryStore::new();
    restore_key_groups(&mut s, groups, &parts, range).unwrap();
    let want = model.keys().filter(|k| groups.group_of(k) == 77).count();
    assert!(want > 0);
    assert_eq!(s.len(), want);
    assert!(s.prefix_scan(b"").all(|(k, _)| groups.group_of(&k) == 77));
    // The part that owns group 77 has its extent recorded.
    let owner = groups.worker_for_group(4, 77).unwrap() as usize;
    assert_eq!(parts[owner].extent(77).map(|e| e.len()), Some(want));
}
