//! [`NodeBox`]: an owning pointer, like `Box`, for B+ tree nodes, allocated
//! from 2 MiB chunks that the kernel is asked to back with huge pages.
//!
//! A lookup in a large tree misses the cache on a node or two, and each miss
//! also walks the page tables unless the node sits on a huge page (see
//! [`huge_pages`]). Nodes are therefore carved out of 2 MiB-aligned chunks
//! from [`huge_pages::map`].
//!
//! The pools sit behind one process-wide mutex, taken only when a node is
//! created or freed (a split or merge: about once per 30 inserts into a
//! growing tree), never by a lookup.
//!
//! The first chunk of each block size stays in 4 KiB pages, so a small tree
//! does not cost a resident 2 MiB page; later chunks ask for huge pages.
//!
//! Blocks are one size per node type, rounded up to whole cache lines, so a
//! node never straddles a line it does not need. A freed block goes to a
//! free list for the next node of the same size; chunks are kept for reuse
//! and not returned to the system (as allocators keep their small-object
//! arenas), so dropping a large tree keeps its memory for later trees.

use std::alloc::Layout;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Mutex;

use super::huge_pages;

/// Chunk size and alignment: one huge page.
const CHUNK: usize = huge_pages::HUGE_PAGE;
/// Block sizes are multiples of a cache line, and blocks start on one.
const LINE: usize = 64;
/// Largest type served from chunks; larger or more aligned types use the
/// global allocator.
const MAX_BLOCK: usize = CHUNK / 16;

/// Fixed-size blocks of one size.
struct Pool {
    size: usize,
    /// Freed blocks, reused first.
    free: Vec<NonNull<u8>>,
    /// Next never-used block in the current chunk (0 before the first chunk).
    next: usize,
    /// End of the current chunk.
    end: usize,
    /// Chunks taken so far.
    chunks: usize,
}

struct Pools {
    pools: Vec<Pool>,
    /// Bytes of blocks handed out and not yet freed.
    in_use: usize,
}

// SAFETY: the pools hold addresses of memory that no thread owns while it
// sits in a free list or is not yet handed out; nothing in them is tied to
// the thread that created it, and all access goes through the mutex.
unsafe impl Send for Pools {}

static POOLS: Mutex<Pools> = Mutex::new(Pools {
    pools: Vec::new(),
    in_use: 0,
});

/// Bytes of B+ tree node blocks currently allocated (`InMemoryStore` layers
/// and typed `BTree` tables; live nodes, each rounded up to whole cache
/// lines), for memory accounting: node memory does not come from the global
/// allocator, so a counting allocator does not see it (see
/// `examples/memory.rs`).
pub fn bytes_in_use() -> usize {
    POOLS.lock().unwrap_or_else(|e| e.into_inner()).in_use
}

/// `true` if values of `T` come from the chunks (a property of the type
/// alone, so allocation and deallocation always agree).
const fn pooled<T>() -> bool {
    let l = Layout::new::<T>();
    l.size() != 0 && l.size() <= MAX_BLOCK && l.align() <= LINE
}

const fn block_size<T>() -> usize {
    Layout::new::<T>().size().div_ceil(LINE) * LINE
}

/// A fresh chunk, with huge pages requested if `huge`, or `None` if the
/// system has no memory for it. Chunks are never released (module docs).
fn new_chunk(huge: bool) -> Option<usize> {
    huge_pages::map(CHUNK, huge).map(|p| p.as_ptr() as usize)
}

/// A block of `size` bytes (a multiple of [`LINE`]), `LINE`-aligned.
fn alloc_block(size: usize) -> Option<NonNull<u8>> {
    // A panic never happens while the lock is held, but if it ever did the
    // pools would still be consistent: recover from poisoning.
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    let i = match pools.pools.iter().position(|p| p.size == size) {
        Some(i) => i,
        None => {
            pools.pools.push(Pool {
                size,
                free: Vec::new(),
                next: 0,
                end: 0,
                chunks: 0,
            });
            pools.pools.len() - 1
        }
    };
    let pools = &mut *pools;
    let pool = pools.pools.get_mut(i)?;
    if let Some(p) = pool.free.pop() {
        pools.in_use += size;
        return Some(p);
    }
    if pool.next == 0 || pool.end - pool.next < size {
        // The first chunk of a size stays in small pages: a huge page is
        // 2 MiB of resident memory from the first node on, too much for the
        // many small tables a process may hold. Trees that outgrow it get
        // huge pages from then on.
        let chunk = new_chunk(pool.chunks > 0)?;
        pool.chunks += 1;
        pool.next = chunk;
        pool.end = chunk + CHUNK;
    }
    let p = pool.next;
    pool.next += size;
    pools.in_use += size;
    NonNull::new(p as *mut u8)
}

/// Returns a block from [`alloc_block`] with the same `size`.
fn free_block(size: usize, p: NonNull<u8>) {
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(pool) = pools.pools.iter_mut().find(|pool| pool.size == size) {
        pool.free.push(p);
        pools.in_use -= size;
    }
}

/// An owning pointer to a `T` allocated as described in the module docs;
/// used like `Box<T>`.
pub(crate) struct NodeBox<T> {
    ptr: NonNull<T>,
    _owns: PhantomData<T>,
}

// SAFETY: `NodeBox<T>` owns its `T` exclusively, like `Box<T>`, and the pool
// it returns to on drop is shared behind a mutex.
unsafe impl<T: Send> Send for NodeBox<T> {}
// SAFETY: as for `Box<T>`: shared access to a `NodeBox<T>` only gives `&T`.
unsafe impl<T: Sync> Sync for NodeBox<T> {}

impl<T> NodeBox<T> {
    /// Moves `value` into a new allocation.
    pub(crate) fn new(value: T) -> Self {
        if !pooled::<T>() {
            let ptr = NonNull::from(Box::leak(Box::new(value)));
            return NodeBox {
                ptr,
                _owns: PhantomData,
            };
        }
        let Some(block) = alloc_block(block_size::<T>()) else {
            std::alloc::handle_alloc_error(Layout::new::<T>())
        };
        let ptr = block.cast::<T>();
        // SAFETY: `block` is a fresh block of at least `size_of::<T>()`
        // bytes, aligned to `LINE >= align_of::<T>()` (`pooled`), owned by
        // nobody else; writing moves `value` into it.
        unsafe { ptr.as_ptr().write(value) };
        NodeBox {
            ptr,
            _owns: PhantomData,
        }
    }
}

impl<T> Drop for NodeBox<T> {
    fn drop(&mut self) {
        if !pooled::<T>() {
            // SAFETY: the pointer came from `Box::leak` in `new` (same
            // `pooled` answer for the same `T`) and is dropped only here.
            drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
            return;
        }
        // SAFETY: `ptr` holds a live `T` that this box owns exclusively;
        // it is dropped once, here, and the block is not used afterwards.
        unsafe { std::ptr::drop_in_place(self.ptr.as_ptr()) };
        free_block(block_size::<T>(), self.ptr.cast());
    }
}

impl<T> Deref for NodeBox<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: `ptr` holds a live `T` owned by this box; the shared
        // borrow of `self` keeps it alive and unaliased by `&mut`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> DerefMut for NodeBox<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; the exclusive borrow of `self` makes this
        // the only reference.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T: Clone> Clone for NodeBox<T> {
    fn clone(&self) -> Self {
        NodeBox::new((**self).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn blocks_are_reused_and_values_dropped() {
        let marker = Rc::new(());
        let mut boxes: Vec<NodeBox<[Rc<()>; 40]>> = (0..20_000)
            .map(|_| NodeBox::<[Rc<()>; 40]>::new(std::array::from_fn(|_| marker.clone())))
            .collect();
        assert_eq!(Rc::strong_count(&marker), 1 + 20_000 * 40);
        for b in &boxes {
            assert_eq!(b.as_ptr() as usize % LINE, 0, "blocks are line aligned");
        }
        boxes.truncate(10);
        assert_eq!(Rc::strong_count(&marker), 1 + 10 * 40);
        let again: Vec<_> = (0..100)
            .map(|_| NodeBox::<[Rc<()>; 40]>::new(std::array::from_fn(|_| marker.clone())))
            .collect();
        drop(again);
        drop(boxes);
        assert_eq!(Rc::strong_count(&marker), 1);
    }

    #[test]
    fn boxes_made_and_dropped_on_different_threads() {
        // Nodes built on several threads at once, then freed on another:
        // every value is intact and every block goes back exactly once.
        let made: Vec<Vec<NodeBox<[u64; 30]>>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4u64)
                .map(|t| {
                    s.spawn(move || {
                        (0..5_000u64)
                            .map(|i| NodeBox::new([t * 1_000_000 + i; 30]))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().filter_map(|w| w.join().ok()).collect()
        });
        assert_eq!(made.len(), 4);
        let mut seen = std::collections::HashSet::new();
        for (t, boxes) in made.iter().enumerate() {
            for (i, b) in boxes.iter().enumerate() {
                assert!(b.iter().all(|&x| x == t as u64 * 1_000_000 + i as u64));
                assert!(seen.insert(b.as_ptr() as usize), "a block handed out twice");
            }
        }
        std::thread::spawn(move || drop(made))
            .join()
            .expect("drop on another thread");
    }

    #[test]
    fn contents_survive_and_clone_is_deep() {
        let mut a = NodeBox::new(vec![1u64, 2, 3]);
        a.push(4);
        let b = a.clone();
        a.push(5);
        assert_eq!(*b, vec![1, 2, 3, 4]);
        assert_eq!(*a, vec![1, 2, 3, 4, 5]);
        // Types too large for a block take the global allocator.
        let big = NodeBox::new([7u8; MAX_BLOCK + 1]);
        assert!(big.iter().all(|&x| x == 7));
    }
}
