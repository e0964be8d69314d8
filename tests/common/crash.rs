//! Kill -9 harness: a child process (this same test binary, re-invoked to run
//! one `#[test]` function) works on some state until the parent kills it with
//! SIGKILL at a random moment; the parent then reopens the state and checks it
//! against what the child acknowledged. See `tests/common/mod.rs` for how a new
//! crash test uses it; `mmap_crash.rs` and `typed_mmap_crash.rs` are examples.
//!
//! Protocol: the child's work is a pure function of a seed (draw it from
//! [`Rng`]), numbered `1, 2, ...`. Before each commit the child writes `B <i>`
//! to its [`Journal`], after the commit returned `A <i>`. With `a` the last
//! acknowledged and `b` the last begun commit, the state after the kill must
//! be the one after operation `a` or, if `b > a`, after operation `b`
//! ([`replay`] computes both).

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::rng::Rng;

/// The journal's file name in a [`Child::seeded`] child's directory.
pub const REPORT: &str = "report";

/// How long a child runs at most: past this, its parent is gone.
const CHILD_LIFETIME: Duration = Duration::from_secs(60);

/// A child run: test function `test` of the current test binary, with extra
/// environment variables, writing its journal to `report`.
#[derive(Debug, Clone)]
pub struct Child {
    test: String,
    env: Vec<(String, OsString)>,
    report: Option<PathBuf>,
}

impl Child {
    /// A run of `#[test] fn test` (matched exactly) of this binary.
    pub fn new(test: &str) -> Self {
        Child {
            test: test.to_owned(),
            env: Vec::new(),
            report: None,
        }
    }

    /// The usual child of a crash test: `test` finds its directory in
    /// `dir_env` and its seed in `seed_env` (see [`child_args`]) and journals
    /// to `dir/report`.
    pub fn seeded(test: &str, dir_env: &str, dir: &Path, seed_env: &str, seed: u64) -> Self {
        Child::new(test)
            .env(dir_env, dir)
            .env(seed_env, seed.to_string())
            .report(dir.join(REPORT))
    }

    /// Sets `key=value` in the child's environment (the child test returns
    /// at once when its variables are absent, as in a normal test run).
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key.to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The file the child journals to (see [`Journal`]); removed before each
    /// run, read after the kill.
    pub fn report(mut self, path: impl Into<PathBuf>) -> Self {
        self.report = Some(path.into());
        self
    }

    /// Starts the child (the old report removed first).
    pub fn spawn(&self) -> std::process::Child {
        if let Some(report) = &self.report {
            let _ = std::fs::remove_file(report);
        }
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &self.test, "--nocapture", "--test-threads=1"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs the child for `run_ms` milliseconds, kills it with SIGKILL and
    /// returns its report (empty if it wrote none). Fails if the child exited
    /// on its own before the kill (its stderr is in the message).
    pub fn run_and_kill(&self, run_ms: u64) -> Report {
        let mut process = self.spawn();
        std::thread::sleep(Duration::from_millis(run_ms));
        let still_running = process.try_wait().unwrap().is_none();
        process.kill().unwrap(); // SIGKILL on unix
        let out = process.wait_with_output().unwrap();
        assert!(
            still_running,
            "child {} exited before the kill: {}",
            self.test,
            String::from_utf8_lossy(&out.stderr)
        );
        let text = match &self.report {
            Some(path) => std::fs::read_to_string(path).unwrap_or_default(),
            None => String::new(),
        };
        Report(text)
    }
}

/// What a killed child wrote to its [`Journal`].
#[derive(Debug, Clone, Default)]
pub struct Report(pub String);

impl Report {
    /// The operation index of the last acknowledged commit (0 if none).
    pub fn acked(&self) -> u64 {
        self.last("A ")
    }

    /// The operation index of the last begun commit (0 if none); `>= acked()`.
    pub fn begun(&self) -> u64 {
        self.last("B ")
    }

    /// Which commit a state reopened after the kill is: the last acknowledged
    /// (`at_acked`, checked first), or the one begun after it (`at_begun`),
    /// or neither (`None`: a loss or a mix, the test fails).
    pub fn reopened_at<M: PartialEq>(
        &self,
        got: &M,
        at_acked: &M,
        at_begun: &M,
    ) -> Option<Reopened> {
        if got == at_acked {
            Some(Reopened::Acked)
        } else if self.begun() > self.acked() && got == at_begun {
            Some(Reopened::Begun)
        } else {
            None
        }
    }

    /// Whether the kill landed inside a commit begun with note `note`.
    pub fn killed_inside(&self, note: &str) -> bool {
        self.0
            .lines()
            .next_back()
            .is_some_and(|l| l.starts_with("B ") && l.ends_with(note))
    }

    /// The operation index of the last line starting with `tag` (0 if none).
    pub fn last(&self, tag: &str) -> u64 {
        self.0
            .lines()
            .filter_map(|l| l.strip_prefix(tag))
            .filter_map(|n| n.split_whitespace().next()?.parse().ok())
            .next_back()
            .unwrap_or(0)
    }
}

/// The answer of [`Report::reopened_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reopened {
    /// At the last acknowledged commit (or the start, if none was).
    Acked,
    /// At the commit begun after it, which differs from the acknowledged one.
    Begun,
}

/// The child's side of the report: an append-only file of `B <i>` / `A <i>`
/// lines. Written unbuffered, so a line is in the file once the call returns.
#[derive(Debug)]
pub struct Journal(std::fs::File);

impl Journal {
    /// Opens (creates) the journal at `path` for appending.
    pub fn open(path: impl AsRef<Path>) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        Journal(file)
    }

    /// Commit `i` begins (`note` is appended after the index, e.g. " compact").
    pub fn begin(&mut self, i: u64, note: &str) {
        self.0
            .write_all(format!("B {i}{note}\n").as_bytes())
            .unwrap();
    }

    /// Commit `i` returned.
    pub fn ack(&mut self, i: u64) {
        self.0.write_all(format!("A {i}\n").as_bytes()).unwrap();
    }
}

/// In a child run, the directory and seed its parent passed in `dir_env` and
/// `seed_env`; `None` in a normal test run (the child test then returns).
pub fn child_args(dir_env: &str, seed_env: &str) -> Option<(PathBuf, u64)> {
    let dir = std::env::var(dir_env).ok()?;
    let seed = std::env::var(seed_env).unwrap().parse().unwrap();
    Some((PathBuf::from(dir), seed))
}

/// Operation indices `1, 2, ...` for a child's loop, ending once the child has
/// run for a minute (its parent is gone by then).
pub fn until_killed() -> impl Iterator<Item = u64> {
    let start = Instant::now();
    (1..).take_while(move |_| start.elapsed() <= CHILD_LIFETIME)
}

/// The states after operations `1..=acked` and `1..=begun` of a child run,
/// starting from `start`; `step(model, i)` applies operation `i` (draw the
/// operations from a fresh `Rng(seed)` the way the child did).
pub fn replay<M: Clone>(
    start: &M,
    acked: u64,
    begun: u64,
    mut step: impl FnMut(&mut M, u64),
) -> (M, M) {
    let mut model = start.clone();
    let mut at_acked = start.clone();
    for i in 1..=begun {
        step(&mut model, i);
        if i == acked {
            at_acked = model.clone();
        }
    }
    (at_acked, model)
}

/// The kill points of one crash test: `CRASH_ITERATIONS` of them (default
/// 50), seeded from `CRASH_SEED` (default: the test's own), each with the
/// seed of its child run and how long the child runs before the kill.
///
/// Past the planned points (`overtime`) it goes on, up to four times as many,
/// with ever longer runs: the test stops once it has seen enough kills land
/// after a commit, so that a machine too loaded to commit in time gets longer
/// runs rather than a failure for its speed.
#[derive(Debug, Clone)]
pub struct KillPlan {
    /// Planned kill points (`CRASH_ITERATIONS`, default 50).
    pub iterations: u64,
    /// Seed of the first child run (`CRASH_SEED`, else the test's default).
    pub base_seed: u64,
    timing: Rng,
    next: u64,
}

/// One kill point of a [`KillPlan`].
#[derive(Debug, Clone, Copy)]
pub struct KillPoint {
    /// Seed of the child run.
    pub seed: u64,
    /// Milliseconds between spawn and SIGKILL.
    pub run_ms: u64,
    /// Past the planned iterations: stop here if enough kills landed.
    pub overtime: bool,
}

impl KillPlan {
    /// The plan from `CRASH_ITERATIONS` and `CRASH_SEED`; `default_seed` is
    /// the test's base seed, `timing_salt` separates the kill timing from it.
    pub fn from_env(default_seed: u64, timing_salt: u64) -> Self {
        let env = |name: &str| std::env::var(name).ok().and_then(|s| s.parse().ok());
        let iterations = env("CRASH_ITERATIONS").unwrap_or(50);
        let base_seed = env("CRASH_SEED").unwrap_or(default_seed);
        KillPlan {
            iterations,
            base_seed,
            timing: Rng(base_seed ^ timing_salt),
            next: 0,
        }
    }
}

impl Iterator for KillPlan {
    type Item = KillPoint;

    fn next(&mut self) -> Option<KillPoint> {
        let it = self.next;
        if it >= self.iterations.saturating_mul(4) {
            return None;
        }
        self.next += 1;
        let seed = self.base_seed.wrapping_add(it.wrapping_mul(0x1_0000_0001));
        // Between 5 ms (often before the child opened its state) and 250 ms,
        // plus 250 ms per round past the plan.
        let slack = 250 * (it / self.iterations.max(1));
        let run_ms = 5 + self.timing.below(245) + slack;
        Some(KillPoint {
            seed,
            run_ms,
            overtime: it >= self.iterations,
        })
    }
}
