//! Opening a store: an anonymous mapping, a new file, or an existing file,
//! whose header slots are checked, whose newest (or, for a roll-back, older)
//! commit is picked and whose log is replayed into the index.

use std::cell::OnceCell;
use std::path::Path;

use super::arena::Arena;
use super::file;
use super::format::{self, Slot, SlotState, DATA_START, MAGIC, SLOT_LEN, SLOT_OFFSETS};
use super::log::{replay, LogStats};
use super::{round_up, MmapStateStore, Persist, GROWTH_GRANULE};
use crate::state::collections::key_index::KeyIndex;
use crate::state::error::{Result, StateError};

/// Which header slot an open uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pick {
    /// The last commit (every public open).
    Newest,
    /// The commit before it (a roll-back).
    Older,
}

/// Reads `buf.len()` bytes of `file` at `offset` (zeros past its end are an
/// error, like a short file).
fn read_exact_at(file: &std::fs::File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

impl MmapStateStore {
    /// Creates a store in an anonymous memory mapping (nothing on disk).
    ///
    /// `capacity` is the initial size of the mapping in bytes, not a limit:
    /// the mapping grows as needed. The kernel provides its pages lazily, so
    /// a large capacity costs address space, not RAM. If the mapping cannot
    /// be created now, the first write retries it and reports the error.
    pub fn in_memory(capacity: usize) -> Self {
        MmapStateStore {
            index: KeyIndex::default(),
            arena: Arena::anon(round_up(capacity as u64, GROWTH_GRANULE)),
            persist: None,
            sorted: OnceCell::new(),
            data_start: 0,
            log_end: 0,
            stats: LogStats::default(),
            initial_capacity: capacity as u64,
        }
    }

    /// Opens the store file at `path`, creating it if it does not exist (or
    /// is empty), and locks it until the store is dropped.
    ///
    /// `initial_capacity` is the initial size of the log region of a new file
    /// in bytes (a sparse file: no block is written up front); an existing
    /// file keeps its size. Reopening restores the state of the last
    /// completed [`flush`](crate::state::StateStore::flush).
    ///
    /// # Errors
    ///
    /// - [`StateError::Locked`] if another store has the file open.
    /// - [`StateError::Corruption`] (naming the file and offset) for a file of
    ///   another format, a truncated file or bytes failing a checksum.
    /// - [`StateError::UnsupportedVersion`] for a file of a newer format.
    /// - [`StateError::Io`] if a system call fails.
    pub fn persistent(path: impl AsRef<Path>, initial_capacity: usize) -> Result<Self> {
        Self::open_path(path.as_ref(), initial_capacity, Pick::Newest)
    }

    /// Opens the persistent store at `path` as of the commit *before* its
    /// last one, and makes that state the last commit, durably: the newer
    /// header is overwritten before this returns, so no later open returns
    /// to it. `#[state_store]` uses this to undo a table commit whose
    /// struct-wide flush did not complete.
    ///
    /// Fails with [`StateError::Corruption`] if the file holds no earlier
    /// commit (one commit only, or a file just rewritten by compaction).
    pub(crate) fn persistent_rolled_back(path: &Path, initial_capacity: usize) -> Result<Self> {
        let mut store = Self::open_path(path, initial_capacity, Pick::Older)?;
        let end = store.log_end;
        store.write_header(end)?;
        Ok(store)
    }

    fn open_path(path: &Path, initial_capacity: usize, pick: Pick) -> Result<Self> {
        let file = file::open_locked(path)?;
        // We hold the lock: no other store can be writing a temporary file.
        file::remove_stale_temp(path);
        let len = file
            .metadata()
            .map_err(|e| StateError::io(format!("reading metadata of {}", path.display()), e))?
            .len();
        if len == 0 {
            if pick == Pick::Older {
                return Err(StateError::corruption(
                    path.display().to_string(),
                    "empty file: no earlier commit to roll back to",
                ));
            }
            Self::create(path, initial_capacity as u64)
        } else {
            Self::open_existing(file, len, path, initial_capacity as u64, pick)
        }
    }

    fn empty_persistent(path: &Path, arena: Arena, seq: u64, initial_capacity: u64) -> Self {
        MmapStateStore {
            index: KeyIndex::default(),
            arena,
            persist: Some(Persist {
                path: path.to_path_buf(),
                seq,
                active_slot: 0,
                committed_end: DATA_START,
                grown_since_sync: false,
                rewrite_pending: false,
            }),
            sorted: OnceCell::new(),
            data_start: DATA_START,
            log_end: DATA_START,
            stats: LogStats::default(),
            initial_capacity,
        }
    }

    /// Writes a new, empty store file: built in the temporary file, then
    /// renamed over `path`, so a crash leaves either no store or a valid one.
    fn create(path: &Path, initial_capacity: u64) -> Result<Self> {
        let mut store = Self::empty_persistent(path, Arena::empty(), 0, initial_capacity);
        store.rewrite_file()?;
        Ok(store)
    }

    fn open_existing(
        file: std::fs::File,
        len: u64,
        path: &Path,
        initial: u64,
        pick: Pick,
    ) -> Result<Self> {
        let at = |off: u64| format!("{} at offset {off}", path.display());
        if len < DATA_START {
            return Err(short_file(&file, len, &at));
        }
        let (active_slot, slot) = pick_slot(&file, path, pick, &at)?;
        let slot_at = at(SLOT_OFFSETS.get(active_slot).copied().unwrap_or(0));
        check_slot(&slot, len, &slot_at, &at)?;
        // Growth maps new windows of the file at its current end, which must
        // be aligned like every segment so records never straddle two. Only
        // a file cut outside the store is unaligned; extend it (sparse, past
        // the committed end, which replay ignores).
        let len = if len.is_multiple_of(GROWTH_GRANULE) {
            len
        } else {
            let aligned = round_up(len, GROWTH_GRANULE);
            file.set_len(aligned)
                .map_err(|e| StateError::io(format!("extending {}", path.display()), e))?;
            aligned
        };
        // A file longer than the process can map at once (a store created
        // with a large capacity, reopened under a tighter address-space
        // limit) is mapped up to its committed end; growth maps the rest.
        let committed = round_up(slot.committed_end, GROWTH_GRANULE);
        let mut arena = Arena::file(file, len, committed, DATA_START)
            .map_err(|e| StateError::io(format!("mapping {}", path.display()), e))?;
        arena.seal(slot.committed_end);
        let log = arena.slice(0, slot.committed_end).unwrap_or_default();
        arena.advise_sequential(true);
        let r = replay(log, DATA_START, slot.committed_end, slot.live_count, &at);
        arena.advise_sequential(false);
        let r = r?;
        if r.index.len() as u64 != slot.live_count {
            return Err(StateError::corruption(
                slot_at,
                format!(
                    "header records {} live keys but the log holds {}",
                    slot.live_count,
                    r.index.len()
                ),
            ));
        }
        Ok(MmapStateStore {
            index: r.index,
            arena,
            persist: Some(Persist {
                path: path.to_path_buf(),
                seq: slot.seq,
                active_slot,
                committed_end: slot.committed_end,
                grown_since_sync: false,
                rewrite_pending: false,
            }),
            sorted: OnceCell::new(),
            data_start: DATA_START,
            log_end: slot.committed_end,
            stats: r.stats,
            initial_capacity: initial,
        })
    }
}

/// The error for a file shorter than the two header slots: truncated if
/// it starts like a store file, else not one.
fn short_file(file: &std::fs::File, len: u64, at: &dyn Fn(u64) -> String) -> StateError {
    let mut head = [0u8; 8];
    let looks_ours = {
        use std::io::Read;
        (&*file).read_exact(&mut head).is_ok() && head == MAGIC
    };
    let what = if looks_ours {
        format!("truncated file: {len} bytes, a state file has at least {DATA_START}")
    } else {
        "not a laminar-core mmap state file (bad magic)".to_string()
    };
    StateError::corruption(at(if looks_ours { len } else { 0 }), what)
}

/// Reads both header slots and picks the one `pick` asks for: the valid
/// slot with the highest sequence number, or the other valid one.
fn pick_slot(
    file: &std::fs::File,
    path: &Path,
    pick: Pick,
    at: &dyn Fn(u64) -> String,
) -> Result<(usize, Slot)> {
    let mut best: Option<(usize, Slot)> = None;
    let mut older: Option<(usize, Slot)> = None;
    let mut bad_checksum = None;
    let mut any_magic = false;
    for (i, &slot_off) in SLOT_OFFSETS.iter().enumerate() {
        // Read through the file: the mapping comes after the checks.
        let mut raw = [0u8; SLOT_LEN];
        read_exact_at(file, slot_off, &mut raw)
            .map_err(|e| StateError::io(format!("reading {}", path.display()), e))?;
        match format::decode_slot(&raw) {
            SlotState::Valid(s) => {
                any_magic = true;
                match best {
                    Some((_, b)) if b.seq >= s.seq => older = Some((i, s)),
                    _ => older = best.replace((i, s)),
                }
            }
            SlotState::Version(found) => {
                return Err(StateError::UnsupportedVersion {
                    location: at(slot_off + 8),
                    found,
                    supported: format::FORMAT_VERSION,
                });
            }
            SlotState::BadChecksum { stored, computed } => {
                any_magic = true;
                bad_checksum.get_or_insert((slot_off, stored, computed));
            }
            SlotState::NoMagic => {}
        }
    }
    if pick == Pick::Older {
        best = match older {
            Some(o) => Some(o),
            None => {
                return Err(StateError::corruption(
                    at(0),
                    "no earlier commit to roll back to (one valid header slot)",
                ))
            }
        };
    }
    if let Some(found) = best {
        return Ok(found);
    }
    if let Some((off, stored, computed)) = bad_checksum {
        return Err(StateError::corruption(
            at(off + 48),
            format!(
                "no valid header slot: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
        ));
    }
    debug_assert!(!any_magic);
    Err(StateError::corruption(
        at(0),
        "not a laminar-core mmap state file (bad magic)",
    ))
}

/// Checks the picked slot against the format and the file's length `len`.
fn check_slot(slot: &Slot, len: u64, slot_at: &str, at: &dyn Fn(u64) -> String) -> Result<()> {
    if slot.data_start != DATA_START {
        return Err(StateError::corruption(
            slot_at,
            format!("log start {} is not {DATA_START}", slot.data_start),
        ));
    }
    if slot.committed_end < DATA_START || !slot.committed_end.is_multiple_of(16) {
        return Err(StateError::corruption(
            slot_at,
            format!("invalid committed log end {}", slot.committed_end),
        ));
    }
    if slot.committed_end > len {
        return Err(StateError::corruption(
            at(len),
            format!(
                "truncated file: {len} bytes, but the last commit covers {} bytes",
                slot.committed_end
            ),
        ));
    }
    Ok(())
}
