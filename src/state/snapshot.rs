//! [`StateSnapshot`] and its framed on-disk format.
//!
//! # Format (version 1)
//!
//! All integers are little-endian.
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 8 | magic `b"LMNRSNAP"` |
//! | 8  | 4 | format version (`1`) |
//! | 12 | 4 | reserved, must be `0` |
//! | 16 | 8 | body length in bytes |
//! | 24 | 4 | CRC-32C of the body |
//! | 28 | 4 | CRC-32C of bytes `0..28` (the header) |
//! | 32 | body length | rkyv 0.8 archive of [`StateSnapshot`] (64-bit relative pointers) |
//!
//! The body starts at offset 32, so a 16-byte-aligned buffer keeps the archive
//! aligned for zero-copy access ([`StateSnapshot::view`]). Reading checks, in
//! order: length of the header, magic, header checksum, version, reserved
//! field, body length against the input length, body checksum, rkyv
//! validation (bytecheck), and finally that keys are strictly ascending.
//! Any failure is a [`StateError::Corruption`], [`StateError::UnsupportedVersion`]
//! or [`StateError::Deserialization`] that says what is wrong; no input panics.

use rkyv::rancor;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

use super::error::{Result, StateError};

/// Magic bytes that open every serialized snapshot.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"LMNRSNAP";
/// Snapshot format version written by this build (and the only one it reads).
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;
/// Length of the snapshot header in bytes.
pub const SNAPSHOT_HEADER_LEN: usize = 32;

const LOCATION: &str = "snapshot bytes";

/// A point-in-time copy of a store's entries, sorted by key, for checkpointing.
///
/// Build one with [`StateStore::snapshot`](super::StateStore::snapshot) or
/// [`StateSnapshot::new`]; persist it with [`to_bytes`](StateSnapshot::to_bytes)
/// and read it back, verified, with [`from_bytes`](StateSnapshot::from_bytes).
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct StateSnapshot {
    data: Vec<(Vec<u8>, Vec<u8>)>,
    timestamp_ns: u64,
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl StateSnapshot {
    /// Builds a snapshot from `(key, value)` pairs in any order.
    ///
    /// Pairs are sorted by key; when a key appears more than once the last
    /// pair wins, as if the pairs had been `put` in order.
    pub fn new(mut data: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        if !data.windows(2).all(|w| w[0].0 < w[1].0) {
            // Stable sort keeps the original order among equal keys; keep the last one.
            data.sort_by(|a, b| a.0.cmp(&b.0));
            let mut deduped: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(data.len());
            for pair in data {
                match deduped.last_mut() {
                    Some(last) if last.0 == pair.0 => *last = pair,
                    _ => deduped.push(pair),
                }
            }
            data = deduped;
        }
        StateSnapshot {
            data,
            timestamp_ns: now_ns(),
        }
    }

    /// Builds a snapshot from pairs already sorted by strictly ascending key.
    ///
    /// Backends use this on their ordered iteration; the order is checked in
    /// debug builds only (an unsorted input is sorted by [`StateSnapshot::new`]).
    pub(crate) fn from_sorted(data: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        debug_assert!(data.windows(2).all(|w| w[0].0 < w[1].0));
        StateSnapshot {
            data,
            timestamp_ns: now_ns(),
        }
    }

    /// The entries, sorted by strictly ascending key.
    pub fn data(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.data
    }

    /// Consumes the snapshot and returns its sorted entries.
    pub fn into_data(self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.data
    }

    /// Wall-clock creation time, nanoseconds since the Unix epoch.
    pub fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Returns `true` if the snapshot has no entry.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Sum of key and value lengths, in bytes.
    pub fn size_bytes(&self) -> usize {
        self.data.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// Serializes the snapshot in the framed format described in the [module docs](self).
    ///
    /// The returned buffer is 16-byte aligned, so it can be passed to
    /// [`StateSnapshot::view`] directly.
    pub fn to_bytes(&self) -> Result<AlignedVec> {
        let mut buf = AlignedVec::<16>::with_capacity(
            SNAPSHOT_HEADER_LEN + self.size_bytes() + 32 * self.data.len() + 64,
        );
        buf.extend_from_slice(&[0u8; SNAPSHOT_HEADER_LEN]);
        // rkyv positions are relative, and the writer already holds the
        // (16-aligned) header, so the archive lands at offset 32 unchanged.
        let mut buf = rkyv::api::high::to_bytes_in::<_, rancor::Error>(self, buf)
            .map_err(|e| StateError::Serialization(e.to_string()))?;
        let body_len = (buf.len() - SNAPSHOT_HEADER_LEN) as u64;
        let body_crc = crc32c::crc32c(&buf[SNAPSHOT_HEADER_LEN..]);
        let mut header = [0u8; SNAPSHOT_HEADER_LEN];
        header[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
        header[8..12].copy_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
        header[16..24].copy_from_slice(&body_len.to_le_bytes());
        header[24..28].copy_from_slice(&body_crc.to_le_bytes());
        let header_crc = crc32c::crc32c(&header[0..28]);
        header[28..32].copy_from_slice(&header_crc.to_le_bytes());
        buf[0..SNAPSHOT_HEADER_LEN].copy_from_slice(&header);
        Ok(buf)
    }

    /// Reads a snapshot written by [`to_bytes`](StateSnapshot::to_bytes), verifying
    /// every layer of the format. Works on input at any alignment.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let body = check_frame(bytes)?;
        let snapshot = if (body.as_ptr() as usize).is_multiple_of(16) {
            rkyv::from_bytes::<StateSnapshot, rancor::Error>(body)
        } else {
            let mut aligned = AlignedVec::<16>::with_capacity(body.len());
            aligned.extend_from_slice(body);
            rkyv::from_bytes::<StateSnapshot, rancor::Error>(&aligned)
        }
        .map_err(|e| StateError::Deserialization(format!("snapshot body: {e}")))?;
        check_sorted(snapshot.data.iter().map(|(k, _)| k.as_slice()))?;
        Ok(snapshot)
    }

    /// Validates `bytes` and returns a zero-copy view of the archived snapshot.
    ///
    /// `bytes` must start at a 16-byte-aligned address (as the buffer returned
    /// by [`to_bytes`](StateSnapshot::to_bytes) does); otherwise this returns
    /// [`StateError::InvalidArgument`]. Copy misaligned input into an
    /// [`AlignedVec`] first, or use [`from_bytes`](StateSnapshot::from_bytes).
    pub fn view(bytes: &[u8]) -> Result<&ArchivedStateSnapshot> {
        let body = check_frame(bytes)?;
        if !(body.as_ptr() as usize).is_multiple_of(16) {
            return Err(StateError::InvalidArgument(
                "snapshot bytes for a zero-copy view must start at a 16-byte-aligned address"
                    .into(),
            ));
        }
        let archived = rkyv::access::<ArchivedStateSnapshot, rancor::Error>(body)
            .map_err(|e| StateError::Deserialization(format!("snapshot body: {e}")))?;
        check_sorted(archived.data.iter().map(|pair| pair.0.as_slice()))?;
        Ok(archived)
    }
}

impl ArchivedStateSnapshot {
    /// The archived entries, sorted by strictly ascending key.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.data
            .iter()
            .map(|pair| (pair.0.as_slice(), pair.1.as_slice()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Returns `true` if the snapshot has no entry.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Wall-clock creation time, nanoseconds since the Unix epoch.
    pub fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns.to_native()
    }

    /// Looks a key up by binary search, without deserializing anything.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.data
            .binary_search_by(|pair| pair.0.as_slice().cmp(key))
            .ok()
            .and_then(|i| self.data.get(i))
            .map(|pair| pair.1.as_slice())
    }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        b.copy_from_slice(src);
    }
    u32::from_le_bytes(b)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        b.copy_from_slice(src);
    }
    u64::from_le_bytes(b)
}

/// Checks the frame and returns the body slice.
fn check_frame(bytes: &[u8]) -> Result<&[u8]> {
    let Some(header) = bytes.get(..SNAPSHOT_HEADER_LEN) else {
        return Err(StateError::corruption(
            LOCATION,
            format!(
                "truncated header: {} bytes, a snapshot needs at least {SNAPSHOT_HEADER_LEN}",
                bytes.len()
            ),
        ));
    };
    if header.get(0..8) != Some(&SNAPSHOT_MAGIC[..]) {
        return Err(StateError::corruption(
            format!("{LOCATION} at offset 0"),
            "bad magic: not a laminar-core state snapshot",
        ));
    }
    let header_crc = read_u32(header, 28);
    let computed = crc32c::crc32c(header.get(0..28).unwrap_or_default());
    if header_crc != computed {
        return Err(StateError::corruption(
            format!("{LOCATION} at offset 28"),
            format!(
                "header checksum mismatch (stored {header_crc:#010x}, computed {computed:#010x})"
            ),
        ));
    }
    let version = read_u32(header, 8);
    if version != SNAPSHOT_FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion {
            location: format!("{LOCATION} at offset 8"),
            found: version,
            supported: SNAPSHOT_FORMAT_VERSION,
        });
    }
    let reserved = read_u32(header, 12);
    if reserved != 0 {
        return Err(StateError::corruption(
            format!("{LOCATION} at offset 12"),
            format!("reserved field is {reserved:#x}, expected 0"),
        ));
    }
    let body_len = read_u64(header, 16);
    let actual = (bytes.len() - SNAPSHOT_HEADER_LEN) as u64;
    if body_len != actual {
        let what = if actual < body_len {
            format!("truncated body: header says {body_len} bytes, {actual} present")
        } else {
            format!(
                "{} trailing bytes after a body of {body_len} bytes",
                actual - body_len
            )
        };
        return Err(StateError::corruption(
            format!("{LOCATION} at offset {SNAPSHOT_HEADER_LEN}"),
            what,
        ));
    }
    let body = bytes.get(SNAPSHOT_HEADER_LEN..).unwrap_or_default();
    let body_crc = read_u32(header, 24);
    let computed = crc32c::crc32c(body);
    if body_crc != computed {
        return Err(StateError::corruption(
            format!("{LOCATION} at offset {SNAPSHOT_HEADER_LEN}"),
            format!("body checksum mismatch (stored {body_crc:#010x}, computed {computed:#010x})"),
        ));
    }
    Ok(body)
}

fn check_sorted<'a>(mut keys: impl Iterator<Item = &'a [u8]>) -> Result<()> {
    let Some(mut prev) = keys.next() else {
        return Ok(());
    };
    for (i, key) in keys.enumerate() {
        if key <= prev {
            return Err(StateError::corruption(
                LOCATION,
                format!("entry {} is not in strictly ascending key order", i + 1),
            ));
        }
        prev = key;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StateSnapshot {
        StateSnapshot::new(vec![
            (b"b".to_vec(), b"2".to_vec()),
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"3".to_vec()),
        ])
    }

    #[test]
    fn new_sorts_and_keeps_last_duplicate() {
        let s = sample();
        assert_eq!(
            s.data(),
            &[
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"3".to_vec())
            ]
        );
    }

    #[test]
    fn round_trip_and_view() {
        let s = sample();
        let bytes = s.to_bytes().unwrap();
        assert_eq!(&bytes[0..8], b"LMNRSNAP");
        assert_eq!(StateSnapshot::from_bytes(&bytes).unwrap(), s);
        let view = StateSnapshot::view(&bytes).unwrap();
        assert_eq!(view.len(), 2);
        assert_eq!(view.get(b"b"), Some(&b"3"[..]));
        assert_eq!(view.get(b"c"), None);
        assert_eq!(view.timestamp_ns(), s.timestamp_ns());
    }

    #[test]
    fn misaligned_input_still_reads() {
        let s = sample();
        let bytes = s.to_bytes().unwrap();
        let mut shifted = vec![0u8; bytes.len() + 1];
        shifted[1..].copy_from_slice(&bytes);
        assert_eq!(StateSnapshot::from_bytes(&shifted[1..]).unwrap(), s);
        assert!(matches!(
            StateSnapshot::view(&shifted[1..]),
            Err(StateError::InvalidArgument(_))
        ));
    }

    #[test]
    fn future_version_is_reported() {
        let mut bytes = sample().to_bytes().unwrap().to_vec();
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[0..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        match StateSnapshot::from_bytes(&bytes) {
            Err(StateError::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            }) => {}
            other => panic!("expected UnsupportedVersion, got {other:?}"),
        }
    }

    #[test]
    fn unsorted_body_with_valid_checksums_is_rejected() {
        // Forge a body whose keys are out of order but whose checksums are right.
        let forged = StateSnapshot {
            data: vec![(b"b".to_vec(), vec![]), (b"a".to_vec(), vec![])],
            timestamp_ns: 0,
        };
        let bytes = forged.to_bytes().unwrap();
        let err = StateSnapshot::from_bytes(&bytes).unwrap_err();
        assert!(err.to_string().contains("ascending"), "{err}");
    }
}
