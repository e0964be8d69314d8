//! Format version 1, read only: a frame around an rkyv 0.8 archive of
//! `{ data: Vec<(Vec<u8>, Vec<u8>)>, timestamp_ns: u64 }` written with
//! 64-bit relative pointers (rkyv's `pointer_width_64`).
//!
//! This build no longer sets that rkyv feature (it is global to a user's
//! whole dependency tree), so the archive is parsed here by hand, with
//! every offset and length bounds-checked; no `unsafe`, no panics.
//!
//! # The archived body (all integers little-endian)
//!
//! | where | size | field |
//! |-------|-----:|-------|
//! | `end - 24` | 8 | `data`: relative pointer (`i64`, from this field) to the pair array |
//! | `end - 16` | 8 | `data`: number of pairs `n` |
//! | `end - 8`  | 8 | `timestamp_ns` |
//! | pair array | `32 n` | per pair: key (`i64` relative pointer, `u64` length), value (same) |
//!
//! Relative pointers count from the position of the pointer itself. The
//! same `Vec` layout is that of a version 1 dictionary
//! (`DictArchive { values: Vec<Vec<u8>> }`, root `Vec` in the last 16 bytes).

use super::v2::{le_u32, le_u64};
use crate::state::error::{Result, StateError};

/// Version number of the rkyv-framed format.
pub(crate) const VERSION: u32 = 1;

/// Where the pairs of a checked version 1 body are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// Number of entries.
    pub(crate) len: usize,
    /// Body offset of the pair array.
    array: usize,
    /// Creation time.
    pub(crate) timestamp_ns: u64,
}

/// Reads the archived `Vec` header at `at`: `(start, len)` of its elements
/// (of `elem` bytes each) if they lie within `bytes`.
fn archived_vec(bytes: &[u8], at: usize, elem: usize) -> Option<(usize, usize)> {
    let off = le_u64(bytes.get(at..at.checked_add(16)?)?, 0) as i64;
    let len = usize::try_from(le_u64(bytes, at + 8)).ok()?;
    if len == 0 {
        return Some((0, 0));
    }
    let start = i64::try_from(at).ok()?.checked_add(off)?;
    let start = usize::try_from(start).ok()?;
    let end = start.checked_add(len.checked_mul(elem)?)?;
    (end <= bytes.len()).then_some((start, len))
}

impl Layout {
    /// Entry `i`: `(key, value)`.
    pub(crate) fn entry<'a>(&self, body: &'a [u8], i: usize) -> Option<(&'a [u8], &'a [u8])> {
        if i >= self.len {
            return None;
        }
        let p = self.array.checked_add(32 * i)?;
        let (ks, kl) = archived_vec(body, p, 1)?;
        let (vs, vl) = archived_vec(body, p + 16, 1)?;
        Some((body.get(ks..ks + kl)?, body.get(vs..vs + vl)?))
    }
}

/// Checks a version 1 `body` against its 32-byte `header` (whose magic,
/// checksum and version are already checked): length, body checksum, the
/// archived layout and the key order.
pub(crate) fn check_body(header: &[u8], body: &[u8], location: &str) -> Result<Layout> {
    let at = |o: u64| format!("{location} at offset {o}");
    let body_len = le_u64(header, 16);
    let actual = body.len() as u64;
    if body_len != actual {
        let what = if actual < body_len {
            format!("truncated body: header says {body_len} bytes, {actual} present")
        } else {
            format!("trailing bytes after a body of {body_len} bytes")
        };
        return Err(StateError::corruption(at(32), what));
    }
    let stored = le_u32(header, 24);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(StateError::corruption(
            at(32),
            format!("body checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"),
        ));
    }
    let bad =
        |what: &str| StateError::Deserialization(format!("{location}: version 1 body: {what}"));
    if body.len() < 24 {
        return Err(bad("shorter than its 24-byte root"));
    }
    let root = body.len() - 24;
    if !root.is_multiple_of(8) {
        return Err(bad("root is not 8-byte aligned"));
    }
    let (array, len) =
        archived_vec(body, root, 32).ok_or_else(|| bad("entry array out of bounds"))?;
    if len > 0 && (!array.is_multiple_of(8) || array + 32 * len > root) {
        return Err(bad("entry array misplaced"));
    }
    let layout = Layout {
        len,
        array,
        timestamp_ns: le_u64(body, root + 16),
    };
    let mut prev: Option<&[u8]> = None;
    for i in 0..len {
        let (key, _) = layout
            .entry(body, i)
            .ok_or_else(|| bad(&format!("entry {i} points out of bounds")))?;
        if prev.is_some_and(|p| key <= p) {
            return Err(StateError::corruption(
                location,
                format!("entry {i} is not in strictly ascending key order"),
            ));
        }
        prev = Some(key);
    }
    Ok(layout)
}

/// The values of a version 1 (rkyv, 64-bit pointers) dictionary archive,
/// in code order.
pub(crate) fn dict_values(bytes: &[u8]) -> Result<Vec<&[u8]>> {
    let bad = |what: &str| StateError::Deserialization(format!("version 1 dictionary: {what}"));
    if bytes.len() < 16 || !(bytes.len() - 16).is_multiple_of(8) {
        return Err(bad("not an archived list of values"));
    }
    let root = bytes.len() - 16;
    let (array, len) =
        archived_vec(bytes, root, 16).ok_or_else(|| bad("value array out of bounds"))?;
    if len > 0 && (!array.is_multiple_of(8) || array + 16 * len > root) {
        return Err(bad("value array misplaced"));
    }
    (0..len)
        .map(|i| {
            archived_vec(bytes, array + 16 * i, 1)
                .and_then(|(s, l)| bytes.get(s..s + l))
                .ok_or_else(|| bad(&format!("value {i} out of bounds")))
        })
        .collect()
}
