//! On-disk layout of a persistent [`MmapStateStore`](super::MmapStateStore) file.
//!
//! All integers are little-endian. The same record layout is used in memory
//! (anonymous mode), where the two header pages are simply absent.
//!
//! ```text
//! offset 0      header slot A (64 bytes used of a 4 KiB page)
//! offset 4096   header slot B
//! offset 8192   log: records, each starting at a 16-byte-aligned offset
//! ```
//!
//! # Header slot (version 1)
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 8 | magic `b"LMNRMMAP"` |
//! | 8  | 4 | format version (`1`) |
//! | 12 | 4 | reserved, `0` |
//! | 16 | 8 | sequence number of the commit (higher wins) |
//! | 24 | 8 | offset where the log starts (`8192`) |
//! | 32 | 8 | committed end of the log: records at or past it are ignored |
//! | 40 | 8 | number of live keys at that commit (cross-checked on replay) |
//! | 48 | 4 | CRC-32C of bytes `0..48` |
//!
//! # Record
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 4 | CRC-32C of (the record's file offset as `u64`, bytes `4..16`, key, value) |
//! | 4  | 4 | key length `k` (for `PAD`: low half of the record length) |
//! | 8  | 4 | value length `v` (for `PAD`: high half of the record length) |
//! | 12 | 1 | kind: `1` put, `2` delete, `4` pad (`3` is reserved) |
//! | 13 | 3 | zero |
//! | 16 | k | key, then zero padding to a multiple of 16 |
//! | 16 + pad16(k) | v | value (so values are 16-byte aligned), then padding |
//!
//! Seeding the checksum with the record's offset means a record copied or
//! left over at another position never validates there.

use crate::state::error::{Result, StateError};

/// Magic bytes opening each header slot.
pub(crate) const MAGIC: [u8; 8] = *b"LMNRMMAP";
/// Format version written and read by this build.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Size of the page reserved for each header slot.
pub(crate) const SLOT_PAGE: u64 = 4096;
/// File offsets of the two header slots.
pub(crate) const SLOT_OFFSETS: [u64; 2] = [0, SLOT_PAGE];
/// Bytes of a header slot that carry data.
pub(crate) const SLOT_LEN: usize = 52;
/// Where the log starts in a file.
pub(crate) const DATA_START: u64 = 2 * SLOT_PAGE;
/// Size of a record header.
pub(crate) const REC_HEADER: u64 = 16;
/// Alignment of records and values.
pub(crate) const ALIGN: u64 = 16;

/// Kind byte of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Put = 1,
    Delete = 2,
    Pad = 4,
}

/// Rounds `n` up to a multiple of [`ALIGN`].
#[inline]
pub(crate) const fn pad16(n: u64) -> u64 {
    (n + (ALIGN - 1)) & !(ALIGN - 1)
}

/// Total size of a put (or delete, with `val_len == 0`) record.
#[inline]
pub(crate) const fn record_len(key_len: u64, val_len: u64) -> u64 {
    REC_HEADER + pad16(key_len) + pad16(val_len)
}

/// A decoded header slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) seq: u64,
    pub(crate) data_start: u64,
    pub(crate) committed_end: u64,
    pub(crate) live_count: u64,
}

impl Slot {
    pub(crate) fn encode(&self) -> [u8; SLOT_LEN] {
        let mut b = [0u8; SLOT_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[16..24].copy_from_slice(&self.seq.to_le_bytes());
        b[24..32].copy_from_slice(&self.data_start.to_le_bytes());
        b[32..40].copy_from_slice(&self.committed_end.to_le_bytes());
        b[40..48].copy_from_slice(&self.live_count.to_le_bytes());
        let crc = crc32c::crc32c(&b[0..48]);
        b[48..52].copy_from_slice(&crc.to_le_bytes());
        b
    }
}

/// What a header slot holds.
#[derive(Debug)]
pub(crate) enum SlotState {
    /// A valid slot of this format version.
    Valid(Slot),
    /// Magic absent: the slot was never written, or this is not our file.
    NoMagic,
    /// Magic present but the checksum fails (a torn or corrupt write).
    BadChecksum { stored: u32, computed: u32 },
    /// A valid slot of another format version.
    Version(u32),
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(src) = b.get(at..at.saturating_add(4)) {
        w.copy_from_slice(src);
    }
    u32::from_le_bytes(w)
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(src) = b.get(at..at.saturating_add(8)) {
        w.copy_from_slice(src);
    }
    u64::from_le_bytes(w)
}

/// Decodes a header slot from (at least) [`SLOT_LEN`] bytes.
pub(crate) fn decode_slot(b: &[u8]) -> SlotState {
    let Some(b) = b.get(..SLOT_LEN) else {
        return SlotState::NoMagic;
    };
    if b.get(0..8) != Some(&MAGIC[..]) {
        return SlotState::NoMagic;
    }
    let stored = u32_at(b, 48);
    let computed = crc32c::crc32c(b.get(0..48).unwrap_or_default());
    if stored != computed {
        return SlotState::BadChecksum { stored, computed };
    }
    let version = u32_at(b, 8);
    if version != FORMAT_VERSION {
        return SlotState::Version(version);
    }
    SlotState::Valid(Slot {
        seq: u64_at(b, 16),
        data_start: u64_at(b, 24),
        committed_end: u64_at(b, 32),
        live_count: u64_at(b, 40),
    })
}

/// Checksum of a record: seeded with its offset, covering header bytes 4..16,
/// the key and the value.
#[inline]
pub(crate) fn record_crc(offset: u64, header_tail: &[u8], key: &[u8], value: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&offset.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, header_tail);
    let crc = crc32c::crc32c_append(crc, key);
    crc32c::crc32c_append(crc, value)
}

/// Builds the 16-byte header of a record (checksum included).
pub(crate) fn record_header(
    offset: u64,
    kind: Kind,
    a: u32,
    b: u32,
    key: &[u8],
    value: &[u8],
) -> [u8; REC_HEADER as usize] {
    let mut h = [0u8; REC_HEADER as usize];
    h[4..8].copy_from_slice(&a.to_le_bytes());
    h[8..12].copy_from_slice(&b.to_le_bytes());
    h[12] = kind as u8;
    let crc = record_crc(offset, &h[4..16], key, value);
    h[0..4].copy_from_slice(&crc.to_le_bytes());
    h
}

/// A record read back from the log, validated.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Record<'a> {
    Put {
        key: &'a [u8],
        val_off: u64,
        val_len: u32,
    },
    Delete {
        key: &'a [u8],
    },
    Pad,
}

/// Reads and validates the record at `off`, which must end at or before `end`.
/// Returns the record and its total length.
///
/// `log` is the whole mapping (file offsets index it directly).
pub(crate) fn read_record<'a>(
    log: &'a [u8],
    off: u64,
    end: u64,
    location: &dyn Fn(u64) -> String,
) -> Result<(Record<'a>, u64)> {
    let bad = |what: String| StateError::corruption(location(off), what);
    let hdr_end = off
        .checked_add(REC_HEADER)
        .filter(|&e| e <= end)
        .ok_or_else(|| bad("record header runs past the committed end of the log".into()))?;
    let h = slice(log, off, hdr_end).ok_or_else(|| bad("record header outside the file".into()))?;
    let stored = u32_at(h, 0);
    let a = u32_at(h, 4);
    let b = u32_at(h, 8);
    let kind = h.get(12).copied().unwrap_or(0);
    let tail = h.get(4..16).unwrap_or_default();
    if h.get(13..16) != Some(&[0u8; 3][..]) {
        return Err(bad("nonzero reserved bytes in record header".into()));
    }
    let (record, len) = match kind {
        4 => {
            let len = u64::from(a) | (u64::from(b) << 32);
            if len < REC_HEADER || len % ALIGN != 0 {
                return Err(bad(format!("invalid pad length {len}")));
            }
            let computed = record_crc(off, tail, &[], &[]);
            if computed != stored {
                return Err(bad(format!(
                    "record checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )));
            }
            (Record::Pad, len)
        }
        1 | 2 => {
            let (key_len, val_len) = (u64::from(a), u64::from(b));
            if kind == 2 && val_len != 0 {
                return Err(bad("delete record with a value".into()));
            }
            let key_start = hdr_end;
            let val_off = key_start + pad16(key_len);
            let len = record_len(key_len, val_len);
            let key = slice(log, key_start, key_start + key_len);
            let value = slice(log, val_off, val_off + val_len);
            let rec_end = off.checked_add(len).filter(|&e| e <= end);
            let (Some(key), Some(value), Some(_)) = (key, value, rec_end) else {
                return Err(bad(format!(
                    "record of {len} bytes (key {key_len}, value {val_len}) runs past the committed end {end}"
                )));
            };
            let computed = record_crc(off, tail, key, value);
            if computed != stored {
                return Err(bad(format!(
                    "record checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )));
            }
            let record = match kind {
                1 => Record::Put {
                    key,
                    val_off,
                    val_len: b,
                },
                _ => Record::Delete { key },
            };
            (record, len)
        }
        other => return Err(bad(format!("unknown record kind {other}"))),
    };
    if off.checked_add(len).is_none_or(|e| e > end) {
        return Err(bad(format!(
            "record of {len} bytes runs past the committed end {end}"
        )));
    }
    Ok((record, len))
}

/// `log[start..end]` with every bound checked (no panic on any input).
#[inline]
pub(crate) fn slice(log: &[u8], start: u64, end: u64) -> Option<&[u8]> {
    let s = usize::try_from(start).ok()?;
    let e = usize::try_from(end).ok()?;
    log.get(s..e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_round_trip_and_checks() {
        let s = Slot {
            seq: 7,
            data_start: DATA_START,
            committed_end: 12345,
            live_count: 3,
        };
        let mut b = s.encode();
        assert!(matches!(decode_slot(&b), SlotState::Valid(x) if x == s));
        b[20] ^= 1;
        assert!(matches!(decode_slot(&b), SlotState::BadChecksum { .. }));
        assert!(matches!(decode_slot(&[0u8; SLOT_LEN]), SlotState::NoMagic));
        assert!(matches!(decode_slot(&[0u8; 3]), SlotState::NoMagic));
    }

    /// Pins the byte layout of a header slot and a put record.
    #[test]
    fn golden_layout() {
        let s = Slot {
            seq: 1,
            data_start: DATA_START,
            committed_end: DATA_START,
            live_count: 0,
        };
        let b = s.encode();
        assert_eq!(&b[0..8], b"LMNRMMAP");
        assert_eq!(&b[8..12], &[1, 0, 0, 0]);
        assert_eq!(&b[16..24], &[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&b[24..32], &[0, 0x20, 0, 0, 0, 0, 0, 0]);
        let h = record_header(8192, Kind::Put, 3, 5, b"key", b"value");
        assert_eq!(&h[4..16], &[3, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(record_len(3, 5), 48);
        let mut log = vec![0u8; 8192 + 48];
        log[8192..8208].copy_from_slice(&h);
        log[8208..8211].copy_from_slice(b"key");
        log[8224..8229].copy_from_slice(b"value");
        let loc = |o: u64| format!("at {o}");
        match read_record(&log, 8192, 8240, &loc).unwrap() {
            (
                Record::Put {
                    key,
                    val_off,
                    val_len,
                },
                48,
            ) => {
                assert_eq!(key, b"key");
                assert_eq!((val_off, val_len), (8224, 5));
            }
            other => panic!("{other:?}"),
        }
        // Same bytes at another offset do not validate.
        let mut moved = vec![0u8; 16];
        moved.extend_from_slice(&log[8192..]);
        assert!(read_record(&moved, 16, 64, &loc).is_err());
    }
}
