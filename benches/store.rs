//! Per-operation micro-benchmarks of the byte-level backends.
//!
//! `cargo bench --bench store` — every backend at 10K and 1M keys (16-byte
//! keys, 64-byte values, loaded in random order, looked up uniformly at random;
//! the workload of `benches/common/workload.rs`).
//!
//! Operations: `get_hit`, `get_miss`, `get_ref`, `put_insert` (new keys),
//! `put_update` (existing keys), `delete`, and `prefix_scan` with a prefix whose
//! selectivity is counted before measuring (it must return the expected share
//! of keys, or the benchmark aborts).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use laminar_core::state::{InMemoryStore, StateStore};

#[path = "common/workload.rs"]
mod workload;
use workload::Workload;

/// Distinct lookup keys cycled through for a store of `keys` keys (a power
/// of two): four per key up to a million, so that at 1M keys the lookups
/// reach the whole store rather than a cached subset of it, while at 10K keys
/// the probe arrays stay about as small as the store.
fn probes(keys: u64) -> usize {
    (keys as usize)
        .saturating_mul(4)
        .clamp(1 << 12, 1 << 20)
        .next_power_of_two()
}

fn key_array(w: &Workload, idx: &[u64]) -> Vec<[u8; 16]> {
    idx.iter()
        .map(|&i| {
            let mut k = [0u8; 16];
            w.write_key(i, &mut k);
            k
        })
        .collect()
}

fn load<S: StateStore>(store: &mut S, w: &Workload) {
    let mut k = [0u8; 16];
    for i in w.insert_order() {
        w.write_key(i, &mut k);
        store.put(&k, Bytes::from(w.value(i))).expect("load");
    }
}

/// Benchmarks one backend at one size.
pub fn bench_backend<S: StateStore>(
    c: &mut Criterion,
    backend: &str,
    keys: u64,
    make: impl Fn() -> S,
) {
    let w = Workload::standard(keys);
    let mut store = make();
    load(&mut store, &w);
    assert_eq!(store.len() as u64, keys);
    let probes = probes(keys);
    let hits = key_array(&w, &w.hit_indices(probes));
    let misses = key_array(&w, &w.miss_indices(probes));
    let mask = probes - 1;

    let mut g = c.benchmark_group(format!("store/{backend}"));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));

    let mut i = 0usize;
    g.bench_function(BenchmarkId::new("get_hit", keys), |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let v = store.get(&hits[i & mask]);
            debug_assert!(v.is_some());
            black_box(v)
        })
    });
    g.bench_function(BenchmarkId::new("get_miss", keys), |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(store.get(&misses[i & mask]))
        })
    });
    g.bench_function(BenchmarkId::new("get_ref", keys), |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(store.get_ref(&hits[i & mask]).map(|v| v.len()))
        })
    });

    let value = Bytes::from(w.value(0));
    g.bench_function(BenchmarkId::new("put_update", keys), |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            store.put(&hits[i & mask], value.clone()).expect("update");
        })
    });

    // Inserts of keys that are not present; removed again outside the timed region.
    g.bench_function(BenchmarkId::new("put_insert", keys), |b| {
        b.iter_custom(|iters| {
            let fresh = key_array(&w, &(keys..keys + iters).collect::<Vec<_>>());
            let start = Instant::now();
            for k in &fresh {
                store.put(k, value.clone()).expect("insert");
            }
            let took = start.elapsed();
            for k in &fresh {
                store.delete(k).expect("cleanup");
            }
            took
        })
    });

    // Deletes of present keys (in load order), put back outside the timed region.
    let all_keys = key_array(&w, &w.insert_order());
    let chunk = (keys as usize / 2).max(1);
    g.bench_function(BenchmarkId::new("delete", keys), |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            let mut left = iters as usize;
            let mut at = 0usize;
            while left > 0 {
                let n = left.min(chunk);
                let start_at = at % all_keys.len();
                let end_at = (start_at + n).min(all_keys.len());
                let victims = &all_keys[start_at..end_at];
                let start = Instant::now();
                for k in victims {
                    store.delete(k).expect("delete");
                }
                took += start.elapsed();
                for k in victims {
                    store.put(k, value.clone()).expect("put back");
                }
                left -= victims.len();
                at = end_at;
            }
            took
        })
    });
    assert_eq!(store.len() as u64, keys);

    // One-byte prefix at 10K keys (~1/256 of them), two bytes at 1M (~1/65536).
    let prefix_len = if keys >= 100_000 { 2 } else { 1 };
    let expected = keys as f64 / 256f64.powi(prefix_len as i32);
    let prefixes: Vec<Vec<u8>> = hits
        .iter()
        .take(256)
        .map(|k| k[..prefix_len].to_vec())
        .collect();
    let total: usize = prefixes.iter().map(|p| store.prefix_scan(p).count()).sum();
    let mean = total as f64 / prefixes.len() as f64;
    assert!(
        mean > expected * 0.5 && mean < expected * 2.0,
        "prefix selectivity off: mean {mean} rows, expected {expected}"
    );
    eprintln!("store/{backend}/prefix_scan/{keys}: {prefix_len}-byte prefix returns {mean:.1} rows on average ({:.4}% of keys)", 100.0 * mean / keys as f64);
    g.throughput(Throughput::Elements(mean.round() as u64));
    g.bench_function(
        BenchmarkId::new(format!("prefix_scan_{prefix_len}B"), keys),
        |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let p = &prefixes[i & 255];
                black_box(store.prefix_scan(p).map(|(_, v)| v.len()).sum::<usize>())
            })
        },
    );
    g.finish();
}

/// Baselines a user would write by hand, in the same run: `get` + clone of the
/// `Bytes` value, like `StateStore::get`.
fn bench_bare_maps(c: &mut Criterion, keys: u64) {
    let w = Workload::standard(keys);
    let probes = probes(keys);
    let hits = key_array(&w, &w.hit_indices(probes));
    let mask = probes - 1;
    let mut g = c.benchmark_group("store/baseline");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    {
        let mut map = std::collections::BTreeMap::<Vec<u8>, Bytes>::new();
        for j in w.insert_order() {
            map.insert(w.key(j), Bytes::from(w.value(j)));
        }
        g.bench_function(BenchmarkId::new("btreemap_vec_get_hit", keys), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                black_box(map.get(&hits[i & mask][..]).cloned())
            })
        });
    }
    #[cfg(feature = "ahash")]
    {
        let mut map = hashbrown::HashMap::<Vec<u8>, Bytes, ahash::RandomState>::with_hasher(
            ahash::RandomState::new(),
        );
        for j in w.insert_order() {
            map.insert(w.key(j), Bytes::from(w.value(j)));
        }
        g.bench_function(BenchmarkId::new("hashbrown_vec_get_hit", keys), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                black_box(map.get(&hits[i & mask][..]).cloned())
            })
        });
    }
    g.finish();
}

fn sizes() -> Vec<u64> {
    match std::env::var("STORE_BENCH_KEYS") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => vec![10_000, 1_000_000],
    }
}

fn store_benches(c: &mut Criterion) {
    #[cfg(feature = "mmap")]
    let dir = tempfile::tempdir().expect("tempdir");
    for keys in sizes() {
        bench_bare_maps(c, keys);
        #[cfg(feature = "mmap")]
        {
            use laminar_core::state::MmapStateStore;
            bench_backend(c, "MmapStateStore-in_memory", keys, || {
                MmapStateStore::in_memory(1 << 20)
            });
            // Never flushed here: see benches/mmap.rs for flush, reopen and space.
            let path = dir.path().join(format!("store-bench-{keys}.db"));
            bench_backend(c, "MmapStateStore-persistent", keys, || {
                MmapStateStore::persistent(&path, 1 << 20).expect("open")
            });
        }
        bench_backend(c, "InMemoryStore", keys, InMemoryStore::new);
        #[cfg(feature = "ahash")]
        bench_backend(
            c,
            "AHashMapStore",
            keys,
            laminar_core::state::AHashMapStore::new,
        );
    }
}

criterion_group!(benches, store_benches);
criterion_main!(benches);
