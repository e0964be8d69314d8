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

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use laminar_core::state::{MmapStateStore, StateSnapshot, StateStore};

#[path = "common/crash.rs"]
mod crash;
use crash::{last, run_and_kill, Rng};

const CHILD_ENV: &str = "MMAP_CRASH_CHILD";
const SEED_ENV: &str = "MMAP_CRASH_SEED";

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
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // not a child run
    };
    let dir = PathBuf::from(dir);
    let seed: u64 = std::env::var(SEED_ENV).unwrap().parse().unwrap();
    let mut store = MmapStateStore::persistent(dir.join("state.db"), 0).unwrap();
    let mut report = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("report"))
        .unwrap();
    let mut rng = Rng(seed);
    let mut snap: Option<StateSnapshot> = None;
    let start = Instant::now();
    for i in 1.. {
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
            Op::Flush | Op::Compact => {
                let tag = if matches!(op, Op::Compact) {
                    " compact"
                } else {
                    ""
                };
                report
                    .write_all(format!("B {i}{tag}\n").as_bytes())
                    .unwrap();
                if matches!(op, Op::Flush) {
                    store.flush().unwrap();
                } else {
                    store.compact().unwrap();
                }
                report.write_all(format!("A {i}\n").as_bytes()).unwrap();
            }
        }
        if start.elapsed() > Duration::from_secs(60) {
            break; // the parent is gone
        }
    }
}

/// Replays the child's operations `1..=upto` from `start`; returns the
/// model after `a` and after `b`.
fn expected(start: &Map, seed: u64, a: u64, b: u64) -> (Map, Map) {
    let mut rng = Rng(seed);
    let mut model = start.clone();
    let mut snap = None;
    let mut at_a = start.clone();
    for i in 1..=b {
        let op = op(&mut rng, i, seed);
        apply_model(&mut model, &mut snap, &op);
        if i == a {
            at_a = model.clone();
        }
    }
    (at_a, model)
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
    let report = run_and_kill("crash_child", dir, CHILD_ENV, SEED_ENV, seed, run_ms);
    let (a, b) = (last(&report, "A "), last(&report, "B "));
    assert!(b >= a);
    let store = MmapStateStore::persistent(dir.join("state.db"), 0)
        .unwrap_or_else(|e| panic!("reopen after kill (seed {seed}, acked {a}, begun {b}): {e}"));
    let got = content(&store);
    let (at_a, at_b) = expected(start, seed, a, b);
    stats.acked += u64::from(a > 0);
    let in_compaction = report
        .lines()
        .next_back()
        .is_some_and(|l| l.starts_with("B ") && l.ends_with("compact"));
    stats.in_compaction += u64::from(in_compaction);
    stats.in_commit += u64::from(b > a);
    stats.ops += b;
    if got == at_a || (b > a && got == at_b) {
        stats.later += u64::from(b > a && got == at_b && at_a != at_b);
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
    let iterations: u64 = std::env::var("CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let base_seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xC0FF_EE00);
    let mut timing = Rng(base_seed ^ 0xA5A5);
    let mut state = Map::new();
    let mut stats = Stats::default();
    let enough = |s: &Stats| s.acked >= iterations / 4 && (s.in_commit > 0 || iterations < 20);
    let mut done = 0;
    for it in 0..iterations.saturating_mul(4) {
        if it >= iterations && enough(&stats) {
            break;
        }
        let seed = base_seed.wrapping_add(it.wrapping_mul(0x1_0000_0001));
        // Kill between 5 ms (often before the child opened the store) and
        // 250 ms; on a machine so loaded that too few kills landed after a
        // commit, go on with longer runs rather than fail for its speed.
        let slack = 250 * (it / iterations.max(1));
        let run_ms = 5 + timing.below(245) + slack;
        state = kill_once(dir.path(), seed, run_ms, &state, &mut stats);
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
    let dir = PathBuf::from(dir);
    let _store = MmapStateStore::persistent(dir.join("state.db"), 0).unwrap();
    std::fs::write(dir.join("ready"), b"1").unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn lock_is_held_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lock_holder_child", "--nocapture"])
        .env(HOLDER_ENV, dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
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
