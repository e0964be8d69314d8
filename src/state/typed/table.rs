//! [`Table`]: a typed key-value table, monomorphized over key encoding, value
//! type and backend marker.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Bound;

use rkyv::api::high::HighDeserializer;
use rkyv::{rancor, Archive, Deserialize};

use super::backend::{Backend, NativeBackend, Ordered};
use crate::state::error::{Result, StateError};
use crate::state::key::{CompositeKey, DictionaryKeyEncoder, Key, KeyDicts};
use crate::state::snapshot::{SnapshotSink, SnapshotSource, ValueSink};
use crate::state::store::{decode_value, encode_value, CheckArchived, SerializeValue};

/// A value type that typed tables can snapshot: archivable with rkyv and
/// readable back with validation. Implemented for every such type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in typed state: it does not implement rkyv's `Archive`, `Serialize` and `Deserialize`",
    label = "not an rkyv-archivable value",
    note = "derive them: `#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]`"
)]
pub trait Value: Sized {
    /// Archives the value with rkyv (16-byte aligned).
    fn to_snapshot_bytes(&self) -> Result<Vec<u8>>;
    /// Validates and deserializes archived bytes.
    fn from_snapshot_bytes(bytes: &[u8]) -> Result<Self>;
    /// Appends the archived value to a snapshot entry (by default, the
    /// bytes of [`to_snapshot_bytes`](Self::to_snapshot_bytes)).
    fn write_snapshot_value(&self, out: &mut ValueSink<'_>) -> Result<()> {
        out.extend(&self.to_snapshot_bytes()?);
        Ok(())
    }
}

impl<T> Value for T
where
    T: Archive + SerializeValue,
    T::Archived: CheckArchived + Deserialize<T, HighDeserializer<rancor::Error>>,
{
    fn to_snapshot_bytes(&self) -> Result<Vec<u8>> {
        encode_value(self).map(|b| b.to_vec())
    }
    fn from_snapshot_bytes(bytes: &[u8]) -> Result<Self> {
        decode_value::<T>(bytes)
    }
    #[inline]
    fn write_snapshot_value(&self, out: &mut ValueSink<'_>) -> Result<()> {
        out.archive(self)
    }
}

/// A typed table: keys of encoding `K` (see [`Key`]), native values `V`,
/// stored as chosen by the backend marker `B`.
///
/// Keys are stored in their inline representation ([`Key::Repr`]); values are
/// kept as native Rust values, so `get`/`put` never serialize. Dictionary
/// components ([`Dict`](crate::state::key::Dict)) are encoded through the
/// table's own dictionaries, which snapshots include.
///
/// Scans ([`range`](Table::range), [`prefix`](Table::prefix),
/// [`remove_range`](Table::remove_range)) exist only when `B: Ordered`.
///
/// The in-memory backends ([`NativeBackend`]) and `Mmap` have separate
/// inherent methods of the same names (`get`, `put`, `delete`, …; see the
/// `typed` module docs for how their shapes differ). A call whose backend
/// type is not known yet is therefore ambiguous (error E0034): a path call
/// `Table::get(&t, k)`, or `let mut t = Table::new(); t.put(..)` before the
/// type is fixed. Name the type: `<Table<K, V, B>>::get(&t, k)`, or annotate
/// the binding (`let mut t: Table<K, V, B> = Table::new();`).
pub struct Table<K: Key, V, B: Backend> {
    pub(super) map: B::Map<K::Repr, V>,
    pub(super) dicts: K::Dicts,
    pub(super) _key: PhantomData<fn() -> K>,
}

impl<K: Key, V, B: Backend> Default for Table<K, V, B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Key, V: Clone, B: Backend> Clone for Table<K, V, B>
where
    B::Map<K::Repr, V>: Clone,
{
    fn clone(&self) -> Self {
        Table {
            map: self.map.clone(),
            dicts: self.dicts.clone(),
            _key: PhantomData,
        }
    }
}

impl<K: Key, V: fmt::Debug, B: NativeBackend> fmt::Debug for Table<K, V, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Key, V, B: Backend> Table<K, V, B> {
    /// An empty table (for `Mmap`: in an anonymous mapping,
    /// nothing on disk).
    pub fn new() -> Self {
        Self::from_parts(Default::default(), Default::default())
    }

    /// A table of `map` with the dictionaries `dicts` its keys use.
    pub(super) fn from_parts(map: B::Map<K::Repr, V>, dicts: K::Dicts) -> Self {
        Table {
            map,
            dicts,
            _key: PhantomData,
        }
    }

    /// The encoded (inline) form of `key`, or `None` if a dictionary component
    /// is unknown (then no entry has this key).
    ///
    /// Operators that look the same key up in a hot loop can encode it once
    /// and use `get_encoded`, skipping dictionary lookups.
    #[inline]
    pub fn encode_key(&self, key: K::Ref<'_>) -> Option<K::Repr> {
        K::find(key, &self.dicts)
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        B::len(&self.map)
    }

    /// `true` if the table holds no entry.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate memory of the entries and dictionaries, in bytes: for the
    /// in-memory backends the inline size of each key and value (heap memory
    /// owned by values is not counted), for `Mmap` the bytes
    /// of the live encoded keys and archived values; plus the dictionaries
    /// (see [`DictionaryKeyEncoder::size_bytes`]).
    pub fn size_bytes(&self) -> usize {
        let mut dicts = 0;
        self.dicts.each(&mut |d| dicts += d.size_bytes());
        B::entry_bytes(&self.map) + dicts
    }

    /// The dictionaries of the key's [`Dict`](crate::state::key::Dict) components.
    pub fn dictionaries(&self) -> &K::Dicts {
        &self.dicts
    }
}

impl<K: Key, V, B: NativeBackend> Table<K, V, B> {
    /// The value of `key`, if present. Never allocates for fixed-width keys.
    #[inline]
    pub fn get(&self, key: K::Ref<'_>) -> Option<&V> {
        let repr = K::find(key, &self.dicts)?;
        B::get(&self.map, &repr)
    }

    /// The values of `N` keys at once, in order: the same as
    /// `keys.map(|k| table.get(k))`, and faster where lookups miss the cache.
    ///
    /// With the [`AHash`](super::AHash) marker every key is encoded and its
    /// slot requested from memory before the first slot is read, so the `N`
    /// cache misses overlap instead of each waiting for the CPU to reach it:
    /// worth it when an operator has a few keys in hand (both sides of a
    /// join, the keys of one event); beyond 16 to 32 keys the first lines
    /// may leave the cache before they are read, so for a batch of events
    /// use [`get_each`](Self::get_each). `BTree` looks the keys up one by
    /// one; `Mmap` tables have no `get_many`.
    ///
    /// ```
    /// use laminar_core::state::key::Dict;
    /// use laminar_core::state::typed::{AHash, Table};
    ///
    /// let mut t: Table<(Dict<String>, u64), u64, AHash> = Table::new();
    /// t.put(("eu", 1), 10)?;
    /// t.put(("us", 2), 20)?;
    /// let [a, b, c] = t.get_many([("eu", 1), ("us", 2), ("ap", 3)]);
    /// assert_eq!((a, b, c), (Some(&10), Some(&20), None));
    /// # Ok::<(), laminar_core::state::StateError>(())
    /// ```
    #[inline]
    pub fn get_many<const N: usize>(&self, keys: [K::Ref<'_>; N]) -> [Option<&V>; N] {
        let reprs = keys.map(|k| K::find(k, &self.dicts));
        B::get_many(&self.map, &reprs)
    }

    /// The value of each key of `keys`, in order: the same as
    /// `keys.into_iter().map(|k| table.get(k))`, and faster where lookups
    /// miss the cache.
    ///
    /// With the [`AHash`](super::AHash) marker this is a pipeline: each key
    /// is encoded and its slot requested from memory when the iterator takes
    /// it, 16 keys before its value is handed out, so that 16 cache misses
    /// are always in flight instead of the few the CPU overlaps on its own.
    /// The iterator therefore runs up to 16 keys ahead of the values it
    /// returns. Use it for a batch of events: the lookups of a whole batch
    /// then cost about what a bare hash map's would (BENCHMARKS.md,
    /// `typed_get_1M/typed_AHash_get_each`). `BTree` looks the keys up one
    /// by one; `Mmap` tables have no `get_each`.
    ///
    /// ```
    /// use laminar_core::state::key::Dict;
    /// use laminar_core::state::typed::{AHash, Table};
    ///
    /// let mut t: Table<(Dict<String>, u64), u64, AHash> = Table::new();
    /// t.put(("eu", 1), 10)?;
    /// t.put(("us", 2), 20)?;
    /// let events = [("eu", 1), ("ap", 3), ("us", 2)];
    /// let found: Vec<Option<&u64>> = t.get_each(events).collect();
    /// assert_eq!(found, [Some(&10), None, Some(&20)]);
    /// # Ok::<(), laminar_core::state::StateError>(())
    /// ```
    #[inline]
    pub fn get_each<'t, 'k, I>(
        &'t self,
        keys: I,
    ) -> impl Iterator<Item = Option<&'t V>> + use<'t, 'k, K, V, B, I>
    where
        I: IntoIterator<Item = K::Ref<'k>>,
    {
        let dicts = &self.dicts;
        B::get_each(&self.map, keys.into_iter().map(move |k| K::find(k, dicts)))
    }

    /// The value of an encoded key from [`encode_key`](Self::encode_key) (of this table).
    #[inline]
    pub fn get_encoded(&self, key: &K::Repr) -> Option<&V> {
        B::get(&self.map, key)
    }

    /// A mutable reference to the value of `key`, if present.
    #[inline]
    pub fn get_mut(&mut self, key: K::Ref<'_>) -> Option<&mut V> {
        let repr = K::find(key, &self.dicts)?;
        B::get_mut(&mut self.map, &repr)
    }

    /// `true` if `key` is present.
    #[inline]
    pub fn contains(&self, key: K::Ref<'_>) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces the value of `key`, returning the previous one.
    ///
    /// Fails only if a dictionary component is full
    /// ([`StateError::CapacityExceeded`]).
    #[inline]
    pub fn put(&mut self, key: K::Ref<'_>, value: V) -> Result<Option<V>> {
        let repr = K::intern(key, &mut self.dicts)?;
        Ok(B::insert(&mut self.map, repr, value))
    }

    /// Removes `key`, returning its value. Removing a missing key returns `None`.
    ///
    /// Dictionary codes are never reclaimed (codes stay stable).
    #[inline]
    pub fn delete(&mut self, key: K::Ref<'_>) -> Option<V> {
        let repr = K::find(key, &self.dicts)?;
        B::remove(&mut self.map, &repr)
    }

    /// The value of `key`, inserting `make()` first if it is absent: the
    /// entry-style update of operator code (`*t.upsert(k, || 0)? += 1`).
    #[inline]
    pub fn upsert(&mut self, key: K::Ref<'_>, make: impl FnOnce() -> V) -> Result<&mut V> {
        let repr = K::intern(key, &mut self.dicts)?;
        B::get_or_insert_with(&mut self.map, repr, make).ok_or_else(|| {
            StateError::corruption(
                format!("typed {} table", B::NAME),
                "internal invariant broken: an inserted key is not found",
            )
        })
    }

    /// Applies `f` to the value of `key` (starting from `V::default()` if it
    /// is absent) and returns what `f` returns.
    #[inline]
    pub fn update<R>(&mut self, key: K::Ref<'_>, f: impl FnOnce(&mut V) -> R) -> Result<R>
    where
        V: Default,
    {
        self.upsert(key, V::default).map(f)
    }

    /// Removes every entry and forgets the dictionaries.
    pub fn clear(&mut self) {
        B::clear(&mut self.map);
        self.dicts = Default::default();
    }

    /// Every entry, as `(key, &value)`; in key order if the backend is ordered.
    pub fn iter(&self) -> impl Iterator<Item = (K::Ref<'_>, &V)> + '_ {
        let dicts = &self.dicts;
        B::iter(&self.map).filter_map(move |(r, v)| Some((K::resolve(r, dicts)?, v)))
    }

    /// Keeps only the entries for which `keep` returns `true`.
    pub fn retain(&mut self, mut keep: impl FnMut(K::Ref<'_>, &mut V) -> bool) {
        let dicts = &self.dicts;
        B::retain(&mut self.map, |r, v| match K::resolve(r, dicts) {
            Some(k) => keep(k, v),
            None => true,
        })
    }
}

impl<K: Key, V, B: Ordered> Table<K, V, B> {
    fn bounds(&self, start: K::Ref<'_>, end: K::Ref<'_>) -> Option<(K::Repr, K::Repr)> {
        Some((K::find(start, &self.dicts)?, K::find(end, &self.dicts)?))
    }

    /// Entries with `start <= key < end`, in key order (an empty or reversed
    /// range yields nothing).
    ///
    /// With a [`Dict`](crate::state::key::Dict) component, order within it is
    /// dictionary code order, and a bound whose value the dictionary does not
    /// know yields nothing.
    pub fn range(
        &self,
        start: K::Ref<'_>,
        end: K::Ref<'_>,
    ) -> impl Iterator<Item = (K::Ref<'_>, &V)> + '_ {
        let dicts = &self.dicts;
        self.bounds(start, end)
            .map(|(lo, hi)| B::range(&self.map, Bound::Included(lo), Bound::Excluded(hi)))
            .into_iter()
            .flatten()
            .filter_map(move |(r, v)| Some((K::resolve(r, dicts)?, v)))
    }

    /// Removes every entry with `start <= key < end` and returns how many it
    /// removed: how operators expire state by time.
    pub fn remove_range(&mut self, start: K::Ref<'_>, end: K::Ref<'_>) -> usize {
        let Some((lo, hi)) = self.bounds(start, end) else {
            return 0;
        };
        let doomed: Vec<K::Repr> = B::range(&self.map, Bound::Included(lo), Bound::Excluded(hi))
            .map(|(r, _)| r.clone())
            .collect();
        for r in &doomed {
            B::remove(&mut self.map, r);
        }
        doomed.len()
    }
}

impl<K: CompositeKey, V, B: Ordered> Table<K, V, B> {
    /// Entries whose first key component is `first`, in key order.
    ///
    /// ```
    /// # #[cfg(feature = "btree")] {
    /// use laminar_core::state::key::Dict;
    /// use laminar_core::state::typed::{BTree, Table};
    /// let mut t: Table<(Dict<String>, i64), f64, BTree> = Table::new();
    /// t.put(("eu", 20), 2.0).unwrap();
    /// t.put(("us", 10), 9.0).unwrap();
    /// t.put(("eu", 10), 1.0).unwrap();
    /// let eu: Vec<_> = t.prefix("eu").map(|((_, w), v)| (w, *v)).collect();
    /// assert_eq!(eu, [(10, 1.0), (20, 2.0)]);
    /// # }
    /// ```
    pub fn prefix(
        &self,
        first: <K::First as Key>::Ref<'_>,
    ) -> impl Iterator<Item = (K::Ref<'_>, &V)> + '_ {
        let dicts = &self.dicts;
        <K::First as Key>::find(first, K::first_dicts(dicts))
            .map(|f| {
                let lower = K::lower_bound(f.clone());
                B::range(&self.map, Bound::Included(lower), Bound::Unbounded)
                    .take_while(move |(r, _)| K::first_of(r) == &f)
            })
            .into_iter()
            .flatten()
            .filter_map(move |(r, v)| Some((K::resolve(r, dicts)?, v)))
    }
}

/// Snapshot layout of one field of a `#[state_store]` struct (all keys start
/// with the field name and a `0x00` byte, which field names never contain):
///
/// - `name 00 00 i`: dictionary `i` of the field's key (rkyv, see
///   [`DictionaryKeyEncoder::to_bytes`]),
/// - `name 00 01 <encoded key>`: one entry, value archived with rkyv,
/// - `name 00 02`: the value of a single-value field.
pub mod layout {
    /// Tag of dictionary entries.
    pub const DICT: u8 = 0;
    /// Tag of table entries.
    pub const ENTRY: u8 = 1;
    /// Tag of single values.
    pub const SINGLE: u8 = 2;

    /// `name 00 tag`.
    pub fn header(name: &str, tag: u8) -> Vec<u8> {
        let mut k = Vec::with_capacity(name.len() + 2 + 16);
        k.extend_from_slice(name.as_bytes());
        k.push(0);
        k.push(tag);
        k
    }
}

impl<K: Key, V: Value, B: NativeBackend> Table<K, V, B> {
    /// Replaces this table with `other` (used by the generated `restore`).
    pub fn assign(&mut self, other: Self) -> Result<()> {
        *self = other;
        Ok(())
    }

    /// Appends this table's dictionaries and entries to `out` under `name`
    /// (see [`layout`]), straight into the sink's buffers.
    pub fn write_snapshot<S: SnapshotSink + ?Sized>(&self, name: &str, out: &mut S) -> Result<()> {
        write_dicts(name, &self.dicts, out)?;
        out.reserve_entries(self.len());
        let head = layout::header(name, layout::ENTRY);
        for (r, v) in B::iter(&self.map) {
            out.push_entry(
                |key| {
                    key.extend_from_slice(&head);
                    K::encode(r, key);
                },
                |sink| v.write_snapshot_value(sink),
            )?;
        }
        Ok(())
    }

    /// Rebuilds a table from the entries of field `name` in `entries` (a
    /// sorted snapshot's entries). Returns the table and how many entries it
    /// consumed. Every key, code and value is validated: bad bytes are a
    /// [`StateError`], never a panic.
    pub fn read_snapshot<S: SnapshotSource + ?Sized>(
        name: &str,
        entries: &S,
    ) -> Result<(Self, usize)> {
        let mut map = B::Map::<K::Repr, V>::default();
        let (dicts, used) = read_field::<K, S>(name, entries, |repr, v| {
            let value = V::from_snapshot_bytes(v)?;
            Ok(B::insert(&mut map, repr, value).is_none())
        })?;
        Ok((Self::from_parts(map, dicts), used))
    }
}

/// Every dictionary of `dicts` encoded (`DictionaryKeyEncoder::to_bytes`),
/// dictionary `i` at index `i`.
pub(super) fn encoded_dicts<D: KeyDicts>(dicts: &D) -> Result<Vec<Vec<u8>>> {
    let mut encoded = Vec::new();
    let mut failed = None;
    dicts.each(&mut |d| match d.to_bytes() {
        Ok(bytes) => encoded.push(bytes.to_vec()),
        Err(e) => failed = Some(e),
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(encoded),
    }
}

/// Appends the dictionaries of field `name` to a snapshot's entries, in the
/// layout [`read_field`] reads (see [`layout`]).
pub(super) fn write_dicts<D: KeyDicts>(
    name: &str,
    dicts: &D,
    out: &mut (impl SnapshotSink + ?Sized),
) -> Result<()> {
    let head = layout::header(name, layout::DICT);
    for (i, bytes) in encoded_dicts(dicts)?.into_iter().enumerate() {
        out.push_entry(
            |key| {
                key.extend_from_slice(&head);
                key.push(i as u8);
            },
            |sink| {
                sink.extend(&bytes);
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// Reads the dictionaries and entries of field `name` from a sorted
/// snapshot's `entries`, validating every key and code; `insert` stores one
/// entry and returns `false` if its key was already present. Returns the
/// dictionaries and how many entries belonged to the field.
pub(super) fn read_field<K: Key, S: SnapshotSource + ?Sized>(
    name: &str,
    entries: &S,
    mut insert: impl FnMut(K::Repr, &[u8]) -> Result<bool>,
) -> Result<(K::Dicts, usize)> {
    let dict_head = layout::header(name, layout::DICT);
    let entry_head = layout::header(name, layout::ENTRY);
    let location = |what: &str| format!("snapshot field `{name}` {what}");

    let mut used = 0usize;
    let start = entries.lower_bound(&dict_head);
    let mut dict_entries = (start..entries.entry_count())
        .filter_map(|i| entries.entry_at(i))
        .take_while(|(k, _)| k.starts_with(&dict_head))
        .enumerate();
    let dicts = K::Dicts::load(&mut || {
        let (i, (k, v)) = dict_entries
            .next()
            .ok_or_else(|| StateError::corruption(location("dictionaries"), "missing"))?;
        if k.get(dict_head.len()..) != Some(&[i as u8][..]) {
            return Err(StateError::corruption(
                location("dictionaries"),
                "out of order",
            ));
        }
        used += 1;
        DictionaryKeyEncoder::from_bytes(v)
            .map_err(|e| e.within(|| location(&format!("dictionary {i}"))))
    })?;
    if dict_entries.next().is_some() {
        return Err(StateError::corruption(
            location("dictionaries"),
            format!("more than the {} the key needs", K::Dicts::COUNT),
        ));
    }
    K::validate_dicts(&dicts).map_err(|e| e.within(|| location("dictionaries")))?;

    let start = entries.lower_bound(&entry_head);
    let rows = (start..entries.entry_count())
        .filter_map(|i| entries.entry_at(i))
        .take_while(|(k, _)| k.starts_with(&entry_head));
    for (n, (k, v)) in rows.enumerate() {
        let at = |what: &str| location(&format!("entry {n} {what}"));
        let mut input = k.get(entry_head.len()..).unwrap_or_default();
        let repr = K::decode(&mut input).map_err(|e| e.within(|| at("key")))?;
        if !input.is_empty() {
            return Err(StateError::corruption(at("key"), "trailing bytes"));
        }
        if K::resolve(&repr, &dicts).is_none() {
            return Err(StateError::corruption(
                at("key"),
                "dictionary code not in the dictionary",
            ));
        }
        if !insert(repr, v).map_err(|e| e.within(|| at("value")))? {
            return Err(StateError::corruption(at("key"), "duplicate key"));
        }
        used += 1;
    }
    Ok((dicts, used))
}
