//! The log: records appended to the arena, the byte accounting of live,
//! garbage and padding records ([`LogStats`]), replaying a committed log,
//! growing the mapping, and compaction (copying the live records to a fresh
//! arena once garbage outweighs them).

use super::arena::Arena;
use super::format::{pad16, read_record, record_header, record_len, Kind, Record, REC_HEADER};
use super::{round_up, Loc, MmapStateStore, GROWTH_GRANULE};
use crate::state::collections::key_buf::KeyBuf;
use crate::state::collections::key_index::KeyIndex;
use crate::state::error::{Result, StateError};

/// Garbage (bytes of overwritten or deleted records) below which no automatic
/// compaction runs, so small stores are not rewritten over and over.
const MIN_COMPACT_GARBAGE: u64 = 1 << 20;

/// Keys a reopen reserves index room for before reading any record (see
/// [`replay`]).
const UPFRONT_KEYS: u64 = 1 << 20;

/// Byte accounting of the log, kept in O(1) per record by replay, `put`,
/// `delete`, `clear` and compaction alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct LogStats {
    /// Bytes of the records of live entries.
    pub(super) live: u64,
    /// Bytes of records that are no longer live (overwritten, deleted,
    /// tombstones).
    pub(super) garbage: u64,
    /// Bytes of padding records (not garbage, dropped by compaction).
    pub(super) pad: u64,
    /// Sum of key and value lengths of live entries.
    pub(super) size_bytes: usize,
}

impl LogStats {
    /// A put record of `len` bytes for a key of `key_len` bytes and a value
    /// of `val_len`, replacing a live value of `old` bytes if there was one.
    #[inline]
    pub(super) fn put(&mut self, len: u64, key_len: usize, val_len: u32, old: Option<u32>) {
        if let Some(old) = old {
            self.retire(key_len, old);
        }
        self.live += len;
        self.size_bytes += key_len + val_len as usize;
    }

    /// The key of `key_len` bytes with a live value of `val_len` bytes is
    /// gone (deleted, or its record superseded by a newer one, which `put`
    /// counts itself).
    #[inline]
    pub(super) fn retire(&mut self, key_len: usize, val_len: u32) {
        let len = record_len(key_len as u64, u64::from(val_len));
        self.live -= len;
        self.garbage += len;
        self.size_bytes -= key_len + val_len as usize;
    }

    /// A tombstone of `len` bytes: garbage from the moment it is written.
    #[inline]
    pub(super) fn tombstone(&mut self, len: u64) {
        self.garbage += len;
    }

    /// Every live record became garbage (a persistent `clear`: the log stays
    /// until the next commit rewrites the file).
    pub(super) fn retire_all(&mut self) {
        self.garbage += self.live;
        self.live = 0;
        self.size_bytes = 0;
    }

    /// The log was rewritten with the live records only.
    pub(super) fn compacted(&mut self) {
        self.garbage = 0;
        self.pad = 0;
    }

    /// `true` once compaction is due: garbage exceeds the live records and
    /// [`MIN_COMPACT_GARBAGE`].
    #[inline]
    pub(super) fn should_compact(&self) -> bool {
        self.garbage >= MIN_COMPACT_GARBAGE && self.garbage > self.live
    }
}

/// The lengths of a record, checked and computed once: key and value
/// lengths as stored (below 4 GiB) and the record's length in the log.
#[derive(Clone, Copy, Debug)]
pub(super) struct RecordLens {
    /// Key length.
    pub(super) key: u32,
    /// Value length.
    pub(super) val: u32,
    /// The record's length, header and padding included.
    pub(super) len: u64,
}

impl RecordLens {
    /// The lengths of a record of `key` and `value`, or an error naming the
    /// one that is 4 GiB or longer.
    #[inline]
    pub(super) fn of(key: &[u8], value: &[u8]) -> Result<Self> {
        let (key, val) = (to_u32(key.len(), "key")?, to_u32(value.len(), "value")?);
        Ok(RecordLens {
            key,
            val,
            len: record_len(u64::from(key), u64::from(val)),
        })
    }
}

fn to_u32(n: usize, what: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| {
        StateError::InvalidArgument(format!(
            "{what} of {n} bytes is too long (the mmap store keeps lengths below 4 GiB)"
        ))
    })
}

/// The index and accounting rebuilt by a replay.
pub(super) struct Replayed {
    pub(super) index: KeyIndex<Loc>,
    pub(super) stats: LogStats,
}

/// Replays the validated log `start..end` of `bytes`.
pub(super) fn replay(
    bytes: &[u8],
    start: u64,
    end: u64,
    expected_keys: u64,
    location: &dyn Fn(u64) -> String,
) -> Result<Replayed> {
    // The key count comes from a checksummed header, but a header is easy
    // to forge and a sparse file cheap: reserve room for at most
    // `UPFRONT_KEYS` keys (and no more than the log could hold) up front.
    // Past that the index grows as replayed keys arrive, doubling as any
    // insert does, so what it holds is bounded by the keys the log really
    // has, whatever the header claims.
    let bound = expected_keys.min((end - start) / (2 * REC_HEADER));
    let upfront = bound.min(UPFRONT_KEYS);
    let mut r = Replayed {
        index: KeyIndex::with_capacity(usize::try_from(upfront).unwrap_or(0)),
        stats: LogStats::default(),
    };
    let mut off = start;
    while off < end {
        let (record, len) = read_record(bytes, off, end, location)?;
        match record {
            Record::Put {
                key,
                val_off,
                val_len,
            } => {
                let old = r.index.insert(KeyBuf::new(key), Loc { val_off, val_len });
                r.stats.put(len, key.len(), val_len, old.map(|o| o.val_len));
            }
            Record::Delete { key } => {
                r.stats.tombstone(len);
                if let Some(old) = r.index.remove(key) {
                    r.stats.retire(key.len(), old.val_len);
                }
            }
            Record::Pad => r.stats.pad += len,
        }
        off += len;
    }
    Ok(r)
}

/// Writes a put or delete record of `key` and `value` (whose lengths are
/// `lens`) at `off`; returns the value offset, or `None` if it does not fit.
fn write_record(
    arena: &mut Arena,
    off: u64,
    kind: Kind,
    key: &[u8],
    value: &[u8],
    lens: RecordLens,
) -> Option<u64> {
    let h = record_header(off, kind, lens.key, lens.val, key, value);
    let key_off = off + REC_HEADER;
    let val_off = key_off + pad16(u64::from(lens.key));
    arena.write(off, &h)?;
    arena.write(key_off, key)?;
    arena.write(val_off, value)?;
    Some(val_off)
}

impl MmapStateStore {
    /// Appends a padding record of at least `bytes` bytes to the log, so tests
    /// can reach large offsets cheaply (the gap is a sparse hole of the file).
    /// Padding is not garbage; [`compact`](Self::compact) drops it.
    #[doc(hidden)]
    #[cfg(feature = "__test-hooks")]
    pub fn append_gap_for_tests(&mut self, bytes: u64) -> Result<()> {
        let len = bytes
            .checked_add(2 * REC_HEADER)
            .map(|n| pad16(n - REC_HEADER))
            .ok_or_else(|| StateError::InvalidArgument(format!("gap of {bytes} bytes")))?;
        self.ensure(len)?;
        self.append_pad(len)
    }

    /// Appends a padding record of `len` bytes (a multiple of 16, at least
    /// 16) at the log end, which has room for its header.
    fn append_pad(&mut self, len: u64) -> Result<()> {
        let off = self.log_end;
        let h = record_header(off, Kind::Pad, len as u32, (len >> 32) as u32, &[], &[]);
        self.write_at(off, &h)?;
        self.advance(len);
        self.stats.pad += len;
        Ok(())
    }

    /// Moves the log end past `len` bytes just written and publishes them:
    /// from now on they are only read (and may be shared), never rewritten.
    fn advance(&mut self, len: u64) {
        self.log_end += len;
        self.arena.seal(self.log_end);
    }

    /// Makes room for `n` more bytes of records, plus one record header,
    /// in the segment holding the log end (records never straddle two
    /// segments: a value must be one slice of one mapping).
    ///
    /// If the last segment is too small, a new one is mapped after it (the
    /// old ones never move: `Bytes` may reference them) and the rest of the
    /// old segment is filled with a padding record. The new segment takes
    /// the mapped size to about 1.5 times what it was, as a single growing
    /// mapping would, so there are O(log size) segments.
    pub(super) fn ensure(&mut self, n: u64) -> Result<()> {
        let need = n.saturating_add(REC_HEADER);
        if self.arena.room(self.log_end) >= need {
            return Ok(());
        }
        let cur = self.arena.len();
        let add = need
            .max(cur / 2)
            .max(
                self.data_start
                    .saturating_add(self.initial_capacity)
                    .saturating_sub(cur),
            )
            .max(GROWTH_GRANULE);
        let add = round_up(add, GROWTH_GRANULE);
        let minimal = round_up(need, GROWTH_GRANULE);
        // If the generous size cannot be mapped (say a huge starting
        // capacity), fall back to what this write needs.
        let result = match self.arena.grow(add) {
            Err(_) if minimal < add => self.arena.grow(minimal),
            other => other,
        };
        result
            .map_err(|e| StateError::io(self.io_context(&format!("growing by {add} bytes:")), e))?;
        if let Some(p) = &mut self.persist {
            p.grown_since_sync = true;
        }
        // Segment ends are multiples of the granule and the log end is
        // 16-aligned, so the rest is 0 or a valid pad length (>= 16).
        let rest = cur.saturating_sub(self.log_end);
        if rest > 0 {
            self.append_pad(rest)?;
        }
        Ok(())
    }

    /// Appends a put or delete record of `key` and `value`, whose lengths
    /// are `lens`; returns the value offset.
    pub(super) fn append(
        &mut self,
        kind: Kind,
        key: &[u8],
        value: &[u8],
        lens: RecordLens,
    ) -> Result<u64> {
        self.ensure(lens.len)?;
        let off = self.log_end;
        let val_off =
            write_record(&mut self.arena, off, kind, key, value, lens).ok_or_else(|| {
                StateError::corruption(
                    self.location(off),
                    "internal: write outside the mapped region",
                )
            })?;
        self.advance(lens.len);
        Ok(val_off)
    }

    /// Copies every live record into `dst` from offset `start`; returns the
    /// new value offsets in index iteration order and the end of the log.
    pub(super) fn copy_live(&self, dst: &mut Arena, start: u64) -> Result<(Vec<u64>, u64)> {
        let mut offsets = Vec::with_capacity(self.index.len());
        let mut off = start;
        for (key, loc) in self.index.iter() {
            let value = self
                .arena
                .slice(loc.val_off, u64::from(loc.val_len))
                .ok_or_else(|| {
                    StateError::corruption(self.location(loc.val_off), "value outside the mapping")
                })?;
            let overflow =
                || StateError::corruption(self.location(off), "internal: compaction overflow");
            let lens = RecordLens::of(key.as_slice(), value).map_err(|_| overflow())?;
            let val_off = write_record(dst, off, Kind::Put, key.as_slice(), value, lens)
                .ok_or_else(overflow)?;
            offsets.push(val_off);
            off += lens.len;
        }
        Ok((offsets, off))
    }

    /// Points the index at the compacted copy and resets the counters. The
    /// old arena is dropped; its segments stay mapped while a `Bytes` from
    /// `get` references them.
    pub(super) fn install(&mut self, mut arena: Arena, offsets: Vec<u64>, end: u64) {
        for (loc, off) in self.index.values_mut().zip(offsets) {
            loc.val_off = off;
        }
        arena.seal(end);
        self.arena = arena;
        self.log_end = end;
        self.stats.compacted();
        debug_assert_eq!(self.stats.live, end - self.data_start);
    }

    /// A new anonymous arena with room for `need` bytes: as large as the
    /// starting capacity if that can be mapped, else just `need`.
    pub(super) fn fresh_anon(&self, need: u64) -> Result<Arena> {
        let minimal = round_up(need.max(1), GROWTH_GRANULE);
        let generous = minimal.max(round_up(self.initial_capacity, GROWTH_GRANULE));
        Arena::try_anon(generous)
            .or_else(|_| Arena::try_anon(minimal))
            .map_err(|e| StateError::io("creating an anonymous mapping", e))
    }

    /// Size of a compacted arena: the live records with room to grow, and
    /// with `generous` at least the starting capacity. Saturating: the
    /// starting capacity is the caller's and may be anything.
    pub(super) fn compacted_capacity(&self, generous: bool) -> u64 {
        let live = self.stats.live;
        let cap = self
            .data_start
            .saturating_add(live)
            .saturating_add((live / 2).max(GROWTH_GRANULE))
            .saturating_add(REC_HEADER);
        let floor = if generous {
            self.data_start.saturating_add(self.initial_capacity)
        } else {
            0
        };
        round_up(cap.max(floor), GROWTH_GRANULE)
    }

    pub(super) fn compact_in_memory(&mut self) -> Result<()> {
        // As for growth: if the starting capacity cannot be mapped, fall
        // back to what the live records need.
        let mut arena = Arena::try_anon(self.compacted_capacity(true))
            .or_else(|_| Arena::try_anon(self.compacted_capacity(false)))
            .map_err(|e| StateError::io("creating an anonymous mapping for compaction", e))?;
        let (offsets, end) = self.copy_live(&mut arena, 0)?;
        self.install(arena, offsets, end);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::MmapStateStore;
    use crate::state::StateStore;

    /// The running accounting of `put` and `delete` is what a replay of the
    /// committed log computes: overwrites, deletes, tombstones and padding
    /// (a value large enough to make the mapping grow) included.
    #[test]
    fn replay_accounts_like_the_writes_did() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.db");
        let mut store = MmapStateStore::persistent(&path, 0).unwrap();
        for i in 0..300u32 {
            let value = vec![i as u8; (i as usize * 7) % 100];
            store
                .put(&(i % 97).to_be_bytes(), Bytes::from(value))
                .unwrap();
            if i % 5 == 0 {
                store.delete(&(i % 89).to_be_bytes()).unwrap();
            }
        }
        store.put(b"big", Bytes::from(vec![1u8; 200_000])).unwrap();
        store.flush().unwrap();
        let written = store.stats;
        assert!(written.garbage > 0 && written.pad > 0, "{written:?}");
        drop(store);
        let reopened = MmapStateStore::persistent(&path, 0).unwrap();
        assert_eq!(reopened.stats, written);
    }
}
