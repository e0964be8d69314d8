//! Timers and TTL state.
//!
//! - `time_table_1M/{plain,ttl}_{get,put}`: a `Table<u64, u64, AHash>` and a
//!   `TtlTable<u64, u64, AHash>` (event time, TTL far longer than the run,
//!   so nothing expires) holding keys `0..2^20`; each iteration makes the
//!   next [`OPS`] random lookups (`get`) or overwrites (`put`) of present
//!   keys.
//!   Target: TTL within 1.15x of plain.
//! - `time_timers_1M/*`: per timer, with 1M timers pending:
//!   `register_and_delete` registers a timer at a random time and deletes
//!   the oldest registered one (both at random places of the tree);
//!   `fire_and_rearm` advances the watermark one instant, which fires one
//!   timer, and registers it again 1M instants later.
//! - `time_table_1M/plain24_get`: the plain table with 24-byte entries
//!   (`[u64; 2]` values, the size of a TTL entry) to tell the cost of the
//!   larger entry from that of the TTL check.
//! - `time_window_agg/{timers,retain}/{10K,1M}`: the `window_agg` operator
//!   (tumbling windows of 1 000 ms over 256 users, an event per ms, 200 ms
//!   of lateness) per event over streams of 10K and 1M events; `timers`
//!   closes windows with a `TimerQueue`, `retain` with a scan of the table
//!   per watermark step (the example's former code). Target: `timers` flat
//!   (within 1.2x) from 10K to 1M.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use laminar_core::state::time::{TimerQueue, TtlConfig, TtlTable};
use laminar_core::state::typed::{AHash, Table};

const KEYS: u64 = 1 << 20;
const OPS: usize = 4096;
const PROBES: usize = 1 << 20;

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn probes() -> Vec<u64> {
    (0..PROBES as u64).map(|i| mix(i ^ 0xA5A5) % KEYS).collect()
}

fn ttl_table() -> TtlTable<u64, u64, AHash> {
    let cfg = TtlConfig::event_time(i64::MAX).unwrap_or_else(|e| panic!("{e}"));
    let mut t = TtlTable::new(cfg);
    t.advance_to(0).unwrap_or_else(|e| panic!("{e}"));
    for k in 0..KEYS {
        t.put(k, k).unwrap_or_else(|e| panic!("{e}"));
    }
    t
}

fn plain_table() -> Table<u64, u64, AHash> {
    let mut t: Table<u64, u64, AHash> = Table::new();
    for k in 0..KEYS {
        t.put(k, k).unwrap_or_else(|e| panic!("{e}"));
    }
    t
}

fn bench_table(c: &mut Criterion) {
    let probes = probes();
    let mut g = c.benchmark_group("time_table_1M");
    g.throughput(Throughput::Elements(OPS as u64));
    let mut plain = plain_table();
    let mut ttl = ttl_table();
    let mut at = 0usize;
    g.bench_function("plain_get", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for &k in &probes[at..at + OPS] {
                sum = sum.wrapping_add(plain.get(k).copied().unwrap_or(0));
            }
            at = (at + OPS) % PROBES;
            black_box(sum)
        })
    });
    g.bench_function("ttl_get", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for &k in &probes[at..at + OPS] {
                sum = sum.wrapping_add(ttl.get(k).copied().unwrap_or(0));
            }
            at = (at + OPS) % PROBES;
            black_box(sum)
        })
    });
    let mut wide: Table<u64, [u64; 2], AHash> = Table::new();
    for k in 0..KEYS {
        wide.put(k, [k, 0]).unwrap_or_else(|e| panic!("{e}"));
    }
    g.bench_function("plain24_get", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for &k in &probes[at..at + OPS] {
                sum = sum.wrapping_add(wide.get(k).map_or(0, |v| v[0]));
            }
            at = (at + OPS) % PROBES;
            black_box(sum)
        })
    });
    drop(wide);
    g.bench_function("plain_put", |b| {
        b.iter(|| {
            for &k in &probes[at..at + OPS] {
                black_box(plain.put(k, k).ok());
            }
            at = (at + OPS) % PROBES;
        })
    });
    g.bench_function("ttl_put", |b| {
        b.iter(|| {
            for &k in &probes[at..at + OPS] {
                black_box(ttl.put(k, k).ok());
            }
            at = (at + OPS) % PROBES;
        })
    });
    g.finish();
}

fn queue(n: u64) -> TimerQueue<u64> {
    let mut q = TimerQueue::new();
    for i in 0..n {
        q.register(i as i64, mix(i));
    }
    q
}

fn bench_timers(c: &mut Criterion) {
    let mut g = c.benchmark_group("time_timers_1M");
    g.throughput(Throughput::Elements(1));
    // 1M timers at random times; each iteration registers one more at a
    // random time and deletes the oldest registered, so 1M stay pending.
    let mut ring: Vec<(i64, u64)> = (0..KEYS)
        .map(|i| ((mix(i ^ 0x77) % (4 * KEYS)) as i64, i))
        .collect();
    let mut q: TimerQueue<u64> = TimerQueue::new();
    for &(t, k) in &ring {
        q.register(t, k);
    }
    let mut next = KEYS;
    g.bench_function("register_and_delete", |b| {
        b.iter(|| {
            let slot = (next % KEYS) as usize;
            let t = (mix(next ^ 0x77) % (4 * KEYS)) as i64;
            let new = (t, next);
            let old = std::mem::replace(&mut ring[slot], new);
            black_box(q.register(new.0, new.1));
            black_box(q.delete(old.0, &old.1));
            next += 1;
        })
    });
    drop(q);
    drop(ring);
    // 1M timers at distinct instants; each iteration advances the
    // watermark by one instant, which fires one timer, and re-arms it 1M
    // instants later (at the far end of the queue), so 1M stay pending.
    let mut q = queue(KEYS);
    let mut wm: i64 = 0;
    g.bench_function("fire_and_rearm", |b| {
        b.iter(|| {
            if let Ok(fired) = q.advance_to(wm) {
                for (t, k) in fired {
                    q.register(t + KEYS as i64, black_box(k));
                }
            }
            wm += 1;
        })
    });
    g.finish();
}

const WINDOW: i64 = 1_000;
const LATENESS: i64 = 200;
const USERS: u64 = 256;

#[derive(Default, Clone, Copy)]
struct Agg {
    count: u64,
    sum: u64,
}

/// Runs the window aggregation over `events` events; returns the number of
/// closed windows.
fn window_agg(events: u64, timers: bool) -> usize {
    let mut windows: Table<(u64, i64), Agg, AHash> = Table::new();
    let mut closes: TimerQueue<(u64, i64)> = TimerQueue::new();
    let mut watermark = i64::MIN;
    let mut closed = 0usize;
    for i in 0..events {
        let z = mix(i);
        let ts = i as i64 - (z % 100) as i64;
        let user = (z >> 8) % USERS;
        let start = ts.div_euclid(WINDOW) * WINDOW;
        if start + WINDOW <= watermark {
            continue;
        }
        if timers && !windows.contains((user, start)) {
            closes.register(start + WINDOW, (user, start));
        }
        let _ = windows.update((user, start), |a| {
            a.count += 1;
            a.sum += z >> 40;
        });
        let wm = ts - LATENESS;
        if wm > watermark {
            watermark = wm;
            if timers {
                if let Ok(fired) = closes.advance_to(wm) {
                    for (_, (u, s)) in fired {
                        if let Some(a) = windows.delete((u, s)) {
                            closed += 1;
                            black_box(a.count + a.sum);
                        }
                    }
                }
            } else {
                windows.retain(|(_, s), a| {
                    if s + WINDOW <= wm {
                        closed += 1;
                        black_box(a.count + a.sum);
                        false
                    } else {
                        true
                    }
                });
            }
        }
    }
    closed
}

fn bench_window_agg(c: &mut Criterion) {
    let mut g = c.benchmark_group("time_window_agg");
    g.sample_size(10);
    for (name, timers) in [("timers", true), ("retain", false)] {
        for (label, events) in [("10K", 10_000u64), ("1M", 1_000_000)] {
            g.throughput(Throughput::Elements(events));
            g.bench_with_input(BenchmarkId::new(name, label), &events, |b, &n| {
                b.iter(|| black_box(window_agg(n, timers)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_table, bench_timers, bench_window_agg);
criterion_main!(benches);
