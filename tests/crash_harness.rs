//! The kill -9 harness of `tests/common/crash.rs` on a child that is not a
//! state store: a counter committed by write-then-rename. Checks what the
//! crash tests of every store rely on: the journal is read back right, the
//! replay yields the acknowledged and the begun state, and a child killed at
//! a random moment is found at one of them. Also its deterministic parts
//! (journal parsing, replay, the kill plan) without processes.
#![cfg(unix)]

mod common;

use std::path::Path;

use common::crash::{
    child_args, replay, until_killed, Child, Journal, KillPlan, Reopened, Report, REPORT,
};
use common::rng::Rng;

const CHILD_ENV: &str = "HARNESS_CRASH_CHILD";
const SEED_ENV: &str = "HARNESS_CRASH_SEED";

/// Operation `i` adds a number to the counter or commits it.
fn op(rng: &mut Rng) -> Option<u64> {
    match rng.below(10) {
        0..=7 => Some(rng.below(100)),
        _ => None, // commit
    }
}

fn committed(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("counter")).map_or(0, |s| s.trim().parse().unwrap())
}

/// The child: adds and commits until killed; starts from the committed value.
#[test]
fn harness_crash_child() {
    let Some((dir, seed)) = child_args(CHILD_ENV, SEED_ENV) else {
        return;
    };
    let mut counter = committed(&dir);
    let mut journal = Journal::open(dir.join(REPORT));
    let mut rng = Rng(seed);
    for i in until_killed() {
        match op(&mut rng) {
            Some(n) => counter += n,
            None => {
                journal.begin(i, "");
                let tmp = dir.join("counter.tmp");
                std::fs::write(&tmp, counter.to_string()).unwrap();
                std::fs::rename(&tmp, dir.join("counter")).unwrap();
                journal.ack(i);
                // Slow the child down so that a kill often lands mid-run.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
}

#[test]
fn a_killed_child_is_found_at_what_it_acknowledged_or_began() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = 0u64;
    let mut acked = 0;
    // Ten kill points of the plan: the harness, not a store, is under test.
    for point in KillPlan::from_env(0x4A2E_0000, 0x77).take(10) {
        let report = Child::seeded(
            "harness_crash_child",
            CHILD_ENV,
            dir.path(),
            SEED_ENV,
            point.seed,
        )
        .run_and_kill(point.run_ms);
        let got = committed(dir.path());
        let mut rng = Rng(point.seed);
        let (at_a, at_b) = replay(&state, report.acked(), report.begun(), |c, _| {
            *c += op(&mut rng).unwrap_or(0);
        });
        assert!(
            report.reopened_at(&got, &at_a, &at_b).is_some(),
            "seed {}: counter {got}, acknowledged {at_a}, begun {at_b}\n{}",
            point.seed,
            report.0
        );
        acked += u64::from(report.acked() > 0);
        state = got;
    }
    assert!(acked > 0, "no kill landed after a commit");
}

#[test]
fn report_reads_the_last_acknowledged_and_begun_commits() {
    let empty = Report::default();
    assert_eq!((empty.acked(), empty.begun()), (0, 0));
    assert!(!empty.killed_inside(""));
    let r = Report("B 3\nA 3\nB 9\nA 9\nB 12 compact\n".to_owned());
    assert_eq!((r.acked(), r.begun()), (9, 12));
    assert!(r.killed_inside(" compact"));
    // Reopened at the acknowledged state first, then the begun one, else none.
    assert_eq!(r.reopened_at(&1, &1, &2), Some(Reopened::Acked));
    assert_eq!(r.reopened_at(&2, &1, &2), Some(Reopened::Begun));
    assert_eq!(r.reopened_at(&3, &1, &2), None);
    // Nothing begun after the acknowledged commit: only that state counts.
    let done = Report("B 4\nA 4\n".to_owned());
    assert!(!done.killed_inside(""));
    assert_eq!(done.reopened_at(&2, &1, &2), None);
}

#[test]
fn replay_returns_the_states_after_acked_and_begun() {
    // Operation i adds i: after 1..=3 the sum is 6, after 1..=5 it is 15.
    let (a, b) = replay(&100u64, 3, 5, |s, i| *s += i);
    assert_eq!((a, b), (106, 115));
    // Nothing acknowledged: the start state.
    assert_eq!(replay(&7u64, 0, 2, |s, i| *s += i), (7, 10));
}

#[test]
fn kill_plan_runs_four_rounds_with_growing_delays() {
    let plan = KillPlan::from_env(1, 2);
    let n = plan.iterations;
    let points: Vec<_> = plan.clone().collect();
    assert_eq!(points.len() as u64, n.saturating_mul(4));
    for (it, p) in points.iter().enumerate() {
        let it = it as u64;
        let round = it / n.max(1);
        assert_eq!(p.overtime, it >= n);
        assert!(
            (5 + 250 * round..250 + 250 * round).contains(&p.run_ms),
            "{p:?}"
        );
        assert_eq!(
            p.seed,
            plan.base_seed.wrapping_add(it.wrapping_mul(0x1_0000_0001))
        );
    }
    // The same environment gives the same plan.
    let again: Vec<_> = KillPlan::from_env(1, 2)
        .map(|p| (p.seed, p.run_ms))
        .collect();
    assert_eq!(
        again,
        points
            .iter()
            .map(|p| (p.seed, p.run_ms))
            .collect::<Vec<_>>()
    );
}

#[test]
fn rng_is_splitmix64() {
    // The first outputs of SplitMix64 from seed 0 (the reference sequence).
    let mut rng = Rng(0);
    assert_eq!(rng.next(), 0xE220_A839_7B1D_CDAF);
    assert_eq!(rng.next(), 0x6E78_9E6A_A1B9_65F4);
    let mut a = Rng(42);
    let mut b = Rng(42);
    assert_eq!(a.bytes(16), b.bytes(16));
    assert!((0..1000).all(|_| a.below(7) < 7));
}
