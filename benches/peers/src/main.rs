//! Peer comparison for laminar-core's state stores.
//!
//! `cargo run --release -- --quick` (or `--full`) runs the same workload on
//! every system, each system and key count in its own child process (so
//! resident memory is measured cleanly and one system cannot disturb the
//! next), then writes `BENCHMARKS.md` and `docs/lookup-latency.svg` at the
//! repository root. `benches/compare.sh` wraps it.

#[path = "../../common/workload.rs"]
mod workload;

mod measure;
mod report;
mod systems;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use measure::Plan;
use systems::*;
use workload::{Dist, Workload};

/// One measured figure, passed from a worker to the parent as a tab-separated line.
#[derive(Clone, Debug)]
pub struct Row {
    /// System display name.
    pub system: String,
    /// Loaded key count.
    pub keys: u64,
    /// Operation.
    pub op: String,
    /// Key distribution.
    pub dist: String,
    /// Median (ns/op, ns per scan, ns per snapshot, or bytes per entry for `memory`).
    pub median: f64,
    /// 99th percentile (latency rows only, else NaN).
    pub p99: f64,
    /// 99.9th percentile (latency rows only, else NaN).
    pub p999: f64,
    /// Secondary figure: entries returned per scan (scan rows), else NaN.
    pub extra: f64,
    /// Free text (selectivity, batch size, caveats).
    pub note: String,
}

impl Row {
    fn to_line(&self) -> String {
        format!(
            "ROW\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.system,
            self.keys,
            self.op,
            self.dist,
            self.median,
            self.p99,
            self.p999,
            self.extra,
            self.note.replace(['\t', '\n'], " ")
        )
    }

    fn from_line(line: &str) -> Option<Row> {
        let f: Vec<&str> = line.strip_prefix("ROW\t")?.split('\t').collect();
        if f.len() != 9 {
            return None;
        }
        Some(Row {
            system: f[0].to_string(),
            keys: f[1].parse().ok()?,
            op: f[2].to_string(),
            dist: f[3].to_string(),
            median: f[4].parse().ok()?,
            p99: f[5].parse().ok()?,
            p999: f[6].parse().ok()?,
            extra: f[7].parse().ok()?,
            note: f[8].to_string(),
        })
    }
}

/// Who a system belongs to, for the ratios and targets of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// This crate.
    Ours,
    /// laminar-core 0.18.5.
    Reference,
    /// Another library.
    Peer,
}

/// The compared systems: `(cli id, display name, side)`; `run_named` maps the
/// id to its adapter type. Adding a system: one line here, one in `run_named`.
pub fn systems() -> Vec<(&'static str, &'static str, Side)> {
    #[allow(unused_mut)]
    let mut v = vec![
        ("ours-inmemory", "ours InMemoryStore", Side::Ours),
        ("ours-ahash", "ours AHashMapStore", Side::Ours),
        ("ref-inmemory", "ref InMemoryStore", Side::Reference),
        ("ref-ahash", "ref AHashMapStore", Side::Reference),
        (
            "ref-mmap-mem",
            "ref MmapStateStore in_memory",
            Side::Reference,
        ),
        (
            "ref-mmap-file",
            "ref MmapStateStore persistent",
            Side::Reference,
        ),
        (
            "hashbrown",
            "hashbrown+ahash HashMap<Vec<u8>, Bytes>",
            Side::Peer,
        ),
        (
            "hashbrown-fixed",
            "hashbrown+ahash HashMap<[u8; 16], [u8; 64]>",
            Side::Peer,
        ),
        ("btreemap", "std BTreeMap<Vec<u8>, Bytes>", Side::Peer),
        ("redb", "redb 2", Side::Peer),
        ("heed", "heed 0.22 (LMDB)", Side::Peer),
        ("fjall", "fjall 2", Side::Peer),
    ];
    #[cfg(feature = "mmap")]
    v.extend([
        ("ours-mmap-mem", "ours MmapStateStore in_memory", Side::Ours),
        (
            "ours-mmap-file",
            "ours MmapStateStore persistent",
            Side::Ours,
        ),
    ]);
    #[cfg(feature = "typed")]
    v.extend([
        (
            "typed-ahash-bytes16",
            "ours typed Table<[u8; 16], [u8; 64], AHash>",
            Side::Ours,
        ),
        (
            "typed-ahash-u128",
            "ours typed Table<u128, [u8; 64], AHash>",
            Side::Ours,
        ),
        (
            "typed-btree-bytes16",
            "ours typed Table<[u8; 16], [u8; 64], BTree>",
            Side::Ours,
        ),
        (
            "typed-btree-u128",
            "ours typed Table<u128, [u8; 64], BTree>",
            Side::Ours,
        ),
    ]);
    #[cfg(feature = "rocksdb")]
    v.push(("rocksdb", "RocksDB", Side::Peer));
    v
}

/// The bare hash map every ratio is taken against.
pub const BARE_HASH: &str = "hashbrown+ahash HashMap<Vec<u8>, Bytes>";
/// The bare fixed-width hash map the typed hash path is held to.
pub const BARE_FIXED: &str = "hashbrown+ahash HashMap<[u8; 16], [u8; 64]>";

fn run_named(id: &str, name: &str, w: &Workload, plan: &Plan, dir: &Path) -> Vec<Row> {
    use measure::run_system as run;
    match id {
        "ours-inmemory" => run::<OursInMemory>(name, w, plan, dir),
        "ours-ahash" => run::<OursAHash>(name, w, plan, dir),
        "ref-inmemory" => run::<RefInMemory>(name, w, plan, dir),
        "ref-ahash" => run::<RefAHash>(name, w, plan, dir),
        "ref-mmap-mem" => run::<RefMmapMem>(name, w, plan, dir),
        "ref-mmap-file" => run::<RefMmapFile>(name, w, plan, dir),
        "hashbrown" => run::<HashBrown>(name, w, plan, dir),
        "hashbrown-fixed" => run::<HashBrownFixed>(name, w, plan, dir),
        #[cfg(feature = "mmap")]
        "ours-mmap-mem" => run::<OursMmapMem>(name, w, plan, dir),
        #[cfg(feature = "mmap")]
        "ours-mmap-file" => run::<OursMmapFile>(name, w, plan, dir),
        #[cfg(feature = "typed")]
        "typed-ahash-bytes16" => run::<TypedAHashBytes16>(name, w, plan, dir),
        #[cfg(feature = "typed")]
        "typed-ahash-u128" => run::<TypedAHashU128>(name, w, plan, dir),
        #[cfg(feature = "typed")]
        "typed-btree-bytes16" => run::<TypedBTreeBytes16>(name, w, plan, dir),
        #[cfg(feature = "typed")]
        "typed-btree-u128" => run::<TypedBTreeU128>(name, w, plan, dir),
        "btreemap" => run::<StdBTree>(name, w, plan, dir),
        "redb" => run::<Redb>(name, w, plan, dir),
        "heed" => run::<Heed>(name, w, plan, dir),
        "fjall" => run::<Fjall>(name, w, plan, dir),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => run::<Rocks>(name, w, plan, dir),
        other => panic!("unknown system {other}"),
    }
}

/// Run mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Under five minutes: 10K and 1M keys, fewer rounds.
    Quick,
    /// 10K, 1M and 10M keys, more rounds.
    Full,
}

impl Mode {
    fn plan(self) -> Plan {
        match self {
            Mode::Quick => Plan {
                dists: Dist::ALL.to_vec(),
                rounds: 5,
                lookups: 100_000,
                chain: 100_000,
                write_rounds: 3,
                writes: 20_000,
                scan_rounds: 3,
                budget: Duration::from_millis(1500),
                snapshot_runs: 3,
            },
            Mode::Full => Plan {
                dists: Dist::ALL.to_vec(),
                rounds: 11,
                lookups: 300_000,
                chain: 1_000_000,
                write_rounds: 5,
                writes: 100_000,
                scan_rounds: 5,
                budget: Duration::from_secs(10),
                snapshot_runs: 5,
            },
        }
    }

    fn key_counts(self) -> Vec<u64> {
        match self {
            Mode::Quick => vec![10_000, 1_000_000],
            Mode::Full => vec![10_000, 1_000_000, 10_000_000],
        }
    }

    fn interleave_rounds(self) -> usize {
        match self {
            Mode::Quick => 21,
            Mode::Full => 61,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Quick => "--quick",
            Mode::Full => "--full",
        }
    }
}

struct Args {
    mode: Mode,
    only: Vec<String>,
    keys: Option<Vec<u64>>,
    out: PathBuf,
    worker: Option<(String, u64)>,
    interleave: Option<u64>,
}

const USAGE: &str =
    "usage: laminar-peers [--quick | --full] [--only id,id,...] [--keys N,N,...] [--out DIR]
  --quick      10K and 1M keys, few rounds (default; under five minutes)
  --full       10K, 1M and 10M keys, more rounds
  --only       run only these systems (ids: see --list); the report then covers only them
  --keys       override the key counts
  --out        repository root to write BENCHMARKS.md and docs/lookup-latency.svg into
  --list       print the system ids";

fn parse_args() -> Args {
    let mut args = Args {
        mode: Mode::Quick,
        only: Vec::new(),
        keys: None,
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."),
        worker: None,
        interleave: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .unwrap_or_else(|| die(&format!("{flag} needs a value")))
        };
        match a.as_str() {
            "--quick" => args.mode = Mode::Quick,
            "--full" => args.mode = Mode::Full,
            "--only" => args.only = value("--only").split(',').map(str::to_string).collect(),
            "--keys" => {
                let v = value("--keys");
                args.keys = Some(
                    v.split(',')
                        .map(|s| {
                            s.trim()
                                .replace('_', "")
                                .parse()
                                .unwrap_or_else(|_| die("bad --keys"))
                        })
                        .collect(),
                )
            }
            "--out" => args.out = PathBuf::from(value("--out")),
            "--list" => {
                for (id, name, _) in systems() {
                    println!("{id:16} {name}");
                }
                std::process::exit(0);
            }
            "--worker" => {
                let id = value("--worker");
                let keys = value("--worker")
                    .parse()
                    .unwrap_or_else(|_| die("bad worker keys"));
                args.worker = Some((id, keys));
            }
            "--interleave" => {
                args.interleave = Some(
                    value("--interleave")
                        .parse()
                        .unwrap_or_else(|_| die("bad keys")),
                )
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => die(&format!("unknown argument {other}\n{USAGE}")),
        }
    }
    args
}

fn die(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(2)
}

/// Runs in the child: one system at one key count, rows on stdout.
fn worker(id: &str, keys: u64, mode: Mode) {
    let (_, name, _) = systems()
        .into_iter()
        .find(|s| s.0 == id)
        .unwrap_or_else(|| die(&format!("unknown system {id}")));
    let dir = tempfile::Builder::new()
        .prefix("laminar-peers-")
        .tempdir_in(scratch_root())
        .expect("scratch dir");
    let w = Workload::standard(keys);
    for row in run_named(id, name, &w, &mode.plan(), dir.path()) {
        println!("{}", row.to_line());
    }
}

/// Runs in the child: the interleaved get comparison of issue 2.
fn interleave_worker(keys: u64, mode: Mode) {
    let dir = tempfile::Builder::new()
        .prefix("laminar-peers-")
        .tempdir_in(scratch_root())
        .expect("scratch dir");
    let w = Workload::standard(keys);
    let rounds = mode.interleave_rounds();
    let [a, b, c] =
        measure::interleaved::<OursAHash, RefAHash, HashBrown>(&w, dir.path(), rounds, 100_000);
    for (name, xs) in [
        ("ours AHashMapStore", a),
        ("ref AHashMapStore", b),
        (BARE_HASH, c),
    ] {
        let mut sorted = xs.clone();
        sorted.sort_by(|x, y| x.total_cmp(y));
        let row = Row {
            system: name.to_string(),
            keys,
            op: "interleaved_get".to_string(),
            dist: "uniform".to_string(),
            median: sorted[sorted.len() / 2],
            p99: f64::NAN,
            p999: f64::NAN,
            extra: f64::NAN,
            note: xs
                .iter()
                .map(|x| format!("{x:.1}"))
                .collect::<Vec<_>>()
                .join(" "),
        };
        println!("{}", row.to_line());
    }
}

/// Scratch files go under the peers crate's `target/` (a real disk, unlike a
/// tmpfs `/tmp`, so persistent stores are measured on what users run on).
fn scratch_root() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-scratch");
    std::fs::create_dir_all(&p).expect("scratch root");
    p
}

fn spawn(args: &[String]) -> Result<Vec<Row>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(r) = Row::from_line(&line) {
                rows.push(r);
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(rows)
    } else {
        Err(format!(
            "worker failed ({status}); {} rows kept",
            rows.len()
        ))
    }
}

fn main() {
    let args = parse_args();
    if let Some((id, keys)) = &args.worker {
        worker(id, *keys, args.mode);
        return;
    }
    if let Some(keys) = args.interleave {
        interleave_worker(keys, args.mode);
        return;
    }

    let started = Instant::now();
    let key_counts = args.keys.clone().unwrap_or_else(|| args.mode.key_counts());
    let selected: Vec<_> = systems()
        .into_iter()
        .filter(|(id, _, _)| args.only.is_empty() || args.only.iter().any(|o| o == id))
        .collect();
    let mode_flag = args.mode.name().to_string();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for &keys in &key_counts {
        for (id, name, _) in &selected {
            eprintln!(
                "[{:>5.0}s] {name} @ {keys} keys",
                started.elapsed().as_secs_f64()
            );
            match spawn(&[
                "--worker".into(),
                id.to_string(),
                keys.to_string(),
                mode_flag.clone(),
            ]) {
                Ok(r) => rows.extend(r),
                Err(e) => {
                    eprintln!("    {e}");
                    failures.push(format!("{name} @ {keys} keys: {e}"));
                }
            }
        }
    }
    let interleave_keys = 1_000_000;
    let has = |id: &str| selected.iter().any(|s| s.0 == id);
    if has("ours-ahash") && has("ref-ahash") && has("hashbrown") {
        eprintln!(
            "[{:>5.0}s] interleaved AHashMapStore vs reference vs hashbrown @ {interleave_keys} keys",
            started.elapsed().as_secs_f64()
        );
        match spawn(&[
            "--interleave".into(),
            interleave_keys.to_string(),
            mode_flag.clone(),
        ]) {
            Ok(r) => rows.extend(r),
            Err(e) => failures.push(format!("interleaved: {e}")),
        }
    }
    let elapsed = started.elapsed();
    // The command as typed (compare.sh adds `--out <root>` itself).
    let mut shown = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--out" {
            it.next();
        } else {
            shown.push(a);
        }
    }
    let command = format!("./benches/compare.sh {}", shown.join(" "));
    let ctx = report::Context {
        command: command.trim().to_string(),
        mode: args.mode,
        key_counts,
        systems: selected,
        elapsed,
        failures,
        timer_overhead_ns: measure::timer_overhead_ns(),
        root: args.out.clone(),
    };
    let md = report::markdown(&ctx, &rows);
    let md_path = args.out.join("BENCHMARKS.md");
    std::fs::write(&md_path, md).expect("write BENCHMARKS.md");
    let svg_path = args.out.join("docs/lookup-latency.svg");
    std::fs::create_dir_all(svg_path.parent().expect("docs dir")).expect("docs dir");
    std::fs::write(&svg_path, report::svg(&ctx, &rows)).expect("write svg");
    eprintln!(
        "wrote {} and {} in {:.0}s",
        md_path.display(),
        svg_path.display(),
        elapsed.as_secs_f64()
    );
}
