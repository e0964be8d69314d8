//! Crash test of a `#[state_store(backend = Mmap)]` struct: its flush spans
//! several files (one per table, plus the single values) and must still be
//! atomic. A child process (this test binary re-invoked with
//! `STRUCT_CRASH_CHILD` set) runs random puts, deletes, clears and flushes
//! and is killed with SIGKILL at a random moment; the parent reopens the
//! state and checks it.
//!
//! The child's operations are a deterministic function of a seed. Before
//! each flush it appends `B <i>` to a report file, after the flush returns
//! `A <i>`. With `a` the last acknowledged flush and `b` the last begun one,
//! the reopened state must equal a model replayed up to `a` or, if `b > a`,
//! up to `b`: never a mix of two flushes (one table from each), never an
//! error. Each kill point continues from the state just verified. 50 kill
//! points by default; `CRASH_ITERATIONS` for more.
#![cfg(all(feature = "macros", feature = "mmap", unix))]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::crash::{child_args, replay, until_killed, Child, Journal, KillPlan, REPORT};
use common::rng::Rng;
use laminar_core::state::key::Dict;
use laminar_core::state::state_store;

const CHILD_ENV: &str = "STRUCT_CRASH_CHILD";
const SEED_ENV: &str = "STRUCT_CRASH_SEED";

#[state_store(backend = Mmap)]
struct Joined {
    #[state(key = u64)]
    counts: i64,
    #[state(key = (Dict<String>, u32))]
    names: Vec<u8>,
    watermark: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    counts: BTreeMap<u64, i64>,
    names: BTreeMap<(String, u32), Vec<u8>>,
    watermark: u64,
}

#[derive(Debug)]
enum Op {
    Count(u64, i64),
    Uncount(u64),
    Name(String, u32, Vec<u8>),
    Unname(String, u32),
    Watermark(u64),
    ClearCounts,
    Flush,
}

/// The `i`-th operation of the run seeded with `seed` (a pure function).
fn op(rng: &mut Rng, i: u64) -> Op {
    let region = |rng: &mut Rng| ["eu", "us", "ap", "sa"][rng.below(4) as usize].to_string();
    match rng.below(1000) {
        0..=399 => Op::Count(rng.below(500), i as i64),
        400..=549 => Op::Uncount(rng.below(500)),
        550..=749 => {
            let r = region(rng);
            let id = rng.below(200) as u32;
            Op::Name(r, id, vec![(i % 251) as u8; rng.below(300) as usize])
        }
        750..=849 => {
            let r = region(rng);
            Op::Unname(r, rng.below(200) as u32)
        }
        850..=899 => Op::Watermark(i),
        900..=904 => Op::ClearCounts,
        _ => Op::Flush,
    }
}

fn apply_model(m: &mut Model, op: &Op) {
    match op {
        Op::Count(k, v) => {
            m.counts.insert(*k, *v);
        }
        Op::Uncount(k) => {
            m.counts.remove(k);
        }
        Op::Name(r, id, v) => {
            m.names.insert((r.clone(), *id), v.clone());
        }
        Op::Unname(r, id) => {
            m.names.remove(&(r.clone(), *id));
        }
        Op::Watermark(w) => m.watermark = *w,
        Op::ClearCounts => m.counts.clear(),
        Op::Flush => {}
    }
}

fn content(s: &Joined) -> Model {
    let mut m = Model {
        watermark: s.watermark,
        ..Model::default()
    };
    s.counts()
        .for_each(|k, v| {
            m.counts.insert(k, v);
        })
        .unwrap();
    s.names()
        .for_each(|(r, id), v| {
            m.names.insert((r.to_string(), id), v);
        })
        .unwrap();
    m
}

/// The child: runs operations until killed.
#[test]
fn struct_crash_child() {
    let Some((dir, seed)) = child_args(CHILD_ENV, SEED_ENV) else {
        return; // not a child run
    };
    let mut s = Joined::open(dir.join("state")).unwrap();
    let mut journal = Journal::open(dir.join(REPORT));
    let mut rng = Rng(seed);
    for i in until_killed() {
        match op(&mut rng, i) {
            Op::Count(k, v) => s.counts_mut().put(k, v).unwrap(),
            Op::Uncount(k) => drop(s.counts_mut().delete(k).unwrap()),
            Op::Name(r, id, v) => s.names_mut().put((&r, id), v).unwrap(),
            Op::Unname(r, id) => drop(s.names_mut().delete((&r, id)).unwrap()),
            Op::Watermark(w) => s.watermark = w,
            Op::ClearCounts => s.counts_mut().clear(),
            Op::Flush => {
                journal.begin(i, "");
                s.flush().unwrap();
                journal.ack(i);
            }
        }
    }
}

/// The model after operations `1..=a` and `1..=b` from `start`.
fn expected(start: &Model, seed: u64, a: u64, b: u64) -> (Model, Model) {
    let mut rng = Rng(seed);
    replay(start, a, b, |model, i| apply_model(model, &op(&mut rng, i)))
}

/// Kills one child; returns the verified state and whether the kill landed
/// inside a flush.
fn kill_once(dir: &Path, seed: u64, run_ms: u64, start: &Model) -> (Model, bool, bool) {
    let report =
        Child::seeded("struct_crash_child", CHILD_ENV, dir, SEED_ENV, seed).run_and_kill(run_ms);
    let (a, b) = (report.acked(), report.begun());
    assert!(b >= a);
    let s = Joined::open(dir.join("state"))
        .unwrap_or_else(|e| panic!("reopen after kill (seed {seed}, acked {a}, begun {b}): {e}"));
    let got = content(&s);
    let (at_a, at_b) = expected(start, seed, a, b);
    if report.reopened_at(&got, &at_a, &at_b).is_some() {
        return (got, a > 0, b > a);
    }
    panic!(
        "seed {seed}: state after kill is neither the last acknowledged flush (op {a}) \
         nor the begun one (op {b}): {} counts, {} names, watermark {} \
         (expected {}/{}/{} or {}/{}/{})",
        got.counts.len(),
        got.names.len(),
        got.watermark,
        at_a.counts.len(),
        at_a.names.len(),
        at_a.watermark,
        at_b.counts.len(),
        at_b.names.len(),
        at_b.watermark,
    );
}

#[test]
fn kill_9_during_struct_flushes_never_mixes_files() {
    let plan = KillPlan::from_env(0x57A7_E000, 0x5A5A);
    let iterations = plan.iterations;
    let dir = tempfile::tempdir().unwrap();
    let mut state = Model::default();
    let (mut acked, mut in_flush) = (0u64, 0u64);
    let mut done = 0;
    for point in plan {
        if point.overtime && acked >= iterations / 4 {
            break;
        }
        let (next, any_ack, inside) = kill_once(dir.path(), point.seed, point.run_ms, &state);
        state = next;
        acked += u64::from(any_ack);
        in_flush += u64::from(inside);
        done += 1;
    }
    eprintln!("{done} kill points: {acked} with an acknowledged flush, {in_flush} inside a flush");
    // The kills must land while work is being committed, or the test proves nothing.
    assert!(
        acked >= iterations / 4,
        "only {acked} kill points had a flush"
    );
}
