//! Crash test: a child process (this test binary re-invoked with
//! `MMAP_CRASH_CHILD` set) runs random puts, deletes, clears, restores,
//! flushes and compactions on a persistent store and is killed with SIGKILL
//! at a random moment; the parent reopens the store and checks it.
//!
//! # What is checked, precisely
//!
//! The child's operations are a deterministic function of a seed, so the
//! parent can replay them on a `BTreeMap` model. Before each commit (`flush`
//! or `compact`) the child appends `B <i>` to a report file, and after the
//! commit returns it appends `A <i>` (`i` is the index of the operation).
//! Let `a` be the last acknowledged commit and `b` the last begun one
//! (`b >= a`). After the kill the store must equal the model after operation
//! `a` (or the starting state if nothing was acknowledged) or, if `b > a`,
//! the model after operation `b`. Anything else (a loss, a mix of two
//! commits, an error on reopen) fails the test.
//!
//! Each kill point continues on the same file, starting from the state the
//! parent just verified. 50 kill points by default; set `CRASH_ITERATIONS`
//! for more (e.g. 1000).
#![cfg(all(feature = "mmap", unix))]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::crash::{child_args, replay, until_killed, Child, Journal, KillPlan, Reopened, REPORT};
use common::rng::Rng;
use laminar_core::state::{MmapStateStore, StateSnapshot, StateStore};

const CHILD_ENV: &str = "MMAP_CRASH_CHILD";
const SEED_ENV: &str = "MMAP_CRASH_SEED";
/// The journal note of a commit that is an explicit `compact`.
const COMPACT: &str = " compact";

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Flush,
    Compact,
    Clear,
    Snapshot,
    Restore,
}

/// The `i`-th operation of the run seeded with `seed` (a pure function).
///
/// Runs with an odd seed commit rarely, so more kills land inside writes
/// (and automatic compactions at the larger flushes) instead of in `flush`.
fn op(rng: &mut Rng, i: u64, seed: u64) -> Op {
    let key = |rng: &mut Rng| {
        let k = rng.below(600);
        let mut key = format!("key{k}").into_bytes();
        if k.is_multiple_of(7) {
            key.resize(30, b'~'); // some keys longer than the inline capacity
        }
        key
    };
    let mut roll = rng.below(1000);
    if seed % 2 == 1 && (850..970).contains(&roll) && rng.below(20) != 0 {
        roll = 600; // a delete instead of most flushes
    }
    match roll {
        0..=599 => {
            let k = key(rng);
            let len = rng.below(400) as usize;
            let mut v = vec![(i % 251) as u8; len];
            for (d, s) in v.iter_mut().zip(i.to_le_bytes()) {
                *d = s;
            }
            Op::Put(k, v)
        }
        600..=849 => Op::Delete(key(rng)),
        850..=969 => Op::Flush,
        970..=979 => Op::Compact,
        980..=984 => Op::Clear,
        985..=992 => Op::Snapshot,
        _ => Op::Restore,
    }
}

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

fn apply_model(model: &mut Map, snap: &mut Option<Map>, op: &Op) {
    match op {
        Op::Put(k, v) => {
            model.insert(k.clone(), v.clone());
        }
        Op::Delete(k) => {
            model.remove(k);
        }
        Op::Clear => model.clear(),
        Op::Snapshot => *snap = Some(model.clone()),
        Op::Restore => {
            if let Some(s) = snap {
                *model = s.clone();
            }
        }
        Op::Flush | Op::Compact => {}
    }
}

fn content(store: &MmapStateStore) -> Map {
    store
        .snapshot()
        .iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// The child: runs operations until killed.
#[test]
fn crash_child() {
    let Some((dir, seed)) = child_args(CHILD_ENV, SEED_ENV) else {
        return; // not a child run
    };
    let mut store = MmapStateStore::persistent(dir.join("state.db"), 0).unwrap();
    let mut journal = Journal::open(dir.join(REPORT));
    let mut rng = Rng(seed);
    let mut snap: Option<StateSnapshot> = None;
    for i in until_killed() {
        let op = op(&mut rng, i, seed);
        match &op {
            Op::Put(k, v) => store.put(k, Bytes::copy_from_slice(v)).unwrap(),
            Op::Delete(k) => store.delete(k).unwrap(),
            Op::Clear => store.clear(),
            Op::Snapshot => snap = Some(store.snapshot()),
            Op::Restore => {
                if let Some(s) = &snap {
                    store.restore(s.clone()).unwrap();
                }
            }
            Op::Flush => {
                journal.begin(i, "");
                store.flush().unwrap();
                journal.ack(i);
            }
            Op::Compact => {
                journal.begin(i, COMPACT);
                store.compact().unwrap();
                journal.ack(i);
            }
        }
    }
}

/// The model after the child's operations `1..=a` and `1..=b` from `start`.
fn expected(start: &Map, seed: u64, a: u64, b: u64) -> (Map, Map) {
    let mut rng = Rng(seed);
    let mut snap = None;
    replay(start, a, b, |model, i| {
        apply_model(model, &mut snap, &op(&mut rng, i, seed));
    })
}

fn describe(got: &Map, want: &Map) -> String {
    let missing = want.keys().filter(|k| !got.contains_key(*k)).count();
    let extra = got.keys().filter(|k| !want.contains_key(*k)).count();
    let differ = want
        .iter()
        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
        .count();
    format!(
        "{} keys vs {} expected: {missing} missing, {extra} extra, {differ} different values",
        got.len(),
        want.len()
    )
}

#[derive(Default, Debug)]
struct Stats {
    /// Kill points where the child had acknowledged at least one commit.
    acked: u64,
    /// Kill points inside a commit (begun, not acknowledged).
    in_commit: u64,
    /// Of those, inside an explicit `compact`.
    in_compaction: u64,
    /// Of those, reopened at the begun commit rather than the acknowledged one.
    later: u64,
    /// Operations up to the last begun commit, summed.
    ops: u64,
}

fn kill_once(dir: &Path, seed: u64, run_ms: u64, start: &Map, stats: &mut Stats) -> Map {
    let report = Child::seeded("crash_child", CHILD_ENV, dir, SEED_ENV, seed).run_and_kill(run_ms);
    let (a, b) = (report.acked(), report.begun());
    assert!(b >= a);
    let store = MmapStateStore::persistent(dir.join("state.db"), 0)
        .unwrap_or_else(|e| panic!("reopen after kill (seed {seed}, acked {a}, begun {b}): {e}"));
    let got = content(&store);
    let (at_a, at_b) = expected(start, seed, a, b);
    stats.acked += u64::from(a > 0);
    stats.in_compaction += u64::from(report.killed_inside(COMPACT));
    stats.in_commit += u64::from(b > a);
    stats.ops += b;
    if let Some(at) = report.reopened_at(&got, &at_a, &at_b) {
        stats.later += u64::from(at == Reopened::Begun);
        return got;
    }
    panic!(
        "seed {seed}: state after kill matches neither the last acknowledged commit \
         (op {a}: {}) nor the begun one (op {b}: {})",
        describe(&got, &at_a),
        describe(&got, &at_b)
    );
}

#[test]
fn kill_9_at_random_moments_never_loses_or_mixes_commits() {
    let plan = KillPlan::from_env(0xC0FF_EE00, 0xA5A5);
    let iterations = plan.iterations;
    let dir = tempfile::tempdir().unwrap();
    let mut state = Map::new();
    let mut stats = Stats::default();
    let enough = |s: &Stats| s.acked >= iterations / 4 && (s.in_commit > 0 || iterations < 20);
    let mut done = 0;
    for point in plan {
        if point.overtime && enough(&stats) {
            break;
        }
        state = kill_once(dir.path(), point.seed, point.run_ms, &state, &mut stats);
        done += 1;
    }
    eprintln!("{done} kill points: {stats:?}");
    // The kills must land while work is being committed, or the test proves nothing.
    assert!(stats.acked >= iterations / 4, "{stats:?}");
    assert!(stats.in_commit > 0 || iterations < 20, "{stats:?}");
}

const HOLDER_ENV: &str = "MMAP_LOCK_HOLDER";

/// Child of `lock_is_held_across_processes`: opens the store and waits.
#[test]
fn lock_holder_child() {
    let Ok(dir) = std::env::var(HOLDER_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let _store = MmapStateStore::persistent(dir.join("state.db"), 0).unwrap();
    std::fs::write(dir.join("ready"), b"1").unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn lock_is_held_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Child::new("lock_holder_child")
        .env(HOLDER_ENV, dir.path())
        .spawn();
    let start = Instant::now();
    while !dir.path().join("ready").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "child never opened the store"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let result = MmapStateStore::persistent(dir.path().join("state.db"), 0);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        matches!(result, Err(laminar_core::state::StateError::Locked { .. })),
        "{result:?}"
    );
    // The lock dies with the process.
    MmapStateStore::persistent(dir.path().join("state.db"), 0).unwrap();
}
