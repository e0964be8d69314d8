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

/// Cache line size assumed by [`lines`].
const LINE: usize = 64;

/// [`line()`] for every cache line that the `bytes` bytes from `p` touch
/// (wherever they start within a line, the last one included).
#[inline(always)]
pub(crate) fn lines<T>(p: *const T, bytes: usize) {
    let base = p.cast::<u8>();
    for off in line_offsets(base.addr(), bytes) {
        line(base.wrapping_add(off));
    }
}

/// Offsets from `addr` that fall in each cache line touched by `bytes`
/// bytes from `addr`: 0, then the start of every later line.
#[inline(always)]
fn line_offsets(addr: usize, bytes: usize) -> impl Iterator<Item = usize> {
    let first = addr & !(LINE - 1);
    let last = addr.wrapping_add(bytes.saturating_sub(1)) & !(LINE - 1);
    let count = if bytes == 0 {
        0
    } else {
        last.wrapping_sub(first) / LINE + 1
    };
    (0..count).map(move |i| if i == 0 { 0 } else { i * LINE - (addr - first) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_reach_every_line_touched_and_no_other() {
        for start in 0..2 * LINE {
            for bytes in 0..5 * LINE {
                let addr = 4096 + start;
                let offs: Vec<usize> = line_offsets(addr, bytes).collect();
                let want: Vec<usize> =
                    (addr..addr + bytes)
                        .map(|a| a / LINE)
                        .fold(Vec::new(), |mut v, l| {
                            if v.last() != Some(&l) {
                                v.push(l);
                            }
                            v
                        });
                let got: Vec<usize> = offs.iter().map(|o| (addr + o) / LINE).collect();
                assert_eq!(got, want, "start {start}, {bytes} bytes");
                assert!(offs.iter().all(|&o| bytes > 0 && o < bytes), "{offs:?}");
            }
        }
    }
}
