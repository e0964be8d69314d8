//! Writes `BENCHMARKS.md` and the latency plot from the measured rows. Every
//! number in the output comes from a [`Row`] of this run (or from criterion's
//! own `estimates.json` files); nothing is typed in by hand.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{Mode, Row, Side, BARE_FIXED, BARE_HASH};

/// Everything about the run besides the rows.
pub struct Context {
    /// The command line as a user would type it.
    pub command: String,
    /// Quick or full.
    pub mode: Mode,
    /// Key counts run.
    pub key_counts: Vec<u64>,
    /// Systems run: `(id, name, side)`.
    pub systems: Vec<(&'static str, &'static str, Side)>,
    /// Wall time of the whole comparison.
    pub elapsed: Duration,
    /// Workers that failed.
    pub failures: Vec<String>,
    /// Median cost of the timing around one lookup in latency chains.
    pub timer_overhead_ns: u64,
    /// Repository root.
    pub root: PathBuf,
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> Vec<String> {
    let lscpu = sh("lscpu", &[]);
    let field = |name: &str| {
        lscpu
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "?".to_string())
    };
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find(|l| l.starts_with("MemTotal")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<u64>().ok())
            })
        })
        .map(|kib| format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0)))
        .unwrap_or_else(|| "?".into());
    vec![
        format!(
            "CPU: {} ({} CPUs, {} threads per core)",
            field("Model name"),
            field("CPU(s)"),
            field("Thread(s) per core")
        ),
        format!("Memory: {mem}"),
        format!("Kernel: {}", sh("uname", &["-srm"])),
        format!("rustc: {}", sh("rustc", &["--version"])),
    ]
}

fn side_of(ctx: &Context, system: &str) -> Side {
    ctx.systems
        .iter()
        .find(|s| s.1 == system)
        .map(|s| s.2)
        .unwrap_or(Side::Peer)
}

fn find<'a>(rows: &'a [Row], system: &str, keys: u64, op: &str, dist: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.system == system && r.keys == keys && r.op == op && r.dist == dist)
}

/// Best (lowest) median of the reference's backends for one workload.
fn ref_best<'a>(
    ctx: &Context,
    rows: &'a [Row],
    keys: u64,
    op: &str,
    dist: &str,
) -> Option<&'a Row> {
    rows.iter()
        .filter(|r| r.keys == keys && r.op == op && r.dist == dist)
        .filter(|r| side_of(ctx, &r.system) == Side::Reference)
        .filter(|r| r.median.is_finite())
        .min_by(|a, b| a.median.total_cmp(&b.median))
}

fn fmt_ns(ns: f64) -> String {
    if !ns.is_finite() {
        "–".to_string()
    } else if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e4 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns >= 100.0 {
        format!("{ns:.0} ns")
    } else {
        format!("{ns:.1} ns")
    }
}

fn fmt_ratio(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}x")
    } else {
        "–".to_string()
    }
}

fn fmt_keys(k: u64) -> String {
    if k >= 1_000_000 && k.is_multiple_of(1_000_000) {
        format!("{}M", k / 1_000_000)
    } else if k >= 1_000 && k.is_multiple_of(1_000) {
        format!("{}K", k / 1_000)
    } else {
        k.to_string()
    }
}

/// `(op, dist, title, unit note, is latency, is memory)`
const SECTIONS: &[(&str, &str, &str, &str)] = &[
    ("get_hit", "uniform", "get, hit, uniform keys: throughput", "ns per lookup, independent lookups, median of rounds"),
    ("get_hit", "zipf", "get, hit, Zipf(0.99) keys: throughput", "ns per lookup, independent lookups, median of rounds"),
    ("get_hit", "sequential", "get, hit, keys in index order: throughput", "ns per lookup, independent lookups, median of rounds"),
    ("get_miss", "uniform", "get, miss: throughput", "ns per lookup, independent lookups, median of rounds"),
    ("get_hit_latency", "uniform", "get, hit, uniform keys: latency", "dependent chain, p50 / p99 / p99.9 per lookup"),
    ("get_hit_latency", "zipf", "get, hit, Zipf(0.99) keys: latency", "dependent chain, p50 / p99 / p99.9 per lookup"),
    ("get_hit_latency", "sequential", "get, hit, keys in index order: latency", "dependent chain, p50 / p99 / p99.9 per lookup"),
    ("get_miss_latency", "uniform", "get, miss: latency", "dependent chain, p50 / p99 / p99.9 per lookup"),
    ("update", "uniform", "update (put over a present key)", "ns per write, median of rounds"),
    ("insert", "uniform", "insert (put of a new key)", "ns per write, median of rounds"),
    ("delete", "uniform", "delete (present key)", "ns per write, median of rounds"),
    ("prefix_scan", "uniform", "prefix scan", "time per scan, median of rounds; selectivity in the notes"),
    ("range_scan", "uniform", "range scan", "time per scan, median of rounds; selectivity in the notes"),
    ("snapshot", "uniform", "snapshot create + serialize", "one run"),
    ("restore", "uniform", "snapshot deserialize + restore", "one run"),
    ("flush", "uniform", "flush (durable)", "one run"),
    ("reopen", "uniform", "close and reopen", "one run"),
    ("load", "uniform", "load (insert every key into an empty store, random order)", "ns per key"),
    ("memory", "uniform", "resident memory per entry", "bytes per entry: RSS delta around the load / entries (16-byte key + 64-byte value = 80 bytes of payload)"),
];

fn table(ctx: &Context, rows: &[Row], op: &str, dist: &str, out: &mut String) {
    let latency = op.ends_with("_latency");
    let memory = op == "memory";
    let scan = op.ends_with("_scan");
    let keys: Vec<u64> = ctx
        .key_counts
        .iter()
        .copied()
        .filter(|&k| {
            rows.iter()
                .any(|r| r.keys == k && r.op == op && r.dist == dist)
        })
        .collect();
    let mut header = String::from("| system |");
    let mut rule = String::from("|---|");
    for &k in &keys {
        if latency {
            let _ = write!(header, " {0} p50 | {0} p99 | {0} p99.9 |", fmt_keys(k));
            rule.push_str("---:|---:|---:|");
        } else {
            let _ = write!(header, " {} |", fmt_keys(k));
            rule.push_str("---:|");
        }
        if scan {
            let _ = write!(header, " {} ns/entry |", fmt_keys(k));
            rule.push_str("---:|");
        }
        let _ = write!(header, " {0} vs hashbrown | {0} vs ref best |", fmt_keys(k));
        rule.push_str("---:|---:|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    let mut notes: BTreeMap<(u64, String), Vec<&str>> = BTreeMap::new();
    let mut shown = 0;
    for (_, name, _) in &ctx.systems {
        if !keys
            .iter()
            .any(|&k| find(rows, name, k, op, dist).is_some())
        {
            continue;
        }
        shown += 1;
        let mut line = format!("| {name} |");
        for &k in &keys {
            let r = find(rows, name, k, op, dist);
            let m = r.map_or(f64::NAN, |r| r.median);
            let cell = |x: f64| {
                if memory {
                    if x.is_finite() {
                        format!("{x:.0} B")
                    } else {
                        "–".into()
                    }
                } else {
                    fmt_ns(x)
                }
            };
            if latency {
                let (p99, p999) = r.map_or((f64::NAN, f64::NAN), |r| (r.p99, r.p999));
                let _ = write!(line, " {} | {} | {} |", cell(m), cell(p99), cell(p999));
            } else {
                let _ = write!(line, " {} |", cell(m));
            }
            if scan {
                let per = r.map_or(f64::NAN, |r| r.median / r.extra);
                let _ = write!(line, " {} |", fmt_ns(per));
            }
            let base = find(rows, BARE_HASH, k, op, dist).map_or(f64::NAN, |r| r.median);
            let best = ref_best(ctx, rows, k, op, dist).map_or(f64::NAN, |r| r.median);
            let _ = write!(line, " {} | {} |", fmt_ratio(m / base), fmt_ratio(m / best));
            if let Some(r) = r {
                if !r.note.is_empty() && !latency {
                    notes.entry((k, r.note.clone())).or_default().push(name);
                }
            }
        }
        let _ = writeln!(out, "{line}");
    }
    if !notes.is_empty() {
        out.push('\n');
        for ((k, note), names) in notes {
            let who = if names.len() == shown {
                "every system".to_string()
            } else {
                names.join(", ")
            };
            let _ = writeln!(out, "- {} keys, {who}: {note}", fmt_keys(k));
        }
    }
    out.push('\n');
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "PASS",
        Some(false) => "MISS",
        None => "NOT MEASURED",
    }
}

fn targets(ctx: &Context, rows: &[Row], out: &mut String) {
    let k = 1_000_000;
    let get = |name: &str| find(rows, name, k, "get_hit", "uniform").map(|r| r.median);
    let best = ref_best(ctx, rows, k, "get_hit", "uniform");
    let _ = writeln!(out, "All at 1M keys, 16-byte keys, 64-byte values, uniform random hits, `get` throughput (median of rounds), unless said otherwise.\n");

    // Every backend of ours ahead of the reference's best backend.
    let ours: Vec<&str> = ctx
        .systems
        .iter()
        .filter(|s| s.2 == Side::Ours)
        .map(|s| s.1)
        .collect();
    for name in &ours {
        let v = get(name);
        let ok = match (v, best) {
            (Some(v), Some(b)) => Some(v < b.median),
            _ => None,
        };
        let _ = writeln!(
            out,
            "- **{}**: {name} `get` ahead of the reference's best backend ({}): {} vs {} ({}).",
            verdict(ok),
            best.map_or("–".to_string(), |b| b.system.clone()),
            v.map_or("–".into(), fmt_ns),
            best.map_or("–".into(), |b| fmt_ns(b.median)),
            fmt_ratio(v.unwrap_or(f64::NAN) / best.map_or(f64::NAN, |b| b.median)),
        );
    }

    // Typed hash path within 1.25x of the bare hash map (the fixed-width one:
    // typed tables keep keys and values inline, as it does).
    let bare = get(BARE_FIXED);
    let typed: Vec<&str> = ours
        .iter()
        .copied()
        .filter(|n| n.contains("typed") && n.contains("AHash"))
        .collect();
    if typed.is_empty() {
        let _ = writeln!(out, "- **NOT MEASURED**: typed hash path within 1.25x of the bare hash map (the typed tables are not in this build yet).");
    }
    for name in typed {
        let v = get(name);
        let ok = v.zip(bare).map(|(v, b)| v <= 1.25 * b);
        let _ = writeln!(
            out,
            "- **{}**: {name} `get` within 1.25x of {BARE_FIXED}: {} vs {} ({}).",
            verdict(ok),
            v.map_or("–".into(), fmt_ns),
            bare.map_or("–".into(), fmt_ns),
            fmt_ratio(v.unwrap_or(f64::NAN) / bare.unwrap_or(f64::NAN)),
        );
    }

    // Persistent mmap ahead of heed.
    let heed = ctx.systems.iter().find(|s| s.0 == "heed").map(|s| s.1);
    let mmap = ours
        .iter()
        .copied()
        .find(|n| n.contains("Mmap") && n.contains("persistent"));
    match (mmap, heed) {
        (Some(m), Some(h)) => {
            let (v, hv) = (get(m), get(h));
            let ok = v.zip(hv).map(|(v, h)| v < h);
            let _ = writeln!(
                out,
                "- **{}**: {m} `get` ahead of {h}: {} vs {} ({}).",
                verdict(ok),
                v.map_or("–".into(), fmt_ns),
                hv.map_or("–".into(), fmt_ns),
                fmt_ratio(v.unwrap_or(f64::NAN) / hv.unwrap_or(f64::NAN)),
            );
        }
        _ => {
            let _ = writeln!(out, "- **NOT MEASURED**: our persistent MmapStateStore `get` ahead of heed's (our MmapStateStore is not in this build yet, or heed was not run).");
        }
    }

    // Issue 2: interleaved rounds.
    let il = |name: &str| find(rows, name, k, "interleaved_get", "uniform");
    match (
        il("ours AHashMapStore"),
        il("ref AHashMapStore"),
        il(BARE_HASH),
    ) {
        (Some(o), Some(r), Some(b)) => {
            let rounds = o.note.split(' ').count();
            let per_round = |a: &Row, b: &Row| {
                let xs: Vec<f64> = a.note.split(' ').filter_map(|x| x.parse().ok()).collect();
                let ys: Vec<f64> = b.note.split(' ').filter_map(|x| x.parse().ok()).collect();
                let mut q: Vec<f64> = xs.iter().zip(&ys).map(|(x, y)| x / y).collect();
                q.sort_by(|a, b| a.total_cmp(b));
                q.get(q.len() / 2).copied().unwrap_or(f64::NAN)
            };
            let ratio = o.median / r.median;
            let _ = writeln!(
                out,
                "- **{}**: ours AHashMapStore `get` ≤ 0.9x the reference AHashMapStore `get`, interleaved rounds (median of {rounds}): {} vs {} = {} (median of the per-round ratios: {}).",
                verdict(Some(ratio <= 0.9)),
                fmt_ns(o.median),
                fmt_ns(r.median),
                fmt_ratio(ratio),
                fmt_ratio(per_round(o, r)),
            );
            let ratio = o.median / b.median;
            let _ = writeln!(
                out,
                "- **{}**: ours AHashMapStore `get` within 1.5x of bare {BARE_HASH} `get` + `Bytes` clone, same rounds: {} vs {} = {} (median of the per-round ratios: {}).",
                verdict(Some(ratio <= 1.5)),
                fmt_ns(o.median),
                fmt_ns(b.median),
                fmt_ratio(ratio),
                fmt_ratio(per_round(o, b)),
            );
        }
        _ => {
            let _ = writeln!(out, "- **NOT MEASURED**: interleaved AHashMapStore comparison (needs ours-ahash, ref-ahash and hashbrown).");
        }
    }

    // Issue 2: InMemoryStore under 500 ns.
    let name = "ours InMemoryStore";
    let v = get(name);
    let lat = find(rows, name, k, "get_hit_latency", "uniform");
    let _ = writeln!(
        out,
        "- **{}**: ours InMemoryStore `get` < 500 ns: {} (dependent-chain latency p50 {}, p99 {}, timing included).",
        verdict(v.map(|v| v < 500.0)),
        v.map_or("–".into(), fmt_ns),
        lat.map_or("–".into(), |r| fmt_ns(r.median)),
        lat.map_or("–".into(), |r| fmt_ns(r.p99)),
    );
    // The same target on the criterion suite issue 2 names, whose `get_hit`
    // returns the value without reading it (so does its `btreemap_vec`
    // baseline); the line above reads each value's first bytes.
    let id = "store_InMemoryStore/get_hit/1000000";
    let c = criterion_median(&ctx.root, id);
    let _ = writeln!(
        out,
        "- **{}**: ours InMemoryStore `get` < 500 ns in `cargo bench --bench store` (`{id}`, median; the value returned, not read): {}.",
        verdict(c.map(|v| v < 500.0)),
        c.map_or("– (run `cargo bench --all-features --bench store` first)".into(), fmt_ns),
    );
    out.push('\n');
}

/// Median time per iteration of criterion benchmark `id` (a path under
/// `target/criterion`), if a run left its estimates.
fn criterion_median(root: &Path, id: &str) -> Option<f64> {
    let p = root.join("target/criterion").join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(p).ok()?;
    let v = serde_json::from_str::<serde_json::Value>(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn interleaved_table(rows: &[Row], out: &mut String) {
    let il: Vec<&Row> = rows.iter().filter(|r| r.op == "interleaved_get").collect();
    if il.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Interleaved `get` rounds (issue 2)\n");
    let _ = writeln!(out, "The three maps are loaded in one process; each round measures every one of them once (100,000 uniform hits each), rotating the order, so drift of the machine hits all alike.\n");
    let _ = writeln!(
        out,
        "| system | keys | median ns/op | every round (ns/op) |\n|---|---:|---:|---|"
    );
    for r in il {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            r.system,
            fmt_keys(r.keys),
            fmt_ns(r.median),
            r.note
        );
    }
    out.push('\n');
}

fn criterion_section(root: &Path, out: &mut String) {
    let base = root.join("target/criterion");
    let mut found = Vec::new();
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, found);
            } else if p.file_name().is_some_and(|n| n == "estimates.json")
                && p.parent()
                    .and_then(|d| d.file_name())
                    .is_some_and(|n| n == "new")
            {
                found.push(p);
            }
        }
    }
    walk(&base, &mut found);
    found.sort();
    let _ = writeln!(out, "## Criterion suites of this crate\n");
    if found.is_empty() {
        let _ = writeln!(out, "No `target/criterion/**/new/estimates.json` found: run `cargo bench --bench store` (and `--bench typed`) before this tool to include them.\n");
        return;
    }
    let _ = writeln!(out, "Read from `target/criterion/**/new/estimates.json` (written by `cargo bench`; possibly from an earlier run than the tables above).\n");
    let _ = writeln!(
        out,
        "Times are per element: criterion's time per iteration divided by the iteration's declared throughput (1 for point operations, 4096 lookups for the `typed_get_1M` batches, the chain length for `typed_chase`, the mean rows returned for prefix scans).\n\n| benchmark | elements / iter | median per element | mean per element | 95 % CI of the mean |\n|---|---:|---:|---:|---:|"
    );
    for p in found {
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        // Declared throughput of the benchmark (criterion writes it beside the estimates).
        let elements = p
            .parent()
            .map(|d| d.join("benchmark.json"))
            .and_then(|b| std::fs::read_to_string(b).ok())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|b| b["throughput"]["Elements"].as_f64())
            .filter(|e| *e > 0.0)
            .unwrap_or(1.0);
        let est = |k: &str, f: &str| v[k][f].as_f64().unwrap_or(f64::NAN) / elements;
        let ci = |b: &str| {
            v["mean"]["confidence_interval"][b]
                .as_f64()
                .unwrap_or(f64::NAN)
                / elements
        };
        let id = p
            .parent()
            .and_then(Path::parent)
            .and_then(|d| d.strip_prefix(&base).ok())
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {id} | {elements} | {} | {} | {} – {} |",
            fmt_ns(est("median", "point_estimate")),
            fmt_ns(est("mean", "point_estimate")),
            fmt_ns(ci("lower_bound")),
            fmt_ns(ci("upper_bound")),
        );
    }
    out.push('\n');
}

/// The whole `BENCHMARKS.md`.
pub fn markdown(ctx: &Context, rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Generated by `{}` (benches/peers); every figure below comes from that run. Do not edit by hand: rerun the command.\n",
        ctx.command
    );
    let _ = writeln!(
        out,
        "- Date: {}",
        sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    for m in machine() {
        let _ = writeln!(out, "- {m}");
    }
    let _ = writeln!(
        out,
        "- Mode: `{}`; key counts {}; wall time {:.0} s",
        match ctx.mode {
            Mode::Quick => "--quick",
            Mode::Full => "--full",
        },
        ctx.key_counts
            .iter()
            .map(|&k| fmt_keys(k))
            .collect::<Vec<_>>()
            .join(", "),
        ctx.elapsed.as_secs_f64()
    );
    let _ = writeln!(out, "- Timing cost inside every latency figure (two `lfence` + two `Instant::now`): {} ns (p50)\n", ctx.timer_overhead_ns);
    if !ctx.failures.is_empty() {
        let _ = writeln!(out, "**Failed runs** (their rows are missing):\n");
        for f in &ctx.failures {
            let _ = writeln!(out, "- {f}");
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Targets\n");
    targets(ctx, rows, &mut out);
    interleaved_table(rows, &mut out);

    let _ = writeln!(out, "## Workload and method\n");
    let _ = writeln!(out, "Keys are 16 bytes (8 well-mixed bytes, then the key's index big-endian), values 64 bytes (the index little-endian, then filler), all from `benches/common/workload.rs`, deterministic from one seed and shared with the criterion suites. Each system and key count runs in its own child process: load in random order, then the lookups, scans, writes, snapshot and flush/reopen below. *Throughput* rows time independent lookups (a CPU overlaps their cache misses). *Latency* rows time each lookup of a dependent chain on its own: the next key's position is computed from the value just read, and an `lfence` separates lookups so even misses cannot overlap; their figures include the timing cost given above. Ratios are taken against `{BARE_HASH}` (`get` + `Bytes` clone) and against the fastest reference (laminar-core 0.18.5) backend in the same table. Transactional stores (redb, heed) read inside one read transaction per measured batch and write 1000 operations per transaction without fsync (redb `Durability::None`, LMDB `NO_SYNC`); the `flush` row makes everything durable. Resident memory is the growth of the process's RSS during the load (for memory-mapped stores this counts the mapped pages touched).\n");

    let _ = writeln!(out, "## Results\n");
    for (op, dist, title, unit) in SECTIONS {
        if !rows.iter().any(|r| r.op == *op && r.dist == *dist) {
            continue;
        }
        let _ = writeln!(out, "### {title}\n\n{unit}.\n");
        table(ctx, rows, op, dist, &mut out);
    }
    let _ = writeln!(
        out,
        "![lookup latency against key count](docs/lookup-latency.svg)\n"
    );

    criterion_section(&ctx.root, &mut out);

    // The Nexmark section, written by `laminar-nexmark --markdown nexmark/RESULTS.md`.
    let nexmark = ctx.root.join("nexmark/RESULTS.md");
    if let Ok(text) = std::fs::read_to_string(&nexmark) {
        let _ = writeln!(out, "{}\n", text.trim());
    }

    let notes = ctx.root.join("benches/peers/NOTES.md");
    if let Ok(text) = std::fs::read_to_string(&notes) {
        let _ = writeln!(
            out,
            "## Closing notes\n\n(Included from `benches/peers/NOTES.md`.)\n\n{}",
            text.trim()
        );
        out.push('\n');
    }
    out
}

/// The plot: dependent-lookup latency (p50, uniform hits) against key count,
/// one line per system.
pub fn svg(ctx: &Context, rows: &[Row]) -> String {
    use plotters::prelude::*;
    let mut buf = String::new();
    {
        let pts: Vec<(&str, Vec<(f64, f64)>)> = ctx
            .systems
            .iter()
            .map(|(_, name, _)| {
                let mut v: Vec<(f64, f64)> = rows
                    .iter()
                    .filter(|r| {
                        r.system == *name && r.op == "get_hit_latency" && r.dist == "uniform"
                    })
                    .map(|r| (r.keys as f64, r.median))
                    .collect();
                v.sort_by(|a, b| a.0.total_cmp(&b.0));
                (*name, v)
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let xs = pts.iter().flat_map(|p| p.1.iter().map(|q| q.0));
        let (xmin, xmax) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
        let ys = pts.iter().flat_map(|p| p.1.iter().map(|q| q.1));
        let (ymin, ymax) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
        let (xmin, xmax) = if xmin < xmax {
            (xmin / 1.5, xmax * 1.5)
        } else {
            (1e3, 1e8)
        };
        let (ymin, ymax) = if ymin < ymax {
            ((ymin / 1.5).max(1.0), ymax * 1.5)
        } else {
            (1.0, 1e5)
        };
        let root = SVGBackend::with_string(&mut buf, (960, 600)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let chart = ChartBuilder::on(&root)
            .caption(
                "Point lookup latency (dependent chain, p50, uniform hits)",
                ("sans-serif", 20),
            )
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((xmin..xmax).log_scale(), (ymin..ymax).log_scale());
        if let Ok(mut chart) = chart {
            let _ = chart
                .configure_mesh()
                .x_desc("keys loaded")
                .y_desc("ns per lookup")
                .x_label_formatter(&|x| fmt_keys(x.round() as u64))
                .draw();
            for (i, (name, v)) in pts.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let series =
                    chart.draw_series(LineSeries::new(v.iter().copied(), color.stroke_width(2)));
                if let Ok(s) = series {
                    s.label(*name).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                }
                let _ = chart.draw_series(v.iter().map(|&p| Circle::new(p, 3, color.filled())));
            }
            let _ = chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw();
        }
        let _ = root.present();
    }
    buf
}
