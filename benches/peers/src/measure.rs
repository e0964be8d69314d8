//! The measuring loops, generic over [`System`] so each system gets its own
//! monomorphized copy. Every loop checks what it got back (hit counts, scan
//! counts, store sizes) and panics when a benchmark would measure something
//! other than its name says.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::systems::{Reader, System, WriteOp};
use crate::workload::{Dist, Workload};
use crate::Row;

/// How much work each measurement does.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Distributions for get-hit (throughput and latency).
    pub dists: Vec<Dist>,
    /// Rounds of independent lookups (the median round is reported).
    pub rounds: usize,
    /// Lookups per round.
    pub lookups: usize,
    /// Dependent lookups in one latency chain.
    pub chain: usize,
    /// Rounds of each write benchmark.
    pub write_rounds: usize,
    /// Writes per round (fewer if the time budget runs out first).
    pub writes: usize,
    /// Rounds of each scan benchmark.
    pub scan_rounds: usize,
    /// Time budget of one round of a write benchmark.
    pub budget: Duration,
    /// Snapshot cycles (up to 1M keys; one above).
    pub snapshot_runs: usize,
}

/// Resident set size of this process in bytes (`/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn key16(w: &Workload, i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    w.write_key(i, &mut k);
    k
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    if xs.is_empty() {
        f64::NAN
    } else {
        xs[xs.len() / 2]
    }
}

/// Stops speculative execution from running ahead into the next lookup, so a
/// miss (whose "not found" a branch predictor can guess) cannot overlap the next.
#[inline(always)]
fn serialize() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `lfence` has no memory-safety preconditions; SSE2 is baseline on x86_64.
    unsafe {
        std::arch::x86_64::_mm_lfence()
    };
}

/// Independent lookups: ns per lookup over `keys`, asserting every one hits
/// (`hit`) or misses.
fn lookup_round<R: Reader>(r: &R, keys: &[[u8; 16]], hit: bool) -> f64 {
    let t = Instant::now();
    let mut acc = 0u64;
    let mut found = 0usize;
    for k in keys {
        if let Some(v) = r.get(black_box(k)) {
            acc = acc.wrapping_add(v);
            found += 1;
        }
    }
    let ns = t.elapsed().as_nanos() as f64 / keys.len() as f64;
    black_box(acc);
    assert_eq!(found, if hit { keys.len() } else { 0 }, "lookup hit count");
    ns
}

/// Dependent lookups: the index of the next key is computed from the value
/// just read (`(j + 1) ^ (read - expected)`, always `j + 1` but unknown to the
/// CPU until the read completes); each lookup is timed on its own.
fn latency_chain<R: Reader>(
    r: &R,
    keys: &[[u8; 16]],
    expected: &[u64],
    hit: bool,
) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let mut j = 0usize;
    while j < keys.len() {
        serialize();
        let t = Instant::now();
        let got = r.get(&keys[j]);
        let d = match (got, hit) {
            (Some(v), true) => v ^ expected[j],
            (None, false) => 0,
            _ => panic!("latency chain: unexpected hit/miss at step {j}"),
        };
        serialize();
        let ns = t.elapsed().as_nanos() as u64;
        h.record(ns.max(1)).expect("record");
        j = (j + 1) ^ d as usize;
    }
    h
}

/// The cost of the timing itself in a latency chain (two `lfence` + two
/// `Instant::now`), to read the latency figures against.
pub fn timer_overhead_ns() -> u64 {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    for _ in 0..100_000 {
        serialize();
        let t = Instant::now();
        serialize();
        h.record((t.elapsed().as_nanos() as u64).max(1))
            .expect("record");
    }
    h.value_at_quantile(0.5)
}

fn row(system: &str, w: &Workload, op: &str, dist: Dist, median: f64) -> Row {
    Row {
        system: system.to_string(),
        keys: w.keys,
        op: op.to_string(),
        dist: dist.name().to_string(),
        median,
        p99: f64::NAN,
        p999: f64::NAN,
        extra: f64::NAN,
        note: String::new(),
    }
}

fn hist_row(system: &str, w: &Workload, op: &str, dist: Dist, h: &Histogram<u64>) -> Row {
    let mut r = row(system, w, op, dist, h.value_at_quantile(0.5) as f64);
    r.p99 = h.value_at_quantile(0.99) as f64;
    r.p999 = h.value_at_quantile(0.999) as f64;
    r.note = format!("{} dependent lookups", h.len());
    r
}

fn write_round<S: System>(s: &mut S, ops: &[WriteOp<'_>], budget: Duration) -> (f64, usize) {
    let batch = s.batch_size().max(1);
    let t = Instant::now();
    let mut done = 0;
    for chunk in ops.chunks(batch) {
        s.write_batch(chunk);
        done += chunk.len();
        if t.elapsed() > budget {
            break;
        }
    }
    (t.elapsed().as_nanos() as f64 / done.max(1) as f64, done)
}

/// Runs every benchmark of the matrix on system `S` at workload `w`,
/// returning the rows. `dir` is a private scratch directory.
pub fn run_system<S: System>(name: &str, w: &Workload, plan: &Plan, dir: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    let uni = w.with_dist(Dist::Uniform);

    // Load (insert into an empty store, random order) and resident memory.
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = w
        .insert_order()
        .into_iter()
        .map(|i| (w.key(i), w.value(i)))
        .collect();
    let rss0 = rss_bytes();
    let t = Instant::now();
    let mut s = S::create(dir, w);
    let load_note = s.load(&pairs);
    let load_ns = t.elapsed().as_nanos() as f64 / w.keys.max(1) as f64;
    let rss1 = rss_bytes();
    drop(pairs);
    assert_eq!(s.len(), w.keys, "{name}: load count");
    let mut r = row(name, w, "load", Dist::Uniform, load_ns);
    r.note = load_note.unwrap_or("").to_string();
    rows.push(r);
    let mut r = row(
        name,
        w,
        "memory",
        Dist::Uniform,
        (rss1.saturating_sub(rss0)) as f64 / w.keys.max(1) as f64,
    );
    r.note = "RSS delta around the load / entries (bytes)".to_string();
    rows.push(r);
    eprintln!("    loaded in {:.1}s", load_ns * w.keys as f64 / 1e9);

    // Point lookups: hits per distribution, misses uniform.
    for &dist in &plan.dists {
        let wd = w.with_dist(dist);
        let idx = wd.hit_indices(plan.lookups.max(plan.chain));
        let keys: Vec<[u8; 16]> = idx.iter().map(|&i| key16(w, i)).collect();
        let reader = s.reader();
        let mut rounds: Vec<f64> = (0..plan.rounds)
            .map(|_| lookup_round(&reader, &keys[..plan.lookups], true))
            .collect();
        rows.push(row(name, w, "get_hit", dist, median(&mut rounds)));
        let h = latency_chain(&reader, &keys[..plan.chain], &idx[..plan.chain], true);
        rows.push(hist_row(name, w, "get_hit_latency", dist, &h));
    }
    {
        let idx = uni.miss_indices(plan.lookups.max(plan.chain));
        let keys: Vec<[u8; 16]> = idx.iter().map(|&i| key16(w, i)).collect();
        let reader = s.reader();
        let mut rounds: Vec<f64> = (0..plan.rounds)
            .map(|_| lookup_round(&reader, &keys[..plan.lookups], false))
            .collect();
        rows.push(row(name, w, "get_miss", Dist::Uniform, median(&mut rounds)));
        let h = latency_chain(&reader, &keys[..plan.chain], &idx[..plan.chain], false);
        rows.push(hist_row(name, w, "get_miss_latency", Dist::Uniform, &h));
    }
    eprintln!("    lookups done");

    // Scans of checked selectivity.
    if S::SCANS && w.keys > 0 {
        let prefixes: Vec<(Vec<u8>, u64)> = (0..8u8)
            .map(|p| {
                let prefix = Workload::prefix(p.wrapping_mul(37).wrapping_add(5));
                let n = w.count_prefix(&prefix);
                (prefix, n)
            })
            .collect();
        let ranges: Vec<(Vec<u8>, Vec<u8>, u64)> = [0.1, 0.3, 0.5, 0.7]
            .iter()
            .map(|&from| {
                let (a, b) = Workload::range_bounds(from, 0.01);
                let n = w.count_range(&a, &b);
                (a, b, n)
            })
            .collect();
        let reader = s.reader();
        let mut times = Vec::new();
        for _ in 0..plan.scan_rounds {
            let t = Instant::now();
            for (p, n) in &prefixes {
                let got = reader.prefix_count(black_box(p));
                assert_eq!(got, *n, "{name}: prefix scan count");
            }
            times.push(t.elapsed().as_nanos() as f64 / prefixes.len() as f64);
        }
        let avg = prefixes.iter().map(|p| p.1).sum::<u64>() as f64 / prefixes.len() as f64;
        let mut r = row(name, w, "prefix_scan", Dist::Uniform, median(&mut times));
        r.extra = avg;
        r.note = format!(
            "{} one-byte prefixes; {:.1} of {} entries returned per scan on average ({:.3} %), every count checked against the workload",
            prefixes.len(),
            avg,
            w.keys,
            100.0 * avg / w.keys as f64,
        );
        rows.push(r);
        let mut times = Vec::new();
        for _ in 0..plan.scan_rounds {
            let t = Instant::now();
            for (a, b, n) in &ranges {
                let got = reader.range_count(black_box(a), black_box(b));
                assert_eq!(got, *n, "{name}: range scan count");
            }
            times.push(t.elapsed().as_nanos() as f64 / ranges.len() as f64);
        }
        let avg = ranges.iter().map(|p| p.2).sum::<u64>() as f64 / ranges.len() as f64;
        let mut r = row(name, w, "range_scan", Dist::Uniform, median(&mut times));
        r.extra = avg;
        r.note = format!(
            "{} ranges of 1 % of the key space; {:.1} of {} entries returned per scan on average ({:.3} %), every count checked against the workload",
            ranges.len(),
            avg,
            w.keys,
            100.0 * avg / w.keys as f64,
        );
        rows.push(r);
        eprintln!("    scans done");
    }

    // Writes: update existing keys, insert new keys, delete them again.
    {
        let mut upd = Vec::new();
        let mut ins = Vec::new();
        let mut del = Vec::new();
        let mut counts = (0, 0, 0);
        for round in 0..plan.write_rounds {
            let wr = Workload {
                seed: w.seed ^ (round as u64 + 1).wrapping_mul(0x9E37),
                ..uni.clone()
            };
            let idx = wr.hit_indices(plan.writes);
            let data: Vec<([u8; 16], Vec<u8>)> = idx
                .iter()
                .map(|&i| (key16(w, i), w.value_version(i, round as u8 + 1)))
                .collect();
            let ops: Vec<WriteOp<'_>> = data.iter().map(|(k, v)| (&k[..], Some(&v[..]))).collect();
            let (ns, n) = write_round(&mut s, &ops, plan.budget);
            upd.push(ns);
            counts.0 += n;

            let base = w.keys + 1_000_000_000 + (round * plan.writes) as u64;
            let data: Vec<([u8; 16], Vec<u8>)> = (0..plan.writes as u64)
                .map(|j| (key16(w, base + j), w.value(base + j)))
                .collect();
            let ops: Vec<WriteOp<'_>> = data.iter().map(|(k, v)| (&k[..], Some(&v[..]))).collect();
            let (ns, n) = write_round(&mut s, &ops, plan.budget);
            ins.push(ns);
            counts.1 += n;
            assert_eq!(s.len(), w.keys + n as u64, "{name}: insert count");

            let ops: Vec<WriteOp<'_>> = data[..n].iter().map(|(k, _)| (&k[..], None)).collect();
            let (ns, m) = write_round(&mut s, &ops, Duration::MAX);
            assert_eq!(m, n);
            del.push(ns);
            counts.2 += m;
            assert_eq!(s.len(), w.keys, "{name}: delete count");
        }
        let batch = s.batch_size();
        let mut r = row(name, w, "update", Dist::Uniform, median(&mut upd));
        r.note = format!(
            "{} writes, {} per transaction where transactional",
            counts.0, batch
        );
        rows.push(r);
        let mut r = row(name, w, "insert", Dist::Uniform, median(&mut ins));
        r.note = format!(
            "{} new keys, {} per transaction where transactional",
            counts.1, batch
        );
        rows.push(r);
        let mut r = row(name, w, "delete", Dist::Uniform, median(&mut del));
        r.note = format!(
            "{} present keys, {} per transaction where transactional",
            counts.2, batch
        );
        rows.push(r);
        eprintln!("    writes done");
    }

    // Snapshot create + serialize, restore (median of a few runs); flush and reopen.
    let runs = if w.keys <= 1_000_000 {
        plan.snapshot_runs
    } else {
        1
    };
    let mut cycles: Vec<(Duration, Duration, usize)> = Vec::new();
    for run in 0..runs.max(1) {
        let snap_dir = dir.join(format!("snap{run}"));
        std::fs::create_dir_all(&snap_dir).expect("snapshot scratch dir");
        match s.snapshot_cycle(&snap_dir, w) {
            Some(c) => cycles.push(c),
            None => break,
        }
    }
    if !cycles.is_empty() {
        let bytes = cycles[0].2;
        let mut create: Vec<f64> = cycles.iter().map(|c| c.0.as_nanos() as f64).collect();
        let mut restore: Vec<f64> = cycles.iter().map(|c| c.1.as_nanos() as f64).collect();
        let mut r = row(name, w, "snapshot", Dist::Uniform, median(&mut create));
        r.note = format!(
            "create + serialize, {bytes} bytes ({:.1} per entry); median of {} runs",
            bytes as f64 / w.keys.max(1) as f64,
            cycles.len()
        );
        rows.push(r);
        let mut r = row(name, w, "restore", Dist::Uniform, median(&mut restore));
        r.note = format!(
            "deserialize (validated) + restore into an empty store; median of {} runs",
            cycles.len()
        );
        rows.push(r);
    }
    if let Some((flush, reopen)) = s.flush_reopen(dir, w) {
        let mut r = row(name, w, "flush", Dist::Uniform, flush.as_nanos() as f64);
        r.note = "durable flush after the write benchmarks".to_string();
        rows.push(r);
        let mut r = row(name, w, "reopen", Dist::Uniform, reopen.as_nanos() as f64);
        r.note = "close, reopen, entry count checked".to_string();
        rows.push(r);
        // A lookup after reopen still finds the data.
        let k = key16(w, 0);
        if w.keys > 0 {
            assert_eq!(s.reader().get(&k), Some(0), "{name}: lookup after reopen");
        }
    }
    rows
}

/// Independent-lookup throughput of three systems measured in interleaved
/// rounds (the order rotates each round), so slow drift of the machine hits
/// them alike. Returns ns/op per round for each.
pub fn interleaved<A: System, B: System, C: System>(
    w: &Workload,
    dir: &Path,
    rounds: usize,
    lookups: usize,
) -> [Vec<f64>; 3] {
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = w
        .insert_order()
        .into_iter()
        .map(|i| (w.key(i), w.value(i)))
        .collect();
    let mut a = A::create(&dir.join("a"), w);
    a.load(&pairs);
    let mut b = B::create(&dir.join("b"), w);
    b.load(&pairs);
    let mut c = C::create(&dir.join("c"), w);
    c.load(&pairs);
    drop(pairs);
    let idx = w.hit_indices(lookups);
    let keys: Vec<[u8; 16]> = idx.iter().map(|&i| key16(w, i)).collect();
    let (ra, rb, rc) = (a.reader(), b.reader(), c.reader());
    // Warm up each once.
    lookup_round(&ra, &keys, true);
    lookup_round(&rb, &keys, true);
    lookup_round(&rc, &keys, true);
    let mut out = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..rounds {
        for slot in 0..3 {
            let which = (slot + round) % 3;
            let ns = match which {
                0 => lookup_round(&ra, &keys, true),
                1 => lookup_round(&rb, &keys, true),
                _ => lookup_round(&rc, &keys, true),
            };
            out[which].push(ns);
        }
    }
    out
}
