//! The one place with `unsafe` in the mmap backend (the in-memory
//! containers' is in `state::mem`): a growable byte arena made of
//! memory-mapped segments (anonymous, or windows of a locked file), and
//! zero-copy [`Bytes`] that borrow from it.
//!
//! # Layout
//!
//! The arena is a list of *segments*, each one mapping that never moves,
//! never shrinks and is never unmapped while anything references it (it sits
//! in an [`Arc`]). Segment `i` covers the global offsets
//! `base_i..base_i + len_i`; the segments are contiguous, so a 64-bit global
//! offset names one byte. For a file, the global offset is the file offset:
//! the first segment maps the file as it was opened, and growing extends the
//! file and maps only the new window (`offset = old length`). Growing never
//! remaps, moves or copies an existing segment. A read or write never
//! straddles two segments (the caller places records so that they fit).
//!
//! # The sealed watermark
//!
//! The arena keeps `sealed`, a watermark that only ever rises:
//!
//! - bytes at or past `sealed` are *free*: only the arena writes them, and it
//!   hands out no reference into them;
//! - bytes in `head..sealed` are *sealed*: readable through [`Arena::slice`]
//!   (a `&[u8]` borrowing the arena) and [`Arena::share`] (a [`Bytes`] that
//!   outlives any borrow), and never written again by anyone;
//! - bytes below `head` (the two header pages of a file, `0` for anonymous
//!   arenas) are written in place by commits, read only through
//!   [`Arena::slice`], and never covered by a [`Bytes`].
//!
//! [`Arena::write`] refuses any range that is not entirely free or entirely
//! in the header; [`Arena::seal`] is how the store publishes what it wrote.
//!
//! # Why the references are sound
//!
//! A `&[u8]` or a [`Bytes`] into the arena is only sound if, for its whole
//! life, its bytes stay mapped and nobody changes them. Writers and owners:
//!
//! - *This arena.* Writes go through the raw pointer of the mapping
//!   (`ptr::copy_nonoverlapping`), never through a `&mut [u8]`, so no
//!   mutable reference ever overlaps a shared one; and they only target free
//!   or header bytes. A [`Bytes`] covers sealed bytes only, which are never
//!   written again, so it stays valid however the store is mutated. A
//!   `&[u8]` from [`Arena::slice`] may cover header bytes, but it borrows the
//!   arena while every write needs `&mut self`.
//! - *Growth, compaction, `clear`, `restore`.* Growth adds a segment and
//!   leaves the others where they are. The store never rewinds: it replaces
//!   the whole arena by a fresh one (a new anonymous mapping, or a new file
//!   renamed over the old one). A replaced arena is dropped, and nobody can
//!   write through a dropped arena; each of its segments stays mapped for as
//!   long as a [`Bytes`] holds its `Arc` (for a file, the mapping also keeps
//!   the replaced, unlinked file's blocks alive).
//! - *Other stores on the same file (this process or others).* A file
//!   mapping is shared with everyone who maps or writes the file. The store
//!   takes an exclusive lock (`File::try_lock`) before mapping, and every
//!   cooperating opener fails with `StateError::Locked` instead of mapping.
//!   Each segment holds the locked file open (an `Arc<File>`), so the lock
//!   lasts until the store *and* every [`Bytes`] into the file are dropped
//!   (on Linux the mapping alone would keep a `flock` lock anyway). Without
//!   that, the next opener would append over records written after the last
//!   commit that a [`Bytes`] may still reference. A file replaced by a
//!   compaction is unlinked: nobody can open it again, and its segments live
//!   on until their last [`Bytes`] goes. The lock is advisory: a process
//!   that ignores it (`dd`, an editor, `truncate`) can still change the
//!   bytes under a reference (undefined behaviour) or truncate them
//!   (`SIGBUS`), the caveat of every `mmap`-based store (LMDB included).
//! - *The same bytes under two addresses.* Segments are disjoint windows of
//!   the file, so no file byte is mapped twice by one arena; two arenas of
//!   one file never coexist (one store owns the lock, and a replaced file is
//!   another inode).
//! - *Disk full.* Writing to a page of a sparse file region that the file
//!   system cannot allocate raises `SIGBUS` (as in LMDB's `WRITEMAP` mode).
//!   This is not undefined behaviour but kills the process; keep free space.
//!
//! Concurrent readers of a [`Bytes`] on other threads while the store
//! appends are fine: the bytes written are disjoint from every sealed byte.

use std::cell::Cell;
use std::fs::File;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use memmap2::{MmapOptions, MmapRaw};

#[cfg(not(target_pointer_width = "64"))]
compile_error!("feature `mmap` needs a 64-bit target: offsets and mappings are 64-bit");

/// One mapping: never moved, shrunk or unmapped while referenced.
struct Segment {
    map: MmapRaw,
    /// The locked file this segment maps, if any: holding it open holds the
    /// lock, so no cooperating store opens the file while a [`Bytes`] into
    /// the segment lives (module docs).
    _file: Option<Arc<File>>,
}

/// A segment and where it sits in the arena.
struct Seg {
    /// Global offset of the segment's first byte.
    base: u64,
    /// Length of the mapping (`map.len()`, kept here to avoid a dereference).
    len: u64,
    seg: Arc<Segment>,
    /// A [`Bytes`] over the sealed bytes of the segment from
    /// `max(base, head)` (as far as they were sealed when it was made):
    /// [`Arena::share`] returns slices of it, which costs one reference
    /// count instead of an allocation per call. Rebuilt when a value past
    /// its end is asked for.
    view: Cell<Option<Bytes>>,
}

impl Seg {
    #[inline]
    fn end(&self) -> u64 {
        self.base + self.len
    }
}

/// A growable mapped byte region.
pub(crate) struct Arena {
    /// Contiguous segments, by ascending `base` (the first at offset 0).
    segs: Vec<Seg>,
    file: Option<Arc<File>>,
    /// Bytes below this offset are the file's header pages (`0` if anonymous).
    head: u64,
    /// Bytes in `head..sealed` are published and never written again.
    sealed: u64,
}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("len", &self.len())
            .field("segments", &self.segs.len())
            .field("sealed", &self.sealed)
            .field("file_backed", &self.file.is_some())
            .finish()
    }
}

/// The owner behind a [`Bytes`] from [`Arena::share`]: the segment (kept
/// mapped by the `Arc`) and a range of sealed bytes in it.
struct Shared {
    seg: Arc<Segment>,
    /// Offset in the segment; `start + len <= seg.map.len()`.
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for Shared {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `Shared` is only built by `Arena::share`, which checked
        // that `start..start + len` lies inside this segment's mapping and
        // below the arena's sealed watermark. The mapping stays mapped while
        // `self.seg` is alive (it is unmapped only when the last `Arc` drops),
        // so the pointer is valid for `len` reads for the life of `&self`.
        // Sealed bytes are never written again: the arena writes only at or
        // past the watermark, which never falls, or below `head`, which
        // `share` excludes; a dropped arena writes nothing; other stores are
        // locked out of the file while `self.seg` holds it open (module
        // docs). So nothing mutates them while the returned slice lives.
        unsafe { std::slice::from_raw_parts(self.seg.map.as_ptr().add(self.start), self.len) }
    }
}

impl Arena {
    /// An arena with no mapping yet (the first [`grow`](Self::grow) maps).
    pub(crate) fn empty() -> Self {
        Arena {
            segs: Vec::new(),
            file: None,
            head: 0,
            sealed: 0,
        }
    }

    /// An anonymous arena of `capacity` bytes. The kernel supplies zero pages
    /// lazily, so nothing is zero-filled up front. If the mapping fails the
    /// arena starts empty and the first [`grow`](Self::grow) retries (and
    /// reports) it.
    pub(crate) fn anon(capacity: u64) -> Self {
        Self::try_anon(capacity).unwrap_or_else(|_| Self::empty())
    }

    /// An anonymous arena of `capacity` bytes, reporting a mapping failure.
    pub(crate) fn try_anon(capacity: u64) -> io::Result<Self> {
        let mut arena = Self::empty();
        if capacity > 0 {
            arena.grow(capacity)?;
        }
        Ok(arena)
    }

    /// Maps all `len` bytes of `file`, which the caller has locked
    /// exclusively. Bytes below `head` are the header region (see the module
    /// docs); the rest is free until [`seal`](Self::seal)ed.
    ///
    /// If `len` bytes cannot be mapped (the address space is limited, say by
    /// `RLIMIT_AS` or a container), maps the first `fallback` bytes instead
    /// when that is smaller; growth maps the rest later, window by window.
    pub(crate) fn file(file: File, len: u64, fallback: u64, head: u64) -> io::Result<Self> {
        let mut arena = Arena {
            segs: Vec::new(),
            file: Some(Arc::new(file)),
            head,
            sealed: head,
        };
        if len > 0 {
            match arena.map_segment(0, len) {
                Err(_) if fallback > 0 && fallback < len => arena.map_segment(0, fallback)?,
                other => other?,
            }
        }
        Ok(arena)
    }

    /// The backing file, if any.
    pub(crate) fn backing_file(&self) -> Option<&File> {
        self.file.as_deref()
    }

    /// Current size of the mapped segments (the end of the last one).
    #[inline]
    pub(crate) fn len(&self) -> u64 {
        self.segs.last().map_or(0, Seg::end)
    }

    /// Bytes from `off` to the end of the segment holding `off` (`0` past
    /// the end).
    pub(crate) fn room(&self, off: u64) -> u64 {
        self.locate(off, 0).map_or(0, |(s, _)| s.end() - off)
    }

    /// Publishes `..end` (capped at the mapped size): those bytes may now be
    /// read and shared, and are never written again. Never lowers the mark.
    pub(crate) fn seal(&mut self, end: u64) {
        self.sealed = self.sealed.max(end.min(self.len()));
    }

    /// The segment holding `off..off + len` and `off`'s offset in it.
    #[inline]
    fn locate(&self, off: u64, len: u64) -> Option<(&Seg, usize)> {
        let end = off.checked_add(len)?;
        let i = self
            .segs
            .partition_point(|s| s.base <= off)
            .checked_sub(1)?;
        let s = self.segs.get(i)?;
        if end > s.end() {
            return None;
        }
        Some((s, usize::try_from(off - s.base).ok()?))
    }

    /// The sealed bytes `off..off + len`, borrowing the arena; `None` unless
    /// they lie below the sealed mark, inside one segment.
    #[inline]
    pub(crate) fn slice(&self, off: u64, len: u64) -> Option<&[u8]> {
        if off.checked_add(len)? > self.sealed {
            return None;
        }
        let (s, start) = self.locate(off, len)?;
        let n = usize::try_from(len).ok()?;
        // SAFETY: `locate` checked `start + n <= s.len == s.seg.map.len()`,
        // so the range is inside a live mapping (kept by `self.segs` for the
        // borrow of `self`), readable and initialized (file contents or zero
        // pages). Nothing writes it while the slice lives: writes need
        // `&mut self`, which the borrow excludes; other stores are locked out
        // (module docs).
        Some(unsafe { std::slice::from_raw_parts(s.seg.map.as_ptr().add(start), n) })
    }

    /// The sealed bytes `off..off + len` as a [`Bytes`] that references the
    /// mapping (no copy) and stays valid after the arena changes or is
    /// dropped; `None` unless they lie in `head..sealed`, inside one segment.
    #[inline]
    pub(crate) fn share(&self, off: u64, len: u64) -> Option<Bytes> {
        let end = off.checked_add(len)?;
        if off < self.head || end > self.sealed {
            return None;
        }
        if len == 0 {
            return Some(Bytes::new());
        }
        let (s, _) = self.locate(off, len)?;
        let from = s.base.max(self.head);
        let view = match s.view.take() {
            Some(v) if end <= from.saturating_add(v.len() as u64) => v,
            _ => {
                // Every byte of `from..to` is sealed: `off >= head`,
                // `end <= sealed` and `end <= s.end()` were checked.
                let to = self.sealed.min(s.end());
                Bytes::from_owner(Shared {
                    seg: Arc::clone(&s.seg),
                    start: usize::try_from(from - s.base).ok()?,
                    len: usize::try_from(to.checked_sub(from)?).ok()?,
                })
            }
        };
        let rel = usize::try_from(off.checked_sub(from)?).ok()?;
        let n = usize::try_from(len).ok()?;
        let out = (rel.checked_add(n)? <= view.len()).then(|| view.slice(rel..rel + n));
        s.view.set(Some(view));
        out
    }

    /// Copies `data` to `off`; `None` (nothing written) unless the range lies
    /// in one segment and is either entirely free (at or past the sealed
    /// mark) or entirely in the header region.
    pub(crate) fn write(&mut self, off: u64, data: &[u8]) -> Option<()> {
        let len = data.len() as u64;
        let end = off.checked_add(len)?;
        if !(off >= self.sealed || end <= self.head) {
            return None;
        }
        let (s, start) = self.locate(off, len)?;
        // SAFETY: `locate` checked `start + data.len() <= s.seg.map.len()`,
        // so the destination is inside a live, writable (`PROT_WRITE`)
        // mapping. The pointer comes from the mapping itself, not from a
        // reference, so no `&mut` is created. No reference covers the
        // destination: a `Bytes` covers sealed bytes only (`head..sealed`),
        // and every `&[u8]` from `slice` borrows `self`, which `&mut self`
        // excludes. For the same reasons `data` (a live shared reference)
        // cannot overlap the destination, as `copy_nonoverlapping` requires.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                s.seg.map.as_mut_ptr().add(start),
                data.len(),
            );
        }
        Some(())
    }

    /// Adds a segment of `add` bytes at the end. File-backed arenas extend
    /// the file first (sparse: no block is written; never shrunk) and map
    /// only the new window. Existing segments are left where they are.
    pub(crate) fn grow(&mut self, add: u64) -> io::Result<()> {
        let base = self.len();
        self.map_segment(base, add)
    }

    fn map_segment(&mut self, base: u64, add: u64) -> io::Result<()> {
        let end = base
            .checked_add(add)
            .ok_or_else(|| io::Error::other("mapping size overflows"))?;
        let n = usize::try_from(add).map_err(io::Error::other)?;
        let map = match &self.file {
            Some(file) => {
                let old_len = file.metadata()?.len();
                if old_len < end {
                    file.set_len(end)?;
                }
                // The file is locked by us and at least `end` bytes long, so
                // the whole window is backed by the file.
                match MmapOptions::new().offset(base).len(n).map_raw(&**file) {
                    Ok(map) => map,
                    Err(e) => {
                        // Leave the file as long as it was: a file longer than
                        // any mapping the process can make could not be
                        // reopened.
                        if old_len < end {
                            let _ = file.set_len(old_len);
                        }
                        return Err(e);
                    }
                }
            }
            None => map_anon(n)?,
        };
        self.segs.push(Seg {
            base,
            len: add,
            seg: Arc::new(Segment {
                map,
                _file: self.file.clone(),
            }),
            view: Cell::new(None),
        });
        Ok(())
    }

    /// Hints that the mapping is about to be read front to back (aggressive
    /// readahead when the file is not in the page cache), or, with `false`,
    /// that access is back to normal. Best effort: errors are ignored.
    #[cfg(unix)]
    pub(crate) fn advise_sequential(&self, sequential: bool) {
        let advice = if sequential {
            memmap2::Advice::Sequential
        } else {
            memmap2::Advice::Normal
        };
        for s in &self.segs {
            let _ = s.seg.map.advise(advice);
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
        let end = offset.saturating_add(len);
        for s in &self.segs {
            let (from, to) = (offset.max(s.base), end.min(s.end()));
            if from >= to {
                continue;
            }
            let (Ok(off), Ok(n)) = (usize::try_from(from - s.base), usize::try_from(to - from))
            else {
                continue;
            };
            s.seg.map.flush_range(off, n)?;
        }
        Ok(())
    }
}

/// An anonymous mapping that reserves no swap up front (`MAP_NORESERVE`), so
/// a large starting capacity costs address space only.
///
/// On Linux it asks for transparent huge pages (best effort): a lookup then
/// misses the TLB far less often when the state spans gigabytes.
fn map_anon(len: usize) -> io::Result<MmapRaw> {
    let map = MmapRaw::from(MmapOptions::new().len(len).no_reserve_swap().map_anon()?);
    advise_huge(&map);
    Ok(map)
}

#[cfg(target_os = "linux")]
fn advise_huge(map: &MmapRaw) {
    // Only a hint: the kernel may not support or allow it.
    let _ = map.advise(memmap2::Advice::HugePage);
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_map: &MmapRaw) {}
