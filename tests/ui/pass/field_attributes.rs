//! Doc comments and other attributes on the struct and its fields are kept.
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

#[deny(missing_docs)]
mod documented {
    //! Generated items are documented, so `missing_docs` stays quiet.
    use laminar_core::state::state_store;

    /// Public state.
    #[state_store]
    pub struct Public {
        /// Counts.
        #[state(key = u32)]
        pub counts: u64,
    }
}

fn main() {
    let mut d = Documented::new();
    d.names_mut().put("a", "b".into()).unwrap();
    let _ = format!("{d:?}");
    let _ = documented::Public::new();
}
