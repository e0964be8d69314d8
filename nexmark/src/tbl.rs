//! [`Tbl`]: the handful of table operations the queries need, over every
//! kind of table they run on, so each query's logic is written once.
//!
//! Implemented by the typed tables of the three backend markers
//! (`Table<K, V, AHash>`, `Table<K, V, BTree>`, `Table<K, V, Mmap>`), by
//! [`DynTable`] (a byte-level store behind `Box<dyn StateStore>`, values
//! archived with rkyv) and by the hand-written peers' maps
//! (`hashbrown::HashMap` with ahash, and std `BTreeMap`). Keys are the
//! integer keys the queries use: `u64` and `(u64, u64)`.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::marker::PhantomData;

use laminar_core::state::key::Key;
use laminar_core::state::typed::{AHash, BTree, Mmap, Table};
use laminar_core::state::{
    AHashMapStore, InMemoryStore, MmapStateStore, Result, StateError, StateSnapshot, StateStore,
    StateStoreExt,
};
use rkyv::de::Pool;
use rkyv::rancor::Strategy;

/// A key the queries use: an owned integer key (or pair) that is its own
/// borrowed form, with a big-endian byte encoding for byte-level stores.
pub trait QKey: for<'a> Key<Ref<'a> = Self> + Copy + Ord + Hash + Eq + Send + 'static {
    /// Big-endian bytes (order-preserving).
    fn to_bytes(self) -> Vec<u8>;
    /// The key of `bytes`, or `None` if they are not a valid encoding.
    fn from_bytes(bytes: &[u8]) -> Option<Self>;
}

impl QKey for u64 {
    fn to_bytes(self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(u64::from_be_bytes(bytes.try_into().ok()?))
    }
}

impl QKey for (u64, u64) {
    fn to_bytes(self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(&self.0.to_be_bytes());
        v.extend_from_slice(&self.1.to_be_bytes());
        v
    }
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (a, b) = bytes.split_at_checked(8)?;
        Some((
            u64::from_be_bytes(a.try_into().ok()?),
            u64::from_be_bytes(b.try_into().ok()?),
        ))
    }
}

/// A value the queries store: a plain Rust value that rkyv can archive,
/// validate and read back.
pub trait QVal:
    Clone + Default + rkyv::Archive + laminar_core::state::SerializeValue + Send + 'static
where
    Self::Archived: laminar_core::state::CheckArchived
        + rkyv::Deserialize<Self, Strategy<Pool, rkyv::rancor::Error>>,
{
}

impl<T> QVal for T
where
    T: Clone + Default + rkyv::Archive + laminar_core::state::SerializeValue + Send + 'static,
    T::Archived: laminar_core::state::CheckArchived
        + rkyv::Deserialize<T, Strategy<Pool, rkyv::rancor::Error>>,
{
}

/// The table operations a query's logic uses.
pub trait Tbl<K, V> {
    /// Calls `f` with the value of `k` (borrowed in place where the table can).
    fn look<R>(&self, k: K, f: impl FnOnce(Option<&V>) -> R) -> Result<R>;
    /// `true` if `k` has a value.
    fn has(&self, k: K) -> Result<bool>;
    /// Sets the value of `k`.
    fn set(&mut self, k: K, v: V) -> Result<()>;
    /// Removes `k` (absent keys are fine).
    fn unset(&mut self, k: K) -> Result<()>;
    /// Applies `f` to the value of `k`, created by `make` if absent, and
    /// stores the result.
    fn upsert_with<R>(
        &mut self,
        k: K,
        make: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> Result<R>;
    /// Applies `f` to the value of `k` if there is one (and stores the result).
    fn modify<R>(&mut self, k: K, f: impl FnOnce(&mut V) -> R) -> Result<Option<R>>;
    /// Removes every entry with `lo <= key < hi` and appends them to `out`
    /// (ordered tables: a range scan; hash tables: a full pass).
    fn take_range(&mut self, lo: K, hi: K, out: &mut Vec<(K, V)>) -> Result<()>;
    /// Removes every entry for which `pred` is true and appends them to `out`
    /// (a full pass).
    fn take_if(&mut self, pred: impl FnMut(K, &V) -> bool, out: &mut Vec<(K, V)>) -> Result<()>;
    /// Number of entries.
    fn entries(&self) -> usize;
    /// Approximate bytes held.
    fn bytes(&self) -> usize;
    /// The value of `k`, cloned.
    fn fetch(&self, k: K) -> Result<Option<V>>
    where
        V: Clone,
    {
        self.look(k, |v| v.cloned())
    }
}

macro_rules! native_common {
    ($b:ty) => {
        fn look<R>(&self, k: K, f: impl FnOnce(Option<&V>) -> R) -> Result<R> {
            Ok(f(Table::<K, V, $b>::get(self, k)))
        }
        fn has(&self, k: K) -> Result<bool> {
            Ok(Table::<K, V, $b>::contains(self, k))
        }
        fn set(&mut self, k: K, v: V) -> Result<()> {
            Table::<K, V, $b>::put(self, k, v).map(drop)
        }
        fn unset(&mut self, k: K) -> Result<()> {
            Table::<K, V, $b>::delete(self, k);
            Ok(())
        }
        fn upsert_with<R>(
            &mut self,
            k: K,
            make: impl FnOnce() -> V,
            f: impl FnOnce(&mut V) -> R,
        ) -> Result<R> {
            Table::<K, V, $b>::upsert(self, k, make).map(f)
        }
        fn modify<R>(&mut self, k: K, f: impl FnOnce(&mut V) -> R) -> Result<Option<R>> {
            Ok(Table::<K, V, $b>::get_mut(self, k).map(f))
        }
        fn take_if(
            &mut self,
            mut pred: impl FnMut(K, &V) -> bool,
            out: &mut Vec<(K, V)>,
        ) -> Result<()> {
            Table::<K, V, $b>::retain(self, |k, v| {
                if pred(k, v) {
                    out.push((k, std::mem::take(v)));
                    false
                } else {
                    true
                }
            });
            Ok(())
        }
        fn entries(&self) -> usize {
            Table::<K, V, $b>::len(self)
        }
        fn bytes(&self) -> usize {
            Table::<K, V, $b>::size_bytes(self)
        }
    };
}

impl<K: QKey, V: QVal> Tbl<K, V> for Table<K, V, AHash>
where
    V::Archived: laminar_core::state::CheckArchived
        + rkyv::Deserialize<V, Strategy<Pool, rkyv::rancor::Error>>,
{
    native_common!(AHash);
    fn take_range(&mut self, lo: K, hi: K, out: &mut Vec<(K, V)>) -> Result<()> {
        Tbl::take_if(self, |k, _| lo <= k && k < hi, out)
    }
}

impl<K: QKey, V: QVal> Tbl<K, V> for Table<K, V, BTree>
where
    V::Archived: laminar_core::state::CheckArchived
        + rkyv::Deserialize<V, Strategy<Pool, rkyv::rancor::Error>>,
{
    native_common!(BTree);
    fn take_range(&mut self, lo: K, hi: K, out: &mut Vec<(K, V)>) -> Result<()> {
        out.extend(self.range(lo, hi).map(|(k, v)| (k, v.clone())));
        self.remove_range(lo, hi);
        Ok(())
    }
}

impl<K: QKey, V: QVal> Tbl<K, V> for Table<K, V, Mmap>
where
    V::Archived: laminar_core::state::CheckArchived
        + rkyv::Deserialize<V, Strategy<Pool, rkyv::rancor::Error>>,
{
    fn look<R>(&self, k: K, f: impl FnOnce(Option<&V>) -> R) -> Result<R> {
        Ok(f(Table::<K, V, Mmap>::get(self, k)?.as_ref()))
    }
    fn has(&self, k: K) -> Result<bool> {
        Ok(Table::<K, V, Mmap>::contains(self, k))
    }
    fn set(&mut self, k: K, v: V) -> Result<()> {
        Table::<K, V, Mmap>::put(self, k, v)
    }
    fn unset(&mut self, k: K) -> Result<()> {
        Table::<K, V, Mmap>::delete(self, k).map(drop)
    }
    fn upsert_with<R>(
        &mut self,
        k: K,
        make: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> Result<R> {
        let mut v = match Table::<K, V, Mmap>::get(self, k)? {
            Some(v) => v,
            None => make(),
        };
        let r = f(&mut v);
        Table::<K, V, Mmap>::put(self, k, v)?;
        Ok(r)
    }
    fn modify<R>(&mut self, k: K, f: impl FnOnce(&mut V) -> R) -> Result<Option<R>> {
        let Some(mut v) = Table::<K, V, Mmap>::get(self, k)? else {
            return Ok(None);
        };
        let r = f(&mut v);
        Table::<K, V, Mmap>::put(self, k, v)?;
        Ok(Some(r))
    }
    fn take_range(&mut self, lo: K, hi: K, out: &mut Vec<(K, V)>) -> Result<()> {
        self.range_for_each(lo, hi, |k, v| out.push((k, v)))?;
        self.remove_range(lo, hi).map(drop)
    }
    fn take_if(
        &mut self,
        mut pred: impl FnMut(K, &V) -> bool,
        out: &mut Vec<(K, V)>,
    ) -> Result<()> {
        let start = out.len();
        self.for_each(|k, v| {
            if pred(k, &v) {
                out.push((k, v));
            }
        })?;
        let doomed: Vec<K> = out
            .get(start..)
            .unwrap_or_default()
            .iter()
            .map(|(k, _)| *k)
            .collect();
        for k in doomed {
            Table::<K, V, Mmap>::delete(self, k)?;
        }
        Ok(())
    }
    fn entries(&self) -> usize {
        Table::<K, V, Mmap>::len(self)
    }
    fn bytes(&self) -> usize {
        Table::<K, V, Mmap>::size_bytes(self)
    }
}

/// Which byte-level store a [`DynTable`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DynKind {
    /// [`InMemoryStore`] (B+ trees).
    InMemory,
    /// [`AHashMapStore`].
    AHash,
    /// [`MmapStateStore::in_memory`].
    Mmap,
}

impl DynKind {
    /// An empty store of this kind.
    pub fn store(self) -> Box<dyn StateStore> {
        match self {
            DynKind::InMemory => Box::new(InMemoryStore::new()),
            DynKind::AHash => Box::new(AHashMapStore::new()),
            DynKind::Mmap => Box::new(MmapStateStore::in_memory(1 << 16)),
        }
    }
}

/// A table on a byte-level store behind `Box<dyn StateStore>`: keys
/// big-endian bytes, values archived with rkyv and validated on every read
/// (the [`StateStoreExt`] typed accessors).
pub struct DynTable<K, V> {
    store: Box<dyn StateStore>,
    kind: DynKind,
    _types: PhantomData<fn(K) -> V>,
}

impl<K: QKey, V: QVal> DynTable<K, V>
where
    V::Archived: laminar_core::state::CheckArchived
        + rkyv::Deserialize<V, Strategy<Pool, rkyv::rancor::Error>>,
{
    /// An empty table on a new store of `kind`.
    pub fn new(kind: DynKind) -> Self {
        DynTable {
            store: kind.store(),
            kind,
            _types: PhantomData,
        }
    }

    /// The store's snapshot, framed as bytes.
    pub fn snapshot_bytes(&self) -> Result<crate::op::CkBytes> {
        self.store.snapshot().to_bytes()
    }

    /// A table of the same kind restored from [`snapshot_bytes`](Self::snapshot_bytes).
    pub fn from_snapshot_bytes(kind: DynKind, bytes: &[u8]) -> Result<Self> {
        let mut t = Self::new(kind);
        t.store.restore(StateSnapshot::from_bytes(bytes)?)?;
        Ok(t)
    }

    /// The kind of store.
    pub fn kind(&self) -> DynKind {
        self.kind
    }

    fn decode_all(
        &self,
        entries: impl Iterator<Item = (bytes::Bytes, bytes::Bytes)>,
        mut keep: impl FnMut(K, &V) -> bool,
        out: &mut Vec<(K, V)>,
    ) -> Result<Vec<bytes::Bytes>> {
        let mut doomed = Vec::new();
        for (kb, vb) in entries {
            let k = K::from_bytes(&kb).ok_or_else(|| {
                StateError::corruption("dyn table", format!("key of {} bytes", kb.len()))
            })?;
            let v: V = laminar_core::state::decode_value(&vb)?;
            if keep(k, &v) {
                out.push((k, v));
                doomed.push(kb);
            }
        }
        Ok(doomed)
    }
}

impl<K: QKey, V: QVal> Tbl<K, V> for DynTable<K, V>
where
    V::Archived: laminar_core::state::CheckArchived
        + rkyv::Deserialize<V, Strategy<Pool, rkyv::rancor::Error>>,
{
    fn look<R>(&self, k: K, f: impl FnOnce(Option<&V>) -> R) -> Result<R> {
        let v: Option<V> = self.store.get_typed(&k.to_bytes())?;
        Ok(f(v.as_ref()))
    }
    fn has(&self, k: K) -> Result<bool> {
        Ok(self.store.contains(&k.to_bytes()))
    }
    fn set(&mut self, k: K, v: V) -> Result<()> {
        self.store.put_typed(&k.to_bytes(), &v)
    }
    fn unset(&mut self, k: K) -> Result<()> {
        self.store.delete(&k.to_bytes())
    }
    fn upsert_with<R>(
        &mut self,
        k: K,
        make: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> Result<R> {
        let key = k.to_bytes();
        let mut v = match self.store.get_typed::<V>(&key)? {
            Some(v) => v,
            None => make(),
        };
        let r = f(&mut v);
        self.store.put_typed(&key, &v)?;
        Ok(r)
    }
    fn modify<R>(&mut self, k: K, f: impl FnOnce(&mut V) -> R) -> Result<Option<R>> {
        let key = k.to_bytes();
        let Some(mut v) = self.store.get_typed::<V>(&key)? else {
            return Ok(None);
        };
        let r = f(&mut v);
        self.store.put_typed(&key, &v)?;
        Ok(Some(r))
    }
    fn take_range(&mut self, lo: K, hi: K, out: &mut Vec<(K, V)>) -> Result<()> {
        let (lo, hi) = (lo.to_bytes(), hi.to_bytes());
        let doomed = self.decode_all(self.store.range_scan(&lo[..]..&hi[..]), |_, _| true, out)?;
        for k in doomed {
            self.store.delete(&k)?;
        }
        Ok(())
    }
    fn take_if(&mut self, pred: impl FnMut(K, &V) -> bool, out: &mut Vec<(K, V)>) -> Result<()> {
        let doomed = self.decode_all(self.store.prefix_scan(&[]), pred, out)?;
        for k in doomed {
            self.store.delete(&k)?;
        }
        Ok(())
    }
    fn entries(&self) -> usize {
        self.store.len()
    }
    fn bytes(&self) -> usize {
        self.store.size_bytes()
    }
}

/// The hand-written peer's hash map: `hashbrown` with ahash.
pub type HashPeer<K, V> = hashbrown::HashMap<K, V, ahash::RandomState>;

impl<K: QKey, V: Clone + Default> Tbl<K, V> for HashPeer<K, V> {
    fn look<R>(&self, k: K, f: impl FnOnce(Option<&V>) -> R) -> Result<R> {
        Ok(f(hashbrown::HashMap::get(self, &k)))
    }
    fn has(&self, k: K) -> Result<bool> {
        Ok(self.contains_key(&k))
    }
    fn set(&mut self, k: K, v: V) -> Result<()> {
        self.insert(k, v);
        Ok(())
    }
    fn unset(&mut self, k: K) -> Result<()> {
        self.remove(&k);
        Ok(())
    }
    fn upsert_with<R>(
        &mut self,
        k: K,
        make: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> Result<R> {
        Ok(f(self.entry(k).or_insert_with(make)))
    }
    fn modify<R>(&mut self, k: K, f: impl FnOnce(&mut V) -> R) -> Result<Option<R>> {
        Ok(self.get_mut(&k).map(f))
    }
    fn take_range(&mut self, lo: K, hi: K, out: &mut Vec<(K, V)>) -> Result<()> {
        out.extend(self.extract_if(|k, _| lo <= *k && *k < hi));
        Ok(())
    }
    fn take_if(
        &mut self,
        mut pred: impl FnMut(K, &V) -> bool,
        out: &mut Vec<(K, V)>,
    ) -> Result<()> {
        out.extend(self.extract_if(|k, v| pred(*k, v)));
        Ok(())
    }
    fn entries(&self) -> usize {
        self.len()
    }
    fn bytes(&self) -> usize {
        self.capacity() * (std::mem::size_of::<(K, V)>() + 1)
    }
}

impl<K: QKey, V: Clone + Default> Tbl<K, V> for BTreeMap<K, V> {
    fn look<R>(&self, k: K, f: impl FnOnce(Option<&V>) -> R) -> Result<R> {
        Ok(f(BTreeMap::get(self, &k)))
    }
    fn has(&self, k: K) -> Result<bool> {
        Ok(self.contains_key(&k))
    }
    fn set(&mut self, k: K, v: V) -> Result<()> {
        self.insert(k, v);
        Ok(())
    }
    fn unset(&mut self, k: K) -> Result<()> {
        self.remove(&k);
        Ok(())
    }
    fn upsert_with<R>(
        &mut self,
        k: K,
        make: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> Result<R> {
        Ok(f(self.entry(k).or_insert_with(make)))
    }
    fn modify<R>(&mut self, k: K, f: impl FnOnce(&mut V) -> R) -> Result<Option<R>> {
        Ok(self.get_mut(&k).map(f))
    }
    fn take_range(&mut self, lo: K, hi: K, out: &mut Vec<(K, V)>) -> Result<()> {
        if lo >= hi {
            return Ok(());
        }
        let mut mid = self.split_off(&lo);
        let mut rest = mid.split_off(&hi);
        self.append(&mut rest);
        out.extend(mid);
        Ok(())
    }
    fn take_if(
        &mut self,
        mut pred: impl FnMut(K, &V) -> bool,
        out: &mut Vec<(K, V)>,
    ) -> Result<()> {
        let doomed: Vec<K> = self
            .iter()
            .filter(|(k, v)| pred(**k, v))
            .map(|(k, _)| *k)
            .collect();
        for k in doomed {
            if let Some(v) = self.remove(&k) {
                out.push((k, v));
            }
        }
        Ok(())
    }
    fn entries(&self) -> usize {
        self.len()
    }
    fn bytes(&self) -> usize {
        self.len() * (std::mem::size_of::<(K, V)>() + 16)
    }
}
