//! Every backend checked against a `BTreeMap` model after every operation,
//! through one generic harness (`tests/common/model.rs`).
//!
//! 1,000 cases per backend by default; set `PROPTEST_CASES` for more.

mod common;

use common::model::{cases, ops, run};
use laminar_core::state::{InMemoryStore, StateStore};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1000)))]

    #[test]
    fn in_memory_store_matches_model(ops in ops(64)) {
        run(&mut InMemoryStore::new(), &ops)?;
    }

    #[cfg(feature = "ahash")]
    #[test]
    fn ahash_store_matches_model(ops in ops(64)) {
        run(&mut laminar_core::state::AHashMapStore::new(), &ops)?;
    }

    /// The trait object path (`Box<dyn StateStore>`) behaves the same.
    #[test]
    fn boxed_dyn_store_matches_model(ops in ops(32)) {
        let mut boxed: Box<dyn StateStore> = Box::new(InMemoryStore::new());
        run(boxed.as_mut(), &ops)?;
    }
}
