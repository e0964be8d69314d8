//! [`KeyBuf`]: an owned byte key that keeps short keys inline.
//!
//! Ordered maps compare keys at every level of a search. A `Vec<u8>` key makes
//! each comparison chase a pointer to a separate allocation; `KeyBuf` keeps keys
//! of up to [`INLINE_CAP`] bytes inside the map node and caches the first eight
//! bytes as a big-endian integer, so most comparisons are one integer compare.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Longest key stored without a heap allocation.
pub(crate) const INLINE_CAP: usize = 22;

#[derive(Clone)]
enum Repr {
    Inline {
        len: u8,
        bytes: [u8; INLINE_CAP],
    },
    /// Shared so that a second index over the same keys (see `AHashMapStore`)
    /// clones a pointer, not the bytes.
    Heap(Arc<[u8]>),
}

/// An owned key whose order equals the lexicographic order of its bytes.
#[derive(Clone)]
pub(crate) struct KeyBuf {
    /// First eight bytes, zero-padded, big-endian: comparing heads agrees with
    /// comparing the byte strings whenever the heads differ.
    head: u64,
    repr: Repr,
}

static_assertions::assert_eq_size!(KeyBuf, [u64; 4]);

#[cfg_attr(not(any(feature = "ahash", feature = "mmap")), allow(dead_code))]
#[inline]
pub(crate) fn head_of(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

impl KeyBuf {
    /// Copies `key`; keys of at most [`INLINE_CAP`] bytes need no allocation.
    #[inline]
    pub(crate) fn new(key: &[u8]) -> Self {
        let head = head_of(key);
        let repr = if key.len() <= INLINE_CAP {
            let mut bytes = [0u8; INLINE_CAP];
            bytes[..key.len()].copy_from_slice(key);
            Repr::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            Repr::Heap(key.into())
        };
        KeyBuf { head, repr }
    }

    /// Returns `true` if this key equals `key`, whose [`head_of`] is `head`.
    #[cfg_attr(not(any(feature = "ahash", feature = "mmap")), allow(dead_code))]
    #[inline]
    pub(crate) fn matches(&self, head: u64, key: &[u8]) -> bool {
        self.head == head && self.as_slice() == key
    }

    /// The key bytes.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match &self.repr {
            Repr::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Repr::Heap(b) => b,
        }
    }

    /// Bytes of heap memory referenced by this key (0 when inline).
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Inline { .. } => 0,
            Repr::Heap(b) => b.len(),
        }
    }
}

impl PartialEq for KeyBuf {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.head == other.head && self.as_slice() == other.as_slice()
    }
}
impl Eq for KeyBuf {}

impl PartialOrd for KeyBuf {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyBuf {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        match self.head.cmp(&other.head) {
            Ordering::Equal => self.as_slice().cmp(other.as_slice()),
            unequal => unequal,
        }
    }
}

impl Hash for KeyBuf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl Borrow<[u8]> for KeyBuf {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for KeyBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyBuf({:?})", self.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_keys_are_inline() {
        assert_eq!(KeyBuf::new(&[7u8; INLINE_CAP]).heap_bytes(), 0);
        assert_eq!(
            KeyBuf::new(&[7u8; INLINE_CAP + 1]).heap_bytes(),
            INLINE_CAP + 1
        );
        assert_eq!(KeyBuf::new(b"").as_slice(), b"");
    }

    proptest! {
        #[test]
        fn order_matches_bytes(
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xFF), any::<u8>()], 0..30),
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xFF), any::<u8>()], 0..30),
        ) {
            let (ka, kb) = (KeyBuf::new(&a), KeyBuf::new(&b));
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
            prop_assert_eq!(ka == kb, a == b);
            prop_assert_eq!(ka.as_slice(), &a[..]);
        }
    }
}
