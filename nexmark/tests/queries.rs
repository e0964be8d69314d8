//! Every query on every backend: output equals the oracle's, and a run
//! checkpointed (and restored) at random points equals the uninterrupted run.

use laminar_nexmark::events::generate;
use laminar_nexmark::queries::Query;
use laminar_nexmark::runner::{oracle, run, RunConfig};
use laminar_nexmark::Backend;

fn check(query: Query, n: usize) {
    let evs = generate(n);
    let want = oracle(query, &evs);
    assert!(!want.is_empty(), "{}: the oracle's output is empty on {n} events", query.name());
    for backend in Backend::ALL {
        let plain = run(query, backend, &evs, &RunConfig::default(), |_| {})
            .unwrap_or_else(|e| panic!("{} on {}: {e}", query.name(), backend.name()));
        assert!(
            plain.output == want,
            "{} on {}: {} rows, the oracle {} (first difference at {:?})",
            query.name(),
            backend.name(),
            plain.output.len(),
            want.len(),
            plain.output.iter().zip(&want).position(|(a, b)| a != b)
        );
        if backend.is_peer() {
            continue;
        }
        for seed in [1, 2] {
            let cfg = RunConfig {
                checkpoint_every: n / 5,
                seed,
                batch: 97,
                ..RunConfig::default()
            };
            let ck = run(query, backend, &evs, &cfg, |_| {})
                .unwrap_or_else(|e| panic!("{} on {} with checkpoints: {e}", query.name(), backend.name()));
            assert!(ck.restores.len() >= 3, "{} on {}: only {} restores", query.name(), backend.name(), ck.restores.len());
            assert!(
                ck.output == plain.output,
                "{} on {}: checkpointed run (seed {seed}) differs from the uninterrupted run",
                query.name(),
                backend.name()
            );
        }
    }
}

#[test]
fn q7() {
    check(Query::Q7, 60_000);
}

#[test]
fn q3() {
    check(Query::Q3, 60_000);
}

#[test]
fn q4() {
    check(Query::Q4, 60_000);
}

#[test]
fn q9() {
    check(Query::Q9, 60_000);
}
