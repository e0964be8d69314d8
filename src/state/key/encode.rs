//! The [`Key`] trait: typed keys with an inline, order-preserving representation.

use std::fmt::Debug;
use std::hash::Hash;

use super::dictionary::DictionaryKeyEncoder;
use crate::state::error::{Result, StateError};

/// The in-memory representation of an encoded key, stored inline in typed tables.
///
/// Fixed-width keys use integers or byte arrays (`u8` … `u128`, `[u8; N]`) or
/// tuples of them, so a table never allocates per key for them. Variable-width
/// components (strings, byte strings) are boxed.
///
/// # Laws
///
/// - [`minimum`](KeyRepr::minimum) is smaller than or equal to every value (`Ord`).
/// - If [`WORDS`](KeyRepr::WORDS) is 1 or 2, [`to_words`](KeyRepr::to_words)
///   is injective: two values are equal if and only if their words are. Only
///   the first `WORDS` words may be non-zero.
/// - If [`DENSE`](KeyRepr::DENSE) is `true`, `WORDS` is at least 1 and the
///   first word of every value is a small integer (a dictionary code).
///
/// The last two only serve hashing: a type that breaks them keeps correct
/// lookups, but its keys may collide and probe longer.
pub trait KeyRepr: Clone + Ord + Hash + Debug + Send + Sync + 'static {
    /// The smallest value of the representation.
    fn minimum() -> Self;

    /// How many 64-bit words [`to_words`](KeyRepr::to_words) packs a value
    /// into: 1 or 2 for integers, dictionary codes, byte arrays of up to 16
    /// bytes and pairs of one-word values; 0 (the default) for the others,
    /// longer tuples included. Hash tables may hash words directly instead of
    /// through [`Hash`].
    const WORDS: usize = 0;

    /// `true` if the first of the [`to_words`](KeyRepr::to_words) is a small
    /// integer, typically one of a few consecutive ones (a dictionary code,
    /// alone or leading a pair): a hash table then mixes that word with one
    /// multiply, after the other word, so a lookup need not wait for a
    /// longer hash once the dictionary answers.
    const DENSE: bool = false;

    /// The value as [`WORDS`](KeyRepr::WORDS) words, the rest zero (all zero
    /// when `WORDS` is 0).
    #[inline]
    fn to_words(&self) -> [u64; 2] {
        [0, 0]
    }
}

macro_rules! repr_int {
    ($($t:ty),*) => {$(
        impl KeyRepr for $t {
            #[inline]
            fn minimum() -> Self { 0 }
            const WORDS: usize = 1;
            #[inline]
            fn to_words(&self) -> [u64; 2] { [u64::from(*self), 0] }
        }
    )*};
}
repr_int!(u8, u16, u32, u64);

impl KeyRepr for u128 {
    #[inline]
    fn minimum() -> Self {
        0
    }
    const WORDS: usize = 2;
    #[inline]
    fn to_words(&self) -> [u64; 2] {
        [*self as u64, (*self >> 64) as u64]
    }
}

impl<const N: usize> KeyRepr for [u8; N] {
    #[inline]
    fn minimum() -> Self {
        [0; N]
    }
    const WORDS: usize = if N <= 8 {
        1
    } else if N <= 16 {
        2
    } else {
        0
    };
    #[inline]
    fn to_words(&self) -> [u64; 2] {
        let mut b = [0u8; 16];
        if N <= 16 {
            if let Some(dst) = b.get_mut(..N) {
                dst.copy_from_slice(self);
            }
        }
        let (lo, hi) = b.split_at(8);
        let word = |h: &[u8]| h.try_into().map_or(0, u64::from_le_bytes);
        [word(lo), word(hi)]
    }
}
impl KeyRepr for Box<str> {
    fn minimum() -> Self {
        Box::default()
    }
}
impl KeyRepr for Box<[u8]> {
    fn minimum() -> Self {
        Box::default()
    }
}

/// The dictionaries a key needs: `()` for plain keys, one
/// [`DictionaryKeyEncoder`] per [`Dict`](super::Dict) component otherwise.
pub trait KeyDicts: Default + Clone + Debug + Send + Sync + 'static {
    /// Number of dictionaries.
    const COUNT: usize;
    /// Calls `f` with each dictionary, in component order.
    fn each(&self, f: &mut dyn FnMut(&DictionaryKeyEncoder));
    /// Rebuilds the dictionaries from `next`, which yields them in component order.
    fn load(next: &mut dyn FnMut() -> Result<DictionaryKeyEncoder>) -> Result<Self>;
}

impl KeyDicts for () {
    const COUNT: usize = 0;
    fn each(&self, _: &mut dyn FnMut(&DictionaryKeyEncoder)) {}
    fn load(_: &mut dyn FnMut() -> Result<DictionaryKeyEncoder>) -> Result<Self> {
        Ok(())
    }
}

impl KeyDicts for DictionaryKeyEncoder {
    const COUNT: usize = 1;
    fn each(&self, f: &mut dyn FnMut(&DictionaryKeyEncoder)) {
        f(self)
    }
    fn load(next: &mut dyn FnMut() -> Result<DictionaryKeyEncoder>) -> Result<Self> {
        next()
    }
}

/// A type usable as the key of a typed table (and in `#[state(key = …)]`).
///
/// A key type names an *encoding*: [`Key::Ref`] is what callers pass and get
/// back (`u64`, `&str`, `(&str, i64)`, …), [`Key::Repr`] is what the table
/// stores inline, and [`encode`](Key::encode)/[`decode`](Key::decode) turn the
/// representation into bytes for snapshots.
///
/// Implemented for: all integer types from `u8`/`i8` to `u128`/`i128`
/// (big-endian, sign bit flipped), `bool`, `char`, `String` and `Vec<u8>`
/// (escaped and terminated, so a string followed by more components keeps
/// tuple order), `[u8; N]`, [`Dict<String>`](super::Dict) and `Dict<Vec<u8>>` (a `u32`
/// dictionary code), and tuples of two to four keys (concatenation).
///
/// # Laws (checked by property tests for every implementation)
///
/// - **Round trip**: `decode(encode(r)) == r`, consuming exactly the encoded
///   bytes; `resolve(intern(k)) == k`.
/// - **Order**: if [`ORDERED`](Key::ORDERED), `a.cmp(&b)` on keys (`Ref`)
///   equals the order of their representations and of their encoded bytes.
///   Keys with a [`Dict`](super::Dict) component are ordered by dictionary code (first
///   insertion order) in that component instead.
/// - **Width**: if [`WIDTH`](Key::WIDTH) is `Some(n)`, every encoding is
///   exactly `n` bytes long.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no key encoding",
    label = "not a state key type",
    note = "state keys are: integers (u8..u128, i8..i128), bool, char, String, Vec<u8>, [u8; N], Dict<String>, Dict<Vec<u8>>, and tuples of 2 to 4 of these"
)]
pub trait Key: 'static {
    /// The borrowed form callers pass and iteration yields.
    type Ref<'a>: Copy + Debug;
    /// The inline representation stored by tables.
    type Repr: KeyRepr;
    /// The dictionaries this key needs (`()` if none).
    type Dicts: KeyDicts;
    /// Length of every encoding, when it is fixed.
    const WIDTH: Option<usize>;
    /// `true` if representation order equals key order (no [`Dict`](super::Dict) component).
    const ORDERED: bool;

    /// The representation of `key`, or `None` if a dictionary does not know
    /// one of its components (so no table holds it). Never allocates for
    /// fixed-width keys.
    fn find(key: Self::Ref<'_>, dicts: &Self::Dicts) -> Option<Self::Repr>;
    /// The representation of `key`, adding unknown components to the dictionaries.
    fn intern(key: Self::Ref<'_>, dicts: &mut Self::Dicts) -> Result<Self::Repr>;
    /// The key a representation stands for, or `None` if a dictionary code is unknown.
    fn resolve<'a>(repr: &'a Self::Repr, dicts: &'a Self::Dicts) -> Option<Self::Ref<'a>>;
    /// Appends the byte encoding of `repr` to `out`.
    fn encode(repr: &Self::Repr, out: &mut impl KeySink);
    /// Reads one encoded representation from the front of `input`, advancing it.
    ///
    /// Fails with [`StateError::Corruption`] on truncated or malformed bytes.
    fn decode(input: &mut &[u8]) -> Result<Self::Repr>;
    /// Checks that every value of the key's dictionaries is a valid value of
    /// its component (a `Dict<String>` dictionary holds UTF-8 only), for
    /// dictionaries read from a snapshot. Keys without dictionaries accept
    /// anything.
    ///
    /// Fails with [`StateError::Corruption`] naming the first bad code.
    fn validate_dicts(dicts: &Self::Dicts) -> Result<()> {
        let _ = dicts;
        Ok(())
    }
}

/// A key whose leading component can be scanned on its own (tuples).
pub trait CompositeKey: Key {
    /// The first component.
    type First: Key;
    /// The smallest representation whose first component is `first`.
    fn lower_bound(first: <Self::First as Key>::Repr) -> Self::Repr;
    /// The first component of `repr`.
    fn first_of(repr: &Self::Repr) -> &<Self::First as Key>::Repr;
    /// The dictionaries of the first component.
    fn first_dicts(dicts: &Self::Dicts) -> &<Self::First as Key>::Dicts;
}

/// Where [`Key::encode`] appends bytes: a `Vec<u8>`, or a [`StackKey`] that
/// keeps short encodings on the stack.
pub trait KeySink {
    /// Appends `bytes`.
    fn extend_from_slice(&mut self, bytes: &[u8]);
}

impl KeySink for Vec<u8> {
    #[inline]
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Vec::extend_from_slice(self, bytes)
    }
}

/// Bytes an encoding may take on the stack in a [`StackKey`] before it spills
/// to the heap.
pub const STACK_KEY_CAP: usize = 64;

/// An encoded key built on the stack: encodings up to [`STACK_KEY_CAP`]
/// bytes (every fixed-width key of up to 64 bytes, so every integer, `Dict`
/// and tuple of them) never allocate; longer ones spill to a `Vec<u8>`.
///
/// ```
/// use laminar_core::state::key::{Key, StackKey};
/// let mut k = StackKey::new();
/// <(u32, i8) as Key>::encode(&(7, 0x80), &mut k);
/// assert_eq!(k.as_slice(), [0, 0, 0, 7, 0x80]);
/// assert!(!k.spilled());
/// ```
#[derive(Clone)]
pub struct StackKey {
    inline: [u8; STACK_KEY_CAP],
    len: usize,
    heap: Vec<u8>,
}

impl Default for StackKey {
    fn default() -> Self {
        Self::new()
    }
}

impl Debug for StackKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Debug::fmt(self.as_slice(), f)
    }
}

impl StackKey {
    /// An empty key.
    #[inline]
    pub const fn new() -> Self {
        StackKey {
            inline: [0; STACK_KEY_CAP],
            len: 0,
            heap: Vec::new(),
        }
    }

    /// The bytes written so far.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        if self.heap.is_empty() {
            self.inline.get(..self.len).unwrap_or_default()
        } else {
            &self.heap
        }
    }

    /// `true` if the encoding outgrew the stack buffer and moved to the heap.
    pub fn spilled(&self) -> bool {
        !self.heap.is_empty()
    }
}

impl KeySink for StackKey {
    #[inline]
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        if self.heap.is_empty() {
            let end = self.len + bytes.len();
            if let Some(dst) = self.inline.get_mut(self.len..end) {
                dst.copy_from_slice(bytes);
                self.len = end;
                return;
            }
            let mut heap = Vec::with_capacity(end.max(2 * STACK_KEY_CAP));
            heap.extend_from_slice(self.inline.get(..self.len).unwrap_or_default());
            self.heap = heap;
        }
        self.heap.extend_from_slice(bytes);
    }
}

fn truncated() -> StateError {
    StateError::corruption("encoded key", "truncated key bytes")
}

#[inline]
pub(super) fn take<const N: usize>(input: &mut &[u8]) -> Result<[u8; N]> {
    let (head, rest) = input.split_first_chunk::<N>().ok_or_else(truncated)?;
    *input = rest;
    Ok(*head)
}

macro_rules! key_unsigned {
    ($($t:ty),*) => {$(
        impl Key for $t {
            type Ref<'a> = $t;
            type Repr = $t;
            type Dicts = ();
            const WIDTH: Option<usize> = Some(std::mem::size_of::<$t>());
            const ORDERED: bool = true;
            #[inline]
            fn find(key: $t, _: &()) -> Option<$t> { Some(key) }
            #[inline]
            fn intern(key: $t, _: &mut ()) -> Result<$t> { Ok(key) }
            #[inline]
            fn resolve<'a>(repr: &'a $t, _: &'a ()) -> Option<$t> { Some(*repr) }
            #[inline]
            fn encode(repr: &$t, out: &mut impl KeySink) { out.extend_from_slice(&repr.to_be_bytes()) }
            #[inline]
            fn decode(input: &mut &[u8]) -> Result<$t> { Ok(<$t>::from_be_bytes(take(input)?)) }
        }
    )*};
}
key_unsigned!(u8, u16, u32, u64, u128);

macro_rules! key_signed {
    ($($t:ty => $u:ty),*) => {$(
        impl Key for $t {
            type Ref<'a> = $t;
            type Repr = $u;
            type Dicts = ();
            const WIDTH: Option<usize> = Some(std::mem::size_of::<$t>());
            const ORDERED: bool = true;
            #[inline]
            fn find(key: $t, _: &()) -> Option<$u> { Some((key as $u) ^ (1 << (<$u>::BITS - 1))) }
            #[inline]
            fn intern(key: $t, _: &mut ()) -> Result<$u> { Ok((key as $u) ^ (1 << (<$u>::BITS - 1))) }
            #[inline]
            fn resolve<'a>(repr: &'a $u, _: &'a ()) -> Option<$t> { Some((*repr ^ (1 << (<$u>::BITS - 1))) as $t) }
            #[inline]
            fn encode(repr: &$u, out: &mut impl KeySink) { out.extend_from_slice(&repr.to_be_bytes()) }
            #[inline]
            fn decode(input: &mut &[u8]) -> Result<$u> { Ok(<$u>::from_be_bytes(take(input)?)) }
        }
    )*};
}
key_signed!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, i128 => u128);

impl Key for bool {
    type Ref<'a> = bool;
    type Repr = u8;
    type Dicts = ();
    const WIDTH: Option<usize> = Some(1);
    const ORDERED: bool = true;
    fn find(key: bool, _: &()) -> Option<u8> {
        Some(u8::from(key))
    }
    fn intern(key: bool, _: &mut ()) -> Result<u8> {
        Ok(u8::from(key))
    }
    fn resolve<'a>(repr: &'a u8, _: &'a ()) -> Option<bool> {
        Some(*repr != 0)
    }
    fn encode(repr: &u8, out: &mut impl KeySink) {
        out.extend_from_slice(&[*repr])
    }
    fn decode(input: &mut &[u8]) -> Result<u8> {
        let [b] = take::<1>(input)?;
        if b > 1 {
            return Err(StateError::corruption(
                "encoded key",
                format!("bool byte {b}"),
            ));
        }
        Ok(b)
    }
}

impl Key for char {
    type Ref<'a> = char;
    type Repr = u32;
    type Dicts = ();
    const WIDTH: Option<usize> = Some(4);
    const ORDERED: bool = true;
    fn find(key: char, _: &()) -> Option<u32> {
        Some(u32::from(key))
    }
    fn intern(key: char, _: &mut ()) -> Result<u32> {
        Ok(u32::from(key))
    }
    fn resolve<'a>(repr: &'a u32, _: &'a ()) -> Option<char> {
        char::from_u32(*repr)
    }
    fn encode(repr: &u32, out: &mut impl KeySink) {
        out.extend_from_slice(&repr.to_be_bytes())
    }
    fn decode(input: &mut &[u8]) -> Result<u32> {
        let v = u32::from_be_bytes(take(input)?);
        char::from_u32(v)
            .map(u32::from)
            .ok_or_else(|| StateError::corruption("encoded key", format!("invalid char {v:#x}")))
    }
}

impl<const N: usize> Key for [u8; N] {
    type Ref<'a> = [u8; N];
    type Repr = [u8; N];
    type Dicts = ();
    const WIDTH: Option<usize> = Some(N);
    const ORDERED: bool = true;
    fn find(key: [u8; N], _: &()) -> Option<[u8; N]> {
        Some(key)
    }
    fn intern(key: [u8; N], _: &mut ()) -> Result<[u8; N]> {
        Ok(key)
    }
    fn resolve<'a>(repr: &'a [u8; N], _: &'a ()) -> Option<[u8; N]> {
        Some(*repr)
    }
    fn encode(repr: &[u8; N], out: &mut impl KeySink) {
        out.extend_from_slice(repr)
    }
    fn decode(input: &mut &[u8]) -> Result<[u8; N]> {
        take(input)
    }
}

/// Escapes `0x00` as `00 FF` and terminates with `00 00`: order-preserving and
/// prefix-free, so a string component keeps tuple order.
fn encode_escaped(bytes: &[u8], out: &mut impl KeySink) {
    let mut rest = bytes;
    while let Some(zero) = rest.iter().position(|&b| b == 0) {
        let (head, tail) = rest.split_at(zero);
        out.extend_from_slice(head);
        out.extend_from_slice(&[0, 0xFF]);
        rest = tail.get(1..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    out.extend_from_slice(&[0, 0]);
}

fn decode_escaped(input: &mut &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = *input;
    loop {
        match rest {
            [0, 0, tail @ ..] => {
                *input = tail;
                return Ok(out);
            }
            [0, 0xFF, tail @ ..] => {
                out.push(0);
                rest = tail;
            }
            [0, b, ..] => {
                return Err(StateError::corruption(
                    "encoded key",
                    format!("invalid escape 00 {b:02x} in a string component"),
                ))
            }
            [b, tail @ ..] => {
                out.push(*b);
                rest = tail;
            }
            [] => return Err(truncated()),
        }
    }
}

impl Key for String {
    type Ref<'a> = &'a str;
    type Repr = Box<str>;
    type Dicts = ();
    const WIDTH: Option<usize> = None;
    const ORDERED: bool = true;
    fn find(key: &str, _: &()) -> Option<Box<str>> {
        Some(key.into())
    }
    fn intern(key: &str, _: &mut ()) -> Result<Box<str>> {
        Ok(key.into())
    }
    fn resolve<'a>(repr: &'a Box<str>, _: &'a ()) -> Option<&'a str> {
        Some(repr)
    }
    fn encode(repr: &Box<str>, out: &mut impl KeySink) {
        encode_escaped(repr.as_bytes(), out)
    }
    fn decode(input: &mut &[u8]) -> Result<Box<str>> {
        let bytes = decode_escaped(input)?;
        String::from_utf8(bytes)
            .map(String::into_boxed_str)
            .map_err(|_| StateError::corruption("encoded key", "string component is not UTF-8"))
    }
}

impl Key for Vec<u8> {
    type Ref<'a> = &'a [u8];
    type Repr = Box<[u8]>;
    type Dicts = ();
    const WIDTH: Option<usize> = None;
    const ORDERED: bool = true;
    fn find(key: &[u8], _: &()) -> Option<Box<[u8]>> {
        Some(key.into())
    }
    fn intern(key: &[u8], _: &mut ()) -> Result<Box<[u8]>> {
        Ok(key.into())
    }
    fn resolve<'a>(repr: &'a Box<[u8]>, _: &'a ()) -> Option<&'a [u8]> {
        Some(repr)
    }
    fn encode(repr: &Box<[u8]>, out: &mut impl KeySink) {
        encode_escaped(repr, out)
    }
    fn decode(input: &mut &[u8]) -> Result<Box<[u8]>> {
        decode_escaped(input).map(Vec::into_boxed_slice)
    }
}

/// Sum of two optional widths (`None` if either is variable).
pub const fn add_width(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        _ => None,
    }
}

macro_rules! key_tuple {
    ($first:ident $fi:tt $(, $name:ident $idx:tt)+) => {
        impl<$first: KeyRepr $(, $name: KeyRepr)+> KeyRepr for ($first, $($name,)+) {
            #[inline]
            fn minimum() -> Self { ($first::minimum(), $($name::minimum(),)+) }
            // A pair of one-word values packs into two words; longer tuples
            // and wider components hash through `Hash`.
            const WORDS: usize =
                if $first::WORDS == 1 $(&& $name::WORDS == 1)+ && [$($idx),+].len() == 1 {
                    2
                } else {
                    0
                };
            const DENSE: bool = Self::WORDS == 2 && $first::DENSE;
            #[inline]
            fn to_words(&self) -> [u64; 2] {
                if Self::WORDS == 0 {
                    return [0, 0];
                }
                let mut w = [self.$fi.to_words()[0], 0];
                $(if let Some(slot) = w.get_mut($idx) { *slot = self.$idx.to_words()[0]; })+
                w
            }
        }

        impl<$first: KeyDicts $(, $name: KeyDicts)+> KeyDicts for ($first, $($name,)+) {
            const COUNT: usize = $first::COUNT $(+ $name::COUNT)+;
            fn each(&self, f: &mut dyn FnMut(&DictionaryKeyEncoder)) {
                self.$fi.each(f);
                $(self.$idx.each(f);)+
            }
            fn load(next: &mut dyn FnMut() -> Result<DictionaryKeyEncoder>) -> Result<Self> {
                Ok(($first::load(next)?, $($name::load(next)?,)+))
            }
        }

        impl<$first: Key $(, $name: Key)+> Key for ($first, $($name,)+) {
            type Ref<'a> = ($first::Ref<'a>, $($name::Ref<'a>,)+);
            type Repr = ($first::Repr, $($name::Repr,)+);
            type Dicts = ($first::Dicts, $($name::Dicts,)+);
            const WIDTH: Option<usize> = {
                let w = $first::WIDTH;
                $(let w = add_width(w, $name::WIDTH);)+
                w
            };
            const ORDERED: bool = $first::ORDERED $(&& $name::ORDERED)+;
            #[inline]
            fn find(key: Self::Ref<'_>, dicts: &Self::Dicts) -> Option<Self::Repr> {
                Some(($first::find(key.$fi, &dicts.$fi)?, $($name::find(key.$idx, &dicts.$idx)?,)+))
            }
            #[inline]
            fn intern(key: Self::Ref<'_>, dicts: &mut Self::Dicts) -> Result<Self::Repr> {
                Ok(($first::intern(key.$fi, &mut dicts.$fi)?, $($name::intern(key.$idx, &mut dicts.$idx)?,)+))
            }
            #[inline]
            fn resolve<'a>(repr: &'a Self::Repr, dicts: &'a Self::Dicts) -> Option<Self::Ref<'a>> {
                Some(($first::resolve(&repr.$fi, &dicts.$fi)?, $($name::resolve(&repr.$idx, &dicts.$idx)?,)+))
            }
            #[inline]
            fn encode(repr: &Self::Repr, out: &mut impl KeySink) {
                $first::encode(&repr.$fi, out);
                $($name::encode(&repr.$idx, out);)+
            }
            #[inline]
            fn decode(input: &mut &[u8]) -> Result<Self::Repr> {
                Ok(($first::decode(input)?, $($name::decode(input)?,)+))
            }
            fn validate_dicts(dicts: &Self::Dicts) -> Result<()> {
                $first::validate_dicts(&dicts.$fi)
                    .map_err(|e| e.within(|| format!("key component {}", $fi)))?;
                $($name::validate_dicts(&dicts.$idx)
                    .map_err(|e| e.within(|| format!("key component {}", $idx)))?;)+
                Ok(())
            }
        }

        impl<$first: Key $(, $name: Key)+> CompositeKey for ($first, $($name,)+) {
            type First = $first;
            #[inline]
            fn lower_bound(first: $first::Repr) -> Self::Repr {
                (first, $($name::Repr::minimum(),)+)
            }
            #[inline]
            fn first_of(repr: &Self::Repr) -> &$first::Repr {
                &repr.0
            }
            #[inline]
            fn first_dicts(dicts: &Self::Dicts) -> &$first::Dicts {
                &dicts.0
            }
        }
    };
}
key_tuple!(A 0, B 1);
key_tuple!(A 0, B 1, C 2);
key_tuple!(A 0, B 1, C 2, D 3);

/// Appends the byte encoding of `key` to `out` (for byte-level stores and
/// snapshots). Returns `false`, appending nothing, if a dictionary component
/// is unknown to `dicts`.
///
/// ```
/// use laminar_core::state::key::encode_key;
/// let mut out = Vec::new();
/// assert!(encode_key::<(String, i32)>(("a\0b", -1), &((), ()), &mut out));
/// assert_eq!(out, [b'a', 0, 0xFF, b'b', 0, 0, 0x7F, 0xFF, 0xFF, 0xFF]);
/// ```
pub fn encode_key<K: Key>(key: K::Ref<'_>, dicts: &K::Dicts, out: &mut impl KeySink) -> bool {
    match K::find(key, dicts) {
        Some(repr) => {
            K::encode(&repr, out);
            true
        }
        None => false,
    }
}
