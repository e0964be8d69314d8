//! The one place with `unsafe`: a growable byte arena over a memory map,
//! either anonymous or backed by a locked file.
//!
//! # Why the mapping is sound to use
//!
//! `memmap2` hands out `&[u8]` / `&mut [u8]` over mapped memory. That is only
//! sound if nothing else changes or truncates the mapped bytes while a
//! reference is alive:
//!
//! - *Other processes.* A file mapping is shared with every process that maps
//!   or writes the same file; if one writes or truncates it, our references
//!   observe changing bytes (undefined behaviour in Rust) or fault with
//!   `SIGBUS`. The store takes an exclusive lock (`File::try_lock`) on the
//!   file before mapping it, and every cooperating opener (every
//!   `MmapStateStore`) fails with `StateError::Locked` instead of mapping it.
//!   The lock is advisory: a process that ignores it (`dd`, an editor) can
//!   still cause undefined behaviour, which is the caveat every `mmap`-based
//!   store (LMDB included) documents.
//! - *This process.* Growing or replacing the mapping invalidates every slice
//!   into it. All such operations take `&mut self`, and every slice handed out
//!   borrows `&self`, so the borrow checker rules out a dangling slice.
//! - *Disk full.* Writing to a page of a sparse file region that the file
//!   system cannot allocate raises `SIGBUS` (as in LMDB's `WRITEMAP` mode).
//!   This is not undefined behaviour but kills the process; keep free space.

use std::fs::File;
use std::io;

use memmap2::{MmapMut, MmapOptions};

#[cfg(not(target_pointer_width = "64"))]
compile_error!("feature `mmap` needs a 64-bit target: offsets and mappings are 64-bit");

/// A growable mapped byte region.
pub(crate) struct Arena {
    /// `None` only for an anonymous arena whose first mapping failed (it is
    /// retried on the first write) or that was created with capacity 0.
    map: Option<MmapMut>,
    file: Option<File>,
}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("len", &self.len())
            .field("file_backed", &self.file.is_some())
            .finish()
    }
}

impl Arena {
    /// An anonymous arena of `capacity` bytes. The kernel supplies zero pages
    /// lazily, so nothing is zero-filled up front. If the mapping fails the
    /// arena starts empty and the first write retries (and reports) it.
    pub(crate) fn anon(capacity: usize) -> Self {
        let map = if capacity == 0 {
            None
        } else {
            map_anon(capacity).ok()
        };
        Arena { map, file: None }
    }

    /// An anonymous arena of `capacity` bytes, reporting a mapping failure.
    pub(crate) fn try_anon(capacity: usize) -> io::Result<Self> {
        let map = if capacity == 0 {
            None
        } else {
            Some(map_anon(capacity)?)
        };
        Ok(Arena { map, file: None })
    }

    /// Maps all of `file`, which the caller has locked exclusively.
    pub(crate) fn file(file: File, len: u64) -> io::Result<Self> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        // SAFETY: the caller holds an exclusive lock on `file` (see the module
        // docs: cooperating processes cannot map or modify it), and the file
        // is `len` bytes long, so the whole mapping is backed by the file.
        let map = unsafe { MmapOptions::new().len(len).map_mut(&file)? };
        Ok(Arena {
            map: Some(map),
            file: Some(file),
        })
    }

    /// The backing file, if any.
    pub(crate) fn backing_file(&self) -> Option<&File> {
        self.file.as_ref()
    }

    /// Current size of the mapping.
    #[inline]
    pub(crate) fn len(&self) -> u64 {
        self.map.as_ref().map_or(0, |m| m.len() as u64)
    }

    /// The mapped bytes.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.map {
            Some(m) => m,
            None => &[],
        }
    }

    /// The mapped bytes, writable.
    #[inline]
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        match &mut self.map {
            Some(m) => m,
            None => &mut [],
        }
    }

    /// Grows the arena to `new_len` bytes (no-op if already that large),
    /// keeping its content. File-backed arenas extend the file first (sparse:
    /// no block is written).
    pub(crate) fn grow(&mut self, new_len: u64) -> io::Result<()> {
        if new_len <= self.len() {
            return Ok(());
        }
        let new_usize = usize::try_from(new_len).map_err(io::Error::other)?;
        if let Some(file) = &self.file {
            file.set_len(new_len)?;
            // SAFETY: the file is locked by us and is now `new_len` bytes long,
            // so the new mapping is fully backed; the old mapping (and every
            // slice into it, all of which borrow `self`) is gone once we
            // replace it, which `&mut self` guarantees.
            let map = unsafe { MmapOptions::new().len(new_usize).map_mut(file)? };
            self.map = Some(map);
            return Ok(());
        }
        match &mut self.map {
            #[cfg(target_os = "linux")]
            Some(map) => {
                // SAFETY: anonymous mapping, so there is no file end to fault
                // past; `&mut self` means no slice into the old mapping is
                // alive while mremap may move it.
                unsafe { map.remap(new_usize, memmap2::RemapOptions::new().may_move(true))? };
                advise_huge(map);
                Ok(())
            }
            #[cfg(not(target_os = "linux"))]
            Some(map) => {
                let mut new_map = map_anon(new_usize)?;
                let n = map.len();
                if let (Some(dst), Some(src)) = (new_map.get_mut(..n), map.get(..n)) {
                    dst.copy_from_slice(src);
                }
                *map = new_map;
                Ok(())
            }
            None => {
                self.map = Some(map_anon(new_usize)?);
                Ok(())
            }
        }
    }

    /// Hints that the mapping is about to be read front to back (aggressive
    /// readahead when the file is not in the page cache), or, with `false`,
    /// that access is back to normal. Best effort: errors are ignored.
    #[cfg(unix)]
    pub(crate) fn advise_sequential(&self, sequential: bool) {
        if let Some(map) = &self.map {
            let advice = if sequential {
                memmap2::Advice::Sequential
            } else {
                memmap2::Advice::Normal
            };
            let _ = map.advise(advice);
        }
    }

    /// No access hints off Unix.
    #[cfg(not(unix))]
    pub(crate) fn advise_sequential(&self, _sequential: bool) {}

    /// Writes the mapped bytes `offset..offset + len` to the file and waits
    /// for the device (`msync(MS_SYNC)`). No-op for anonymous arenas.
    pub(crate) fn sync_range(&self, offset: u64, len: u64) -> io::Result<()> {
        if self.file.is_none() || len == 0 {
            return Ok(());
        }
        let (Some(map), Ok(off), Ok(n)) =
            (&self.map, usize::try_from(offset), usize::try_from(len))
        else {
            return Ok(());
        };
        map.flush_range(off, n)
    }
}

/// An anonymous mapping that reserves no swap up front (`MAP_NORESERVE`), so
/// a large starting capacity costs address space only.
///
/// On Linux it asks for transparent huge pages (best effort): a lookup then
/// misses the TLB far less often when the state spans gigabytes.
fn map_anon(len: usize) -> io::Result<MmapMut> {
    let map = MmapOptions::new().len(len).no_reserve_swap().map_anon()?;
    advise_huge(&map);
    Ok(map)
}

#[cfg(target_os = "linux")]
fn advise_huge(map: &MmapMut) {
    // Only a hint: the kernel may not support or allow it.
    let _ = map.advise(memmap2::Advice::HugePage);
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_map: &MmapMut) {}
