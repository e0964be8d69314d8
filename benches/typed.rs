//! Typed tables against a bare hash map and the byte-level store.
//!
//! Logical key: `(region, id)` with 64 regions (dictionary-encoded in typed
//! tables) and a unique `id`; value: `u64`. Loaded in random order.
//!
//! - `typed_get_1M/*`: independent point lookups (throughput), random order,
//!   each iteration the next [`LOOKUPS`] of [`PROBES`] random keys (so the
//!   lookups reach the whole table and miss the cache as they would in an
//!   operator, instead of revisiting a few thousand cached entries),
//!   for every typed backend marker, a bare `hashbrown::HashMap<u64, u64>`
//!   keyed by `id`, and the byte-level `AHashMapStore` keyed by the encoded
//!   `(region, id)` bytes. The `Mmap` marker (feature `mmap`) is measured
//!   twice: `get` (validated and deserialized, an owned `u64`) and
//!   `get_archived` (validated, zero-copy `&Archived<u64>`).
//!   `typed_AHash_get_many16` makes the same lookups 16 keys per
//!   `Table::get_many` call, `typed_AHash_get_each` through one
//!   `Table::get_each` call per window (its pipeline requests each key's
//!   slot 16 keys ahead).
//! - `typed_chase_*/*`: dependent lookups (latency): each value is the id of
//!   the next key to look up, following one random cycle through all keys.
//!   1M keys always; 10M keys when `LAMINAR_BENCH_10M=1` (about 2 GB of RAM).

#![allow(missing_docs)] // criterion_group! generates undocumented functions

#[path = "common/workload.rs"]
mod workload;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use laminar_core::state::key::{encode_key, Dict};
use laminar_core::state::typed::{AHash, BTree, NativeBackend, Table};
use laminar_core::state::{AHashMapStore, StateStore};
use workload::{mix, Rng};

const REGIONS: usize = 64;
/// Lookups per measured iteration.
const LOOKUPS: usize = 4096;
/// Keys per `get_many` call in `typed_AHash_get_many16`.
const BATCH: usize = 16;
const _: () = assert!(LOOKUPS.is_multiple_of(BATCH));
/// Distinct random lookup keys, visited [`LOOKUPS`] at a time in turn: a
/// million uniform draws reach about 63% of a million-entry table's entries,
/// spread over all of it, far more than the cache holds.
const PROBES: usize = 1 << 20;
// Every window is a full one.
const _: () = assert!(PROBES.is_multiple_of(LOOKUPS));
const SEED: u64 = 0x5EED_1A31_0000_0004;

fn regions() -> Vec<String> {
    (0..REGIONS).map(|r| format!("region-{r:02}")).collect()
}

/// Region of key `id` (cheap, so dependent chains can recompute it).
#[inline]
fn region_of(regions: &[String], id: u64) -> &str {
    &regions[(mix(id ^ SEED) % REGIONS as u64) as usize]
}

/// Byte-level key of `(region, id)`: the same encoding typed `(String, u64)` uses.
fn byte_key(region: &str, id: u64, out: &mut Vec<u8>) {
    out.clear();
    encode_key::<(String, u64)>((region, id), &((), ()), out);
}

/// Load order and the chase cycle: `next[id]` is a random single cycle.
fn permutation(n: u64) -> Vec<u64> {
    let mut order: Vec<u64> = (0..n).collect();
    let mut rng = Rng::new(SEED);
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

/// `next[order[k]] = order[k + 1]`: one cycle through every id.
fn cycle(order: &[u64]) -> Vec<u64> {
    let mut next = vec![0u64; order.len()];
    for k in 0..order.len() {
        next[order[k] as usize] = order[(k + 1) % order.len()];
    }
    next
}

fn typed_table<B: NativeBackend>(
    regions: &[String],
    order: &[u64],
    next: &[u64],
) -> Table<(Dict<String>, u64), u64, B> {
    let mut t: Table<(Dict<String>, u64), u64, B> = Table::new();
    for &id in order {
        t.put((region_of(regions, id), id), next[id as usize])
            .expect("dictionary has room");
    }
    t
}

#[cfg(feature = "mmap")]
fn mmap_table(
    regions: &[String],
    order: &[u64],
    next: &[u64],
) -> Table<(Dict<String>, u64), u64, laminar_core::state::typed::Mmap> {
    let mut t: Table<(Dict<String>, u64), u64, laminar_core::state::typed::Mmap> = Table::new();
    for &id in order {
        t.put((region_of(regions, id), id), next[id as usize])
            .expect("in-memory put");
    }
    t
}

fn bare_map(order: &[u64], next: &[u64]) -> hashbrown::HashMap<u64, u64> {
    let mut m = hashbrown::HashMap::with_capacity(order.len());
    for &id in order {
        m.insert(id, next[id as usize]);
    }
    m
}

fn byte_store(regions: &[String], order: &[u64], next: &[u64]) -> AHashMapStore {
    let mut s = AHashMapStore::with_capacity(order.len());
    let mut k = Vec::new();
    for &id in order {
        byte_key(region_of(regions, id), id, &mut k);
        s.put(
            &k,
            bytes::Bytes::copy_from_slice(&next[id as usize].to_le_bytes()),
        )
        .expect("in-memory put");
    }
    s
}

/// Hands out consecutive windows of [`LOOKUPS`] elements of a probe array,
/// wrapping around at its end.
#[derive(Default)]
struct Windows {
    start: usize,
}

impl Windows {
    fn next<'a, T>(&mut self, all: &'a [T]) -> &'a [T] {
        if self.start + LOOKUPS > all.len() {
            self.start = 0;
        }
        let window = &all[self.start..(self.start + LOOKUPS).min(all.len())];
        self.start += LOOKUPS;
        window
    }
}

fn lookups(c: &mut Criterion) {
    let n = 1_000_000u64;
    let regions = regions();
    let order = permutation(n);
    let next = cycle(&order);
    let mut rng = Rng::new(SEED ^ 7);
    let ids: Vec<u64> = (0..PROBES).map(|_| rng.below(n)).collect();
    let keys: Vec<(&str, u64)> = ids
        .iter()
        .map(|&id| (region_of(&regions, id), id))
        .collect();

    assert_eq!(keys.len(), PROBES, "one probe key per id");
    let mut g = c.benchmark_group("typed_get_1M");
    g.throughput(Throughput::Elements(LOOKUPS as u64));
    {
        let m = bare_map(&order, &next);
        let mut w = Windows::default();
        g.bench_function("bare_hashbrown_u64", |b| {
            b.iter(|| {
                w.next(&ids)
                    .iter()
                    .map(|id| *m.get(black_box(id)).unwrap_or(&0))
                    .fold(0u64, u64::wrapping_add)
            })
        });
    }
    {
        // The layout typed tables use for this key, in a bare map: shows how
        // much of the gap is the wider entry rather than the typed layer.
        let t = typed_table::<AHash>(&regions, &order, &next);
        let mut m: hashbrown::HashMap<(u32, u64), u64> =
            hashbrown::HashMap::with_capacity(order.len());
        for &id in &order {
            if let Some((code, id)) = t.encode_key((region_of(&regions, id), id)) {
                m.insert((code.get(), id), next[id as usize]);
            }
        }
        let encoded: Vec<(u32, u64)> = keys
            .iter()
            .filter_map(|&k| t.encode_key(k))
            .map(|(code, id)| (code.get(), id))
            .collect();
        assert_eq!(encoded.len(), PROBES, "every probe key is in the table");
        drop(t);
        let mut w = Windows::default();
        g.bench_function("bare_hashbrown_u32_u64", |b| {
            b.iter(|| {
                w.next(&encoded)
                    .iter()
                    .map(|k| *m.get(black_box(k)).unwrap_or(&0))
                    .fold(0u64, u64::wrapping_add)
            })
        });
    }
    {
        let t = typed_table::<AHash>(&regions, &order, &next);
        let mut w = Windows::default();
        g.bench_function("typed_AHash", |b| {
            b.iter(|| {
                w.next(&keys)
                    .iter()
                    .map(|&k| *t.get(black_box(k)).unwrap_or(&0))
                    .fold(0u64, u64::wrapping_add)
            })
        });
    }
    {
        let t = typed_table::<AHash>(&regions, &order, &next);
        let encoded: Vec<_> = keys.iter().filter_map(|&k| t.encode_key(k)).collect();
        assert_eq!(encoded.len(), PROBES, "every probe key is in the table");
        let mut w = Windows::default();
        g.bench_function("typed_AHash_pre_encoded", |b| {
            b.iter(|| {
                w.next(&encoded)
                    .iter()
                    .map(|k| *t.get_encoded(black_box(k)).unwrap_or(&0))
                    .fold(0u64, u64::wrapping_add)
            })
        });
    }
    {
        // The same lookups, [`BATCH`] keys per `get_many` call: every key's
        // slot is requested before the first is read.
        let t = typed_table::<AHash>(&regions, &order, &next);
        let mut w = Windows::default();
        g.bench_function("typed_AHash_get_many16", |b| {
            b.iter(|| {
                let (batches, rest) = w.next(&keys).as_chunks::<BATCH>();
                assert!(rest.is_empty(), "a window is whole batches");
                batches
                    .iter()
                    .flat_map(|&batch| t.get_many(black_box(batch)))
                    .map(|v| *v.unwrap_or(&0))
                    .fold(0u64, u64::wrapping_add)
            })
        });
    }
    {
        // The same lookups through `get_each`: a pipeline that requests
        // each key's slot 16 keys before it reads it.
        let t = typed_table::<AHash>(&regions, &order, &next);
        let mut w = Windows::default();
        g.bench_function("typed_AHash_get_each", |b| {
            b.iter(|| {
                t.get_each(black_box(w.next(&keys)).iter().copied())
                    .map(|v| *v.unwrap_or(&0))
                    .fold(0u64, u64::wrapping_add)
            })
        });
    }
    {
        let t = typed_table::<BTree>(&regions, &order, &next);
        let mut w = Windows::default();
        g.bench_function("typed_BTree", |b| {
            b.iter(|| {
                w.next(&keys)
                    .iter()
                    .map(|&k| *t.get(black_box(k)).unwrap_or(&0))
                    .fold(0u64, u64::wrapping_add)
            })
        });
    }
    #[cfg(feature = "mmap")]
    {
        let t = mmap_table(&regions, &order, &next);
        let mut w = Windows::default();
        g.bench_function("typed_Mmap_owned", |b| {
            b.iter(|| {
                w.next(&keys)
                    .iter()
                    .map(|&k| t.get(black_box(k)).ok().flatten().unwrap_or(0))
                    .fold(0u64, u64::wrapping_add)
            })
        });
        g.bench_function("typed_Mmap_archived", |b| {
            b.iter(|| {
                w.next(&keys)
                    .iter()
                    .map(|&k| {
                        t.get_archived(black_box(k))
                            .ok()
                            .flatten()
                            .map_or(0, |v| v.to_native())
                    })
                    .fold(0u64, u64::wrapping_add)
            })
        });
    }
    {
        let s = byte_store(&regions, &order, &next);
        let mut buf = Vec::with_capacity(32);
        let mut w = Windows::default();
        g.bench_function("bytes_AHashMapStore", |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for &(r, id) in w.next(&keys) {
                    byte_key(r, id, &mut buf);
                    if let Some(v) = s.get_ref(black_box(&buf)) {
                        acc = acc.wrapping_add(
                            v.first_chunk::<8>().map_or(0, |b| u64::from_le_bytes(*b)),
                        );
                    }
                }
                acc
            })
        });
    }
    {
        let mut d = laminar_core::state::DictionaryKeyEncoder::new();
        for r in &regions {
            d.encode_or_insert(r.as_bytes()).expect("room");
        }
        // The dictionary holds 64 values and stays in cache whatever the
        // keys: one window of them, without streaming the probe array.
        let few = keys.get(..LOOKUPS).unwrap_or(&keys);
        g.bench_function("dictionary_encode_only", |b| {
            b.iter(|| {
                few.iter()
                    .map(|&(r, _)| d.encode(black_box(r.as_bytes())).unwrap_or(0))
                    .fold(0u32, u32::wrapping_add)
            })
        });
    }
    g.finish();
}

fn chase_group(c: &mut Criterion, n: u64) {
    let regions = regions();
    let order = permutation(n);
    let next = cycle(&order);
    let steps = 1024u64;
    let name = format!("typed_chase_{}M", n / 1_000_000);
    let mut g = c.benchmark_group(&name);
    g.throughput(Throughput::Elements(steps));
    {
        let m = bare_map(&order, &next);
        let mut id = order[0];
        g.bench_function(BenchmarkId::new("bare_hashbrown_u64", n), |b| {
            b.iter(|| {
                for _ in 0..steps {
                    id = *m.get(&id).unwrap_or(&0);
                }
                id
            })
        });
    }
    {
        let t = typed_table::<AHash>(&regions, &order, &next);
        let mut id = order[0];
        g.bench_function(BenchmarkId::new("typed_AHash", n), |b| {
            b.iter(|| {
                for _ in 0..steps {
                    id = *t.get((region_of(&regions, id), id)).unwrap_or(&0);
                }
                id
            })
        });
    }
    {
        let t = typed_table::<BTree>(&regions, &order, &next);
        let mut id = order[0];
        g.bench_function(BenchmarkId::new("typed_BTree", n), |b| {
            b.iter(|| {
                for _ in 0..steps {
                    id = *t.get((region_of(&regions, id), id)).unwrap_or(&0);
                }
                id
            })
        });
    }
    #[cfg(feature = "mmap")]
    {
        let t = mmap_table(&regions, &order, &next);
        let mut id = order[0];
        g.bench_function(BenchmarkId::new("typed_Mmap_archived", n), |b| {
            b.iter(|| {
                for _ in 0..steps {
                    id = t
                        .get_archived((region_of(&regions, id), id))
                        .ok()
                        .flatten()
                        .map_or(0, |v| v.to_native());
                }
                id
            })
        });
    }
    g.finish();
}

fn chase(c: &mut Criterion) {
    chase_group(c, 1_000_000);
    if std::env::var("LAMINAR_BENCH_10M").is_ok_and(|v| v == "1") {
        chase_group(c, 10_000_000);
    }
}

criterion_group!(benches, lookups, chase);
criterion_main!(benches);
