//! The byte-level [`StateStore`] trait and the typed [`StateStoreExt`] extension.

use std::ops::Range;

use bytes::Bytes;
use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

use super::error::{Result, StateError};
use super::snapshot::StateSnapshot;

/// Iterator over `(key, value)` pairs returned by scans, in ascending byte order of keys.
pub type ScanIter<'a> = Box<dyn Iterator<Item = (Bytes, Bytes)> + 'a>;

/// Alignment, in bytes, that typed values are archived with and that backends
/// keep (where they can) so zero-copy reads validate without copying.
pub const VALUE_ALIGN: usize = 16;

/// A keyed byte store: the storage capability every backend provides.
///
/// Keys and values are arbitrary bytes. The trait is object safe, so operators
/// can hold a `Box<dyn StateStore>` chosen at run time.
///
/// # Semantics shared by every backend
///
/// - The empty key `b""` is a valid key like any other.
/// - Keys may contain any byte, including `0x00` and `0xFF`.
/// - Scans yield `(key, value)` pairs in ascending lexicographic byte order.
/// - [`prefix_scan`](StateStore::prefix_scan) with an empty prefix yields every entry;
///   a prefix of `0xFF` bytes works (there is no successor key to compute).
/// - [`range_scan`](StateStore::range_scan) is half-open (`start..end`); an empty or
///   reversed range yields nothing and never panics.
/// - [`delete`](StateStore::delete) of a missing key is `Ok(())`.
/// - [`size_bytes`](StateStore::size_bytes) is the sum of key and value lengths of live
///   entries (not the memory the backend uses).
pub trait StateStore: Send {
    /// Returns the value of `key`, or `None` if it is absent.
    ///
    /// In-memory backends return a reference-counted clone (no byte copy).
    fn get(&self, key: &[u8]) -> Option<Bytes>;

    /// Returns a borrowed view of the value of `key` without copying, or `None`.
    fn get_ref(&self, key: &[u8]) -> Option<&[u8]>;

    /// Inserts or replaces the value of `key`.
    fn put(&mut self, key: &[u8], value: Bytes) -> Result<()>;

    /// Removes `key`. Removing a missing key is not an error.
    fn delete(&mut self, key: &[u8]) -> Result<()>;

    /// Returns `true` if `key` is present.
    fn contains(&self, key: &[u8]) -> bool {
        self.get_ref(key).is_some()
    }

    /// Returns the value of `key`, first storing a copy of `default` under it
    /// if the key is absent.
    ///
    /// The same contract as laminar-core 0.18.5: an existing value is
    /// returned untouched; otherwise `default` is `put` and returned. The
    /// inserted copy is 16-byte aligned, so a typed default (bytes from
    /// [`encode_value`]) stays readable in place. If the `put` fails (an
    /// `MmapStateStore` that cannot grow) the error is returned and the store
    /// is unchanged.
    ///
    /// ```
    /// use laminar_core::state::{InMemoryStore, StateStore};
    /// let mut store = InMemoryStore::new();
    /// assert_eq!(&store.get_or_insert(b"k", b"first")?[..], b"first");
    /// assert_eq!(&store.get_or_insert(b"k", b"second")?[..], b"first");
    /// # Ok::<(), laminar_core::state::StateError>(())
    /// ```
    fn get_or_insert(&mut self, key: &[u8], default: &[u8]) -> Result<Bytes> {
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        let value = aligned_bytes(default);
        self.put(key, value.clone())?;
        Ok(value)
    }

    /// Number of live entries.
    fn len(&self) -> usize;

    /// Returns `true` if the store holds no entry.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sum of the key and value lengths of all live entries, in bytes.
    fn size_bytes(&self) -> usize;

    /// Removes every entry.
    fn clear(&mut self);

    /// Makes every change so far durable. A no-op for in-memory backends.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    /// Yields every entry whose key starts with `prefix`, in ascending key order.
    fn prefix_scan<'a>(&'a self, prefix: &'a [u8]) -> ScanIter<'a>;

    /// Yields every entry with `range.start <= key < range.end`, in ascending key order.
    fn range_scan<'a>(&'a self, range: Range<&'a [u8]>) -> ScanIter<'a>;

    /// Captures every entry, sorted by key, for checkpointing.
    fn snapshot(&self) -> StateSnapshot;

    /// Replaces the whole content of the store with `snapshot`.
    ///
    /// `InMemoryStore` and `AHashMapStore` cannot fail. `MmapStateStore`, in
    /// either mode, may fail with [`StateError::Io`](crate::state::StateError::Io)
    /// (a new mapping cannot be made) or
    /// [`StateError::InvalidArgument`](crate::state::StateError::InvalidArgument)
    /// (a key or value of 4 GiB or more); a persistent store's last flush
    /// stays untouched on disk.
    fn restore(&mut self, snapshot: StateSnapshot) -> Result<()>;
}

/// Serializer bound for values written with [`StateStoreExt::put_typed`].
pub trait SerializeValue:
    for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>
{
}
impl<T> SerializeValue for T where
    T: for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>
{
}

/// Validation bound for archived values read with [`StateStoreExt`].
pub trait CheckArchived: for<'a> CheckBytes<HighValidator<'a, rancor::Error>> {}
impl<T> CheckArchived for T where T: for<'a> CheckBytes<HighValidator<'a, rancor::Error>> {}

/// Serializes `value` with rkyv into a 16-byte-aligned buffer wrapped in [`Bytes`]
/// (no copy: the aligned allocation becomes the `Bytes` owner).
pub fn encode_value<T: SerializeValue>(value: &T) -> Result<Bytes> {
    let buf = rkyv::to_bytes::<rancor::Error>(value)
        .map_err(|e| StateError::Serialization(e.to_string()))?;
    Ok(Bytes::from_owner(buf))
}

/// Calls `f` with a validated view of `bytes` archived as `T`.
///
/// Reads in place when `bytes` is suitably aligned; otherwise copies them once
/// into an aligned buffer, so alignment never makes a read fail.
pub fn with_archived_bytes<T, R>(bytes: &[u8], f: impl FnOnce(&T::Archived) -> R) -> Result<R>
where
    T: Archive,
    T::Archived: CheckArchived,
{
    let align = std::mem::align_of::<T::Archived>().max(1);
    if (bytes.as_ptr() as usize).is_multiple_of(align) {
        let archived = rkyv::access::<T::Archived, rancor::Error>(bytes)
            .map_err(|e| StateError::Deserialization(e.to_string()))?;
        Ok(f(archived))
    } else {
        let mut aligned = AlignedVec::<VALUE_ALIGN>::with_capacity(bytes.len());
        aligned.extend_from_slice(bytes);
        let archived = rkyv::access::<T::Archived, rancor::Error>(&aligned)
            .map_err(|e| StateError::Deserialization(e.to_string()))?;
        Ok(f(archived))
    }
}

/// Deserializes `bytes` archived as `T` after validating them.
pub fn decode_value<T>(bytes: &[u8]) -> Result<T>
where
    T: Archive,
    T::Archived: CheckArchived + Deserialize<T, HighDeserializer<rancor::Error>>,
{
    with_archived_bytes::<T, _>(bytes, |archived| {
        rkyv::deserialize::<T, rancor::Error>(archived)
            .map_err(|e| StateError::Deserialization(e.to_string()))
    })?
}

/// Typed access on top of any [`StateStore`], including `dyn StateStore`.
///
/// Values are archived with rkyv 0.8 and validated (bytecheck) on every read,
/// so bytes from a corrupt snapshot produce [`StateError::Deserialization`],
/// never undefined behaviour. Reads never fail because of alignment: a value
/// that is not stored at a suitable address is copied once into an aligned
/// buffer. Backends in this crate store typed values 16-byte aligned, so the
/// copy does not happen on them.
pub trait StateStoreExt: StateStore {
    /// Archives `value` with rkyv and stores it under `key`.
    fn put_typed<T: SerializeValue>(&mut self, key: &[u8], value: &T) -> Result<()> {
        let bytes = encode_value(value)?;
        self.put(key, bytes)
    }

    /// Reads, validates and deserializes the value of `key` as `T`.
    ///
    /// Returns `Ok(None)` if the key is absent and
    /// [`StateError::Deserialization`] if the bytes are not a valid `T`.
    fn get_typed<T>(&self, key: &[u8]) -> Result<Option<T>>
    where
        T: Archive,
        T::Archived: CheckArchived + Deserialize<T, HighDeserializer<rancor::Error>>,
    {
        match self.get_ref(key) {
            None => Ok(None),
            Some(bytes) => decode_value::<T>(bytes).map(Some),
        }
    }

    /// Replaces the value of `key` with what `f` makes of the current one.
    ///
    /// `f` receives the current value (`None` if the key is absent) and
    /// returns the new value, or `None` to delete the key (deleting an absent
    /// key is fine, as with [`delete`](StateStore::delete)). The signature
    /// and behaviour are those of laminar-core 0.18.5. An error from the
    /// `put` or `delete` is returned; the old value then stays.
    ///
    /// ```
    /// use laminar_core::state::{InMemoryStore, StateStore, StateStoreExt};
    /// let mut store = InMemoryStore::new();
    /// let bump = |v: Option<bytes::Bytes>| {
    ///     let n = v.map_or(0, |b| b.first().copied().unwrap_or(0));
    ///     Some(vec![n + 1])
    /// };
    /// store.update(b"hits", bump)?;
    /// store.update(b"hits", bump)?;
    /// assert_eq!(store.get(b"hits").as_deref(), Some(&[2u8][..]));
    /// store.update(b"hits", |_| None)?;
    /// assert!(!store.contains(b"hits"));
    /// # Ok::<(), laminar_core::state::StateError>(())
    /// ```
    fn update<F>(&mut self, key: &[u8], f: F) -> Result<()>
    where
        F: FnOnce(Option<Bytes>) -> Option<Vec<u8>>,
    {
        match f(self.get(key)) {
            Some(value) => self.put(key, Bytes::from(value)),
            None => self.delete(key),
        }
    }

    /// Calls `f` with a validated, zero-copy `&Archived<T>` view of the value of `key`.
    ///
    /// No deserialization happens; on the backends of this crate no byte is
    /// copied either (values are kept 16-byte aligned).
    ///
    /// ```
    /// use laminar_core::state::{InMemoryStore, StateStoreExt};
    /// let mut store = InMemoryStore::new();
    /// store.put_typed(b"tags", &vec![1u32, 2, 3]).unwrap();
    /// let sum = store
    ///     .with_archived::<Vec<u32>, _>(b"tags", |tags| tags.iter().map(|t| t.to_native()).sum::<u32>())
    ///     .unwrap();
    /// assert_eq!(sum, Some(6));
    /// ```
    fn with_archived<T, R>(
        &self,
        key: &[u8],
        f: impl FnOnce(&T::Archived) -> R,
    ) -> Result<Option<R>>
    where
        T: Archive,
        T::Archived: CheckArchived,
    {
        match self.get_ref(key) {
            None => Ok(None),
            Some(bytes) => with_archived_bytes::<T, R>(bytes, f).map(Some),
        }
    }
}

impl<S: StateStore + ?Sized> StateStoreExt for S {}

/// Copies `bytes` into a new 16-byte-aligned allocation, so typed reads of a
/// restored value stay zero-copy.
pub(crate) fn aligned_bytes(bytes: &[u8]) -> Bytes {
    let mut buf = AlignedVec::<VALUE_ALIGN>::with_capacity(bytes.len());
    buf.extend_from_slice(bytes);
    Bytes::from_owner(buf)
}

/// Returns `true` if a half-open range contains no key (empty or reversed).
#[inline]
pub(crate) fn range_is_empty(range: &Range<&[u8]>) -> bool {
    range.start >= range.end
}
