//! Shared test harnesses. A test file uses them with `mod common;` (each test
//! binary compiles the whole folder; what it does not use is allowed dead).
//!
//! - [`model`]: the byte-level `StateStore` model test (operation alphabet,
//!   `apply`, `check_invariants`), run for every backend.
//! - [`typed_model`]: the `#[state_store]` model test (one struct shape,
//!   the `TypedState` trait a backend's struct implements, `apply`, `check`).
//! - [`crash`]: the kill -9 harness for crash tests.
//! - [`rng`]: the one seeded generator (SplitMix64) for every test that needs
//!   deterministic randomness outside proptest.
//!
//! # Writing a crash test
//!
//! The harness does not care what the child does: it spawns a `#[test]`
//! function of the same binary with some environment, kills it with SIGKILL
//! after a random delay, and hands back the journal the child wrote. A test
//! of, say, checkpoints looks like this (`mmap_crash.rs` and
//! `typed_mmap_crash.rs` are complete examples):
//!
//! ```text
//! mod common;
//! use common::crash::{child_args, replay, until_killed, Child, Journal, KillPlan, REPORT};
//! use common::rng::Rng;
//!
//! const CHILD_ENV: &str = "CKPT_CRASH_CHILD"; // the child's directory
//! const SEED_ENV: &str = "CKPT_CRASH_SEED";
//!
//! // The i-th operation is a pure function of the generator: draw it from
//! // `Rng(seed)` the same way in the child and in the replay.
//! fn op(rng: &mut Rng, i: u64) -> MyOp { ... }
//!
//! #[test]
//! fn ckpt_crash_child() {
//!     let Some((dir, seed)) = child_args(CHILD_ENV, SEED_ENV) else {
//!         return; // a normal test run: nothing to do
//!     };
//!     let mut state = open(&dir);
//!     let mut journal = Journal::open(dir.join(REPORT));
//!     let mut rng = Rng(seed);
//!     for i in until_killed() {
//!         match op(&mut rng, i) {
//!             MyOp::Checkpoint => {
//!                 journal.begin(i, ""); // "B i": the commit may or may not land
//!                 state.checkpoint().unwrap();
//!                 journal.ack(i); // "A i": it must survive
//!             }
//!             other => state.apply(other),
//!         }
//!     }
//! }
//!
//! #[test]
//! fn kill_9_during_checkpoints() {
//!     let dir = tempfile::tempdir().unwrap();
//!     let mut model = Model::default(); // the state verified so far
//!     // CRASH_ITERATIONS kill points (default 50), CRASH_SEED (else this seed).
//!     let plan = KillPlan::from_env(0xC4EC_0000, 0x33);
//!     let iterations = plan.iterations;
//!     let mut acked = 0;
//!     for point in plan {
//!         if point.overtime && acked >= iterations / 4 {
//!             break; // enough kills landed after a commit
//!         }
//!         let report = Child::seeded("ckpt_crash_child", CHILD_ENV, dir.path(), SEED_ENV, point.seed)
//!             .run_and_kill(point.run_ms);
//!         let got = reopen(dir.path());
//!         let mut rng = Rng(point.seed);
//!         let (at_acked, at_begun) = replay(&model, report.acked(), report.begun(), |m, i| {
//!             m.apply(op(&mut rng, i))
//!         });
//!         assert!(report.reopened_at(&got, &at_acked, &at_begun).is_some(), "lost or mixed");
//!         acked += u64::from(report.acked() > 0);
//!         model = got; // the next child continues from here
//!     }
//!     assert!(acked >= iterations / 4, "the kills must land after commits");
//! }
//! ```
//!
//! A child that needs more than a directory and a seed gets further variables
//! with `Child::new(test).env(key, value).report(path)`; `Child::spawn` starts
//! one without killing it (e.g. to hold a lock while the parent probes it).
#![allow(dead_code, unused_imports, unused_macros)]

pub mod crash;
pub mod model;
pub mod rng;
pub mod typed_model;
