//! [`InMemoryStore`]: the ordered reference backend (the semantics of a
//! `BTreeMap<Vec<u8>, Bytes>`, in layered B+ trees).
//!
//! # Layout
//!
//! A `BTreeMap<Vec<u8>, _>` compares keys by chasing a pointer per visited
//! key, which costs over a microsecond per lookup at a million keys. This
//! store instead follows the layering idea of Masstree: keys are cut into
//! 7-byte slices, and each layer is an ordered map from one slice, packed with
//! its length into an integer ([`word`]), to a slot. Integer keys keep a
//! node's keys in a few cache lines, and comparing them is one instruction.
//!
//! The map of a layer is a B+ tree (`BPlusTree`) rather than `BTreeMap`:
//! `BTreeMap` stores values in every node, so with slots of 72 bytes the child
//! pointers of an inner node sit a dozen cache lines past its keys and every
//! level costs misses. In the B+ tree, inner nodes hold only integer keys and
//! child pointers, so a million-key layer's inner levels (a few hundred
//! nodes) stay in cache and a lookup misses on its leaf and its slot (small
//! values share chunks whose reference counts stay in cache, see `Chunks`).
//!
//! A slot holds either the value of a key that ends in this slice, the rest of
//! the only key that continues past it (stored inline when short), or a deeper
//! layer once two keys share the slice. Integer order equals byte order of the
//! keys, so in-order traversal of the layers is ascending key order.

use std::ops::{Bound, Range};

use bytes::{Buf, Bytes, BytesMut};

use crate::state::collections::bptree::{self, BPlusTree, Entry};
use crate::state::collections::key_buf::KeyBuf;
use crate::state::error::Result;
use crate::state::snapshot::StateSnapshot;
use crate::state::store::{aligned_bytes, range_is_empty, ScanIter, StateStore, VALUE_ALIGN};

/// Values up to this many bytes are copied into shared chunks by
/// [`InMemoryStore::put`](StateStore::put).
const INLINE_MAX: usize = 112;

/// Key bytes per layer.
const SLICE: usize = 7;
/// Length class of a slice whose key continues into a deeper layer.
const CONTINUES: u8 = SLICE as u8 + 1;

/// Packs up to [`SLICE`] bytes and a length class into an order-preserving word.
///
/// The high seven bytes hold the slice zero-padded; the low byte holds the
/// number of key bytes in it (`0..=7`), or [`CONTINUES`] if the key goes on.
/// Two keys whose padded slices differ compare like their slices; if the
/// padded slices are equal, the shorter key is a prefix of the longer one and
/// has the smaller length class. Hence word order equals byte order.
#[inline]
fn word(chunk: &[u8], continues: bool) -> u64 {
    let mut b = [0u8; 8];
    let n = chunk.len().min(SLICE);
    b[..n].copy_from_slice(&chunk[..n]);
    b[SLICE] = if continues { CONTINUES } else { n as u8 };
    u64::from_be_bytes(b)
}

/// The key bytes held by a word (inverse of [`word`] for the slice part).
#[inline]
fn word_bytes(w: u64, out: &mut Vec<u8>) {
    let b = w.to_be_bytes();
    let class = b[SLICE];
    let n = if class >= CONTINUES {
        SLICE
    } else {
        usize::from(class)
    };
    out.extend_from_slice(&b[..n]);
}

/// Neither `Clone` nor `Debug`: derived, both would recurse once per layer,
/// and two keys sharing a long prefix nest a layer per 7 bytes of it (see
/// `InMemoryStore`'s own implementations, which iterate).
enum Slot {
    /// The value of the key that ends in this slice.
    Value(Bytes),
    /// The only key continuing past this slice: its remaining bytes and value.
    Suffix { rest: KeyBuf, value: Bytes },
    /// Two or more keys continue past this slice.
    Layer(Box<Layer>),
}

#[derive(Default)]
struct Layer {
    map: BPlusTree<u64, Slot>,
}

impl Drop for Layer {
    /// Drops nested layers iteratively, so a very long key cannot overflow
    /// the stack through recursive drops.
    fn drop(&mut self) {
        let mut stack: Vec<Layer> = Vec::new();
        let take_children = |layer: &mut Layer, stack: &mut Vec<Layer>| {
            layer.map.for_each_value_mut(|slot| {
                if let Slot::Layer(child) = slot {
                    stack.push(std::mem::take(&mut **child));
                }
            });
        };
        take_children(self, &mut stack);
        while let Some(mut layer) = stack.pop() {
            take_children(&mut layer, &mut stack);
        }
    }
}

impl Layer {
    fn get(&self, key: &[u8]) -> Option<&Bytes> {
        let mut layer = self;
        let mut k = key;
        loop {
            if k.len() <= SLICE {
                return match layer.map.get(&word(k, false)) {
                    Some(Slot::Value(v)) => Some(v),
                    _ => None,
                };
            }
            let (chunk, rest) = k.split_at(SLICE);
            match layer.map.get(&word(chunk, true))? {
                Slot::Suffix { rest: r, value } => {
                    return (r.as_slice() == rest).then_some(value);
                }
                Slot::Layer(child) => {
                    layer = child;
                    k = rest;
                }
                Slot::Value(_) => return None,
            }
        }
    }

    /// Inserts or replaces; returns the previous value.
    fn insert(&mut self, key: &[u8], value: Bytes) -> Option<Bytes> {
        let mut layer = self;
        let mut k = key;
        loop {
            if k.len() <= SLICE {
                return match layer.map.insert(word(k, false), Slot::Value(value)) {
                    Some(Slot::Value(old)) => Some(old),
                    _ => None,
                };
            }
            let (chunk, rest) = k.split_at(SLICE);
            let slot = match layer.map.entry(word(chunk, true)) {
                Entry::Vacant(e) => {
                    e.insert(Slot::Suffix {
                        rest: KeyBuf::new(rest),
                        value,
                    });
                    return None;
                }
                Entry::Occupied(slot) => slot,
            };
            if let Slot::Suffix { rest: r, value: v } = slot {
                if r.as_slice() == rest {
                    return Some(std::mem::replace(v, value));
                }
                // A second key continues through this slice: push the first one down.
                let mut child = Box::<Layer>::default();
                if let Slot::Suffix { rest: r, value: v } =
                    std::mem::replace(slot, Slot::Value(Bytes::new()))
                {
                    child.insert(r.as_slice(), v);
                }
                *slot = Slot::Layer(child);
            }
            match slot {
                Slot::Layer(child) => {
                    layer = child;
                    k = rest;
                }
                // A continuing word never holds a plain value.
                Slot::Value(_) | Slot::Suffix { .. } => return None,
            }
        }
    }

    /// Removes `key`; returns its value.
    ///
    /// Layers left empty are removed with their parent slot: the first pass
    /// finds the shallowest layer below which nothing else would remain, the
    /// second removes that one slot.
    fn remove(&mut self, key: &[u8]) -> Option<Bytes> {
        // Pass 1: does the key exist, and at which depth is the cut?
        let mut cut_depth = 0usize;
        {
            let mut layer: &Layer = self;
            let mut k = key;
            let mut depth = 0usize;
            loop {
                if layer.map.len() > 1 {
                    cut_depth = depth;
                }
                if k.len() <= SLICE {
                    if !matches!(layer.map.get(&word(k, false)), Some(Slot::Value(_))) {
                        return None;
                    }
                    break;
                }
                let (chunk, rest) = k.split_at(SLICE);
                match layer.map.get(&word(chunk, true)) {
                    Some(Slot::Suffix { rest: r, .. }) if r.as_slice() == rest => break,
                    Some(Slot::Layer(child)) => {
                        layer = child;
                        k = rest;
                        depth += 1;
                    }
                    _ => return None,
                }
            }
        }
        // Pass 2: remove the slot at the cut depth (everything below it is
        // a chain of single-entry layers leading to the key).
        let mut layer: &mut Layer = self;
        let mut k = key;
        for _ in 0..cut_depth {
            let (chunk, rest) = k.split_at(SLICE.min(k.len()));
            match layer.map.get_mut(&word(chunk, true)) {
                Some(Slot::Layer(child)) => {
                    layer = child;
                    k = rest;
                }
                _ => return None,
            }
        }
        let w = if k.len() <= SLICE {
            word(k, false)
        } else {
            word(&k[..SLICE], true)
        };
        let mut removed = layer.map.remove(&w)?;
        // Walk the removed chain down to the value.
        loop {
            match removed {
                Slot::Value(v) | Slot::Suffix { value: v, .. } => return Some(v),
                Slot::Layer(mut child) => {
                    let first = child.map.pop_first()?;
                    removed = first.1;
                }
            }
        }
    }
}

/// Smallest and largest chunk [`Chunks`] allocates.
const CHUNK_MIN: usize = 1 << 10;
const CHUNK_MAX: usize = 64 << 10;
/// Garbage [`Chunks`] tolerates beyond the live bytes before compacting, at
/// least.
const COMPACT_SLACK: usize = 64 << 10;
/// Garbage [`Chunks`] tolerates per entry of the store (large values
/// included) before compacting: a compaction visits every entry, so it waits
/// for at least one put or delete per eight entries.
const COMPACT_PER_ENTRY: usize = 16;

/// Bytes a value of `len` bytes takes in a chunk, at most: itself and the
/// padding that aligns it.
#[inline]
fn footprint(len: usize) -> usize {
    len + VALUE_ALIGN - 1
}

/// The chunks that hold `InMemoryStore`'s values of at most [`INLINE_MAX`]
/// bytes.
///
/// `put` copies such a value into the chunk being filled, and the stored
/// `Bytes` is a slice of that chunk: the values of one chunk share one
/// reference count. A `get` clones the value, which increments that count;
/// with a count per value (its own allocation), the increment was a third
/// cache miss after the leaf and the slot, while a store's few thousand chunk
/// counts stay in cache.
///
/// A replaced or deleted value leaves garbage in its chunk, and a chunk lives
/// while any of its values does. Once the garbage (bytes taken since the last
/// compaction, less the live values' footprint) exceeds the live footprint
/// plus the larger of [`COMPACT_SLACK`] and [`COMPACT_PER_ENTRY`] bytes per
/// entry, the store visits every entry and copies each small value into
/// fresh chunks, and the old chunks go when their last `Bytes` does (values
/// the caller still holds keep theirs alive). Each put or delete adds at
/// most [`INLINE_MAX`] plus 15 bytes of garbage, so between two compactions
/// come enough of them to pay for one (amortized constant time per
/// operation), and the chunks the store references stay within about twice
/// its live values plus that allowance.
#[derive(Default)]
struct Chunks {
    /// The free end of the chunk being filled.
    tail: BytesMut,
    /// Bytes taken from chunks since the last compaction: values, padding,
    /// and the unused ends of chunks given up.
    taken: usize,
    /// Sum of [`footprint`] over the stored values that live in chunks.
    live: usize,
}

impl Chunks {
    /// The value to store for `v`: a chunk copy if it has at most
    /// [`INLINE_MAX`] bytes, `v` itself otherwise. This length test is what
    /// tells a chunk value from a caller's allocation everywhere else.
    fn keep(&mut self, v: Bytes) -> Bytes {
        if v.len() <= INLINE_MAX {
            self.copy(&v)
        } else {
            v
        }
    }

    /// Copies `v` (at most [`INLINE_MAX`] bytes) into a chunk, 16-byte aligned.
    fn copy(&mut self, v: &[u8]) -> Bytes {
        let pad =
            |tail: &BytesMut| (VALUE_ALIGN - tail.as_ptr() as usize % VALUE_ALIGN) % VALUE_ALIGN;
        let mut skip = pad(&self.tail);
        if self.tail.capacity() < skip + v.len() {
            self.taken += self.tail.capacity();
            let size = (self.live / 64).clamp(CHUNK_MIN, CHUNK_MAX);
            self.tail = BytesMut::with_capacity(size.max(footprint(v.len())));
            skip = pad(&self.tail);
        }
        self.tail
            .extend_from_slice([0u8; VALUE_ALIGN].get(..skip).unwrap_or_default());
        self.tail.extend_from_slice(v);
        self.taken += skip + v.len();
        self.live += footprint(v.len());
        let mut value = self.tail.split().freeze();
        value.advance(skip);
        value
    }

    /// Accounts for a stored value leaving the store.
    fn release(&mut self, v: &Bytes) {
        if v.len() <= INLINE_MAX {
            self.live = self.live.saturating_sub(footprint(v.len()));
        }
    }

    /// Whether enough garbage has built up, in a store of `entries`
    /// entries, to copy the live values out.
    fn should_compact(&self, entries: usize) -> bool {
        let allowance = COMPACT_SLACK.max(entries.saturating_mul(COMPACT_PER_ENTRY));
        self.taken > self.live.saturating_mul(2).saturating_add(allowance)
    }
}

/// In-memory state store using ordered B+ tree layers for sorted key access.
///
/// This backend defines the reference semantics of [`StateStore`]: point
/// operations in O(log n), prefix and range scans in O(log n + k), entries in
/// ascending byte order of keys. Keys are cut into 7-byte slices packed
/// into integers, one ordered layer per slice (as in Masstree), and each
/// layer is a B+ tree whose inner nodes hold only keys and child pointers:
/// lookups compare integers and miss the cache on their leaf, not on every
/// level, which keeps them fast at millions of keys.
///
/// Values are [`Bytes`]: `get` returns a reference-counted clone (never a byte
/// copy), and values written by
/// [`put_typed`](crate::state::StateStoreExt::put_typed) stay 16-byte aligned
/// for zero-copy typed reads. `put` copies a value of at most 112 bytes once,
/// 16-byte aligned, into a chunk of up to 64 KiB shared with other values,
/// whose one reference count stays in cache (so a `get` misses on its leaf
/// and its slot, not also on a count of its own); larger values are kept in
/// the caller's allocation. Replaced and deleted values leave garbage in
/// their chunks until a compaction copies the live values into fresh ones,
/// which happens once the garbage exceeds the live values plus the larger
/// of 64 KiB and 16 bytes per entry: amortized constant time per put or
/// delete, but the one that triggers it visits every entry. A `Bytes` the
/// caller keeps holds its whole chunk (up to 64 KiB).
///
/// Tree nodes come from a process-wide pool of 2 MiB chunks, for which Linux
/// is asked for transparent huge pages (a lookup then misses on its leaf
/// without also walking the page tables). Nodes freed by deletes or by
/// dropping a store are reused by later nodes but not returned to the
/// operating system, as allocators keep small-object arenas.
#[derive(Default)]
pub struct InMemoryStore {
    root: Layer,
    len: usize,
    size_bytes: usize,
    chunks: Chunks,
}

impl InMemoryStore {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates an empty store. `capacity` is a hint that this backend does
    /// not need: it exists so that code sizing its stores up front (as with
    /// laminar-core 0.18.5) compiles unchanged.
    ///
    /// Tree nodes come from a process-wide pool and value chunks are sized
    /// to the live values, both as entries arrive, so there is nothing to
    /// reserve per store. Use [`AHashMapStore::with_capacity`] for a store
    /// that does preallocate.
    ///
    /// [`AHashMapStore::with_capacity`]: crate::state::AHashMapStore::with_capacity
    pub fn with_capacity(capacity: usize) -> Self {
        let _ = capacity;
        Self::new()
    }

    /// Number of entries the store holds: equal to
    /// [`len`](StateStore::len), as in laminar-core 0.18.5.
    ///
    /// An ordered store has no spare room worth reporting: it grows a node
    /// at a time, and free slots of partly filled nodes are not counted. So
    /// `capacity() >= len()` holds, as for the standard collections, and
    /// `with_capacity(n).capacity()` is 0.
    pub fn capacity(&self) -> usize {
        self.len
    }

    /// Frees the memory that replaced and deleted values still take, now
    /// rather than at the next automatic compaction.
    ///
    /// Every value of at most 112 bytes is copied, packed and 16-byte
    /// aligned, into fresh chunks; the old chunks go as soon as no `Bytes`
    /// from [`get`](StateStore::get) holds them any more. Afterwards the
    /// chunks hold the live values plus at most one partly filled chunk
    /// (up to 64 KiB). O(n); the contents are unchanged. (laminar-core
    /// 0.18.5 had this method as a no-op.) Nodes freed by deletes return to
    /// the process-wide node pool, not to the operating system.
    pub fn shrink_to_fit(&mut self) {
        self.compact();
    }

    /// Every entry in key order.
    /// Stores `value`, already kept (in a chunk if it is short), under `key`.
    fn insert_kept(&mut self, key: &[u8], value: Bytes) {
        let added = value.len();
        match self.root.insert(key, value) {
            Some(old) => {
                self.size_bytes = self.size_bytes - old.len() + added;
                self.value_removed(&old);
            }
            None => {
                self.len += 1;
                self.size_bytes += key.len() + added;
            }
        }
    }

    fn iter(&self) -> Iter<'_> {
        Iter::new(&self.root, b"", None, None)
    }

    /// Calls `f` on every value (iterative: a layer per 7 bytes of a long
    /// shared prefix does not deepen the stack).
    fn for_each_value_mut(&mut self, mut f: impl FnMut(&mut Bytes)) {
        let mut stack: Vec<&mut Layer> = vec![&mut self.root];
        while let Some(layer) = stack.pop() {
            layer.map.for_each_value_mut(|slot| match slot {
                Slot::Value(v) | Slot::Suffix { value: v, .. } => f(v),
                Slot::Layer(child) => stack.push(child),
            });
        }
    }

    /// Copies every value that lives in a chunk into fresh chunks, so that
    /// the old ones, garbage included, are freed (see [`Chunks`]).
    fn compact(&mut self) {
        let mut fresh = Chunks::default();
        self.for_each_value_mut(|v| *v = fresh.keep(std::mem::take(v)));
        self.chunks = fresh;
    }

    /// Accounts for a value that left the store, compacting if its garbage
    /// tipped the balance.
    fn value_removed(&mut self, old: &Bytes) {
        self.chunks.release(old);
        if self.chunks.should_compact(self.len) {
            self.compact();
        }
    }
}

impl Clone for InMemoryStore {
    /// Copies the structure entry by entry (values are shared, as `Bytes`
    /// clones). Iterative, so keys sharing a prefix of any length are fine.
    fn clone(&self) -> Self {
        let mut root = Layer::default();
        for (k, v) in self.iter() {
            root.insert(&k, v);
        }
        // The clone shares the values' chunks, garbage included, and fills
        // chunks of its own.
        let chunks = Chunks {
            tail: BytesMut::new(),
            taken: self.chunks.taken,
            live: self.chunks.live,
        };
        InMemoryStore {
            root,
            len: self.len,
            size_bytes: self.size_bytes,
            chunks,
        }
    }
}

impl std::fmt::Debug for InMemoryStore {
    /// The entries as a map from key bytes to value bytes, in key order.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// In-order iterator over the layers, from a lower bound, with an optional
/// upper bound or prefix.
struct Iter<'a> {
    /// One range iterator per layer on the current path, with the length of
    /// the key prefix that layer's words extend.
    stack: Vec<(usize, bptree::Iter<'a, u64, Slot>)>,
    /// The key bytes of the current path.
    path: Vec<u8>,
    /// Lower bound not yet applied to deeper layers (full key bytes).
    start: Option<&'a [u8]>,
    end: Option<&'a [u8]>,
    prefix: Option<&'a [u8]>,
    done: bool,
}

impl<'a> Iter<'a> {
    fn new(
        root: &'a Layer,
        start: &'a [u8],
        end: Option<&'a [u8]>,
        prefix: Option<&'a [u8]>,
    ) -> Self {
        let mut it = Iter {
            stack: Vec::new(),
            path: Vec::new(),
            start: Some(start),
            end,
            prefix,
            done: false,
        };
        it.push_layer(root, 0);
        it
    }

    /// Starts iterating `layer`, whose words extend a path of `depth_len` bytes.
    fn push_layer(&mut self, layer: &'a Layer, depth_len: usize) {
        // The lower bound applies while the path equals the start key's prefix.
        let lower = match self.start {
            Some(s) if s.len() >= depth_len && s.get(..depth_len) == Some(&self.path[..]) => {
                let rest = s.get(depth_len..).unwrap_or_default();
                if rest.len() <= SLICE {
                    Some(word(rest, false))
                } else {
                    Some(word(&rest[..SLICE], true))
                }
            }
            _ => None,
        };
        let range = match lower {
            Some(w) => layer.map.range_from(Bound::Included(&w)),
            None => layer.map.iter(),
        };
        self.stack.push((depth_len, range));
    }

    fn accept(&mut self, key: &[u8]) -> Option<bool> {
        if let Some(s) = self.start {
            if key < s {
                return Some(false);
            }
        }
        if let Some(e) = self.end {
            if key >= e {
                self.done = true;
                return None;
            }
        }
        if let Some(p) = self.prefix {
            if !key.starts_with(p) {
                self.done = true;
                return None;
            }
        }
        Some(true)
    }
}

impl<'a> Iter<'a> {
    /// The next entry, borrowed: the key lives in the iterator's path
    /// buffer until the next call (no allocation per entry).
    fn next_ref(&mut self) -> Option<(&[u8], &'a Bytes)> {
        while !self.done {
            let (depth_len, range) = self.stack.last_mut()?;
            let depth_len = *depth_len;
            let Some((&w, slot)) = range.next() else {
                self.stack.pop();
                continue;
            };
            self.path.truncate(depth_len);
            word_bytes(w, &mut self.path);
            let value = match slot {
                Slot::Value(v) => v,
                Slot::Suffix { rest, value } => {
                    self.path.extend_from_slice(rest.as_slice());
                    value
                }
                Slot::Layer(child) => {
                    let len = self.path.len();
                    self.push_layer(child, len);
                    continue;
                }
            };
            let key = std::mem::take(&mut self.path);
            let accepted = self.accept(&key);
            self.path = key;
            if accepted? {
                return Some((&self.path, value));
            }
        }
        None
    }
}

impl Iterator for Iter<'_> {
    type Item = (Bytes, Bytes);

    fn next(&mut self) -> Option<Self::Item> {
        self.next_ref()
            .map(|(k, v)| (Bytes::copy_from_slice(k), v.clone()))
    }
}

impl StateStore for InMemoryStore {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.root.get(key).cloned()
    }

    #[inline]
    fn get_ref(&self, key: &[u8]) -> Option<&[u8]> {
        self.root.get(key).map(|v| v.as_ref())
    }

    fn put(&mut self, key: &[u8], value: Bytes) -> Result<()> {
        let value = self.chunks.keep(value);
        self.insert_kept(key, value);
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        if let Some(old) = self.root.remove(key) {
            self.len -= 1;
            self.size_bytes -= key.len() + old.len();
            self.value_removed(&old);
        }
        Ok(())
    }

    #[inline]
    fn contains(&self, key: &[u8]) -> bool {
        self.root.get(key).is_some()
    }

    fn len(&self) -> usize {
        self.len
    }

    fn size_bytes(&self) -> usize {
        self.size_bytes
    }

    fn clear(&mut self) {
        self.root = Layer::default();
        self.len = 0;
        self.size_bytes = 0;
        self.chunks = Chunks::default();
    }

    fn prefix_scan<'a>(&'a self, prefix: &'a [u8]) -> ScanIter<'a> {
        Box::new(Iter::new(&self.root, prefix, None, Some(prefix)))
    }

    fn range_scan<'a>(&'a self, range: Range<&'a [u8]>) -> ScanIter<'a> {
        if range_is_empty(&range) {
            return Box::new(std::iter::empty());
        }
        Box::new(Iter::new(&self.root, range.start, Some(range.end), None))
    }

    fn snapshot(&self) -> StateSnapshot {
        let mut b = StateSnapshot::builder(self.len(), self.size_bytes());
        let mut it = self.iter();
        while let Some((k, v)) = it.next_ref() {
            b.push_sorted(k, v);
        }
        b.finish()
    }

    fn restore(&mut self, snapshot: StateSnapshot) -> Result<()> {
        self.clear();
        for (k, v) in snapshot.iter() {
            // Short values go straight into the aligned chunks (no
            // allocation of their own), long ones into an aligned buffer.
            let value = if v.len() <= INLINE_MAX {
                self.chunks.copy(v)
            } else {
                aligned_bytes(v)
            };
            self.insert_kept(k, value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_order_is_byte_order() {
        let keys: [&[u8]; 8] = [
            b"",
            b"\0",
            b"\0\0",
            b"a",
            b"a\0",
            b"abcdefg",
            b"abcdefg\0",
            b"b",
        ];
        for w in keys.windows(2) {
            let cont = |k: &[u8]| k.len() > SLICE;
            let a = word(&w[0][..w[0].len().min(SLICE)], cont(w[0]));
            let b = word(&w[1][..w[1].len().min(SLICE)], cont(w[1]));
            assert!(a < b, "{:?} !< {:?}", w[0], w[1]);
        }
    }

    #[test]
    fn very_long_keys_do_not_overflow_the_stack() {
        let mut s = InMemoryStore::new();
        let a = vec![b'x'; 1 << 20];
        let mut b = a.clone();
        b.push(1);
        s.put(&a, Bytes::from_static(b"a")).unwrap();
        s.put(&b, Bytes::from_static(b"b")).unwrap();
        assert_eq!(s.get(&b).unwrap(), Bytes::from_static(b"b"));
        assert_eq!(s.prefix_scan(&a[..100]).count(), 2);
        s.delete(&a).unwrap();
        assert_eq!(s.len(), 1);
        drop(s);
    }

    /// Two keys sharing 64 KiB nest about 9,400 layers: cloning and
    /// formatting must not recurse per layer (a derived `Clone` overflowed
    /// the 2 MiB stack of a test thread well before this).
    #[test]
    fn clone_and_debug_of_deeply_nested_keys_do_not_overflow_the_stack() {
        let mut s = InMemoryStore::new();
        let a = vec![b'x'; 1 << 16];
        let mut b = a.clone();
        b.push(1);
        s.put(&a, Bytes::from_static(b"a")).unwrap();
        s.put(&b, Bytes::from_static(b"b")).unwrap();
        s.put(b"short", Bytes::from_static(b"c")).unwrap();
        let c = s.clone();
        assert_eq!(c.len(), 3);
        assert_eq!(c.size_bytes(), s.size_bytes());
        assert_eq!(c.get(&a).as_deref(), Some(&b"a"[..]));
        assert_eq!(c.get(&b).as_deref(), Some(&b"b"[..]));
        assert_eq!(c.get(b"short").as_deref(), Some(&b"c"[..]));
        // The clone is independent of the original.
        s.delete(&a).unwrap();
        assert_eq!(c.get(&a).as_deref(), Some(&b"a"[..]));
        let text = format!("{c:?}");
        assert!(
            text.starts_with('{') && text.ends_with('}'),
            "{}",
            &text[..40]
        );
        assert_eq!(text.matches(": ").count(), 3);
        drop((s, c));
    }

    #[test]
    fn deleting_the_last_key_under_a_slice_frees_the_layer() {
        let mut s = InMemoryStore::new();
        s.put(b"abcdefgh1", Bytes::new()).unwrap();
        s.put(b"abcdefgh2", Bytes::new()).unwrap();
        s.delete(b"abcdefgh1").unwrap();
        s.delete(b"abcdefgh2").unwrap();
        assert_eq!(s.root.map.len(), 0);
    }

    /// Every length up to the limit comes back intact and 16-byte aligned,
    /// and later copies never overwrite earlier ones.
    #[test]
    fn chunk_copies_of_every_length_are_aligned_and_kept() {
        let mut c = Chunks::default();
        let mut copies = Vec::new();
        for round in 0..40 {
            for len in 0..=INLINE_MAX {
                let v: Vec<u8> = (0..len).map(|i| (i * 7 + len + round) as u8).collect();
                let b = c.copy(&v);
                assert_eq!(&b[..], &v[..], "len {len}");
                assert_eq!(b.as_ptr() as usize % VALUE_ALIGN, 0, "len {len}");
                copies.push((v, b));
            }
        }
        assert!(c.taken > CHUNK_MAX, "the copies filled more than one chunk");
        for (v, b) in &copies {
            assert_eq!(&b[..], &v[..]);
        }
    }

    /// Overwriting the same keys again and again leaves garbage in the
    /// chunks; compaction keeps what the store has taken within its bound
    /// while every value, and every `Bytes` a caller still holds, stays
    /// intact.
    #[test]
    fn overwrites_compact_the_chunks() {
        let mut s = InMemoryStore::new();
        let keys: Vec<[u8; 8]> = (0..1000u64).map(|i| i.to_be_bytes()).collect();
        let value = |round: u64, i: usize| -> Vec<u8> {
            (0..64)
                .map(|j| (round as usize * 7 + i * 3 + j) as u8)
                .collect()
        };
        let held = {
            s.put(&keys[0], Bytes::from(value(0, 0))).unwrap();
            s.get(&keys[0]).unwrap()
        };
        let mut compactions = 0;
        let mut last_taken = 0;
        // 64 MB written into a store whose live values take about 80 KB.
        for round in 1..=1000u64 {
            for (i, k) in keys.iter().enumerate() {
                s.put(k, Bytes::from(value(round, i))).unwrap();
                if s.chunks.taken < last_taken {
                    compactions += 1;
                }
                last_taken = s.chunks.taken;
                let allowance = COMPACT_SLACK.max(s.len() * COMPACT_PER_ENTRY);
                let bound = 2 * s.chunks.live + allowance + CHUNK_MAX;
                assert!(
                    s.chunks.taken <= bound,
                    "taken {} > {bound}",
                    s.chunks.taken
                );
            }
        }
        assert!(compactions >= 40, "{compactions} compactions");
        assert_eq!(s.chunks.live, keys.len() * footprint(64));
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(s.get(k).as_deref(), Some(&value(1000, i)[..]));
            assert_eq!(
                s.get_ref(k).map(|v| v.as_ptr() as usize % VALUE_ALIGN),
                Some(0)
            );
        }
        assert_eq!(&held[..], &value(0, 0)[..]);
        // Deleting everything leaves nothing live.
        for k in &keys {
            s.delete(k).unwrap();
        }
        assert_eq!(s.chunks.live, 0);
        assert!(s.is_empty());
    }

    /// `with_capacity` is `new`, `capacity` is the entry count, and
    /// `shrink_to_fit` drops the chunks' garbage while every value (and
    /// every `Bytes` a caller holds) stays intact and aligned.
    #[test]
    fn capacity_methods_and_shrink_to_fit() {
        let mut s = InMemoryStore::with_capacity(1_000_000);
        assert_eq!(s.capacity(), 0);
        assert!(s.is_empty());
        let keys: Vec<[u8; 8]> = (0..2000u64).map(|i| i.to_be_bytes()).collect();
        for round in 0..20u8 {
            for k in &keys {
                s.put(k, Bytes::from(vec![round; 48])).unwrap();
            }
        }
        s.put(b"large", Bytes::from(vec![7u8; 4096])).unwrap();
        let held = s.get(&keys[0]).unwrap();
        for k in &keys[1000..] {
            s.delete(k).unwrap();
        }
        assert_eq!(s.capacity(), s.len());
        assert_eq!(s.len(), 1001);
        let before = s.chunks.taken;
        let size = s.size_bytes();
        s.shrink_to_fit();
        assert!(s.chunks.taken < before, "{} !< {before}", s.chunks.taken);
        assert_eq!(s.chunks.live, 1000 * footprint(48));
        assert!(
            s.chunks.taken <= s.chunks.live,
            "taken {} > live {}",
            s.chunks.taken,
            s.chunks.live
        );
        assert_eq!(s.size_bytes(), size);
        assert_eq!(s.capacity(), 1001);
        for k in &keys[..1000] {
            let v = s.get_ref(k).unwrap();
            assert_eq!(v, &[19u8; 48][..]);
            assert_eq!(v.as_ptr() as usize % VALUE_ALIGN, 0);
        }
        assert!(s.get(&keys[1500]).is_none());
        assert_eq!(s.get(b"large").as_deref(), Some(&[7u8; 4096][..]));
        assert_eq!(&held[..], &[19u8; 48][..]);
        // A second call keeps the chunks as tight.
        s.shrink_to_fit();
        assert!(s.chunks.taken <= s.chunks.live);
        assert_eq!(s.get(&keys[999]).as_deref(), Some(&[19u8; 48][..]));
        // The store keeps working after a shrink.
        s.put(b"new", Bytes::from_static(b"value")).unwrap();
        assert_eq!(s.get(b"new").as_deref(), Some(&b"value"[..]));
    }

    /// A compaction visits every entry, large values included, so a few
    /// small values churning beside many large ones must not trigger one
    /// every few hundred puts: the allowance grows with the entry count.
    #[test]
    fn compaction_waits_longer_in_stores_of_many_entries() {
        let mut s = InMemoryStore::new();
        for i in 0..20_000u64 {
            s.put(&i.to_be_bytes(), Bytes::from(vec![7u8; 200]))
                .unwrap();
        }
        let mut compactions = 0;
        let mut last_taken = s.chunks.taken;
        for round in 0..100_000u64 {
            let key = [b'c', (round % 10) as u8];
            s.put(&key, Bytes::from(vec![round as u8; 64])).unwrap();
            if s.chunks.taken < last_taken {
                compactions += 1;
            }
            last_taken = s.chunks.taken;
        }
        // About 72 bytes of garbage per put against an allowance of 16 bytes
        // per entry (320 KB): some 22 compactions; a fixed 64 KiB allowance
        // would compact about 110 times.
        assert!(
            (10..=30).contains(&compactions),
            "{compactions} compactions"
        );
        assert_eq!(s.len(), 20_010);
        assert_eq!(
            s.get(&[b'c', 9]).as_deref(),
            Some(&[99_999u64 as u8; 64][..])
        );
    }

    /// A clone shares its values' chunks and fills its own: writes to either
    /// never show in the other.
    #[test]
    fn clones_fill_chunks_of_their_own() {
        let mut a = InMemoryStore::new();
        a.put(b"k1", Bytes::from_static(b"one")).unwrap();
        let mut b = a.clone();
        // The clone counts the shared chunks' garbage as its own.
        assert_eq!(
            (b.chunks.taken, b.chunks.live),
            (a.chunks.taken, a.chunks.live)
        );
        a.put(b"k2", Bytes::from_static(b"two")).unwrap();
        b.put(b"k2", Bytes::from_static(b"TWO")).unwrap();
        b.put(b"k1", Bytes::from_static(b"ONE")).unwrap();
        assert_eq!(a.get(b"k1").as_deref(), Some(&b"one"[..]));
        assert_eq!(a.get(b"k2").as_deref(), Some(&b"two"[..]));
        assert_eq!(b.get(b"k1").as_deref(), Some(&b"ONE"[..]));
        assert_eq!(b.get(b"k2").as_deref(), Some(&b"TWO"[..]));
    }

    /// Values of every inline size class and around its boundaries (and past
    /// it), under keys of many lengths sharing 7-byte slices, agree with a
    /// `BTreeMap` through puts, overwrites, gets, scans and deletes.
    #[test]
    fn values_of_every_size_class_match_a_btreemap() {
        use std::collections::BTreeMap;
        let value_lens = [
            0usize, 1, 15, 16, 31, 32, 33, 63, 64, 65, 95, 96, 97, 127, 128, 129, 300,
        ];
        let key_lens = [0usize, 3, 7, 8, 9, 14, 15, 40, 200];
        let mut s = InMemoryStore::new();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for (round, &kl) in key_lens.iter().enumerate() {
            for (i, &vl) in value_lens.iter().enumerate() {
                let mut key: Vec<u8> = b"slice-7".iter().copied().cycle().take(kl).collect();
                key.push(i as u8);
                let value: Vec<u8> = (0..vl).map(|j| (j + round * 31 + i) as u8).collect();
                s.put(&key, Bytes::from(value.clone())).unwrap();
                model.insert(key, value);
            }
        }
        let check = |s: &InMemoryStore, model: &BTreeMap<Vec<u8>, Vec<u8>>| {
            assert_eq!(s.len(), model.len());
            let sum: usize = model.iter().map(|(k, v)| k.len() + v.len()).sum();
            assert_eq!(s.size_bytes(), sum);
            for (k, v) in model {
                assert_eq!(s.get(k).as_deref(), Some(&v[..]), "get {k:?}");
                assert_eq!(s.get_ref(k), Some(&v[..]), "get_ref {k:?}");
                if v.len() <= INLINE_MAX {
                    // Copied at put: aligned whatever the caller's allocation.
                    let addr = s.get_ref(k).map_or(0, |r| r.as_ptr() as usize);
                    assert_eq!(
                        addr % crate::state::store::VALUE_ALIGN,
                        0,
                        "alignment {k:?}"
                    );
                }
            }
            let scanned: Vec<(Vec<u8>, Vec<u8>)> = s
                .prefix_scan(b"")
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect();
            let expected: Vec<(Vec<u8>, Vec<u8>)> =
                model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            assert_eq!(scanned, expected);
        };
        check(&s, &model);
        // Overwrite with a value of another class, then delete every other key.
        let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
        for (n, k) in keys.iter().enumerate() {
            let v = vec![n as u8; value_lens[(n * 7) % value_lens.len()]];
            s.put(k, Bytes::from(v.clone())).unwrap();
            model.insert(k.clone(), v);
        }
        check(&s, &model);
        for k in keys.iter().step_by(2) {
            s.delete(k).unwrap();
            model.remove(k);
        }
        check(&s, &model);
    }
}
