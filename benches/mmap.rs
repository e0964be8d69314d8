//! Criterion suite of `MmapStateStore` (both modes) on the shared workload:
//! 16-byte keys, 64-byte values, uniform random lookups.
//!
//! Groups: `mmap_get`, `mmap_get_ref` (with `InMemoryStore` alongside for
//! comparison), `mmap_put_insert`, `mmap_put_update`, `mmap_delete` at 10K
//! and 1M keys; `mmap_flush` for 1, 100 and 10,000 dirty keys; `mmap_reopen`
//! of a 1M-key file. The file size after an update-heavy run and the write
//! time of the reopened file are printed.
//!
//! Lookups are independent (throughput); the keys are precomputed so the
//! measured loop is the store call and a `black_box`.
#![allow(missing_docs)] // criterion_group! generates undocumented functions

#[path = "common/workload.rs"]
mod workload;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use laminar_core::state::{InMemoryStore, MmapStateStore, StateStore};
use workload::Workload;

const SIZES: [(u64, &str); 2] = [(10_000, "10K"), (1_000_000, "1M")];
/// Lookup keys cycled through by the lookup benchmarks.
const LOOKUPS: usize = 1 << 16;

fn keys_of(w: &Workload, idx: &[u64]) -> Vec<[u8; 16]> {
    idx.iter()
        .map(|&i| {
            let mut k = [0u8; 16];
            w.write_key(i, &mut k);
            k
        })
        .collect()
}

fn load(store: &mut dyn StateStore, w: &Workload) {
    for i in w.insert_order() {
        store.put(&w.key(i), Bytes::from(w.value(i))).unwrap();
    }
}

struct Stores {
    mem: MmapStateStore,
    file: MmapStateStore,
    _dir: tempfile::TempDir,
}

fn stores(w: &Workload) -> Stores {
    let dir = tempfile::tempdir().unwrap();
    let mut mem = MmapStateStore::in_memory(1 << 20);
    load(&mut mem, w);
    let mut file = MmapStateStore::persistent(dir.path().join("bench.db"), 1 << 20).unwrap();
    load(&mut file, w);
    file.flush().unwrap();
    Stores {
        mem,
        file,
        _dir: dir,
    }
}

fn point_ops(c: &mut Criterion) {
    for (n, label) in SIZES {
        let w = Workload::standard(n);
        let mut s = stores(&w);
        let mut btree = InMemoryStore::new();
        load(&mut btree, &w);
        let hits = keys_of(&w, &w.hit_indices(LOOKUPS));
        let misses = keys_of(&w, &w.miss_indices(LOOKUPS));

        let mut g = c.benchmark_group("mmap_get");
        for (mode, store) in [
            ("in_memory", &s.mem as &dyn StateStore),
            ("persistent", &s.file as &dyn StateStore),
            ("InMemoryStore", &btree as &dyn StateStore),
        ] {
            g.bench_function(BenchmarkId::new(mode, label), |b| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) % LOOKUPS;
                    black_box(store.get(black_box(&hits[i])))
                })
            });
        }
        g.finish();

        let mut g = c.benchmark_group("mmap_get_ref");
        for (mode, store) in [
            ("in_memory", &s.mem as &dyn StateStore),
            ("persistent", &s.file as &dyn StateStore),
            ("InMemoryStore", &btree as &dyn StateStore),
        ] {
            g.bench_function(BenchmarkId::new(mode, label), |b| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) % LOOKUPS;
                    black_box(store.get_ref(black_box(&hits[i])).map(|v| v.len()))
                })
            });
            g.bench_function(BenchmarkId::new(format!("{mode}_miss"), label), |b| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) % LOOKUPS;
                    black_box(store.get_ref(black_box(&misses[i])).is_some())
                })
            });
        }
        g.finish();

        let value = Bytes::from(w.value(7));
        let mut g = c.benchmark_group("mmap_put_update");
        for (mode, store) in [("in_memory", &mut s.mem), ("persistent", &mut s.file)] {
            g.bench_function(BenchmarkId::new(mode, label), |b| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) % LOOKUPS;
                    store.put(black_box(&hits[i]), value.clone()).unwrap()
                })
            });
            // Commit (and compact if due) so the persistent file stays bounded.
            store.flush().unwrap();
        }
        g.finish();

        // Inserts of fresh keys, then (untimed) their deletion, so the store
        // stays at its size; deletes the other way round. The keys are
        // distinct (indices past the store's), so every put in a batch is an
        // insert: `miss_indices` draws with replacement, and at 10K keys 85%
        // of its draws repeated one of the batch.
        let fresh = keys_of(&w, &(n..n + LOOKUPS as u64).collect::<Vec<_>>());
        let mut g = c.benchmark_group("mmap_put_insert");
        for (mode, store) in [("in_memory", &mut s.mem), ("persistent", &mut s.file)] {
            g.bench_function(BenchmarkId::new(mode, label), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut left = iters as usize;
                    while left > 0 {
                        let batch = left.min(LOOKUPS);
                        let start = Instant::now();
                        for k in &fresh[..batch] {
                            store.put(black_box(k), value.clone()).unwrap();
                        }
                        total += start.elapsed();
                        for k in &fresh[..batch] {
                            store.delete(k).unwrap();
                        }
                        left -= batch;
                    }
                    total
                })
            });
            store.flush().unwrap();
        }
        g.finish();

        let mut g = c.benchmark_group("mmap_delete");
        let present = keys_of(&w, &(0..LOOKUPS as u64 % n.max(1)).collect::<Vec<_>>());
        for (mode, store) in [("in_memory", &mut s.mem), ("persistent", &mut s.file)] {
            g.bench_function(BenchmarkId::new(mode, label), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut left = iters as usize;
                    while left > 0 {
                        let batch = left.min(present.len().max(1));
                        let start = Instant::now();
                        for k in &present[..batch] {
                            store.delete(black_box(k)).unwrap();
                        }
                        total += start.elapsed();
                        for k in &present[..batch] {
                            store.put(k, value.clone()).unwrap();
                        }
                        left -= batch;
                    }
                    total
                })
            });
            store.flush().unwrap();
        }
        g.finish();
    }
}

fn flush(c: &mut Criterion) {
    let w = Workload::standard(100_000);
    let dir = tempfile::tempdir().unwrap();
    let mut store = MmapStateStore::persistent(dir.path().join("flush.db"), 1 << 20).unwrap();
    load(&mut store, &w);
    store.flush().unwrap();
    let hits = keys_of(&w, &w.hit_indices(LOOKUPS));
    let value = Bytes::from(w.value(3));
    let mut g = c.benchmark_group("mmap_flush");
    g.sample_size(10);
    for dirty in [1usize, 100, 10_000] {
        g.bench_function(BenchmarkId::new("dirty_keys", dirty), |b| {
            let mut at = 0;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    for _ in 0..dirty {
                        at = (at + 1) % LOOKUPS;
                        store.put(&hits[at], value.clone()).unwrap();
                    }
                    // Includes the amortized compaction when garbage is due.
                    let start = Instant::now();
                    store.flush().unwrap();
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

fn write_file(path: &Path, w: &Workload) -> Duration {
    let _ = std::fs::remove_file(path);
    let start = Instant::now();
    let mut store = MmapStateStore::persistent(path, 1 << 20).unwrap();
    load(&mut store, w);
    store.flush().unwrap();
    start.elapsed()
}

fn reopen(c: &mut Criterion) {
    let w = Workload::standard(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reopen.db");
    let wrote = write_file(&path, &w);
    let size = std::fs::metadata(&path).unwrap().len();
    eprintln!("mmap: writing 1M keys (load + flush) took {wrote:?}; file {size} bytes");
    let mut g = c.benchmark_group("mmap_reopen");
    g.sample_size(10);
    g.bench_function("1M", |b| {
        b.iter(|| {
            let store = MmapStateStore::persistent(&path, 0).unwrap();
            black_box(store.len())
        })
    });
    g.finish();
}

/// Prints the file size after updating every key 10 times (flushing every
/// 10,000 writes) against the live data size.
fn update_heavy_file_size(_c: &mut Criterion) {
    let w = Workload::standard(100_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("update.db");
    let mut store = MmapStateStore::persistent(&path, 0).unwrap();
    let mut max_len = 0;
    let mut writes = 0u64;
    for round in 0..11u8 {
        for i in w.insert_order() {
            let mut v = w.value(i);
            v[8] = round;
            store.put(&w.key(i), Bytes::from(v)).unwrap();
            writes += 1;
            if writes.is_multiple_of(10_000) {
                store.flush().unwrap();
                max_len = max_len.max(std::fs::metadata(&path).unwrap().len());
            }
        }
    }
    store.flush().unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    eprintln!(
        "mmap: update-heavy run (100K keys x 11 writes, {} live bytes, {} bytes of records): \
         file {len} bytes at the end, {max_len} at most; fragmentation {:.2}",
        store.size_bytes(),
        100_000 * 96,
        store.fragmentation()
    );
}

criterion_group!(benches, point_ops, flush, reopen, update_heavy_file_size);
criterion_main!(benches);
