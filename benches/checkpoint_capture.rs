//! Checkpoint capture and incremental checkpoints through a `CheckpointDir`.
//!
//! `cargo bench --bench checkpoint_capture` — 1M entries (16-byte keys,
//! 64-byte values, the workload of `benches/common/workload.rs`); set
//! `LAMINAR_BENCH_10M=1` for 10M. The directory lives under the system temp
//! directory (files are fsynced, as in production).
//!
//! Groups:
//! - `checkpoint_pause/<backend>`: the operator thread's time to start a
//!   checkpoint (`capture()` + `CheckpointDir::checkpoint`) after 1% of the
//!   entries changed; the write happens on the writer thread, untimed.
//! - `checkpoint_ops_during_write/<backend>/{idle,writing}`: 256 `get` + 256
//!   `put` on the store, with the writer thread idle or busy writing a full
//!   checkpoint of another store of the same size; `untracked` is the same
//!   batch on a bare store (the cost of change tracking itself).
//! - `checkpoint_write/<backend>/{full,incremental_1pct}`: capture to
//!   durable (`wait()`), for a full checkpoint vs a delta after 1% of the
//!   entries changed; the bytes of each are printed once.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use laminar_core::state::checkpoint::{CheckpointDir, CheckpointOptions, Checkpointed};
use laminar_core::state::{InMemoryStore, StateStore};

#[path = "common/workload.rs"]
mod workload;
use workload::{Rng, Workload};

fn entries() -> u64 {
    if std::env::var("LAMINAR_BENCH_10M").is_ok_and(|v| v == "1") {
        10_000_000
    } else {
        1_000_000
    }
}

fn load<S: StateStore>(store: &mut S, w: &Workload) {
    let mut k = [0u8; 16];
    for i in 0..w.keys {
        w.write_key(i, &mut k);
        store.put(&k, Bytes::from(w.value(i))).expect("load");
    }
}

/// Changes `share` of the entries (puts of a new value version).
fn change<S: StateStore>(store: &mut S, w: &Workload, rng: &mut Rng, share: f64, version: u8) {
    let n = (w.keys as f64 * share) as u64;
    let mut k = [0u8; 16];
    for _ in 0..n {
        let i = rng.below(w.keys);
        w.write_key(i, &mut k);
        store
            .put(&k, Bytes::from(w.value_version(i, version)))
            .expect("put");
    }
}

/// CPU time of the calling thread: the operator's own work, without the
/// time it spent preempted (this machine is shared; wall time is printed too).
#[cfg(target_os = "linux")]
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
#[cfg(not(target_os = "linux"))]
fn thread_cpu() -> Duration {
    Duration::ZERO
}

/// Runs a group's setup only if a command-line filter (if any) could match it.
fn group_wanted(group: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty()
        || filters
            .iter()
            .any(|f| group.contains(f.as_str()) || f.contains(group))
}

fn options() -> CheckpointOptions {
    // Never merge during the benchmark: each delta is measured on its own.
    CheckpointOptions::default()
        .retain(2)
        .materialize_ratio(f64::INFINITY)
        .max_deltas(usize::MAX)
}

fn dir_size(path: &std::path::Path, name_contains: &str) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().contains(name_contains))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn bench_backend<S: StateStore>(c: &mut Criterion, backend: &str, make: impl Fn() -> S) {
    let keys = entries();
    let w = Workload::standard(keys);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut dir = CheckpointDir::open_with(tmp.path(), options()).expect("open");
    let mut store = Checkpointed::new(make());
    load(&mut store, &w);
    let mut epoch = 1u64;
    // The first capture: a base made of the changes of a store that started empty.
    let t = Instant::now();
    let base = store.capture();
    let pause = t.elapsed();
    dir.checkpoint(epoch, [("s", base)])
        .expect("checkpoint")
        .wait()
        .expect("durable");
    eprintln!(
        "{backend}/{keys}: first (base) capture paused the operator {pause:?}; base file {} bytes",
        dir_size(tmp.path(), "-base.part")
    );
    let mut rng = Rng::new(7);
    let mut version = 1u8;

    // p99 of the pause over 20 checkpoints, printed (criterion reports the mean).
    let mut pauses = Vec::new();
    let mut cpu = Vec::new();
    let mut capture_cpu = Vec::new();
    for _ in 0..20 {
        version = version.wrapping_add(1);
        change(&mut store, &w, &mut rng, 0.01, version);
        epoch += 1;
        let c = thread_cpu();
        let t = Instant::now();
        let capture = store.capture();
        let c_mid = thread_cpu();
        let handle = dir.checkpoint(epoch, [("s", capture)]).expect("checkpoint");
        pauses.push(t.elapsed());
        let c_end = thread_cpu();
        cpu.push(c_end.saturating_sub(c));
        capture_cpu.push(c_mid.saturating_sub(c));
        handle.wait().expect("durable");
    }
    pauses.sort();
    cpu.sort();
    capture_cpu.sort();
    eprintln!(
        "{backend}/{keys}: pause to start a checkpoint after 1% changed, 20 checkpoints: \
         wall p50 {:?} max {:?}; operator-thread CPU p50 {:?} max {:?} (of which capture() \
         p50 {:?} max {:?})",
        pauses[10], pauses[19], cpu[10], cpu[19], capture_cpu[10], capture_cpu[19]
    );
    if group_wanted("checkpoint_pause") {
        let mut group = c.benchmark_group("checkpoint_pause");
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(5));
        group.bench_function(BenchmarkId::new(backend, keys), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    version = version.wrapping_add(1);
                    change(&mut store, &w, &mut rng, 0.01, version);
                    epoch += 1;
                    let t = Instant::now();
                    let handle = dir
                        .checkpoint(epoch, [("s", black_box(store.capture()))])
                        .expect("checkpoint");
                    total += t.elapsed();
                    handle.wait().expect("durable");
                }
                total
            })
        });
        group.finish();
    }

    if group_wanted("checkpoint_ops_during_write") {
        // get/put while the writer thread writes a full checkpoint of a ballast store.
        let mut ballast = Checkpointed::new(make());
        load(&mut ballast, &w);
        let mut ballast_epoch = 1u64;
        let ballast_tmp = tempfile::tempdir().expect("tempdir");
        let mut ballast_dir =
            CheckpointDir::open_with(ballast_tmp.path(), options()).expect("open");
        let probe: Vec<[u8; 16]> = (0..4096)
            .map(|_| {
                let mut k = [0u8; 16];
                w.write_key(rng.below(keys), &mut k);
                k
            })
            .collect();
        let value = Bytes::from(w.value(0));
        let mut at_bare = 0usize;
        let mut group = c.benchmark_group("checkpoint_ops_during_write");
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(5))
            .throughput(Throughput::Elements(512));
        for writing in [false, true] {
            let name = if writing { "writing" } else { "idle" };
            let mut in_flight: Option<laminar_core::state::checkpoint::CheckpointHandle> = None;
            let mut busy = 0u64;
            let mut batches = 0u64;
            let mut at = 0usize;
            group.bench_function(BenchmarkId::new(format!("{backend}/{keys}"), name), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        if writing && in_flight.as_ref().is_none_or(|h| h.is_finished()) {
                            if let Some(h) = in_flight.take() {
                                h.wait().expect("durable");
                            }
                            // Rewrapping makes the next capture a full copy (untimed).
                            ballast = Checkpointed::new(
                                std::mem::replace(&mut ballast, Checkpointed::new(make()))
                                    .into_inner(),
                            );
                            ballast_epoch += 1;
                            in_flight = Some(
                                ballast_dir
                                    .checkpoint(ballast_epoch, [("b", ballast.capture())])
                                    .expect("checkpoint"),
                            );
                        }
                        let t = Instant::now();
                        for _ in 0..256 {
                            let k = &probe[at & 4095];
                            at = at.wrapping_add(1);
                            black_box(store.get(k));
                            store.put(k, value.clone()).expect("put");
                        }
                        total += t.elapsed();
                        batches += 1;
                        if in_flight.as_ref().is_some_and(|h| !h.is_finished()) {
                            busy += 1;
                        }
                    }
                    total
                })
            });
            if let Some(h) = in_flight.take() {
                h.wait().expect("durable");
            }
            if writing {
                eprintln!(
                "{backend}/{keys}: {busy} of {batches} timed batches ended with the writer still busy"
            );
            }
        }
        drop(ballast_dir);
        // The cost of tracking itself: the same batch on the bare store
        // (the ballast, unwrapped; same size and content).
        let mut bare = ballast.into_inner();
        group.bench_function(
            BenchmarkId::new(format!("{backend}/{keys}"), "untracked"),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        for _ in 0..256 {
                            let k = &probe[at_bare & 4095];
                            at_bare = at_bare.wrapping_add(1);
                            black_box(bare.get(k));
                            bare.put(k, value.clone()).expect("put");
                        }
                        total += t.elapsed();
                    }
                    total
                })
            },
        );
        group.finish();
        drop(bare);
    }

    if group_wanted("checkpoint_write") {
        // Full vs incremental: capture to durable.
        let mut group = c.benchmark_group("checkpoint_write");
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(10));
        let full_before = dir_size(tmp.path(), "-base.part");
        let _ = full_before;
        group.bench_function(BenchmarkId::new(format!("{backend}/{keys}"), "full"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    store = Checkpointed::new(
                        std::mem::replace(&mut store, Checkpointed::new(make())).into_inner(),
                    );
                    epoch += 1;
                    let t = Instant::now();
                    dir.checkpoint(epoch, [("s", store.capture())])
                        .expect("checkpoint")
                        .wait()
                        .expect("durable");
                    total += t.elapsed();
                }
                total
            })
        });
        let full_bytes = dir
            .manifest(epoch)
            .ok()
            .and_then(|m| {
                m.part("s")
                    .map(|p| p.files().iter().map(|f| f.len()).sum::<u64>())
            })
            .unwrap_or(0);
        group.bench_function(
            BenchmarkId::new(format!("{backend}/{keys}"), "incremental_1pct"),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        version = version.wrapping_add(1);
                        change(&mut store, &w, &mut rng, 0.01, version);
                        epoch += 1;
                        let t = Instant::now();
                        dir.checkpoint(epoch, [("s", store.capture())])
                            .expect("checkpoint")
                            .wait()
                            .expect("durable");
                        total += t.elapsed();
                    }
                    total
                })
            },
        );
        let delta_bytes = dir
            .manifest(epoch)
            .ok()
            .and_then(|m| m.part("s").and_then(|p| p.files().last().map(|f| f.len())))
            .unwrap_or(0);
        eprintln!(
        "{backend}/{keys}: full checkpoint {full_bytes} bytes, 1% delta {delta_bytes} bytes ({:.2}%)",
        100.0 * delta_bytes as f64 / full_bytes.max(1) as f64
    );
        group.finish();
    }
}

/// `LAMINAR_BENCH_BACKEND=in_memory` (or `ahash`, `mmap_in_memory`) runs
/// one backend only: each loads its entries twice before measuring.
fn wanted(backend: &str) -> bool {
    std::env::var("LAMINAR_BENCH_BACKEND").map_or(true, |b| b == backend)
}

fn checkpoint_benches(c: &mut Criterion) {
    if wanted("in_memory") {
        bench_backend(c, "in_memory", InMemoryStore::new);
    }
    #[cfg(feature = "ahash")]
    if wanted("ahash") {
        bench_backend(c, "ahash", laminar_core::state::AHashMapStore::new);
    }
    #[cfg(feature = "mmap")]
    if wanted("mmap_in_memory") {
        bench_backend(c, "mmap_in_memory", || {
            laminar_core::state::MmapStateStore::in_memory(1 << 26)
        });
    }
}

criterion_group!(benches, checkpoint_benches);
criterion_main!(benches);
