//! [`DictionaryKeyEncoder`]: dense `u32` codes for low-cardinality key components.

use hashbrown::DefaultHashBuilder;
use std::hash::BuildHasher;
use std::num::NonZeroU32;

use crate::state::error::{Result, StateError};

/// Maps byte strings (regions, tenants, event types, ...) to dense `u32` codes
/// `0, 1, 2, ...` in order of first insertion, and back.
///
/// Encoding a composite key's low-cardinality component to a fixed 4-byte code
/// makes the key short, fixed-width and cheap to compare. Codes are stable for
/// the life of the encoder and survive a restart through rkyv serialization
/// (the archived form is the list of values in code order).
///
/// Each value is stored once: the lookup table holds 32-byte slots of a
/// code, a hash and a fixed-size fingerprint (at most a quarter of them in
/// use in a small dictionary, half in a large one), never a copy of a long
/// value.
///
/// ```
/// use laminar_core::state::DictionaryKeyEncoder;
/// let mut dict = DictionaryKeyEncoder::new();
/// assert_eq!(dict.encode_or_insert(b"eu-west").unwrap(), 0);
/// assert_eq!(dict.encode_or_insert(b"us-east").unwrap(), 1);
/// assert_eq!(dict.encode(b"eu-west"), Some(0));
/// assert_eq!(dict.decode(1), Some(&b"us-east"[..]));
/// assert_eq!(dict.encode(b"ap-south"), None);
/// ```
#[derive(Clone)]
pub struct DictionaryKeyEncoder {
    values: Vec<Box<[u8]>>,
    index: CodeIndex,
    hasher: DefaultHashBuilder,
    /// Per-dictionary seeds of the short-value hash (drawn from `hasher`).
    seeds: [u64; 2],
    /// Largest number of codes this encoder hands out (`u32::MAX` by default:
    /// codes `0..u32::MAX`, each of which fits a [`DictCode`](super::DictCode)).
    limit: u64,
}

const FULL_LIMIT: u64 = u32::MAX as u64;

/// Slots of a dictionary's lookup table (32 bytes each) up to which it is
/// kept at most a quarter full rather than half: 1024 slots hold 256 values
/// in 32 KiB.
const SPARSE_SLOTS: usize = 1024;

/// Longest value whose [`Fingerprint`] holds all of its bytes.
const SHORT: usize = 16;

/// A value's length and two words of its bytes.
///
/// For values of at most [`SHORT`] bytes the words cover every byte
/// (overlapping in the middle), so equal fingerprints mean equal values and a
/// lookup compares three integers instead of following a pointer to the stored
/// bytes. Longer values are compared in full after the fingerprint matches.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    head: u64,
    tail: u64,
    len: usize,
}

impl Fingerprint {
    #[inline]
    fn of(v: &[u8]) -> Fingerprint {
        let len = v.len();
        let (head, tail) = if let (Some(h), Some(t)) = (v.first_chunk::<8>(), v.last_chunk::<8>()) {
            (u64::from_le_bytes(*h), u64::from_le_bytes(*t))
        } else if let (Some(h), Some(t)) = (v.first_chunk::<4>(), v.last_chunk::<4>()) {
            (
                u64::from(u32::from_le_bytes(*h)),
                u64::from(u32::from_le_bytes(*t)),
            )
        } else {
            // 0 to 3 bytes: first, middle and last byte cover them all.
            let byte = |i: usize| v.get(i).copied().map_or(0, u64::from);
            (
                byte(0) | byte(len / 2) << 8 | byte(len.wrapping_sub(1)) << 16,
                0,
            )
        };
        Fingerprint { head, tail, len }
    }
}

/// One slot of [`CodeIndex`]: a value's fingerprint, code and hash (32 bytes,
/// aligned to 32, so a slot never straddles two cache lines).
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct IndexSlot {
    head: u64,
    tail: u64,
    /// `0` for an empty slot; otherwise the code plus one in the high 32
    /// bits (never 0, so a lookup returns it as an `Option<NonZeroU32>`
    /// without a separate found flag) and [`length_tag`] of the value's
    /// length in the low 32.
    meta: u64,
    /// The value's hash, kept so that growing never rehashes a value.
    hash: u64,
}

/// Low 32 bits of [`IndexSlot::meta`] for a value of `len` bytes: `len + 1`
/// for short values (never 0, so never an empty slot), one tag for all longer
/// ones (compared in full).
#[inline]
fn length_tag(len: usize) -> u64 {
    if len <= SHORT {
        len as u64 + 1
    } else {
        SHORT as u64 + 2
    }
}

impl IndexSlot {
    /// A slot for `code` (at most `u32::MAX - 1`, so that `code + 1` fits).
    fn new(fp: &Fingerprint, code: u32, hash: u64) -> IndexSlot {
        IndexSlot {
            head: fp.head,
            tail: fp.tail,
            meta: (u64::from(code) + 1) << 32 | length_tag(fp.len),
            hash,
        }
    }

    /// The code plus one; `None` only for an empty slot.
    #[inline]
    fn code_plus_one(&self) -> Option<NonZeroU32> {
        NonZeroU32::new((self.meta >> 32) as u32)
    }

    /// The code of an occupied slot.
    #[inline]
    fn code(&self) -> u32 {
        ((self.meta >> 32) as u32).wrapping_sub(1)
    }

    /// Whether the slot holds a value with fingerprint `fp` (for short
    /// values, whether it holds exactly that value).
    #[inline]
    fn has(&self, fp: &Fingerprint) -> bool {
        let len = u64::from(self.meta as u32 ^ length_tag(fp.len) as u32);
        ((self.head ^ fp.head) | (self.tail ^ fp.tail) | len) == 0
    }
}

/// The code lookup table: open addressing with linear probing over
/// fingerprints, at most half full (a quarter while small).
///
/// A lookup of a short value hashes two words, then compares three words of
/// one slot (usually) with no pointer to follow, and inlines into the typed
/// table's `get`: fewer instructions ahead of the table's own cache miss
/// than the SwissTable (`hashbrown::HashTable`) it replaced: a small gain,
/// since the table's own cache miss dominates.
///
/// A lookup checks the home slot inline and follows the rest of the probe
/// sequence out of line, small tables are kept a quarter full so that
/// nearly every value sits at home, and slots hold the code plus one,
/// which is a [`DictCode`](super::DictCode) as it stands. In a loop of
/// independent gets whose table lookups miss the cache, the instructions of
/// each get decide how many fit in the CPU's window of work in flight, so
/// a shorter hit path lets more lookups overlap. (Measured figures, with
/// their commands: `BENCHMARKS.md`, "Figures behind the source docs".)
#[derive(Clone, Default)]
struct CodeIndex {
    /// Empty or a power of two long.
    slots: Box<[IndexSlot]>,
    len: usize,
}

impl CodeIndex {
    /// The code plus one in the first slot of `hash`'s probe sequence for
    /// which `eq` holds, or `None` at the first empty slot.
    #[inline]
    fn find(&self, hash: u64, eq: impl Fn(&IndexSlot) -> bool) -> Option<NonZeroU32> {
        // An empty table has mask `usize::MAX`, and `get` finds no slot.
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots.get(i)?;
            if slot.meta == 0 {
                return None;
            }
            if eq(slot) {
                return slot.code_plus_one();
            }
            i = (i + 1) & mask;
        }
    }

    /// The home slot of `hash`; `None` only for an empty table.
    #[inline]
    fn home(&self, hash: u64) -> Option<&IndexSlot> {
        self.slots
            .get(hash as usize & self.slots.len().wrapping_sub(1))
    }

    /// An empty table that takes `n` values without growing (the smallest
    /// one [`insert_new`](Self::insert_new) would have grown to), or an
    /// empty table if that many slots cannot be allocated.
    fn with_capacity(n: usize) -> CodeIndex {
        if n == 0 {
            return CodeIndex::default();
        }
        let mut cap = 16usize;
        loop {
            let load = if cap <= SPARSE_SLOTS { 4 } else { 2 };
            match n.checked_mul(load) {
                Some(need) if need <= cap => break,
                Some(_) => match cap.checked_mul(2) {
                    Some(c) => cap = c,
                    None => return CodeIndex::default(),
                },
                None => return CodeIndex::default(),
            }
        }
        let mut slots = Vec::new();
        if slots.try_reserve_exact(cap).is_err() {
            return CodeIndex::default();
        }
        slots.resize(cap, IndexSlot::default());
        CodeIndex {
            slots: slots.into_boxed_slice(),
            len: 0,
        }
    }

    /// Adds a slot for a value not in the table, growing it first if needed.
    ///
    /// A table of up to [`SPARSE_SLOTS`] slots is kept at most a quarter
    /// full, a larger one at most half: in a small dictionary nearly every
    /// value then sits in its home slot, which a lookup checks first.
    ///
    /// Fails with [`StateError::CapacityExceeded`] (and changes nothing) if
    /// the larger table cannot be allocated.
    fn insert_new(&mut self, slot: IndexSlot) -> Result<()> {
        let load = if self.slots.len() <= SPARSE_SLOTS {
            4
        } else {
            2
        };
        if (self.len + 1) * load > self.slots.len() {
            let cap = self.slots.len().max(8).checked_mul(2).ok_or_else(|| {
                StateError::CapacityExceeded("dictionary lookup table is at its largest".into())
            })?;
            let mut slots = Vec::new();
            slots.try_reserve_exact(cap).map_err(|e| {
                StateError::CapacityExceeded(format!("dictionary lookup table of {cap} slots: {e}"))
            })?;
            slots.resize(cap, IndexSlot::default());
            let mut grown = CodeIndex {
                slots: slots.into_boxed_slice(),
                len: 0,
            };
            for old in self.slots.iter().filter(|s| s.meta != 0) {
                grown.place(*old);
            }
            *self = grown;
        }
        self.place(slot);
        Ok(())
    }

    /// Puts `slot` in the first empty slot of its probe sequence; the table
    /// has room (it is at most half full).
    fn place(&mut self, slot: IndexSlot) {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = slot.hash as usize & mask;
        while let Some(s) = self.slots.get_mut(i) {
            if s.meta == 0 {
                *s = slot;
                self.len += 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn clear(&mut self) {
        *self = CodeIndex::default();
    }
}

/// 64 x 64 -> 128-bit multiply, folded to 64 bits by xor of the halves: the
/// mixing step of the dictionary's and the typed hash tables' hashes.
#[inline]
pub(crate) fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl std::fmt::Debug for DictionaryKeyEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DictionaryKeyEncoder")
            .field("len", &self.values.len())
            .finish_non_exhaustive()
    }
}

impl Default for DictionaryKeyEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for DictionaryKeyEncoder {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values
    }
}
impl Eq for DictionaryKeyEncoder {}

impl DictionaryKeyEncoder {
    /// Creates an empty dictionary.
    pub fn new() -> Self {
        Self::with_limit_u64(FULL_LIMIT)
    }

    fn with_limit_u64(limit: u64) -> Self {
        let hasher = DefaultHashBuilder::default();
        let seeds = [hasher.hash_one(1u64), hasher.hash_one(2u64)];
        DictionaryKeyEncoder {
            values: Vec::new(),
            index: CodeIndex::default(),
            hasher,
            seeds,
            limit,
        }
    }

    /// Hash of a value with fingerprint `fp`: one multiply for short values
    /// (seeded per dictionary), the full hasher for longer ones.
    #[inline]
    fn hash(&self, fp: &Fingerprint, value: &[u8]) -> u64 {
        hash_with(&self.seeds, &self.hasher, fp, value)
    }

    /// Creates an empty dictionary with room for `capacity` values before
    /// its lookup table or value list grows.
    ///
    /// `capacity` is a hint, as with laminar-core 0.18.5: it is capped at
    /// [`WITH_CAPACITY_MAX`](Self::WITH_CAPACITY_MAX) values (the dictionary
    /// still grows past that as values arrive), and if the memory cannot be
    /// had the dictionary starts empty rather than aborting. Codes and
    /// behaviour are exactly those of [`new`](Self::new).
    pub fn with_capacity(capacity: usize) -> Self {
        let mut dict = Self::new();
        let n = capacity.min(Self::WITH_CAPACITY_MAX);
        if dict.values.try_reserve_exact(n).is_ok() {
            dict.index = CodeIndex::with_capacity(n);
        }
        dict
    }

    /// Largest number of values [`with_capacity`](Self::with_capacity)
    /// reserves room for (2^20: a lookup table of 64 MiB). A dictionary is
    /// meant for low-cardinality components; a larger hint is not an error.
    pub const WITH_CAPACITY_MAX: usize = 1 << 20;

    /// Creates an empty dictionary that refuses to hand out more than `limit` codes.
    ///
    /// Useful to bound memory for a component that should be low-cardinality.
    /// The limit is configuration, not content: [`to_bytes`](Self::to_bytes)
    /// keeps the values only, so after [`from_bytes`](Self::from_bytes) set it
    /// again with [`set_limit`](Self::set_limit).
    pub fn with_limit(limit: u32) -> Self {
        Self::with_limit_u64(u64::from(limit))
    }

    /// The most codes this dictionary hands out (`u32::MAX` unless limited).
    pub fn limit(&self) -> u32 {
        u32::try_from(self.limit).unwrap_or(u32::MAX)
    }

    /// Limits the dictionary to `limit` codes from now on.
    ///
    /// Fails with [`StateError::InvalidArgument`] (and changes nothing) if
    /// more than `limit` codes are already handed out.
    pub fn set_limit(&mut self, limit: u32) -> Result<()> {
        if self.values.len() as u64 > u64::from(limit) {
            return Err(StateError::InvalidArgument(format!(
                "dictionary limit {limit} is below the {} codes already handed out",
                self.values.len()
            )));
        }
        self.limit = u64::from(limit);
        Ok(())
    }

    /// Returns the code of `value`, or `None` if it was never inserted.
    ///
    /// The hot path: no allocation.
    #[inline]
    pub fn encode(&self, value: &[u8]) -> Option<u32> {
        self.encode_plus_one(value).map(|c| c.get() - 1)
    }

    /// The code of `value` plus one (what a [`DictCode`](super::DictCode)
    /// holds), or `None` if it was never inserted.
    #[inline]
    pub(crate) fn encode_plus_one(&self, value: &[u8]) -> Option<NonZeroU32> {
        if value.len() > SHORT {
            return self.encode_long(value);
        }
        let fp = Fingerprint::of(value);
        let hash = short_hash(&self.seeds, &fp);
        // Most values sit in their home slot (see `CodeIndex::insert_new`):
        // that slot is checked here, the rest of the probe sequence out of
        // line. An empty home slot never matches (its length tag is 0).
        match self.index.home(hash) {
            Some(slot) if slot.has(&fp) => slot.code_plus_one(),
            Some(_) => self.find_short_beyond_home(hash, fp.head, fp.tail, fp.len),
            None => None,
        }
    }

    /// The probe sequence of a short value past its home slot.
    #[cold]
    #[inline(never)]
    fn find_short_beyond_home(
        &self,
        hash: u64,
        head: u64,
        tail: u64,
        len: usize,
    ) -> Option<NonZeroU32> {
        // The fingerprint's words travel in registers, so the caller's fast
        // path never stores them.
        let fp = Fingerprint { head, tail, len };
        self.index.find(hash, |slot| slot.has(&fp))
    }

    /// [`encode_plus_one`](Self::encode_plus_one) of a value longer than
    /// [`SHORT`] bytes: kept out of line so the short path inlines into
    /// callers.
    #[inline(never)]
    fn encode_long(&self, value: &[u8]) -> Option<NonZeroU32> {
        let fp = Fingerprint::of(value);
        let hash = self.hasher.hash_one(value);
        self.index
            .find(hash, |slot| slot_matches(slot, &fp, value, &self.values))
    }

    /// The code of `value` as 4 little-endian bytes, or `None` if it was
    /// never inserted: a fixed-width key for a byte-level store.
    ///
    /// The byte order is that of laminar-core 0.18.5, so keys it stored stay
    /// valid. Little-endian bytes do not sort in code order; for keys that a
    /// scan should visit in code order use `code.to_be_bytes()`, and for
    /// typed tables [`Dict`](super::Dict) keys.
    ///
    /// ```
    /// use laminar_core::state::DictionaryKeyEncoder;
    /// let mut dict = DictionaryKeyEncoder::new();
    /// let code = dict.encode_or_insert(b"eu-west")?;
    /// assert_eq!(dict.encode_to_bytes(b"eu-west"), Some(code.to_le_bytes()));
    /// assert_eq!(dict.encode_to_bytes(b"ap-south"), None);
    /// # Ok::<(), laminar_core::state::StateError>(())
    /// ```
    #[inline]
    pub fn encode_to_bytes(&self, value: &[u8]) -> Option<[u8; 4]> {
        self.encode(value).map(u32::to_le_bytes)
    }

    /// Returns the code of `value`, assigning the next free code if it is new.
    ///
    /// Fails with [`StateError::CapacityExceeded`] once every code is taken.
    pub fn encode_or_insert(&mut self, value: &[u8]) -> Result<u32> {
        let fp = Fingerprint::of(value);
        let hash = self.hash(&fp, value);
        if let Some(code) = self
            .index
            .find(hash, |slot| slot_matches(slot, &fp, value, &self.values))
        {
            return Ok(code.get() - 1);
        }
        let next = self.values.len() as u64;
        let limit = self.limit;
        if next >= limit {
            return Err(StateError::CapacityExceeded(format!(
                "dictionary holds {next} values, its limit is {limit}"
            )));
        }
        let code = u32::try_from(next).map_err(|_| {
            StateError::CapacityExceeded("dictionary has used all 2^32 - 1 codes".into())
        })?;
        self.index.insert_new(IndexSlot::new(&fp, code, hash))?;
        self.values.push(value.into());
        Ok(code)
    }

    /// Returns the value that `code` stands for.
    #[inline]
    pub fn decode(&self, code: u32) -> Option<&[u8]> {
        self.values.get(code as usize).map(|v| &v[..])
    }

    /// Approximate heap memory, in bytes: each value's bytes and box
    /// pointer, plus the lookup table's slots.
    pub fn size_bytes(&self) -> usize {
        let values: usize = self.values.iter().map(|v| v.len() + 16).sum();
        values + std::mem::size_of_val(&*self.index.slots)
    }

    /// Number of distinct values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Returns `true` if no value was inserted.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Forgets every value; codes restart from 0.
    pub fn clear(&mut self) {
        self.values.clear();
        self.index.clear();
    }

    /// Iterates `(code, value)` in code order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (u32, &[u8])> + '_ {
        self.values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32, &v[..]))
    }

    /// Rebuilds a dictionary from values in code order (value `i` gets code `i`).
    ///
    /// Fails with [`StateError::Corruption`] if a value appears twice, since the
    /// codes would then be ambiguous.
    pub fn from_values<I, V>(values: I) -> Result<Self>
    where
        I: IntoIterator<Item = V>,
        V: AsRef<[u8]>,
    {
        let mut dict = DictionaryKeyEncoder::new();
        for (i, v) in values.into_iter().enumerate() {
            let code = dict.encode_or_insert(v.as_ref())?;
            if code as usize != i {
                return Err(StateError::corruption(
                    "dictionary",
                    format!("value at code {i} duplicates code {code}"),
                ));
            }
        }
        Ok(dict)
    }

    /// Serializes the dictionary (its values in code order) in a flat,
    /// checksummed form that does not depend on rkyv's pointer width
    /// (layout in `src/state/snapshot/dict.rs`).
    pub fn to_bytes(&self) -> Result<rkyv::util::AlignedVec> {
        let size: usize = self.values.iter().map(|v| v.len() + 4).sum();
        let mut out = rkyv::util::AlignedVec::with_capacity(size + 16);
        crate::state::snapshot::dict::encode(self.values.iter().map(|v| &v[..]), &mut out)?;
        Ok(out)
    }

    /// Reads a dictionary written by [`to_bytes`](Self::to_bytes), or by an
    /// earlier release (an rkyv archive of [`DictArchive`] with 64-bit
    /// pointers), validating it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_values(crate::state::snapshot::dict::decode(bytes)?)
    }
}

#[inline]
fn hash_with(seeds: &[u64; 2], hasher: &DefaultHashBuilder, fp: &Fingerprint, value: &[u8]) -> u64 {
    if fp.len <= SHORT {
        short_hash(seeds, fp)
    } else {
        hasher.hash_one(value)
    }
}

/// Hash of a value of at most [`SHORT`] bytes: one multiply of its
/// fingerprint's words, seeded per dictionary.
#[inline]
fn short_hash(seeds: &[u64; 2], fp: &Fingerprint) -> u64 {
    folded_multiply(
        fp.head ^ seeds[0],
        fp.tail ^ seeds[1] ^ (fp.len as u64) << 56,
    )
}

/// Whether `slot` holds `value` (whose fingerprint is `fp`).
#[inline]
fn slot_matches(slot: &IndexSlot, fp: &Fingerprint, value: &[u8], values: &[Box<[u8]>]) -> bool {
    slot.has(fp)
        && (fp.len <= SHORT || values.get(slot.code() as usize).map(|v| &v[..]) == Some(value))
}

/// Archived form of a [`DictionaryKeyEncoder`]: its values in code order.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq)]
pub struct DictArchive {
    /// Value `i` has code `i`.
    pub values: Vec<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dictionary made `with_capacity(n)` takes `n` values without its
    /// table or value list growing, hands out the same codes as `new`, and a
    /// huge hint neither aborts nor reserves more than the cap.
    #[test]
    fn with_capacity_reserves_room_and_changes_nothing_else() {
        for n in [0usize, 1, 3, 255, 256, 257, 1000, 5000] {
            let mut dict = DictionaryKeyEncoder::with_capacity(n);
            let mut plain = DictionaryKeyEncoder::new();
            assert!(dict.is_empty());
            assert!(dict.values.capacity() >= n);
            let slots = dict.index.slots.len();
            for i in 0..n {
                let v = format!("value-{i}");
                let code = dict.encode_or_insert(v.as_bytes()).unwrap();
                assert_eq!(code, plain.encode_or_insert(v.as_bytes()).unwrap());
            }
            assert_eq!(dict.index.slots.len(), slots, "table grew for n = {n}");
            // The table is the one `new` grew to.
            assert_eq!(slots, plain.index.slots.len(), "n = {n}");
            assert_eq!(dict, plain);
            for i in 0..n {
                let v = format!("value-{i}");
                assert_eq!(dict.encode(v.as_bytes()), Some(i as u32));
            }
        }
        let huge = DictionaryKeyEncoder::with_capacity(usize::MAX);
        assert!(huge.is_empty());
        assert!(huge.index.slots.len() <= 4 * DictionaryKeyEncoder::WITH_CAPACITY_MAX);
    }

    #[test]
    fn encode_to_bytes_is_the_little_endian_code() {
        let mut dict = DictionaryKeyEncoder::new();
        for v in [&b"a"[..], b"b", b"", b"\x00\xff"] {
            let code = dict.encode_or_insert(v).unwrap();
            assert_eq!(dict.encode_to_bytes(v), Some(code.to_le_bytes()));
        }
        assert_eq!(dict.encode_to_bytes(b"b"), Some([1, 0, 0, 0]));
        assert_eq!(dict.encode_to_bytes(b"missing"), None);
    }

    /// `encode` checks the home slot inline and the rest of the probe
    /// sequence out of line: values on both paths, and absent values whose
    /// home slot is taken, are answered correctly.
    #[test]
    fn values_at_home_and_beyond_are_found() {
        let mut d = DictionaryKeyEncoder::new();
        let values: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| format!("value-{i}").into_bytes())
            .collect();
        for (i, v) in values.iter().enumerate() {
            assert_eq!(d.encode_or_insert(v).unwrap(), i as u32);
        }
        let at_home = |v: &[u8]| {
            let fp = Fingerprint::of(v);
            d.index
                .home(d.hash(&fp, v))
                .is_some_and(|slot| slot.has(&fp))
        };
        let beyond = values.iter().filter(|v| !at_home(v)).count();
        assert!(beyond > 0, "some values sit past their home slot");
        assert!(beyond < values.len() / 2, "{beyond} values past home");
        for (i, v) in values.iter().enumerate() {
            assert_eq!(d.encode(v), Some(i as u32));
        }
        let absent: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| format!("absent-{i}").into_bytes())
            .collect();
        assert!(absent.iter().any(|v| d
            .index
            .home(d.hash(&Fingerprint::of(v), v))
            .is_some_and(|slot| slot.meta != 0)));
        assert!(absent.iter().all(|v| d.encode(v).is_none()));
    }

    #[test]
    fn dense_codes_round_trip() {
        let mut d = DictionaryKeyEncoder::new();
        for i in 0..1000u32 {
            assert_eq!(d.encode_or_insert(format!("v{i}").as_bytes()).unwrap(), i);
        }
        assert_eq!(d.encode_or_insert(b"v17").unwrap(), 17);
        assert_eq!(d.len(), 1000);
        let bytes = d.to_bytes().unwrap();
        let back = DictionaryKeyEncoder::from_bytes(&bytes).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.encode(b"v999"), Some(999));
        assert_eq!(back.decode(5), Some(&b"v5"[..]));
        assert_eq!(back.decode(1000), None);
    }

    /// Values whose fingerprints share both words: lengths 8 and 16 of a
    /// repeated word (same head and tail), and long values that differ only
    /// between their first and last eight bytes.
    #[test]
    fn equal_fingerprint_words_are_told_apart() {
        let word = *b"abcdefgh";
        let mut all: Vec<Vec<u8>> = vec![word.to_vec(), [word, word].concat()];
        for middle in 0..50u8 {
            all.push([&word[..], &[middle; 9], &word[..]].concat());
        }
        let mut d = DictionaryKeyEncoder::new();
        assert_eq!(d.encode(&all[0]), None, "empty dictionary");
        for (i, v) in all.iter().enumerate() {
            assert_eq!(d.encode(v), None, "{v:?} found before insertion");
            assert_eq!(d.encode_or_insert(v).unwrap(), i as u32);
        }
        for (i, v) in all.iter().enumerate() {
            assert_eq!(d.encode(v), Some(i as u32), "{v:?}");
            assert_eq!(d.encode_or_insert(v).unwrap(), i as u32, "{v:?} again");
        }
        assert_eq!(d.len(), all.len());
        assert_eq!(d.encode(&[&word[..], &[99; 9], &word[..]].concat()), None);
    }

    /// A slot whose fingerprint equals a long value's is not a match unless
    /// the stored value is equal in full (long values of equal fingerprint
    /// rarely meet in one probe sequence, so this is checked directly).
    #[test]
    fn long_values_with_one_fingerprint_are_compared_in_full() {
        let stored = [&[7u8; 8][..], &[1; 9], &[7; 8]].concat();
        let other = [&[7u8; 8][..], &[2; 9], &[7; 8]].concat();
        let values: Vec<Box<[u8]>> = vec![stored.clone().into()];
        let fp = Fingerprint::of(&stored);
        assert!(fp == Fingerprint::of(&other), "same length, head and tail");
        let slot = IndexSlot::new(&fp, 0, 0);
        assert!(slot.has(&Fingerprint::of(&other)));
        assert!(slot_matches(&slot, &fp, &stored, &values));
        assert!(!slot_matches(&slot, &fp, &other, &values));
    }

    /// Values of every length around the fingerprint's word boundaries that
    /// differ in a single byte (first, middle, last, or any other position)
    /// get distinct codes and are found again: the fingerprint must cover
    /// every byte of a short value.
    #[test]
    fn values_differing_in_one_byte_are_distinct() {
        let mut d = DictionaryKeyEncoder::new();
        let mut all: Vec<Vec<u8>> = Vec::new();
        for len in 0..=40usize {
            let base: Vec<u8> = (0..len).map(|i| i as u8).collect();
            all.push(base.clone());
            for pos in 0..len {
                for delta in [1u8, 0x80] {
                    let mut v = base.clone();
                    v[pos] ^= delta;
                    all.push(v);
                }
            }
        }
        all.sort();
        all.dedup();
        for (i, v) in all.iter().enumerate() {
            assert_eq!(d.encode(v), None, "{v:?} found before insertion");
            assert_eq!(d.encode_or_insert(v).unwrap(), i as u32);
        }
        for (i, v) in all.iter().enumerate() {
            assert_eq!(d.encode(v), Some(i as u32), "{v:?}");
            assert_eq!(d.decode(i as u32), Some(&v[..]));
        }
        let back = DictionaryKeyEncoder::from_bytes(&d.to_bytes().unwrap()).unwrap();
        for (i, v) in all.iter().enumerate() {
            assert_eq!(back.encode(v), Some(i as u32), "{v:?} after restore");
        }
    }

    #[test]
    fn limit_is_an_error_not_a_panic() {
        let mut d = DictionaryKeyEncoder::with_limit(2);
        d.encode_or_insert(b"a").unwrap();
        d.encode_or_insert(b"b").unwrap();
        assert!(matches!(
            d.encode_or_insert(b"c"),
            Err(StateError::CapacityExceeded(_))
        ));
        assert_eq!(d.encode_or_insert(b"a").unwrap(), 0);
    }

    /// The limit is not serialized; `set_limit` puts it back, and refuses
    /// one below the codes already handed out.
    #[test]
    fn limit_survives_a_round_trip_through_set_limit() {
        let mut d = DictionaryKeyEncoder::with_limit(3);
        assert_eq!(d.limit(), 3);
        d.encode_or_insert(b"a").unwrap();
        d.encode_or_insert(b"b").unwrap();
        let mut back = DictionaryKeyEncoder::from_bytes(&d.to_bytes().unwrap()).unwrap();
        assert_eq!(back.limit(), u32::MAX);
        assert!(matches!(
            back.set_limit(1),
            Err(StateError::InvalidArgument(_))
        ));
        assert_eq!(back.limit(), u32::MAX);
        back.set_limit(3).unwrap();
        back.encode_or_insert(b"c").unwrap();
        assert!(matches!(
            back.encode_or_insert(b"d"),
            Err(StateError::CapacityExceeded(_))
        ));
    }

    #[test]
    fn clear_restarts_codes() {
        let mut d = DictionaryKeyEncoder::default();
        d.encode_or_insert(b"x").unwrap();
        d.clear();
        assert!(d.is_empty());
        assert_eq!(d.encode_or_insert(b"y").unwrap(), 0);
        assert_eq!(d.encode(b"x"), None);
    }

    #[test]
    fn duplicate_values_in_archive_are_corruption() {
        let mut bytes = rkyv::util::AlignedVec::new();
        let values: [&[u8]; 2] = [b"a", b"a"];
        crate::state::snapshot::dict::encode(values.into_iter(), &mut bytes).unwrap();
        assert!(matches!(
            DictionaryKeyEncoder::from_bytes(&bytes),
            Err(StateError::Corruption { .. })
        ));
    }
}
