//! Typed tables, monomorphized over key encoding, value type and backend marker.
//!
//! A [`Table<K, V, B>`](Table) is a typed key-value table; `B` is a
//! zero-sized backend marker. The in-memory markers ([`NativeBackend`]s)
//! store keys in the inline representation of their
//! [`Key`](crate::state::key::Key) encoding and values natively (no
//! serialization on `get`/`put`, only at snapshot time); `Mmap` stores the
//! keys' order-preserving byte encoding and rkyv-archived values in an
//! `MmapStateStore`:
//!
//! | marker    | feature | values                      | order     | scans                                                        | persistent |
//! |-----------|---------|-----------------------------|-----------|--------------------------------------------------------------|------------|
//! | [`BTree`] | `btree` | native: `get` → `Option<&V>` | key order | `range`, `prefix`, `remove_range`                            | no         |
//! | [`AHash`] | `ahash` | native: `get` → `Option<&V>` | none      | none: calling one is a compile error                         | no         |
//! | `Mmap`    | `mmap`  | archived: `get` → `Result<Option<V>>`, `get_archived` → `Result<Option<&Archived<V>>>` | key order | `range_for_each`, `prefix_for_each`, `remove_range`, `for_each(_archived)` | `Table::open(path)`, `flush()` |
//!
//! The `Mmap` shape differs on purpose: it keeps no native `V` to borrow, and
//! reading bytes from a mapping (a file, in persistent mode) validates them,
//! so reads return owned values or validated archived views, and can fail
//! with a [`StateError`](crate::state::StateError) instead of panicking; it
//! has `update` but no `upsert` returning `&mut V`, and `put`/`delete` do not
//! return the old value (that would cost a read). Its scans take closures
//! (an iterator could not lend a key decoded from the mapping).
//!
//! [`DefaultBackend`] is the marker used when a `#[state_store]` struct names
//! none: `AHash` if the `ahash` feature is on, else `BTree`; override with
//! `RUSTFLAGS='--cfg laminar_default_backend="btree"'` (a choice whose feature
//! is off is a `compile_error!` naming the feature). `Mmap` is never the
//! default, not even with only the `mmap` feature: it changes the accessor
//! types, so a struct names it explicitly.
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
//!
//! # `#[state_store]`
//!
//! The attribute (feature `macros`, re-exported as
//! `laminar_core::state::state_store`) turns an operator's state struct into
//! typed tables:
//!
//! - a field marked `#[state(key = K)]` with written type `V` becomes a
//!   `Table<K, V, Backend>` (same name, visibility, docs and other attributes);
//!   every other field stays a single value of its type;
//! - `#[state_store(backend = BTree | AHash | Mmap)]` picks the backend
//!   (default: [`DefaultBackend`]);
//! - `#[state_store(crate = path)]` names where `laminar_core` is when a
//!   crate renames the dependency or re-exports it (default
//!   `::laminar_core`), e.g. `crate = engine::deps::laminar_core`.
//!
//! Generated inherent methods (with the struct's visibility, or the field's
//! for accessors):
//!
//! | method                       | what it does                                                  |
//! |------------------------------|---------------------------------------------------------------|
//! | `new()`                      | empty tables, single values at `Default`                      |
//! | `<field>()`, `<field>_mut()` | the field's [`Table`]: `get`, `get_many` and `get_each` (in-memory backends), `put`, `delete`, `contains`, `upsert`, `update`, `iter`, `retain`, `len`, `size_bytes`, and on ordered backends `range`, `prefix`, `remove_range` |
//! | `snapshot()`                 | every table (with its dictionaries) and single value as one [`StateSnapshot`](crate::state::StateSnapshot) |
//! | `from_snapshot(&snap)`       | a new state from a snapshot, validating every byte            |
//! | `restore(&mut self, &snap)`  | replaces the state; unchanged by a bad snapshot (persistent `Mmap` state: an I/O error part way may leave some tables replaced in RAM, the files keep the last flush) |
//! | `size_bytes()`               | approximate memory of all tables                              |
//! | `open(dir)` (`Mmap` only)    | persistent state in directory `dir`: `<field>.table` per table field, `values.state` for single values; each file locked while open |
//! | `flush()` (`Mmap` only)      | commits every file, atomically across them (a no-op for a state from `new()`); `open` rolls back or completes a flush that a crash interrupted |
//!
//! State that expires, and timers (module [`time`](crate::state::time)):
//!
//! - `#[state(key = K, ttl = N)]` makes the field a
//!   [`TtlTable<K, V, Backend>`](crate::state::time::TtlTable) whose entries
//!   expire `N` (a positive integer, in the table's time unit: milliseconds
//!   by convention) after their last update; options `ttl_update =
//!   create_and_write | read_and_write`, `ttl_visibility =
//!   never_return_expired | return_expired` and `ttl_time = event |
//!   processing` (the first of each is the default) follow Flink's
//!   `StateTtlConfig`. In-memory backends only (`Mmap`: wrap an
//!   `MmapStateStore` in [`TtlStore`](crate::state::time::TtlStore)). A
//!   struct with event-time TTL tables gets `advance_ttl_to(watermark)`;
//!   a processing-time table starts on the system clock
//!   (`<field>_mut().set_clock(..)` swaps it, e.g. for a test). Expired
//!   entries are left out of `snapshot()`.
//! - A field of type [`TimerQueue<K>`](crate::state::time::TimerQueue) or
//!   [`Timers<K>`](crate::state::time::Timers) is a single value like any
//!   other: its timers and watermark are part of `snapshot()`/`restore()`.
//!
//! ```
//! # #[cfg(all(feature = "macros", feature = "ahash"))] {
//! use laminar_core::state::state_store;
//! use laminar_core::state::time::TimerQueue;
//!
//! #[state_store(backend = AHash)]
//! struct Dedup {
//!     /// Event ids seen in the last minute of event time.
//!     #[state(key = u64, ttl = 60_000)]
//!     seen: (),
//!     /// Reminders, fired by the watermark.
//!     reminders: TimerQueue<u64>,
//! }
//!
//! let mut d = Dedup::new();
//! d.advance_ttl_to(0)?;
//! d.seen_mut().put(42, ())?;
//! d.reminders.register(30_000, 42);
//! let mut restored = Dedup::from_snapshot(&d.snapshot()?)?;
//! restored.advance_ttl_to(59_999)?;
//! assert!(restored.seen().contains(42));
//! let fired: Vec<_> = restored.reminders.advance_to(59_999)?.collect();
//! assert_eq!(fired, [(30_000, 42)]);
//! restored.advance_ttl_to(60_000)?;
//! assert!(!restored.seen().contains(42)); // a minute after its write
//! # }
//! # Ok::<(), laminar_core::state::StateError>(())
//! ```
//!
//! Keys are passed in borrowed form (`&str` for `String` and `Dict<String>`
//! components, tuples of them for composite keys). A table field may not be
//! named like a generated method, and `#[cfg]` on fields is rejected (the
//! snapshot layout must not depend on features). Snapshot entries are keyed
//! `field 00 tag …` (see [`layout`]); a snapshot restores into any struct with
//! the same fields and key types, whatever its backend.
//!
//! ```
//! # #[cfg(all(feature = "macros", feature = "btree"))] {
//! use laminar_core::state::key::Dict;
//! use laminar_core::state::state_store;
//!
//! #[state_store(backend = BTree)]
//! struct WindowAgg {
//!     /// (region, window start) -> sum; the region is dictionary-encoded.
//!     #[state(key = (Dict<String>, i64))]
//!     sums: f64,
//!     watermark: i64,
//! }
//!
//! let mut agg = WindowAgg::new();
//! agg.sums_mut().update(("eu-west", 0), |s| *s += 2.5).unwrap();
//! agg.sums_mut().update(("eu-west", 60), |s| *s += 1.0).unwrap();
//! agg.watermark = 30;
//! let snapshot = agg.snapshot().unwrap();
//!
//! let restored = WindowAgg::from_snapshot(&snapshot).unwrap();
//! assert_eq!(restored.sums().get(("eu-west", 0)), Some(&2.5));
//! let windows: Vec<i64> = restored.sums().prefix("eu-west").map(|((_, w), _)| w).collect();
//! assert_eq!(windows, [0, 60]);
//! assert_eq!(restored.watermark, 30);
//! # }
//! ```
//!
//! With `backend = Mmap` the same struct can live in files: `open(dir)` and
//! `flush()` (the commit point); values are read back owned or archived.
//!
//! ```
//! # #[cfg(all(feature = "macros", feature = "mmap"))] {
//! use laminar_core::state::key::Dict;
//! use laminar_core::state::state_store;
//!
//! #[state_store(backend = Mmap)]
//! struct WindowAgg {
//!     #[state(key = (Dict<String>, i64))]
//!     sums: f64,
//!     watermark: i64,
//! }
//!
//! let dir = tempfile::tempdir().unwrap();
//! {
//!     let mut agg = WindowAgg::open(dir.path()).unwrap();
//!     agg.sums_mut().update(("eu-west", 0), |s| *s += 2.5).unwrap();
//!     agg.watermark = 30;
//!     agg.flush().unwrap();
//! } // dropped (a crash would do the same): the flushed state survives
//! let agg = WindowAgg::open(dir.path()).unwrap();
//! assert_eq!(agg.sums().get(("eu-west", 0)).unwrap(), Some(2.5));
//! let archived = agg.sums().get_archived(("eu-west", 0)).unwrap().unwrap();
//! assert_eq!(archived.to_native(), 2.5); // zero-copy view into the file mapping
//! assert_eq!(agg.watermark, 30);
//! # }
//! ```

mod backend;
#[cfg(feature = "mmap")]
pub(crate) mod mmap;
#[cfg(feature = "ahash")]
mod probe_map;
pub(crate) mod single;
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
pub use backend::{Backend, NativeBackend, Ordered};
#[cfg(feature = "mmap")]
pub use mmap::{Mmap, MmapMap};
pub use table::{layout, Table, Value};

#[cfg(feature = "btree")]
static_assertions::assert_eq_size!(BTree, ());
#[cfg(feature = "mmap")]
static_assertions::assert_eq_size!(Mmap, ());
#[cfg(feature = "mmap")]
static_assertions::assert_impl_all!(
    Table<(crate::state::key::Dict<String>, u64), u64, Mmap>: Send
);
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
// The zero niche of `DictCode`: a hash-table slot of a `(Dict<String>, u64)`
// key and a `u64` value needs no separate occupancy flag.
static_assertions::assert_eq_size!(
    Option<(
        <(crate::state::key::Dict<String>, u64) as crate::state::key::Key>::Repr,
        u64
    )>,
    [u64; 3]
);
