//! [`Dict`]: a key component stored as a code of a [`DictionaryKeyEncoder`],
//! and [`DictCode`], its inline representation.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::num::NonZeroU32;

use super::dictionary::DictionaryKeyEncoder;
use super::encode::{take, Key, KeyRepr, KeySink};
use crate::state::error::{Result, StateError};

/// A key component stored as a `u32` code of a [`DictionaryKeyEncoder`]
/// (a [`DictCode`]).
///
/// Use it for low-cardinality components (regions, tenants, event types):
/// `(Dict<String>, u64)` is stored inline as `(DictCode, u64)` (16 bytes)
/// and looked up by `(&str, u64)` without allocating. Order within this
/// component is the order in which values were first inserted, not their
/// string order.
pub struct Dict<T>(PhantomData<fn() -> T>);

/// A type that can be dictionary-encoded: `String` (looked up by `&str`) or
/// `Vec<u8>` (looked up by `&[u8]`).
pub trait DictValue: 'static {
    /// The borrowed form.
    type Ref<'a>: Copy + Debug;
    /// The bytes of a borrowed value.
    fn as_bytes<'a>(value: Self::Ref<'a>) -> &'a [u8];
    /// A borrowed value from dictionary bytes, or `None` if they are not valid.
    fn from_bytes(bytes: &[u8]) -> Option<Self::Ref<'_>>;
}

impl DictValue for String {
    type Ref<'a> = &'a str;
    #[inline]
    fn as_bytes<'a>(value: Self::Ref<'a>) -> &'a [u8] {
        value.as_bytes()
    }
    #[inline]
    fn from_bytes(bytes: &[u8]) -> Option<&str> {
        std::str::from_utf8(bytes).ok()
    }
}

impl DictValue for Vec<u8> {
    type Ref<'a> = &'a [u8];
    #[inline]
    fn as_bytes<'a>(value: Self::Ref<'a>) -> &'a [u8] {
        value
    }
    #[inline]
    fn from_bytes(bytes: &[u8]) -> Option<&[u8]> {
        Some(bytes)
    }
}

/// The inline representation of a [`Dict`] component: a dictionary code.
///
/// Stored as `code + 1` in a [`NonZeroU32`], so the zero bit pattern is free
/// and an `Option` of a key or entry holding one needs no separate flag: a
/// typed hash table of `(Dict<String>, u64)` keys and `u64` values keeps each
/// entry in 24 bytes instead of 32. Ordered like the code. A `Dict`
/// component therefore holds at most `u32::MAX` (2^32 - 1) distinct values.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DictCode(NonZeroU32);

impl Debug for DictCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DictCode({})", self.get())
    }
}

impl DictCode {
    /// The code for dictionary code `code`, or `None` for `u32::MAX`, which
    /// has no representation.
    #[inline]
    pub fn new(code: u32) -> Option<Self> {
        code.checked_add(1).and_then(NonZeroU32::new).map(DictCode)
    }

    /// The dictionary code.
    #[inline]
    pub fn get(self) -> u32 {
        self.0.get() - 1
    }
}

impl KeyRepr for DictCode {
    #[inline]
    fn minimum() -> Self {
        DictCode(NonZeroU32::MIN)
    }
    const WORDS: usize = 1;
    const DENSE: bool = true;
    #[inline]
    fn to_words(&self) -> [u64; 2] {
        [u64::from(self.0.get()), 0]
    }
}

impl<T: DictValue> Key for Dict<T> {
    type Ref<'a> = T::Ref<'a>;
    type Repr = DictCode;
    type Dicts = DictionaryKeyEncoder;
    const WIDTH: Option<usize> = Some(4);
    const ORDERED: bool = false;
    #[inline]
    fn find(key: T::Ref<'_>, dicts: &DictionaryKeyEncoder) -> Option<DictCode> {
        // The dictionary's slots hold the code plus one: no conversion.
        dicts.encode_plus_one(T::as_bytes(key)).map(DictCode)
    }
    #[inline]
    fn intern(key: T::Ref<'_>, dicts: &mut DictionaryKeyEncoder) -> Result<DictCode> {
        let code = dicts.encode_or_insert(T::as_bytes(key))?;
        DictCode::new(code).ok_or_else(|| {
            StateError::CapacityExceeded(format!(
                "a Dict key component holds at most {} distinct values",
                u32::MAX
            ))
        })
    }
    #[inline]
    fn resolve<'a>(repr: &'a DictCode, dicts: &'a DictionaryKeyEncoder) -> Option<T::Ref<'a>> {
        dicts.decode(repr.get()).and_then(T::from_bytes)
    }
    #[inline]
    fn encode(repr: &DictCode, out: &mut impl KeySink) {
        out.extend_from_slice(&repr.get().to_be_bytes())
    }
    #[inline]
    fn decode(input: &mut &[u8]) -> Result<DictCode> {
        let code = u32::from_be_bytes(take(input)?);
        DictCode::new(code).ok_or_else(|| {
            StateError::corruption(
                "encoded key",
                format!(
                    "dictionary code {code} is reserved (codes run up to {})",
                    u32::MAX - 1
                ),
            )
        })
    }
    fn validate_dicts(dicts: &DictionaryKeyEncoder) -> Result<()> {
        for code in 0..dicts.len() {
            let value = u32::try_from(code).ok().and_then(|c| dicts.decode(c));
            if value.and_then(T::from_bytes).is_none() {
                return Err(StateError::corruption(
                    format!("dictionary value {code}"),
                    format!("not a valid {}", std::any::type_name::<T>()),
                ));
            }
        }
        Ok(())
    }
}
