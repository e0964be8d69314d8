//! Doc comments and other attributes on the struct and its fields are kept
//! (`missing_docs.rs` checks the docs under `#![deny(missing_docs)]`).
use laminar_core::state::state_store;

/// Operator state.
#[state_store(backend = BTree)]
#[derive(Debug)]
#[allow(clippy::struct_field_names)]
struct Documented {
    /// Per-user counts.
    #[state(key = u64)]
    #[allow(unused)]
    counts: u64,
    /// A single value, documented.
    #[allow(unused)]
    #[doc(alias = "wm")]
    watermark: i64,
    #[state(key = String)]
    /// Attributes before or after `#[state]` both work.
    names: String,
}

fn main() {
    let mut d = Documented::new();
    d.names_mut().put("a", "b".into()).unwrap();
    let _ = format!("{d:?}");
}
