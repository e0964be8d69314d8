//! Byte form of a [`DictionaryKeyEncoder`](crate::state::DictionaryKeyEncoder)
//! inside snapshots and typed `Mmap` table files.
//!
//! Written without rkyv, so it does not depend on rkyv's pointer width:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0 | 8 | magic `b"LMNRDIC2"` |
//! | 8 | 4 | number of values `n` |
//! | 12 | 4 | n × value length (`u32`) |
//! | 12 + 4n | … | the values, in code order, back to back |
//! | end - 4 | 4 | CRC-32C of every byte before it |
//!
//! Reading also accepts the version 1 form, an rkyv archive of
//! `DictArchive` with 64-bit relative pointers (parsed by hand).

use super::v1;
use super::v2::le_u32;
use crate::state::error::{Result, StateError};

const MAGIC: [u8; 8] = *b"LMNRDIC2";

/// Appends the encoding of `values` (in code order) to `out`.
pub(crate) fn encode<'a>(
    values: impl ExactSizeIterator<Item = &'a [u8]> + Clone,
    out: &mut rkyv::util::AlignedVec,
) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    let n = u32::try_from(values.len())
        .map_err(|_| StateError::CapacityExceeded("dictionary of 2^32 values or more".into()))?;
    out.extend_from_slice(&n.to_le_bytes());
    for v in values.clone() {
        let len = u32::try_from(v.len())
            .map_err(|_| StateError::InvalidArgument("dictionary value of 4 GiB or more".into()))?;
        out.extend_from_slice(&len.to_le_bytes());
    }
    for v in values {
        out.extend_from_slice(v);
    }
    let crc = crc32c::crc32c(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// The values of an encoded dictionary, in code order (either form).
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<&[u8]>> {
    match decode_flat(bytes) {
        Some(values) => Ok(values),
        None if bytes.starts_with(&MAGIC) && v1::dict_values(bytes).is_err() => Err(
            StateError::Deserialization("dictionary: bad length or checksum".into()),
        ),
        None => v1::dict_values(bytes),
    }
}

fn decode_flat(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    if !bytes.starts_with(&MAGIC) || bytes.len() < 16 {
        return None;
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32c::crc32c(body) != le_u32(crc, 0) {
        return None;
    }
    let n = le_u32(body, 8) as usize;
    let table_end = 12usize.checked_add(n.checked_mul(4)?)?;
    let mut pos = table_end;
    let mut out = Vec::with_capacity(n.min(body.len() / 4));
    for i in 0..n {
        let len = le_u32(body.get(12 + 4 * i..16 + 4 * i)?, 0) as usize;
        let end = pos.checked_add(len)?;
        out.push(body.get(pos..end)?);
        pos = end;
    }
    (pos == body.len()).then_some(out)
}
