//! Measures heap bytes per entry of each byte-level backend with a counting
//! global allocator (not an estimate): 16-byte keys, 64-byte values, loaded in
//! random order, beside bare `BTreeMap<Vec<u8>, Bytes>` and
//! `hashbrown::HashMap<Vec<u8>, Bytes>` baselines.
//!
//! ```text
//! cargo run --release --example memory [keys]
//! ```
//! The figure includes the 64 bytes of each value and its `Bytes` bookkeeping,
//! identical for every row, so differences between rows are index overhead.
//!
//! Then typed tables (features `ahash`, `btree`) of `(Dict<String>, u64)`
//! keys (64 regions) and `u64` values, beside a bare
//! `hashbrown::HashMap<(u32, u64), u64>` of the same codes: 20 bytes of key
//! and value per entry.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use bytes::Bytes;
#[cfg(feature = "ahash")]
use laminar_core::state::typed::AHash;
#[cfg(feature = "btree")]
use laminar_core::state::typed::BTree;
#[cfg(any(feature = "ahash", feature = "btree"))]
use laminar_core::state::{
    key::Dict,
    typed::{NativeBackend, Table},
};
use laminar_core::state::{InMemoryStore, StateStore};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged and only
// counts sizes, so it upholds `GlobalAlloc`'s contract exactly as `System` does.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&mix(i).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// Bytes live on the heap: the global allocator's count plus B+ tree nodes,
/// which `InMemoryStore` allocates from its own huge-page chunks, plus hash
/// tables of 2 MiB or more, which `AHashMapStore` maps on huge pages.
fn heap_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
        + laminar_core::state::__private::node_bytes_in_use() as isize
        + laminar_core::state::__private::table_bytes_mapped() as isize
}

fn measure(name: &str, n: u64, mut insert: impl FnMut(&[u8], Bytes)) {
    let before = heap_bytes();
    for i in 0..n {
        // Clone once so every value is in its shared (reference-counted) form,
        // as it is after the first `get`.
        let v = Bytes::from(vec![0xA5u8; 64]);
        let _ = v.clone();
        insert(&key(i), v);
    }
    let after = heap_bytes();
    println!(
        "{name:<40} {:>7.1} bytes/entry",
        (after - before) as f64 / n as f64
    );
}

/// Heap bytes per entry held by what `load` builds from `n` typed entries.
fn measure_typed<T>(
    name: &str,
    n: u64,
    load: impl FnOnce(&dyn Fn(u64) -> (&'static str, u64)) -> T,
) {
    const REGIONS: [&str; 64] = {
        let mut r = ["region"; 64];
        let names = [
            "r00", "r01", "r02", "r03", "r04", "r05", "r06", "r07", "r08", "r09", "r10", "r11",
            "r12", "r13", "r14", "r15", "r16", "r17", "r18", "r19", "r20", "r21", "r22", "r23",
            "r24", "r25", "r26", "r27", "r28", "r29", "r30", "r31", "r32", "r33", "r34", "r35",
            "r36", "r37", "r38", "r39", "r40", "r41", "r42", "r43", "r44", "r45", "r46", "r47",
            "r48", "r49", "r50", "r51", "r52", "r53", "r54", "r55", "r56", "r57", "r58", "r59",
            "r60", "r61", "r62", "r63",
        ];
        let mut i = 0;
        while i < 64 {
            r[i] = names[i];
            i += 1;
        }
        r
    };
    let before = heap_bytes();
    let built = load(&|i| (REGIONS[(mix(i) % 64) as usize], mix(i ^ 0x5EED)));
    let after = heap_bytes();
    drop(built);
    println!(
        "{name:<40} {:>7.1} bytes/entry",
        (after - before) as f64 / n as f64
    );
}

/// A typed table of `n` entries: `key(i)` maps to `i`.
#[cfg(any(feature = "ahash", feature = "btree"))]
fn typed_table<B: NativeBackend>(
    n: u64,
    key: &dyn Fn(u64) -> (&'static str, u64),
) -> Table<(Dict<String>, u64), u64, B> {
    let mut t: Table<(Dict<String>, u64), u64, B> = Table::new();
    for i in 0..n {
        if let Err(e) = t.put(key(i), i) {
            fail(e);
        }
    }
    t
}

/// A failed write would make the figures wrong: stop instead.
fn fail(e: laminar_core::state::StateError) -> ! {
    eprintln!("memory: a put failed: {e}");
    std::process::exit(1)
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    println!("heap bytes per entry at {n} entries (16-byte keys, 64-byte values):");
    {
        let mut s = InMemoryStore::new();
        measure("InMemoryStore", n, |k, v| {
            s.put(k, v).unwrap_or_else(|e| fail(e))
        });
    }
    #[cfg(feature = "ahash")]
    {
        let mut s = laminar_core::state::AHashMapStore::new();
        measure("AHashMapStore", n, |k, v| {
            s.put(k, v).unwrap_or_else(|e| fail(e))
        });
    }
    {
        let mut m = std::collections::BTreeMap::<Vec<u8>, Bytes>::new();
        measure("std BTreeMap<Vec<u8>, Bytes>", n, |k, v| {
            m.insert(k.to_vec(), v);
        });
    }
    {
        let mut m = hashbrown::HashMap::<Vec<u8>, Bytes>::new();
        measure("hashbrown HashMap<Vec<u8>, Bytes>", n, |k, v| {
            m.insert(k.to_vec(), v);
        });
    }
    println!("typed tables, (Dict<String>, u64) -> u64, 64 regions:");
    #[cfg(feature = "ahash")]
    measure_typed("typed AHash", n, |key| typed_table::<AHash>(n, key));
    #[cfg(feature = "btree")]
    measure_typed("typed BTree", n, |key| typed_table::<BTree>(n, key));
    measure_typed("hashbrown HashMap<(u32, u64), u64>", n, |key| {
        let mut m = hashbrown::HashMap::<(u32, u64), u64>::new();
        for i in 0..n {
            let (region, id) = key(i);
            let code = region.get(1..).and_then(|c| c.parse().ok()).unwrap_or(0);
            m.insert((code, id), i);
        }
        m
    });
}
