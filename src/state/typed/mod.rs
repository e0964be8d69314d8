//! Typed tables, monomorphized over key encoding, value type and backend marker.
//!
//! A [`Table<K, V, B>`](Table) stores keys in the inline representation of
//! their [`Key`](crate::state::key::Key) encoding and values natively; `B` is a
//! zero-sized backend marker:
//!
//! | marker    | feature | order            | scans                  |
//! |-----------|---------|------------------|------------------------|
//! | [`BTree`] | `btree` | key order        | `range`, `prefix`      |
//! | [`AHash`] | `ahash` | none             | none (compile error)   |
//!
//! [`DefaultBackend`] is the marker used when a `#[state_store]` struct names
//! none (see its docs for the feature precedence).
//!
//! ```
//! # #[cfg(feature = "ahash")] {
//! use laminar_core::state::key::Dict;
//! use laminar_core::state::typed::{AHash, Table};
//!
//! let mut counts: Table<(Dict<String>, u64), u64, AHash> = Table::new();
//! *counts.upsert(("eu-west", 7), || 0).unwrap() += 1;
//! counts.update(("eu-west", 7), |c| *c += 1).unwrap();
//! assert_eq!(counts.get(("eu-west", 7)), Some(&2));
//! assert_eq!(counts.get(("us-east", 7)), None);
//! # }
//! ```

mod backend;
mod table;

#[cfg(feature = "ahash")]
pub use backend::AHash;
#[cfg(feature = "btree")]
pub use backend::BTree;
#[cfg(any(
    all(feature = "ahash", not(laminar_default_backend = "btree")),
    all(feature = "btree", not(laminar_default_backend = "ahash"))
))]
pub use backend::DefaultBackend;
pub use backend::{Backend, Ordered};
pub use table::{layout, Table, Value};

#[cfg(feature = "btree")]
static_assertions::assert_eq_size!(BTree, ());
#[cfg(feature = "ahash")]
static_assertions::assert_eq_size!(AHash, ());
#[cfg(feature = "ahash")]
static_assertions::assert_impl_all!(
    Table<(crate::state::key::Dict<String>, u64), u64, AHash>: Send, Sync
);
#[cfg(feature = "btree")]
static_assertions::assert_impl_all!(Table<(String, i64), Vec<u8>, BTree>: Send, Sync);
static_assertions::assert_eq_size!(
    <(crate::state::key::Dict<String>, u64) as crate::state::key::Key>::Repr,
    u128
);
