//! Commits of a persistent store: by appending (sync the log written since
//! the last commit, then publish it in the header slot not holding the last
//! commit) or by rewriting the file from RAM (write a side file, sync it,
//! rename it over the store file), and the flush that picks one.

use super::arena::Arena;
use super::file;
use super::format::{Slot, DATA_START, SLOT_OFFSETS, SLOT_PAGE};
use super::MmapStateStore;
use crate::state::error::{Result, StateError};

/// The sequence number of the next commit (a file claiming the last one
/// cannot take more commits: an error, never a wrap-around).
fn next_seq(seq: u64) -> Result<u64> {
    seq.checked_add(1).ok_or_else(|| {
        StateError::CapacityExceeded("commit sequence numbers of the state file exhausted".into())
    })
}

impl MmapStateStore {
    /// Commits a persistent store: rewrites the file if a `clear` or
    /// `restore` left the log behind or compaction is due, else appends.
    pub(super) fn commit(&mut self) -> Result<()> {
        let Some(p) = &self.persist else {
            return Ok(());
        };
        if p.rewrite_pending || self.stats.should_compact() {
            return self.rewrite_file();
        }
        self.commit_log()
    }

    /// `true` if the next commit must rewrite the file (after `clear` or
    /// `restore`), which [`commit_log`](Self::commit_log) cannot do.
    pub(crate) fn rewrite_pending(&self) -> bool {
        self.persist.as_ref().is_some_and(|p| p.rewrite_pending)
    }

    /// Commits by appending only: syncs the log written since the last
    /// commit, then publishes it in the other header slot. Unlike
    /// [`flush`](crate::state::StateStore::flush) it never compacts, so the previous
    /// commit stays in the file (for
    /// [`persistent_rolled_back`](Self::persistent_rolled_back)). Fails if a
    /// rewrite is pending ([`rewrite_pending`](Self::rewrite_pending)).
    pub(crate) fn commit_log(&mut self) -> Result<()> {
        let Some(p) = &self.persist else {
            return Ok(());
        };
        if p.rewrite_pending {
            return Err(StateError::InvalidArgument(format!(
                "{}: the state was cleared or restored, so the next commit must rewrite the file",
                p.path.display()
            )));
        }
        let (start, end) = (p.committed_end, self.log_end);
        if end == start {
            return Ok(());
        }
        let io = |what: &str, e| StateError::io(format!("{what} {}", p.path.display()), e);
        self.arena
            .sync_range(start, end - start)
            .map_err(|e| io("syncing the log of", e))?;
        if p.grown_since_sync {
            if let Some(f) = self.arena.backing_file() {
                f.sync_data().map_err(|e| io("syncing the size of", e))?;
            }
        }
        self.write_header(end)
    }

    /// Publishes the log up to `end` (already synced) as the next commit:
    /// writes the header slot not holding the last commit and syncs it.
    pub(super) fn write_header(&mut self, end: u64) -> Result<()> {
        let Some(p) = &self.persist else {
            return Ok(());
        };
        let next = 1 - p.active_slot.min(1);
        let slot = Slot {
            seq: next_seq(p.seq)?,
            data_start: DATA_START,
            committed_end: end,
            live_count: self.index.len() as u64,
        };
        let slot_off = SLOT_OFFSETS.get(next).copied().unwrap_or(0);
        let seq = slot.seq;
        self.write_at(slot_off, &slot.encode())?;
        let Some(p) = &mut self.persist else {
            return Ok(());
        };
        let io = |what: &str, e| StateError::io(format!("{what} {}", p.path.display()), e);
        self.arena
            .sync_range(slot_off, SLOT_PAGE)
            .map_err(|e| io("syncing the header of", e))?;
        p.seq = seq;
        p.active_slot = next;
        p.committed_end = end;
        p.grown_since_sync = false;
        Ok(())
    }

    /// Writes the in-RAM state to the side file (`file::temp_path`), syncs it and renames it
    /// over `<path>`: a commit by write-new-then-rename.
    pub(super) fn rewrite_file(&mut self) -> Result<()> {
        let Some(p) = &self.persist else {
            return Ok(());
        };
        let path = p.path.clone();
        let seq = next_seq(p.seq)?;
        let (tmp_file, tmp) = file::create_temp(&path)?;
        let io = |what: &str, e| StateError::io(format!("{what} {}", tmp.display()), e);
        let result = (|| {
            // The file may not grow to the starting capacity (a file system
            // limit on its size): then to what the live records need.
            let mut cap = self.compacted_capacity(true);
            let small = self.compacted_capacity(false);
            if tmp_file.set_len(cap).is_err() {
                cap = small;
                tmp_file.set_len(cap).map_err(|e| io("sizing", e))?;
            }
            // Nor may that much be mappable (an address-space limit): then
            // map and keep only what the live records need.
            let mut arena =
                Arena::file(tmp_file, cap, small, DATA_START).map_err(|e| io("mapping", e))?;
            if arena.len() < cap {
                if let Some(f) = arena.backing_file() {
                    f.set_len(arena.len()).map_err(|e| io("sizing", e))?;
                }
            }
            let (offsets, end) = self.copy_live(&mut arena, DATA_START)?;
            let slot = Slot {
                seq,
                data_start: DATA_START,
                committed_end: end,
                live_count: self.index.len() as u64,
            };
            arena.write(0, &slot.encode()).ok_or_else(|| {
                StateError::corruption(tmp.display().to_string(), "no room for header")
            })?;
            arena.sync_range(0, end).map_err(|e| io("syncing", e))?;
            if let Some(f) = arena.backing_file() {
                f.sync_all().map_err(|e| io("syncing", e))?;
            }
            Ok((arena, offsets, end))
        })();
        let (arena, offsets, end) = match result {
            Ok(x) => x,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(StateError::io(
                format!("renaming {} to {}", tmp.display(), path.display()),
                e,
            ));
        }
        // The new file is in place: switch to it even if the directory sync
        // fails, so later commits go to the file that `path` names.
        self.install(arena, offsets, end);
        if let Some(p) = &mut self.persist {
            p.seq = seq;
            p.active_slot = 0;
            p.committed_end = end;
            p.grown_since_sync = false;
            p.rewrite_pending = false;
        }
        file::sync_dir(&path)
    }
}
