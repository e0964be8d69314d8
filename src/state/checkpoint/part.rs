//! Encoding of one part file (a base or a delta of one store's chain): the
//! only place that knows the byte layout of entries, so the checkpoint
//! directory does not depend on it.
//!
//! Also here: the CRC-32C-computing reader and writer that check a file
//! against its manifest line, and the k-way merge that materializes a new
//! base from a chain.

use std::io::{Read, Write};

use super::super::error::Result;
use super::super::snapshot::{SnapshotReader, SnapshotWriter};

/// One entry of a part: a key and its value, or `None` for a tombstone.
pub(crate) type PartEntry<'a> = (&'a [u8], Option<&'a [u8]>);

/// Writes one part file: entries in strictly ascending key order.
///
/// A part file is a snapshot in the flat format (version 2), tombstones
/// included: the checkpoint module has no entry format of its own.
pub(crate) struct PartWriter<W: Write> {
    inner: SnapshotWriter<W>,
}

impl<W: Write> PartWriter<W> {
    pub(crate) fn new(out: W) -> Result<Self> {
        Ok(PartWriter {
            inner: SnapshotWriter::new(out)?,
        })
    }

    /// Appends a put.
    pub(crate) fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.put(key, value)
    }

    /// Appends a tombstone.
    pub(crate) fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.inner.delete(key)
    }

    /// Ends the part and returns the output.
    pub(crate) fn finish(self) -> Result<W> {
        self.inner.finish()
    }
}

/// Writes `entries` (strictly ascending keys) as one part to `out`.
pub(crate) fn write_part<'a, W: Write>(
    out: W,
    entries: impl Iterator<Item = PartEntry<'a>>,
) -> Result<W> {
    let mut writer = PartWriter::new(out)?;
    for (key, value) in entries {
        match value {
            Some(v) => writer.put(key, v)?,
            None => writer.delete(key)?,
        }
    }
    writer.finish()
}

/// Streams the entries of one part file, in ascending key order, one
/// block in memory at a time (every block's CRC checked before its entries
/// are handed out).
pub(crate) struct PartReader<R: Read> {
    inner: SnapshotReader<R>,
}

impl<R: Read> PartReader<R> {
    /// Opens a part read from `input`; `location` names the file in errors.
    pub(crate) fn new(input: R, location: String) -> Result<Self> {
        Ok(PartReader {
            inner: SnapshotReader::new(input, location)?,
        })
    }

    /// The next entry, or `None` at the (checked) end of the part.
    pub(crate) fn next_entry(&mut self) -> Result<Option<PartEntry<'_>>> {
        Ok(self.inner.next_entry()?.map(|e| (e.key, e.value)))
    }
}

/// A writer that counts bytes and computes their CRC-32C.
pub(crate) struct CrcWriter<W> {
    pub(crate) inner: W,
    pub(crate) crc: u32,
    pub(crate) len: u64,
}

impl<W: Write> CrcWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        CrcWriter {
            inner,
            crc: 0,
            len: 0,
        }
    }
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let written = buf.get(..n).unwrap_or(buf);
        self.crc = crc32c::crc32c_append(self.crc, written);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that counts bytes and computes their CRC-32C.
pub(crate) struct CrcReader<R> {
    inner: R,
    pub(crate) crc: u32,
    pub(crate) len: u64,
}

impl<R: Read> CrcReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        CrcReader {
            inner,
            crc: 0,
            len: 0,
        }
    }

    /// Reads (and checksums) whatever is left after the last entry.
    pub(crate) fn drain(&mut self) -> std::io::Result<()> {
        std::io::copy(self, &mut std::io::sink()).map(|_| ())
    }
}

impl<R: Read> Read for CrcReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = buf.get(..n).unwrap_or(buf);
        self.crc = crc32c::crc32c_append(self.crc, read);
        self.len += n as u64;
        Ok(n)
    }
}

/// The head entry of one input of [`merge_parts`], owned so that several
/// inputs can be compared at once.
struct Head {
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    live: bool,
}

impl Head {
    fn advance<R: Read>(&mut self, reader: &mut PartReader<R>) -> Result<()> {
        match reader.next_entry()? {
            None => self.live = false,
            Some((k, v)) => {
                self.key.clear();
                self.key.extend_from_slice(k);
                match v {
                    None => self.value = None,
                    Some(v) => {
                        let buf = self.value.get_or_insert_with(Vec::new);
                        buf.clear();
                        buf.extend_from_slice(v);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Merges a chain (`inputs[0]` the base, later ones newer deltas) in one
/// streaming pass: for every key the newest input wins, and tombstones drop
/// the key. Calls `emit` with every live entry in ascending key order.
///
/// Memory: one key and one value per input.
pub(crate) fn merge_parts<R: Read>(
    inputs: &mut [PartReader<R>],
    mut emit: impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    let mut heads: Vec<Head> = Vec::with_capacity(inputs.len());
    let mut key: Vec<u8> = Vec::new();
    for reader in inputs.iter_mut() {
        let mut head = Head {
            key: Vec::new(),
            value: None,
            live: true,
        };
        head.advance(reader)?;
        heads.push(head);
    }
    loop {
        // The smallest key among the live heads, and the newest input holding it.
        let mut newest: Option<usize> = None;
        for (i, head) in heads.iter().enumerate() {
            if !head.live {
                continue;
            }
            newest = match newest.and_then(|n| heads.get(n)) {
                Some(best) if best.key < head.key => newest,
                _ => Some(i),
            };
        }
        let Some(newest) = newest else {
            return Ok(());
        };
        let Some(winner) = heads.get(newest) else {
            return Ok(());
        };
        if let Some(value) = &winner.value {
            emit(&winner.key, value)?;
        }
        key.clear();
        key.extend_from_slice(&winner.key);
        for (head, reader) in heads.iter_mut().zip(inputs.iter_mut()) {
            if head.live && head.key == key {
                head.advance(reader)?;
            }
        }
    }
}
