//! `laminar-nexmark`: runs the Nexmark queries on every backend, checks
//! each against its oracle, checkpoints and restores at random points, and
//! prints events/s, state size, checkpoint pauses and restore times beside
//! the hand-written peers. Exits non-zero if any output differs from the
//! oracle's or any run fails.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use laminar_nexmark::events::{generate_with, DEFAULT_RATE};
use laminar_nexmark::queries::Query;
use laminar_nexmark::runner::{oracle, quantile, run, Report, RunConfig};
use laminar_nexmark::Backend;

const USAGE: &str = "\
usage: laminar-nexmark [options]

  --query LIST          q3,q4,q5,q7,q8,q9,q11,q18,q19 or all (default all)
  --backend LIST        ahash,btree,mmap,mmap-file,dyn-inmemory,dyn-ahash,dyn-mmap,
                        hashbrown,btreemap, or all (default), ours, peers
  --events N            events in the stream (default 1M; 100000, 100K, 10M, ...)
  --checkpoint-every N  mean events between checkpoints, each restored at once
                        into a fresh state (default events/10; 0: none)
  --rate N              events per second of event time (default 10000)
  --seed N              seed of the checkpoint points (default 7)
  --rounds N            run each (query, backend) N times, rounds interleaved across
                        backends, and report the median events/s (default 1)
  --dir PATH            where mmap-file makes its temporary directories
  --markdown FILE       also write the results as a Markdown section (machine, date,
                        command, one table per query) to FILE
  --no-progress         no progress bar (also off when stderr is not a terminal or CI is set)
";

struct Args {
    queries: Vec<Query>,
    backends: Vec<Backend>,
    events: usize,
    checkpoint_every: Option<usize>,
    rate: usize,
    seed: u64,
    dir: Option<std::path::PathBuf>,
    progress: bool,
    rounds: usize,
    markdown: Option<std::path::PathBuf>,
}

fn count(s: &str) -> Option<usize> {
    let s = s.replace('_', "");
    let (num, mul) = match s.chars().last()? {
        'k' | 'K' => (s.get(..s.len() - 1)?, 1_000),
        'm' | 'M' => (s.get(..s.len() - 1)?, 1_000_000),
        _ => (s.as_str(), 1),
    };
    num.parse::<usize>().ok()?.checked_mul(mul)
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        queries: Query::ALL.to_vec(),
        backends: Backend::ALL.to_vec(),
        events: 1_000_000,
        checkpoint_every: None,
        rate: DEFAULT_RATE,
        seed: 7,
        dir: None,
        progress: true,
        rounds: 1,
        markdown: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--query" | "-q" => {
                let v = value()?;
                a.queries = if v == "all" {
                    Query::ALL.to_vec()
                } else {
                    v.split(',')
                        .map(|q| Query::parse(q).ok_or_else(|| format!("unknown query {q:?}")))
                        .collect::<Result<_, _>>()?
                };
            }
            "--backend" | "-b" => {
                let v = value()?;
                a.backends = match v.as_str() {
                    "all" => Backend::ALL.to_vec(),
                    "ours" => Backend::ALL.into_iter().filter(|b| !b.is_peer()).collect(),
                    "peers" => Backend::ALL.into_iter().filter(|b| b.is_peer()).collect(),
                    _ => v
                        .split(',')
                        .map(|b| Backend::parse(b).ok_or_else(|| format!("unknown backend {b:?}")))
                        .collect::<Result<_, _>>()?,
                };
            }
            "--events" | "-n" => {
                let v = value()?;
                a.events = count(&v).ok_or_else(|| format!("bad event count {v:?}"))?;
            }
            "--checkpoint-every" => {
                let v = value()?;
                a.checkpoint_every = Some(count(&v).ok_or_else(|| format!("bad count {v:?}"))?);
            }
            "--rate" => {
                let v = value()?;
                a.rate = count(&v)
                    .filter(|r| *r > 0)
                    .ok_or_else(|| format!("bad rate {v:?}"))?;
            }
            "--seed" => {
                let v = value()?;
                a.seed = v.parse().map_err(|_| format!("bad seed {v:?}"))?;
            }
            "--rounds" => {
                let v = value()?;
                a.rounds = count(&v)
                    .filter(|r| *r > 0)
                    .ok_or_else(|| format!("bad rounds {v:?}"))?;
            }
            "--markdown" => a.markdown = Some(value()?.into()),
            "--dir" => a.dir = Some(value()?.into()),
            "--no-progress" => a.progress = false,
            "--help" | "-h" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if a.events == 0 {
        return Err("--events must be at least 1".into());
    }
    Ok(a)
}

fn bar(len: u64, show: bool, msg: &str) -> ProgressBar {
    if !show || std::env::var_os("CI").is_some() || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:<24} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} events, eta {eta}",
    ) {
        pb.set_style(style);
    }
    pb.set_message(msg.to_string());
    pb
}

fn ms(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.2}", d.as_secs_f64() * 1e3),
        None => "-".into(),
    }
}

fn human(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.2}G", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1}K", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

/// Today's date (UTC) as `YYYY-MM-DD HH:MM UTC`, from the system clock.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn md_header(args: &Args, gen: Duration, every: usize) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let cmd: Vec<String> = std::env::args().skip(1).collect();
    format!(
        "## Nexmark\n\n\
         Generated by `cargo run --release -p laminar-nexmark -- {cmd}` on {date}: \
         {cores} vCPU ({cpu}), load average {load} at the start (the machine is shared; \
         events/s is this thread's CPU time, median of {rounds} interleaved round(s)). \
         {n} events at {rate} events/s of event time, generated into memory first \
         (the generator's own rate: {genrate} events/s, not part of the timings). \
         A checkpoint every ~{every} events at random points, each restored at once \
         into a fresh state that carries on: pause and restore are wall-clock times. \
         `t/hashbrown`, `t/BTreeMap`: our time over the hand-written peer's (below 1.00x: faster). \
         `entries`: live entries at the end of the stream / the peak. \
         Every query's output is compared with an independent oracle.\n\n",
        cmd = cmd.join(" "),
        date = utc_now(),
        rounds = args.rounds,
        n = args.events,
        rate = args.rate,
        genrate = human(args.events as f64 / gen.as_secs_f64().max(1e-9)),
    )
}

fn md_query(
    md: &mut String,
    q: Query,
    runs: &[(Backend, Result<Report, String>, Option<bool>)],
    rows: usize,
) {
    use std::fmt::Write;
    let eps = |b: Backend| {
        runs.iter().find_map(|(rb, r, _)| match r {
            Ok(r) if *rb == b => Some(r.events_per_sec()),
            _ => None,
        })
    };
    let (hb, bm) = (eps(Backend::Hashbrown), eps(Backend::BTreeMap));
    let ratio = |peer: Option<f64>, ours: f64| match peer {
        Some(p) => format!("{:.2}x", p / ours),
        None => "-".into(),
    };
    let _ = writeln!(md, "### {} ({rows} output rows)\n", q.about());
    let _ = writeln!(
        md,
        "| backend | events/s | t/hashbrown | t/BTreeMap | entries | state bytes | checkpoint p50 / p99 ms | checkpoint bytes | restore p50 ms | oracle |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (b, r, ok) in runs {
        match r {
            Ok(r) => {
                let e = r.events_per_sec();
                let ck = !r.checkpoint_pauses.is_empty();
                let _ = writeln!(
                    md,
                    "| `{}` | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} |",
                    b.name(),
                    human(e),
                    ratio(hb, e),
                    ratio(bm, e),
                    r.end_entries,
                    r.peak_entries,
                    human(r.end_bytes as f64),
                    if ck {
                        format!(
                            "{} / {}",
                            ms(quantile(&r.checkpoint_pauses, 0.5)),
                            ms(quantile(&r.checkpoint_pauses, 0.99))
                        )
                    } else {
                        "-".into()
                    },
                    if ck {
                        human(r.checkpoint_bytes as f64)
                    } else {
                        "-".into()
                    },
                    ms(quantile(&r.restores, 0.5)),
                    match ok {
                        Some(true) => "yes",
                        Some(false) => "**NO**",
                        None => "-",
                    }
                );
            }
            Err(e) => {
                let _ = writeln!(md, "| `{}` | failed: {e} | | | | | | | | |", b.name());
            }
        }
    }
    md.push('\n');
}

fn print_query(q: Query, runs: &[(Backend, Result<Report, String>, Option<bool>)]) {
    let eps = |b: Backend| {
        runs.iter().find_map(|(rb, r, _)| match r {
            Ok(r) if *rb == b => Some(r.events_per_sec()),
            _ => None,
        })
    };
    let (hb, bm) = (eps(Backend::Hashbrown), eps(Backend::BTreeMap));
    let ratio = |peer: Option<f64>, ours: f64| match peer {
        Some(p) => format!("{:.2}x", p / ours),
        None => "-".into(),
    };
    println!("\n{} — {}", q.name(), q.about());
    println!(
        "{:<13} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9} {:>8} {:>6}",
        "backend",
        "events/s",
        "t/hbrown",
        "t/btmap",
        "entries",
        "peak",
        "bytes",
        "ck p50ms",
        "ck p99ms",
        "ck bytes",
        "rst ms",
        "oracle"
    );
    for (b, r, ok) in runs {
        match r {
            Ok(r) => {
                let e = r.events_per_sec();
                let ck = !r.checkpoint_pauses.is_empty();
                println!(
                    "{:<13} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9} {:>8} {:>6}",
                    b.name(),
                    human(e),
                    ratio(hb, e),
                    ratio(bm, e),
                    r.end_entries,
                    r.peak_entries,
                    human(r.end_bytes as f64),
                    ms(quantile(&r.checkpoint_pauses, 0.5)),
                    ms(quantile(&r.checkpoint_pauses, 0.99)),
                    if ck {
                        human(r.checkpoint_bytes as f64)
                    } else {
                        "-".into()
                    },
                    ms(quantile(&r.restores, 0.5)),
                    match ok {
                        Some(true) => "yes",
                        Some(false) => "NO",
                        None => "-",
                    }
                );
            }
            Err(e) => println!("{:<13} FAILED: {e}", b.name()),
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("laminar-nexmark: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let n = args.events;
    println!(
        "Nexmark on laminar_core::state: {n} events ({} events/s of event time), queries {}, backends {}",
        args.rate,
        args.queries.iter().map(|q| q.name()).collect::<Vec<_>>().join(","),
        args.backends.iter().map(|b| b.name()).collect::<Vec<_>>().join(",")
    );

    let pb = bar(n as u64, args.progress, "generating");
    let t = Instant::now();
    let evs = generate_with(n, args.rate, |i| pb.set_position(i as u64));
    let gen = t.elapsed();
    pb.finish_and_clear();
    println!(
        "generated into memory in {:.2} s: the generator's own rate is {} events/s (not part of any timing below)",
        gen.as_secs_f64(),
        human(n as f64 / gen.as_secs_f64().max(1e-9))
    );
    let every = args.checkpoint_every.unwrap_or((n / 10).max(1));
    println!(
        "events/s counts processing time only (this thread's CPU time, so waiting for a core on a busy machine is not counted); every ~{every} events (random points) a checkpoint is taken, \
         its pause timed, and restored at once into a fresh state that carries on (restore timed); \
         t/hbrown, t/btmap = our time / the hand-written peer's (below 1.00x: faster than the peer)"
    );

    let cfg = RunConfig {
        checkpoint_every: every,
        seed: args.seed,
        dir: args.dir.clone(),
        ..RunConfig::default()
    };
    let md_head = md_header(&args, gen, every);
    let mut md = String::new();
    if args.rounds > 1 {
        println!(
            "{} rounds per (query, backend), interleaved: events/s is the median round",
            args.rounds
        );
    }
    let mut failed = false;
    for &q in &args.queries {
        let t = Instant::now();
        let want = oracle(q, &evs);
        let oracle_time = t.elapsed();
        let mut runs: Vec<(Backend, Result<Report, String>, Option<bool>)> = Vec::new();
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); args.backends.len()];
        for round in 0..args.rounds {
            for (i, &b) in args.backends.iter().enumerate() {
                let label = format!("{} {} {}/{}", q.name(), b.name(), round + 1, args.rounds);
                let pb = bar(n as u64, args.progress, &label);
                let r = run(q, b, &evs, &cfg, |i| pb.set_position(i as u64));
                pb.finish_and_clear();
                let (r, ok) = match r {
                    Ok(r) => {
                        let ok = r.output == want;
                        failed |= !ok;
                        if let Some(t) = times.get_mut(i) {
                            t.push(r.processing);
                        }
                        (
                            Ok(Report {
                                output: Vec::new(),
                                ..r
                            }),
                            Some(ok),
                        )
                    }
                    Err(e) => {
                        failed = true;
                        (Err(e.to_string()), None)
                    }
                };
                match runs.get_mut(i) {
                    // Keep the first failure, or the first report.
                    Some(slot) => {
                        if slot.2 == Some(true) && ok != Some(true) {
                            *slot = (b, r, ok);
                        }
                    }
                    None => runs.push((b, r, ok)),
                }
            }
        }
        for ((_, r, _), t) in runs.iter_mut().zip(&times) {
            if let (Ok(r), Some(m)) = (r, quantile(t, 0.5)) {
                r.processing = m;
            }
        }
        print_query(q, &runs);
        println!(
            "  oracle: {} rows, computed in {:.2} s with std collections over the whole stream",
            want.len(),
            oracle_time.as_secs_f64()
        );
        md_query(&mut md, q, &runs, want.len());
    }
    if let Some(path) = &args.markdown {
        let text = format!("{md_head}{md}");
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("laminar-nexmark: cannot write {}: {e}", path.display());
            failed = true;
        }
    }
    if failed {
        eprintln!("\nFAILED: some output differed from its oracle (or a run failed)");
        ExitCode::FAILURE
    } else {
        println!("\nevery output matched its oracle");
        ExitCode::SUCCESS
    }
}
