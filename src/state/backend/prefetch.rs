//! Cache prefetch hints: the one place that issues them (and holds their
//! `unsafe`), for the B+ tree's node arrays and the hash tables' slots.

/// Asks the CPU to start loading the cache line holding `p` into every cache
/// level, without waiting for it.
///
/// A hint only: it neither faults nor changes any value, so any address is
/// fine, even one past the end of an allocation or a dangling one. A no-op
/// on targets other than x86_64.
#[inline(always)]
pub(crate) fn line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` only hints the cache; it never faults, reads
    // nothing into the program and needs no target feature beyond SSE,
    // which every x86_64 CPU has. No reference is formed from `p`.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// [`line`] for every cache line that the `bytes` bytes from `p` touch
/// (wherever they start within a line, the last one included).
#[inline(always)]
pub(crate) fn lines<T>(p: *const T, bytes: usize) {
    if bytes == 0 {
        return;
    }
    let base = p.cast::<u8>();
    let end = (base as usize).wrapping_add(bytes - 1) | 63;
    let mut at = base;
    loop {
        line(at);
        at = at.wrapping_add(64);
        if (at as usize & !63) > end {
            break;
        }
    }
}
