//! Anonymous memory in 2 MiB-aligned runs, with transparent huge pages
//! requested on Linux, and [`LargeSlice`], a boxed slice that uses it once it
//! is large.
//!
//! A lookup in a structure much larger than the cache misses on one or two
//! lines, and with 4 KiB pages each miss also misses the TLB and walks the
//! page tables, which huge pages avoid (the measured gain is in
//! `BENCHMARKS.md`, "Huge pages"). Linux backs an aligned 2 MiB range with one huge
//! page if the range is advised with `MADV_HUGEPAGE` and
//! `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` or `always`;
//! otherwise the memory is ordinary pages and everything works the same.

// `LargeSlice` (and `unmap`) serve the hash tables of the `ahash` and `mmap`
// features; the B+ tree's chunks, always built, are never unmapped.
#![cfg_attr(not(any(feature = "ahash", feature = "mmap")), allow(dead_code))]

use std::ptr::NonNull;

/// Size and alignment of a huge page, the unit of [`map`].
pub(crate) const HUGE_PAGE: usize = 2 << 20;

/// Maps `len` bytes (a non-zero multiple of [`HUGE_PAGE`]) of zeroed memory
/// aligned to [`HUGE_PAGE`], asking for huge pages if `huge`; `None` if the
/// system has no memory for it. Release with [`unmap`].
#[cfg(target_os = "linux")]
pub(crate) fn map(len: usize, huge: bool) -> Option<NonNull<u8>> {
    // Map one huge page more and trim, so the run starts on a boundary.
    let total = len.checked_add(HUGE_PAGE)?;
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing; it aliases nothing. The result is checked for failure.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            total,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return None;
    }
    let start = raw as usize;
    let aligned = start.next_multiple_of(HUGE_PAGE);
    let head = aligned - start;
    let tail = total - head - len;
    // SAFETY: both trimmed ranges lie inside the mapping just created,
    // outside the run that is kept, and nothing refers to them. A failure
    // would only leave unused address space mapped, so results are ignored.
    unsafe {
        if head > 0 {
            libc::munmap(raw, head);
        }
        if tail > 0 {
            libc::munmap((aligned + len) as *mut libc::c_void, tail);
        }
        if huge {
            // A hint: with huge pages off it fails harmlessly.
            libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
    }
    NonNull::new(aligned as *mut u8)
}

/// Releases a run from [`map`].
///
/// # Safety
///
/// `ptr` and `len` must be a run returned by [`map`] and not yet released,
/// and nothing may use its memory afterwards.
#[cfg(target_os = "linux")]
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller guarantees the run is ours and no longer used.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
}

/// Allocates from the global allocator (no huge pages off Linux).
#[cfg(not(target_os = "linux"))]
pub(crate) fn map(len: usize, _huge: bool) -> Option<NonNull<u8>> {
    let layout = std::alloc::Layout::from_size_align(len, HUGE_PAGE).ok()?;
    // SAFETY: `layout` has a non-zero size (callers pass a multiple of
    // `HUGE_PAGE` greater than zero).
    NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
}

/// Releases a run from [`map`].
///
/// # Safety
///
/// As for the Linux version: a run from [`map`], released once, unused after.
#[cfg(not(target_os = "linux"))]
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    if let Ok(layout) = std::alloc::Layout::from_size_align(len, HUGE_PAGE) {
        // SAFETY: allocated by `map` with this same layout.
        unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) };
    }
}

/// Bytes currently mapped by live [`LargeSlice`]s (not seen by the global
/// allocator; memory accounting adds it, see `examples/memory.rs`).
static SLICE_BYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Bytes currently mapped by live `LargeSlice`s: hash tables of 2 MiB or
/// more, placed on huge pages, which the global allocator does not see.
pub fn slice_bytes_mapped() -> usize {
    SLICE_BYTES.load(std::sync::atomic::Ordering::Relaxed)
}

/// An owned, fixed-length slice, like `Box<[T]>`, whose memory comes from
/// [`map`] (with huge pages) once it is at least one huge page long, and
/// from the global allocator below that.
pub(crate) struct LargeSlice<T> {
    ptr: NonNull<T>,
    len: usize,
    /// Length of the mapped run, or 0 if the slice is a leaked `Box<[T]>`.
    mapped: usize,
}

// SAFETY: a `LargeSlice<T>` owns its elements exclusively, like `Box<[T]>`.
unsafe impl<T: Send> Send for LargeSlice<T> {}
// SAFETY: as for `Box<[T]>`: shared access only gives `&[T]`.
unsafe impl<T: Sync> Sync for LargeSlice<T> {}

impl<T> LargeSlice<T> {
    /// A slice of the items of `items` (as many as it yields, at most its
    /// reported length).
    pub(crate) fn collect(items: impl ExactSizeIterator<Item = T>) -> Self {
        match Self::collect_in(items, false) {
            Some(s) => s,
            // Not reached: without `fallible` the allocation aborts or
            // panics as `Vec`'s does rather than return.
            None => LargeSlice {
                ptr: NonNull::dangling(),
                len: 0,
                mapped: 0,
            },
        }
    }

    /// Like [`collect`](Self::collect), but `None` instead of aborting when
    /// the memory cannot be had (or its size overflows).
    pub(crate) fn try_collect(items: impl ExactSizeIterator<Item = T>) -> Option<Self> {
        Self::collect_in(items, true)
    }

    fn collect_in(items: impl ExactSizeIterator<Item = T>, fallible: bool) -> Option<Self> {
        let cap = items.len();
        // `None` (the Box path) below one huge page, for over-aligned `T`, or
        // if the size overflows (the Box path then fails as `Vec` does).
        let run = cap
            .checked_mul(std::mem::size_of::<T>())
            .filter(|&bytes| bytes >= HUGE_PAGE && std::mem::align_of::<T>() <= HUGE_PAGE)
            .and_then(|bytes| bytes.checked_next_multiple_of(HUGE_PAGE));
        if let Some(run) = run {
            if let Some(base) = map(run, true) {
                let ptr = base.cast::<T>();
                let mut len = 0;
                for item in items.take(cap) {
                    // SAFETY: `len < cap`, so the slot is inside the run
                    // (`cap * size_of::<T>() <= run`), aligned (the
                    // run is aligned to `HUGE_PAGE >= align_of::<T>()` and
                    // `T`'s size is a multiple of its alignment) and not yet
                    // initialized.
                    unsafe { ptr.as_ptr().add(len).write(item) };
                    len += 1;
                }
                SLICE_BYTES.fetch_add(run, std::sync::atomic::Ordering::Relaxed);
                return Some(LargeSlice {
                    ptr,
                    len,
                    mapped: run,
                });
            }
        }
        let boxed: Box<[T]> = if fallible {
            let mut v = Vec::new();
            v.try_reserve_exact(cap).ok()?;
            v.extend(items.take(cap));
            v.into_boxed_slice()
        } else {
            items.collect()
        };
        let len = boxed.len();
        let ptr = NonNull::from(Box::leak(boxed)).cast::<T>();
        Some(LargeSlice {
            ptr,
            len,
            mapped: 0,
        })
    }
}

impl<T> Default for LargeSlice<T> {
    fn default() -> Self {
        LargeSlice::collect(std::iter::empty())
    }
}

impl<T> Drop for LargeSlice<T> {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len);
        if self.mapped == 0 {
            // SAFETY: `ptr`/`len` came from `Box::leak` of a `Box<[T]>` of
            // this length and are released once, here.
            drop(unsafe { Box::from_raw(slice) });
        } else {
            // SAFETY: the first `len` elements are initialized and owned by
            // this slice; they are dropped once, then the run is unmapped
            // and never used again.
            unsafe {
                std::ptr::drop_in_place(slice);
                unmap(self.ptr.cast(), self.mapped);
            }
            SLICE_BYTES.fetch_sub(self.mapped, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl<T> std::ops::Deref for LargeSlice<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` points to `len` initialized elements owned by this
        // slice (dangling but aligned when `len == 0`, as for a `Box<[T]>`).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> std::ops::DerefMut for LargeSlice<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Clone> Clone for LargeSlice<T> {
    fn clone(&self) -> Self {
        LargeSlice::collect(self.iter().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn small_and_large_slices_hold_and_drop_their_items() {
        let marker = Rc::new(());
        for n in [0usize, 1, 1000, HUGE_PAGE / 8 + 3] {
            let mut s = LargeSlice::collect((0..n).map(|_| Some(marker.clone())));
            assert_eq!(s.len(), n);
            assert_eq!(Rc::strong_count(&marker), 1 + n);
            if let Some(last) = s.last_mut() {
                *last = None;
            }
            let c = s.clone();
            assert_eq!(c.iter().flatten().count(), n.saturating_sub(1));
            drop(s);
            drop(c);
            assert_eq!(Rc::strong_count(&marker), 1);
        }
    }

    #[test]
    fn a_lying_length_never_reads_uninitialized_slots() {
        struct Liar(std::ops::Range<u64>);
        impl Iterator for Liar {
            type Item = u64;
            fn next(&mut self) -> Option<u64> {
                self.0.next()
            }
        }
        impl ExactSizeIterator for Liar {
            fn len(&self) -> usize {
                HUGE_PAGE // claims far more items than it yields
            }
        }
        let s = LargeSlice::collect(Liar(0..10));
        assert_eq!(&s[..], &(0..10).collect::<Vec<u64>>()[..]);
    }
}
