//! trybuild tests of `#[state_store]`: `tests/ui/pass` must compile and run,
//! `tests/ui/fail` must fail with the recorded `.stderr`.
//!
//! Run only with every backend and the macro enabled (the default features):
//! the expected errors depend on which backends exist.
#![cfg(all(feature = "macros", feature = "btree", feature = "ahash"))]

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
