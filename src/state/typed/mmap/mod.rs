//! The [`Mmap`] marker: typed tables over an [`MmapStateStore`], with
//! rkyv-archived values read in place. The commit protocol (a table's
//! generation commits, and the struct-wide flush of `#[state_store(backend =
//! Mmap)]`) is in `commit`.

use std::path::Path;

use bytes::Bytes;
use rkyv::api::high::HighDeserializer;
use rkyv::{rancor, Archive, Deserialize};

use super::backend::Backend;
use super::table::{encoded_dicts, layout, read_field, write_dicts, Table};
use crate::state::backend::mmap::MmapStateStore;
use crate::state::error::{Result, StateError};
use crate::state::key::{
    CompositeKey, DictionaryKeyEncoder, Key, KeyDicts, KeyRepr, KeySink, StackKey,
};
use crate::state::snapshot::{SnapshotSink, SnapshotSource};
use crate::state::store::{encode_value, with_archived_bytes, CheckArchived, SerializeValue};
use crate::state::StateStore;

mod commit;

pub use commit::MmapValues;

/// Initial size of a table's mapping (address space, not RAM: pages are
/// provided lazily, and a new file is sparse).
const INITIAL_CAPACITY: usize = 1 << 20;

/// Store key tags: every key of the store starts with one of these bytes, so
/// the reserved keys never collide with encoded keys.
mod tag {
    /// `00 i`: dictionary `i` of the key (rkyv, see `DictionaryKeyEncoder::to_bytes`).
    pub const DICT: u8 = 0;
    /// `01 <encoded key>`: one entry, value archived with rkyv.
    pub const ENTRY: u8 = 1;
    /// `02`: the generation of the last commit (`u64`, little-endian).
    pub const GENERATION: u8 = 2;
}

/// Memory-mapped backend: entries live in an [`MmapStateStore`] (an
/// anonymous mapping from [`Table::new`], a locked file from
/// [`Table::open`]), keys as their order-preserving byte encoding, values
/// archived with rkyv and read zero-copy.
///
/// Unlike [`BTree`](super::BTree) and [`AHash`](super::AHash), which keep
/// native values, an `Mmap` table has no `&V` to hand out: `get` returns an
/// owned `V` (validated and deserialized) and `get_archived` a validated
/// `&Archived<V>` pointing into the mapping; `put` archives the value; there
/// is no `upsert` returning `&mut V` (use `update`, which reads, changes and
/// writes back). It is ordered (scans in key order) and, when opened from a
/// path, persistent: [`Table::flush`] is the commit point and the table's
/// dictionaries are stored in the same file, so codes survive a restart.
///
/// `Table<K, V, Mmap>` is `Send` but not `Sync` (the store builds its scan
/// index lazily behind `&self`).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Hash)]
pub struct Mmap;

/// The storage of a `Table<K, V, Mmap>`: the byte store plus bookkeeping of
/// its reserved keys.
#[derive(Debug)]
pub struct MmapMap {
    store: MmapStateStore,
    /// Reserved keys (dictionaries, generation) in the store.
    reserved: usize,
    /// Their key and value bytes.
    reserved_bytes: usize,
    /// Total dictionary length at the last write of the dictionaries
    /// (`None`: not written since the store was created or cleared).
    dicts_written: Option<usize>,
}

impl Default for MmapMap {
    fn default() -> Self {
        MmapMap::with_store(MmapStateStore::in_memory(INITIAL_CAPACITY))
    }
}

impl MmapMap {
    fn with_store(store: MmapStateStore) -> Self {
        MmapMap {
            store,
            reserved: 0,
            reserved_bytes: 0,
            dicts_written: None,
        }
    }

    /// Writes a reserved key, keeping the counts of reserved keys right.
    fn put_reserved(&mut self, key: &[u8], value: Vec<u8>) -> Result<()> {
        // Counted once the put has succeeded: a failed put (the mapping
        // could not grow) leaves the store, and so the counts, unchanged.
        let old_len = self.store.get_ref(key).map(|old| old.len());
        let new_len = value.len();
        self.store.put(key, Bytes::from(value))?;
        match old_len {
            Some(old) => self.reserved_bytes = self.reserved_bytes.saturating_sub(old),
            None => {
                self.reserved += 1;
                self.reserved_bytes += key.len();
            }
        }
        self.reserved_bytes += new_len;
        Ok(())
    }
}

impl Backend for Mmap {
    type Map<R: KeyRepr, V> = MmapMap;
    const NAME: &'static str = "Mmap";
    const ORDERED: bool = true;

    #[inline]
    fn len<R: KeyRepr, V>(map: &MmapMap) -> usize {
        map.store.len().saturating_sub(map.reserved)
    }
    fn clear<R: KeyRepr, V>(map: &mut MmapMap) {
        map.store.clear();
        map.reserved = 0;
        map.reserved_bytes = 0;
        map.dicts_written = None;
    }
    fn entry_bytes<R: KeyRepr, V>(map: &MmapMap) -> usize {
        map.store.size_bytes().saturating_sub(map.reserved_bytes)
    }
}

/// The store key of an entry: the tag and the key's encoding, on the stack
/// for keys up to 63 encoded bytes.
#[inline]
fn entry_key<K: Key>(repr: &K::Repr) -> StackKey {
    let mut k = StackKey::new();
    k.extend_from_slice(&[tag::ENTRY]);
    K::encode(repr, &mut k);
    k
}

/// Removes `path`; a missing file is fine.
fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(StateError::io(format!("removing {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

fn dict_total<D: KeyDicts>(dicts: &D) -> usize {
    let mut n = 0;
    dicts.each(&mut |d| n += d.len());
    n
}

fn deserialize<V>(archived: &V::Archived) -> Result<V>
where
    V: Archive,
    V::Archived: Deserialize<V, HighDeserializer<rancor::Error>>,
{
    rkyv::deserialize::<V, rancor::Error>(archived)
        .map_err(|e| StateError::Deserialization(e.to_string()))
}

impl<K, V> Table<K, V, Mmap>
where
    K: Key,
    V: Archive + SerializeValue,
    V::Archived: CheckArchived + Deserialize<V, HighDeserializer<rancor::Error>>,
{
    /// Opens (or creates) the persistent table file at `path`, locked while
    /// the table lives, with the entries and dictionaries of its last
    /// [`flush`](Self::flush).
    ///
    /// # Errors
    ///
    /// Those of [`MmapStateStore::persistent`] ([`StateError::Locked`],
    /// [`StateError::Corruption`] naming the file and offset, …), and
    /// [`StateError::Corruption`] if a stored dictionary is invalid.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_store(MmapStateStore::persistent(path.as_ref(), INITIAL_CAPACITY)?)
    }

    /// A table over an opened store: reads its dictionaries.
    fn from_store(store: MmapStateStore) -> Result<Self> {
        let mut map = MmapMap::with_store(store);
        // Point lookups only: a scan would sort every key at open.
        let (mut reserved, mut reserved_bytes) = (0usize, 0usize);
        let mut count = |key: &[u8], value: Option<&[u8]>| {
            if let Some(v) = value {
                reserved += 1;
                reserved_bytes += key.len() + v.len();
            }
        };
        let generation = [tag::GENERATION];
        count(&generation, map.store.get_ref(&generation));
        let mut i = 0u8;
        let dicts = K::Dicts::load(&mut || {
            let key = [tag::DICT, i];
            i = i.wrapping_add(1);
            let bytes = map.store.get_ref(&key);
            count(&key, bytes);
            match bytes {
                // Not written yet (no flush since creation or `clear`).
                None => Ok(DictionaryKeyEncoder::new()),
                Some(bytes) => DictionaryKeyEncoder::from_bytes(bytes),
            }
        })?;
        K::validate_dicts(&dicts).map_err(|e| {
            e.within(|| match map.store.path() {
                Some(p) => format!("{} dictionaries", p.display()),
                None => "typed table dictionaries".into(),
            })
        })?;
        map.reserved = reserved;
        map.reserved_bytes = reserved_bytes;
        map.dicts_written = Some(dict_total(&dicts));
        Ok(Self::from_parts(map, dicts))
    }

    /// `true` for a table opened from a file.
    pub fn is_persistent(&self) -> bool {
        self.map.store.is_persistent()
    }

    /// The table file, for a persistent table.
    pub fn path(&self) -> Option<&Path> {
        self.map.store.path()
    }

    /// Writes the dictionaries if they changed since they were last written.
    fn write_dicts(&mut self) -> Result<()> {
        let total = dict_total(&self.dicts);
        if self.map.dicts_written == Some(total) {
            return Ok(());
        }
        for (i, bytes) in encoded_dicts(&self.dicts)?.into_iter().enumerate() {
            let i = u8::try_from(i)
                .map_err(|_| StateError::InvalidArgument("more than 256 dictionaries".into()))?;
            self.map.put_reserved(&[tag::DICT, i], bytes)?;
        }
        self.map.dicts_written = Some(total);
        Ok(())
    }

    /// Makes every change durable: writes the dictionaries (if they changed)
    /// and commits the store ([`StateStore::flush`]). After it returns, a
    /// crash reopens to exactly this state (or a later flushed one). A no-op
    /// for an in-memory table. Dropping a table does not flush.
    pub fn flush(&mut self) -> Result<()> {
        if !self.is_persistent() {
            return Ok(());
        }
        self.write_dicts()?;
        self.map.store.flush()
    }

    #[inline]
    fn value_bytes(&self, key: K::Ref<'_>) -> Option<&[u8]> {
        let repr = K::find(key, &self.dicts)?;
        self.map.store.get_ref(entry_key::<K>(&repr).as_slice())
    }

    /// The value of `key`, validated and deserialized (an owned `V`: unlike
    /// the in-memory backends, `Mmap` keeps no native value to borrow).
    ///
    /// Fails with [`StateError::Deserialization`] if the stored bytes are
    /// not a valid `V`. Never allocates to find a fixed-width key.
    #[inline]
    pub fn get(&self, key: K::Ref<'_>) -> Result<Option<V>> {
        match self.value_bytes(key) {
            None => Ok(None),
            Some(bytes) => self.decode(bytes).map(Some),
        }
    }

    /// Validates and deserializes a stored value; errors name the table.
    fn decode(&self, bytes: &[u8]) -> Result<V> {
        with_archived_bytes::<V, _>(bytes, |a| deserialize::<V>(a))
            .and_then(|r| r)
            .map_err(|e| e.within(|| format!("Mmap table {:?}, a value", self.path())))
    }

    /// A validated, zero-copy view of the value of `key`: an `&Archived<V>`
    /// pointing into the mapping (values are stored 16-byte aligned), valid
    /// while the table is borrowed.
    ///
    /// Fails with [`StateError::Deserialization`] if the bytes are not a
    /// valid archived `V` (or not aligned enough for it).
    #[inline]
    pub fn get_archived(&self, key: K::Ref<'_>) -> Result<Option<&V::Archived>> {
        match self.value_bytes(key) {
            None => Ok(None),
            Some(bytes) => rkyv::access::<V::Archived, rancor::Error>(bytes)
                .map(Some)
                .map_err(|e| StateError::Deserialization(e.to_string())),
        }
    }

    /// `true` if `key` is present.
    #[inline]
    pub fn contains(&self, key: K::Ref<'_>) -> bool {
        self.value_bytes(key).is_some()
    }

    /// Archives `value` and stores it under `key` (replacing any previous
    /// value, which is not returned: that would cost a read).
    ///
    /// Fails if a dictionary component is full, if the value cannot be
    /// archived or if the store cannot grow.
    #[inline]
    pub fn put(&mut self, key: K::Ref<'_>, value: V) -> Result<()> {
        let repr = K::intern(key, &mut self.dicts)?;
        let bytes = encode_value(&value)?;
        self.map.store.put(entry_key::<K>(&repr).as_slice(), bytes)
    }

    /// Removes `key`; returns `true` if it was present.
    ///
    /// Dictionary codes are never reclaimed (codes stay stable).
    pub fn delete(&mut self, key: K::Ref<'_>) -> Result<bool> {
        let Some(repr) = K::find(key, &self.dicts) else {
            return Ok(false);
        };
        let k = entry_key::<K>(&repr);
        if !self.map.store.contains(k.as_slice()) {
            return Ok(false);
        }
        self.map.store.delete(k.as_slice())?;
        Ok(true)
    }

    /// Applies `f` to the value of `key` (starting from `V::default()` if it
    /// is absent), writes the result back and returns what `f` returns.
    pub fn update<R>(&mut self, key: K::Ref<'_>, f: impl FnOnce(&mut V) -> R) -> Result<R>
    where
        V: Default,
    {
        let mut value = self.get(key)?.unwrap_or_default();
        let out = f(&mut value);
        self.put(key, value)?;
        Ok(out)
    }

    /// Removes every entry and forgets the dictionaries (persistent tables:
    /// durable at the next flush).
    pub fn clear(&mut self) {
        Mmap::clear::<K::Repr, V>(&mut self.map);
        self.dicts = Default::default();
    }

    /// Calls `f` with every entry whose store key is in `lower..upper`
    /// (`upper: None` = to the end of the entries), in key order.
    fn scan(
        &self,
        lower: &[u8],
        upper: Option<&[u8]>,
        mut f: impl FnMut(K::Ref<'_>, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let where_ = || format!("Mmap table {:?}", self.path());
        for (k, v) in self.map.store.entries_from(lower) {
            if upper.is_some_and(|u| k >= u) || k.first() != Some(&tag::ENTRY) {
                break;
            }
            let mut input = k.get(1..).unwrap_or_default();
            let repr = K::decode(&mut input).map_err(|e| e.within(where_))?;
            if !input.is_empty() {
                return Err(StateError::corruption(where_(), "trailing key bytes"));
            }
            let key = K::resolve(&repr, &self.dicts).ok_or_else(|| {
                StateError::corruption(where_(), "dictionary code not in the dictionary")
            })?;
            f(key, v)?;
        }
        Ok(())
    }

    /// Calls `f` with every entry, in key order, values validated and
    /// deserialized.
    pub fn for_each(&self, mut f: impl FnMut(K::Ref<'_>, V)) -> Result<()> {
        self.scan(&[tag::ENTRY], None, |k, v| {
            f(k, self.decode(v)?);
            Ok(())
        })
    }

    /// Calls `f` with every entry, in key order, values as validated
    /// zero-copy `&Archived<V>` views.
    pub fn for_each_archived(&self, mut f: impl FnMut(K::Ref<'_>, &V::Archived)) -> Result<()> {
        self.scan(&[tag::ENTRY], None, |k, v| {
            with_archived_bytes::<V, _>(v, |a| f(k, a))
        })
    }

    fn bounds(&self, start: K::Ref<'_>, end: K::Ref<'_>) -> Option<(StackKey, StackKey)> {
        Some((
            entry_key::<K>(&K::find(start, &self.dicts)?),
            entry_key::<K>(&K::find(end, &self.dicts)?),
        ))
    }

    /// Calls `f` with every entry with `start <= key < end`, in key order
    /// (same order and dictionary rules as [`Table::range`] on `BTree`).
    pub fn range_for_each(
        &self,
        start: K::Ref<'_>,
        end: K::Ref<'_>,
        mut f: impl FnMut(K::Ref<'_>, V),
    ) -> Result<()> {
        let Some((lo, hi)) = self.bounds(start, end) else {
            return Ok(());
        };
        self.scan(lo.as_slice(), Some(hi.as_slice()), |k, v| {
            f(k, self.decode(v)?);
            Ok(())
        })
    }

    /// Removes every entry with `start <= key < end` and returns how many it
    /// removed.
    pub fn remove_range(&mut self, start: K::Ref<'_>, end: K::Ref<'_>) -> Result<usize> {
        let Some((lo, hi)) = self.bounds(start, end) else {
            return Ok(0);
        };
        let doomed: Vec<Vec<u8>> = self
            .map
            .store
            .entries_from(lo.as_slice())
            .take_while(|(k, _)| *k < hi.as_slice() && k.first() == Some(&tag::ENTRY))
            .map(|(k, _)| k.to_vec())
            .collect();
        for k in &doomed {
            self.map.store.delete(k)?;
        }
        Ok(doomed.len())
    }

    /// Appends this table's dictionaries and entries to `out` under `name`,
    /// in the snapshot layout shared by every backend (see [`layout`]),
    /// straight into the sink's buffers.
    pub fn write_snapshot<S: SnapshotSink + ?Sized>(&self, name: &str, out: &mut S) -> Result<()> {
        write_dicts(name, &self.dicts, out)?;
        out.reserve_entries(self.len());
        let head = layout::header(name, layout::ENTRY);
        for (k, v) in self.map.store.entries_from(&[tag::ENTRY]) {
            let Some((&tag::ENTRY, encoded)) = k.split_first() else {
                break;
            };
            out.push_entry(
                |key| {
                    key.extend_from_slice(&head);
                    key.extend_from_slice(encoded);
                },
                |sink| {
                    sink.extend(v);
                    Ok(())
                },
            )?;
        }
        Ok(())
    }

    /// Rebuilds an in-memory table from the entries of field `name` of a
    /// sorted snapshot; returns it and how many entries it consumed. Every
    /// key, code and value is validated.
    pub fn read_snapshot<S: SnapshotSource + ?Sized>(
        name: &str,
        entries: &S,
    ) -> Result<(Self, usize)> {
        let mut map = MmapMap::default();
        let (dicts, used) = read_field::<K, S>(name, entries, |repr, v| {
            with_archived_bytes::<V, _>(v, |_| ())?;
            let k = entry_key::<K>(&repr);
            if map.store.contains(k.as_slice()) {
                return Ok(false);
            }
            map.store
                .put(k.as_slice(), crate::state::store::aligned_bytes(v))?;
            Ok(true)
        })?;
        Ok((Self::from_parts(map, dicts), used))
    }

    /// Replaces the content of this table with that of `other` (used by the
    /// generated `restore`): a persistent table stays on its file (durable
    /// at the next flush); on error its entries are unchanged.
    pub fn assign(&mut self, other: Self) -> Result<()> {
        if !self.is_persistent() {
            *self = other;
            return Ok(());
        }
        let snapshot = other.map.store.snapshot();
        self.map.store.restore(snapshot)?;
        self.map.reserved = other.map.reserved;
        self.map.reserved_bytes = other.map.reserved_bytes;
        self.map.dicts_written = None;
        self.dicts = other.dicts;
        Ok(())
    }
}

impl<K, V> Table<K, V, Mmap>
where
    K: CompositeKey,
    V: Archive + SerializeValue,
    V::Archived: CheckArchived + Deserialize<V, HighDeserializer<rancor::Error>>,
{
    /// Calls `f` with every entry whose first key component is `first`, in
    /// key order.
    pub fn prefix_for_each(
        &self,
        first: <K::First as Key>::Ref<'_>,
        mut f: impl FnMut(K::Ref<'_>, V),
    ) -> Result<()> {
        let Some(repr) = <K::First as Key>::find(first, K::first_dicts(&self.dicts)) else {
            return Ok(());
        };
        let prefix = entry_key::<K::First>(&repr);
        let prefix = prefix.as_slice();
        for (k, v) in self.map.store.entries_from(prefix) {
            if !k.starts_with(prefix) {
                break;
            }
            let where_ = || format!("Mmap table {:?}", self.path());
            let mut input = k.get(1..).unwrap_or_default();
            let repr = K::decode(&mut input).map_err(|e| e.within(where_))?;
            let key = K::resolve(&repr, &self.dicts).ok_or_else(|| {
                StateError::corruption(where_(), "dictionary code not in the dictionary")
            })?;
            f(key, self.decode(v)?);
        }
        Ok(())
    }
}

impl<K: Key, V> std::fmt::Debug for Table<K, V, Mmap> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table<Mmap>")
            .field("path", &self.map.store.path())
            .field("len", &self.len())
            .finish()
    }
}
