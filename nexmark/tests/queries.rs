//! Every query on every backend: output equals the oracle's, and a run
//! checkpointed at random points (each checkpoint restored into a fresh
//! state that carries on) equals the uninterrupted run.
//!
//! The stream: 20,000 events at 500 events per second of event time, so
//! 40 s that cross many window, session and expiry boundaries. With
//! `LAMINAR_LARGE_TESTS=1`: 200,000 events at the default rate as well.

use std::sync::OnceLock;

use laminar_nexmark::events::{generate_with, Ev, DEFAULT_RATE};
use laminar_nexmark::queries::Query;
use laminar_nexmark::runner::{oracle, run, RunConfig};
use laminar_nexmark::Backend;

const N: usize = 20_000;
const RATE: usize = 500;

fn small() -> &'static [Ev] {
    static EVS: OnceLock<Vec<Ev>> = OnceLock::new();
    EVS.get_or_init(|| generate_with(N, RATE, |_| {}))
}

fn large() -> Option<&'static [Ev]> {
    static EVS: OnceLock<Vec<Ev>> = OnceLock::new();
    std::env::var_os("LAMINAR_LARGE_TESTS")?;
    Some(EVS.get_or_init(|| generate_with(200_000, DEFAULT_RATE, |_| {})))
}

fn check_on(query: Query, evs: &[Ev]) {
    let want = oracle(query, evs);
    assert!(
        want.len() >= 3,
        "{}: the oracle's output has only {} rows on {} events",
        query.name(),
        want.len(),
        evs.len()
    );
    for backend in Backend::ALL {
        let plain = run(query, backend, evs, &RunConfig::default(), |_| {})
            .unwrap_or_else(|e| panic!("{} on {}: {e}", query.name(), backend.name()));
        assert!(
            plain.output == want,
            "{} on {}: {} rows, the oracle {} (first difference at row {:?})",
            query.name(),
            backend.name(),
            plain.output.len(),
            want.len(),
            plain.output.iter().zip(&want).position(|(a, b)| a != b)
        );
        if backend.is_peer() {
            continue;
        }
        let cfg = RunConfig {
            checkpoint_every: evs.len() / 6,
            seed: 0x5eed ^ query.name().len() as u64,
            batch: 97,
            ..RunConfig::default()
        };
        let ck = run(query, backend, evs, &cfg, |_| {}).unwrap_or_else(|e| {
            panic!(
                "{} on {} with checkpoints: {e}",
                query.name(),
                backend.name()
            )
        });
        assert!(
            ck.restores.len() >= 3,
            "{} on {}: only {} restores",
            query.name(),
            backend.name(),
            ck.restores.len()
        );
        assert!(
            ck.output == plain.output,
            "{} on {}: the run checkpointed and restored {} times differs from the uninterrupted run",
            query.name(),
            backend.name(),
            ck.restores.len()
        );
    }
}

fn check(query: Query) {
    check_on(query, small());
    if let Some(evs) = large() {
        check_on(query, evs);
    }
}

#[test]
fn q3() {
    check(Query::Q3);
}

#[test]
fn q4() {
    check(Query::Q4);
}

#[test]
fn q5() {
    check(Query::Q5);
}

#[test]
fn q7() {
    check(Query::Q7);
}

#[test]
fn q8() {
    check(Query::Q8);
}

#[test]
fn q9() {
    check(Query::Q9);
}

#[test]
fn q11() {
    check(Query::Q11);
}

#[test]
fn q18() {
    check(Query::Q18);
}

#[test]
fn q19() {
    check(Query::Q19);
}

#[test]
fn names_parse_back() {
    for q in Query::ALL {
        assert_eq!(Query::parse(q.name()), Some(*q));
    }
    for b in Backend::ALL {
        assert_eq!(Backend::parse(b.name()), Some(b));
    }
    assert_eq!(Query::parse("7"), Some(Query::Q7));
    assert_eq!(Query::parse("q6"), None);
}
