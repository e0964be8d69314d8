//! Backend markers: zero-sized types that choose how a typed table stores its entries.

use std::ops::Bound;

use crate::state::key::KeyRepr;

/// A storage strategy for [`Table`](super::Table), selected at compile time by a
/// zero-sized marker type.
///
/// What every marker offers; the in-memory markers also implement
/// [`NativeBackend`] (native values, `get` returning `&V`), while
/// `Mmap` stores archived bytes and has its own accessors
/// (see [`Table`](super::Table)).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a typed backend available in this build",
    label = "backend not available",
    note = "`BTree` needs the cargo feature `btree`, `AHash` the feature `ahash` and `Mmap` the feature `mmap`"
)]
pub trait Backend: Copy + Default + Send + Sync + std::fmt::Debug + 'static {
    /// The map that holds entries with representation `R` and values `V`.
    type Map<R: KeyRepr, V>: Default;
    /// Name shown in docs and error messages.
    const NAME: &'static str;
    /// `true` if iteration and scans are in key order.
    const ORDERED: bool;

    /// Number of entries.
    fn len<R: KeyRepr, V>(map: &Self::Map<R, V>) -> usize;
    /// Removes every entry.
    fn clear<R: KeyRepr, V>(map: &mut Self::Map<R, V>);
    /// Approximate bytes taken by the entries (see `Table::size_bytes`).
    fn entry_bytes<R: KeyRepr, V>(map: &Self::Map<R, V>) -> usize {
        Self::len(map) * (std::mem::size_of::<R>() + std::mem::size_of::<V>())
    }
}

/// A backend that keeps values as native Rust values in RAM ([`BTree`],
/// [`AHash`]): `get` returns `&V`, `upsert` returns `&mut V`, and values are
/// serialized only for snapshots.
///
/// Every operation is an associated function over [`Backend::Map`], so a
/// table monomorphizes to direct calls on the underlying map.
pub trait NativeBackend: Backend {
    /// Value of `key`.
    fn get<'m, R: KeyRepr, V>(map: &'m Self::Map<R, V>, key: &R) -> Option<&'m V>;
    /// Values of several keys (`None` for a `None` key), as [`get`](Self::get)
    /// of each would give them; what the default does.
    ///
    /// A backend that can tell where a key's entry lives from the key alone
    /// ([`AHash`]) overrides it to request every entry from memory before
    /// reading the first, so that the lookups' cache misses overlap.
    #[inline]
    fn get_many<'m, R: KeyRepr, V, const N: usize>(
        map: &'m Self::Map<R, V>,
        keys: &[Option<R>; N],
    ) -> [Option<&'m V>; N] {
        keys.each_ref()
            .map(|k| k.as_ref().and_then(|k| Self::get(map, k)))
    }
    /// The value of each key in turn (`None` for a `None` key), as
    /// [`get`](Self::get) of each would give it; what the default does.
    /// [`AHash`] overrides it with a pipeline that requests each key's entry
    /// from memory several keys before reading it.
    #[inline]
    fn get_each<'m, R: KeyRepr, V: 'm, I: Iterator<Item = Option<R>>>(
        map: &'m Self::Map<R, V>,
        keys: I,
    ) -> impl Iterator<Item = Option<&'m V>> {
        keys.map(move |k| k.as_ref().and_then(|k| Self::get(map, k)))
    }
    /// Mutable value of `key`.
    fn get_mut<'m, R: KeyRepr, V>(map: &'m mut Self::Map<R, V>, key: &R) -> Option<&'m mut V>;
    /// Inserts or replaces, returning the previous value.
    fn insert<R: KeyRepr, V>(map: &mut Self::Map<R, V>, key: R, value: V) -> Option<V>;
    /// Removes `key`, returning its value.
    fn remove<R: KeyRepr, V>(map: &mut Self::Map<R, V>, key: &R) -> Option<V>;
    /// The value of `key`, inserting `make()` first if it is absent (`None`
    /// only if the map's internal invariants are broken).
    fn get_or_insert_with<R: KeyRepr, V>(
        map: &mut Self::Map<R, V>,
        key: R,
        make: impl FnOnce() -> V,
    ) -> Option<&mut V>;
    /// Every entry (in key order if [`ORDERED`](Backend::ORDERED)).
    fn iter<'m, R: KeyRepr, V: 'm>(
        map: &'m Self::Map<R, V>,
    ) -> impl Iterator<Item = (&'m R, &'m V)>;
    /// Keeps only the entries for which `keep` returns `true`.
    fn retain<R: KeyRepr, V>(map: &mut Self::Map<R, V>, keep: impl FnMut(&R, &mut V) -> bool);
}

/// A backend that keeps keys in order and so offers range and prefix scans.
#[diagnostic::on_unimplemented(
    message = "the `{Self}` backend keeps no key order, so it has no range or prefix scans",
    label = "unordered backend",
    note = "use an ordered backend for this table: `#[state_store(backend = BTree)]` (or `Mmap`)"
)]
pub trait Ordered: NativeBackend {
    /// Entries with keys within the bounds, in key order.
    fn range<'m, R: KeyRepr, V: 'm>(
        map: &'m Self::Map<R, V>,
        lower: Bound<R>,
        upper: Bound<R>,
    ) -> impl Iterator<Item = (&'m R, &'m V)>;
}

/// The [`NativeBackend`] operations that a backend's map (`BPlusTree`,
/// `ProbeMap`) provides under the same names: each forwards to the map's
/// inherent method.
#[cfg(any(feature = "btree", feature = "ahash"))]
macro_rules! forward_to_map {
    () => {
        #[inline]
        fn get<'m, R: KeyRepr, V>(map: &'m Self::Map<R, V>, key: &R) -> Option<&'m V> {
            map.get(key)
        }
        #[inline]
        fn get_mut<'m, R: KeyRepr, V>(map: &'m mut Self::Map<R, V>, key: &R) -> Option<&'m mut V> {
            map.get_mut(key)
        }
        #[inline]
        fn insert<R: KeyRepr, V>(map: &mut Self::Map<R, V>, key: R, value: V) -> Option<V> {
            map.insert(key, value)
        }
        #[inline]
        fn remove<R: KeyRepr, V>(map: &mut Self::Map<R, V>, key: &R) -> Option<V> {
            map.remove(key)
        }
        #[inline]
        fn get_or_insert_with<R: KeyRepr, V>(
            map: &mut Self::Map<R, V>,
            key: R,
            make: impl FnOnce() -> V,
        ) -> Option<&mut V> {
            map.get_or_insert_with(key, make)
        }
        fn iter<'m, R: KeyRepr, V: 'm>(
            map: &'m Self::Map<R, V>,
        ) -> impl Iterator<Item = (&'m R, &'m V)> {
            map.iter()
        }
        fn retain<R: KeyRepr, V>(map: &mut Self::Map<R, V>, keep: impl FnMut(&R, &mut V) -> bool) {
            map.retain(keep)
        }
    };
}

/// Ordered in-memory backend: a B+ tree of inline keys to native values.
///
/// Point operations are `O(log n)`; range and prefix scans are in key order.
/// Nodes are 64 wide; inner nodes hold only keys and child pointers, values
/// live in the leaves, a lookup prefetches a node's arrays as it enters it
/// (so each level costs at most one cache miss), and nodes sit in 2 MiB
/// chunks backed by transparent huge pages where Linux offers them (so most
/// of those misses skip the page walk), so dependent lookups take well
/// under the latency of std's `BTreeMap` at a million keys and more
/// (figures: `BENCHMARKS.md`).
#[cfg(feature = "btree")]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Hash)]
pub struct BTree;

#[cfg(feature = "btree")]
impl Backend for BTree {
    type Map<R: KeyRepr, V> = crate::state::collections::bptree::BPlusTree<R, V>;
    const NAME: &'static str = "BTree";
    const ORDERED: bool = true;

    #[inline]
    fn len<R: KeyRepr, V>(map: &Self::Map<R, V>) -> usize {
        map.len()
    }
    fn clear<R: KeyRepr, V>(map: &mut Self::Map<R, V>) {
        map.clear()
    }
}

#[cfg(feature = "btree")]
impl NativeBackend for BTree {
    forward_to_map!();
}

#[cfg(feature = "btree")]
impl Ordered for BTree {
    fn range<'m, R: KeyRepr, V: 'm>(
        map: &'m Self::Map<R, V>,
        lower: Bound<R>,
        upper: Bound<R>,
    ) -> impl Iterator<Item = (&'m R, &'m V)> {
        let start = match &lower {
            Bound::Included(k) => Bound::Included(k),
            Bound::Excluded(k) => Bound::Excluded(k),
            Bound::Unbounded => Bound::Unbounded,
        };
        // Reversed or empty bounds yield nothing: the first key at or past
        // `lower` is already past `upper`.
        map.range_from(start)
            .take_while(move |(k, _)| match &upper {
                Bound::Included(u) => *k <= u,
                Bound::Excluded(u) => *k < u,
                Bound::Unbounded => true,
            })
    }
}

/// Hash backend: an open-addressing table (linear probing, no control-byte
/// array) of inline keys to native values; a hit usually costs a single
/// cache miss. Keys that pack into one or two 64-bit words
/// ([`KeyRepr::WORDS`]: integers, dictionary codes, byte arrays of up to 16
/// bytes, pairs of one-word components) are hashed with two seeded
/// multiplies, a leading dictionary code last ([`KeyRepr::DENSE`]); other
/// keys (longer tuples, strings) with `ahash`.
///
/// The fastest point operations; no key order, so no scans (asking for one is
/// a compile error, see [`Ordered`]).
#[cfg(feature = "ahash")]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Hash)]
pub struct AHash;

#[cfg(feature = "ahash")]
impl Backend for AHash {
    type Map<R: KeyRepr, V> = super::probe_map::ProbeMap<R, V>;
    const NAME: &'static str = "AHash";
    const ORDERED: bool = false;

    #[inline]
    fn len<R: KeyRepr, V>(map: &Self::Map<R, V>) -> usize {
        map.len()
    }
    fn clear<R: KeyRepr, V>(map: &mut Self::Map<R, V>) {
        map.clear()
    }
}

#[cfg(feature = "ahash")]
impl NativeBackend for AHash {
    #[inline]
    fn get_many<'m, R: KeyRepr, V, const N: usize>(
        map: &'m Self::Map<R, V>,
        keys: &[Option<R>; N],
    ) -> [Option<&'m V>; N] {
        map.get_many(keys)
    }
    #[inline]
    fn get_each<'m, R: KeyRepr, V: 'm, I: Iterator<Item = Option<R>>>(
        map: &'m Self::Map<R, V>,
        keys: I,
    ) -> impl Iterator<Item = Option<&'m V>> {
        map.get_each(keys)
    }
    forward_to_map!();
}

#[cfg(all(laminar_default_backend = "btree", not(feature = "btree")))]
compile_error!(
    "`--cfg laminar_default_backend=\"btree\"` makes BTree the default typed backend, but the cargo feature `btree` of laminar-core is off: enable it"
);
#[cfg(all(laminar_default_backend = "ahash", not(feature = "ahash")))]
compile_error!(
    "`--cfg laminar_default_backend=\"ahash\"` makes AHash the default typed backend, but the cargo feature `ahash` of laminar-core is off: enable it"
);
#[cfg(all(laminar_default_backend = "btree", laminar_default_backend = "ahash"))]
compile_error!(
    "`laminar_default_backend` is set to both \"btree\" and \"ahash\": choose one default backend"
);

/// The backend of tables and `#[state_store]` structs that name none.
///
/// Precedence: the backend chosen with
/// `RUSTFLAGS='--cfg laminar_default_backend="btree"'` (or `"ahash"`) if
/// any, otherwise `AHash` if the `ahash` feature is on, otherwise `BTree` if
/// the `btree` feature is on. Choosing a backend whose feature is off is a
/// compile error naming the feature. Never `Mmap` (its accessors have other
/// types: a struct opts in by naming it).
#[cfg(all(
    feature = "ahash",
    any(
        laminar_default_backend = "ahash",
        not(laminar_default_backend = "btree")
    )
))]
pub type DefaultBackend = AHash;

/// The backend of tables and `#[state_store]` structs that name none.
///
/// Precedence: the backend chosen with
/// `RUSTFLAGS='--cfg laminar_default_backend="btree"'` (or `"ahash"`) if
/// any, otherwise `AHash` if the `ahash` feature is on, otherwise `BTree` if
/// the `btree` feature is on. Choosing a backend whose feature is off is a
/// compile error naming the feature. Never `Mmap` (its accessors have other
/// types: a struct opts in by naming it).
#[cfg(all(
    feature = "btree",
    not(laminar_default_backend = "ahash"),
    any(laminar_default_backend = "btree", not(feature = "ahash"))
))]
pub type DefaultBackend = BTree;
