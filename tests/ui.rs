//! trybuild tests of `#[state_store]`: `tests/ui/pass` must compile and run,
//! `tests/ui/fail` must fail with the recorded `.stderr`.
//!
//! Run only with the macro and the in-memory backends enabled: the expected
//! errors depend on which backends exist. `pass_mmap` runs when the `mmap`
//! feature is on, and so does `fail_mmap`; `fail_mmap_off` (naming `Mmap` without its feature) when it
//! is off, e.g. `--no-default-features --features macros,btree,ahash`.
#![cfg(all(feature = "macros", feature = "btree", feature = "ahash"))]

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
    #[cfg(feature = "mmap")]
    t.pass("tests/ui/pass_mmap/*.rs");
    #[cfg(feature = "mmap")]
    t.compile_fail("tests/ui/fail_mmap/*.rs");
    #[cfg(not(feature = "mmap"))]
    t.compile_fail("tests/ui/fail_mmap_off/*.rs");
}
