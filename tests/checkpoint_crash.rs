//! Crash test of the checkpoint directory: a child process (this test binary
//! re-invoked with `CKPT_CRASH_CHILD` set) restores the latest checkpoint of
//! two stores, then runs random puts and deletes and starts checkpoints of
//! both, keeping a few in flight; it appends `D <epoch>` to a report file
//! after each `wait()` returns. The parent SIGKILLs it at a random moment.
//!
//! # What is checked
//!
//! The child's operations are a pure function of the seed and of the epoch
//! it restored, so the parent replays them on `BTreeMap` models and knows
//! each epoch's cut. After the kill, the reopened directory's newest
//! checkpoint must be at least the last one the child reported durable, and
//! `restore_latest` (no fallback) must give both stores exactly that
//! checkpoint's cut: never an error, never one store from another epoch.
//!
//! Each kill point continues on the same directory (so restore-then-delta,
//! retention and background merges all run across crashes). 50 kill points
//! by default (the shared `KillPlan`); set `CRASH_ITERATIONS` for more (e.g.
//! 1000) and `CRASH_SEED` for another run.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::io::Write;

use bytes::Bytes;
use laminar_core::state::checkpoint::{
    CheckpointDir, CheckpointOptions, Checkpointable, Checkpointed, Fallback,
};
use laminar_core::state::{InMemoryStore, StateStore};

mod common;
use common::crash::{child_args, until_killed, Child, KillPlan, REPORT};
use common::rng::Rng;

const CHILD_ENV: &str = "CKPT_CRASH_CHILD";
const SEED_ENV: &str = "CKPT_CRASH_SEED";

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

#[cfg(feature = "ahash")]
type StoreB = laminar_core::state::AHashMapStore;
#[cfg(not(feature = "ahash"))]
type StoreB = InMemoryStore;

enum Action {
    Put(usize, Vec<u8>, Vec<u8>),
    Delete(usize, Vec<u8>),
    Checkpoint,
}

/// The next action of a run (a pure function of the generator's state).
fn action(rng: &mut Rng) -> Action {
    let part = (rng.below(2)) as usize;
    let key = format!("key{:03}", rng.below(300)).into_bytes();
    match rng.below(100) {
        0..=64 => {
            let len = rng.below(48) as usize;
            let fill = rng.below(256) as u8;
            Action::Put(part, key, vec![fill; len])
        }
        65..=89 => Action::Delete(part, key),
        _ => Action::Checkpoint,
    }
}

fn options() -> CheckpointOptions {
    CheckpointOptions::default()
        .retain(2)
        .materialize_ratio(0.4)
        .max_deltas(4)
}

fn rng_for(seed: u64, start_epoch: u64) -> Rng {
    Rng(seed ^ start_epoch.wrapping_mul(0x2545_F491_4F6C_DD1D))
}

/// The child: restore, then work and checkpoint until killed.
#[test]
fn crash_child() {
    let Some((dir_path, seed)) = child_args(CHILD_ENV, SEED_ENV) else {
        return;
    };
    let dir_path = dir_path.as_path();
    let mut dir = CheckpointDir::open_with(dir_path, options()).unwrap();
    let mut a = Checkpointed::new(InMemoryStore::new());
    let mut b = Checkpointed::new(StoreB::new());
    let start = dir
        .restore_latest(
            &mut [("a", &mut a as &mut dyn Checkpointable), ("b", &mut b)],
            Fallback::Never,
        )
        .unwrap()
        .unwrap_or(0);
    let mut report = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir_path.join(REPORT))
        .unwrap();
    let mut rng = rng_for(seed, start);
    let mut epoch = start;
    let mut in_flight = std::collections::VecDeque::new();
    let mut max_in_flight = 1 + rng.below(3) as usize;
    for _ in until_killed() {
        match action(&mut rng) {
            Action::Put(0, k, v) => a.put(&k, Bytes::from(v)).unwrap(),
            Action::Put(_, k, v) => b.put(&k, Bytes::from(v)).unwrap(),
            Action::Delete(0, k) => a.delete(&k).unwrap(),
            Action::Delete(_, k) => b.delete(&k).unwrap(),
            Action::Checkpoint => {
                epoch += 1;
                let handle = dir
                    .checkpoint(epoch, [("a", a.capture()), ("b", b.capture())])
                    .unwrap();
                in_flight.push_back(handle);
                while in_flight.len() >= max_in_flight {
                    let h = in_flight.pop_front().unwrap();
                    let e = h.epoch();
                    h.wait().unwrap();
                    writeln!(report, "D {e}").unwrap();
                }
                max_in_flight = 1 + (epoch % 3) as usize;
            }
        }
    }
}

/// Replays a child's run from `start` (the state at epoch `start_epoch`) and
/// returns the cut of every epoch up to `until`.
fn replay(seed: u64, start_epoch: u64, start: &[Map; 2], until: u64) -> BTreeMap<u64, [Map; 2]> {
    let mut rng = rng_for(seed, start_epoch);
    let mut maps = start.clone();
    let mut cuts = BTreeMap::new();
    let mut epoch = start_epoch;
    // The child draws this once before its loop.
    rng.below(3);
    while epoch < until {
        match action(&mut rng) {
            Action::Put(p, k, v) => {
                maps[p].insert(k, v);
            }
            Action::Delete(p, k) => {
                maps[p].remove(&k);
            }
            Action::Checkpoint => {
                epoch += 1;
                cuts.insert(epoch, maps.clone());
            }
        }
    }
    cuts
}

fn content<S: StateStore>(store: &S) -> Map {
    store
        .prefix_scan(b"")
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

#[test]
fn killed_checkpoint_writer_restores_last_durable_or_later() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir_path = tmp.path().join("ckpt");
    std::fs::create_dir_all(&dir_path).unwrap();
    let mut state: [Map; 2] = [Map::new(), Map::new()];
    let mut epoch = 0u64;
    let mut advanced = 0;
    // CRASH_ITERATIONS kill points (default 50), CRASH_SEED (else this seed).
    let plan = KillPlan::from_env(0x5EED_C4EC, 0xC4);
    let iterations = plan.iterations;
    for (iteration, point) in plan.enumerate() {
        if point.overtime && advanced >= iterations / 4 {
            break;
        }
        let seed = point.seed;
        let report = Child::seeded("crash_child", CHILD_ENV, &dir_path, SEED_ENV, seed)
            .run_and_kill(point.run_ms);
        let durable = report.last("D ");
        let dir = CheckpointDir::open_with(&dir_path, options()).unwrap();
        let latest = dir.epochs().unwrap().last().copied().unwrap_or(0);
        assert!(
            latest >= durable.max(epoch),
            "iteration {iteration}: newest checkpoint {latest}, child reported {durable} durable, \
             previous {epoch}"
        );
        let mut a = Checkpointed::new(InMemoryStore::new());
        let mut b = Checkpointed::new(StoreB::new());
        let restored = dir
            .restore_latest(
                &mut [("a", &mut a as &mut dyn Checkpointable), ("b", &mut b)],
                Fallback::Never,
            )
            .unwrap_or_else(|e| panic!("iteration {iteration}: restore failed: {e}"));
        assert_eq!(restored.unwrap_or(0), latest);
        if latest > epoch {
            let cuts = replay(seed, epoch, &state, latest);
            state = cuts[&latest].clone();
            advanced += 1;
        }
        assert_eq!(
            content(&a),
            state[0],
            "iteration {iteration}, epoch {latest}, store a"
        );
        assert_eq!(
            content(&b),
            state[1],
            "iteration {iteration}, epoch {latest}, store b"
        );
        epoch = latest;
        // The report covers one run only.
        let _ = std::fs::remove_file(dir_path.join(REPORT));
    }
    eprintln!("{iterations} kill points, {advanced} advanced, last epoch {epoch}");
    assert!(
        advanced >= iterations / 4,
        "only {advanced} of {iterations} runs committed anything"
    );
}
