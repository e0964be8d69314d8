//! `#![deny(missing_docs)]` at the crate root, where the lint sees every
//! `pub` item: the generated methods carry docs, and the doc comments written
//! on the fields are kept (a `pub` field without its doc would fail here).
#![deny(missing_docs)]

use laminar_core::state::key::Dict;
use laminar_core::state::state_store;

/// Public state on the default backend.
#[state_store]
pub struct Public {
    /// Counts per (region, user).
    #[state(key = (Dict<String>, u64))]
    pub counts: u64,
    /// The watermark.
    pub watermark: i64,
}

/// Public state on an ordered backend, which also generates scans.
#[state_store(backend = BTree)]
pub struct Ordered {
    #[state(key = i64)]
    /// Events by time (the doc may follow `#[state]`).
    pub events: String,
}

fn main() {
    let mut p = Public::new();
    p.counts_mut().put(("eu", 1), 2).unwrap();
    p.watermark = 3;
    let mut o = Ordered::new();
    o.events_mut().put(5, "e".into()).unwrap();
    assert_eq!(p.counts().get(("eu", 1)), Some(&2));
    assert_eq!(o.events().range(0, 10).count(), 1);
}
