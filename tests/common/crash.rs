//! Shared by the kill -9 tests (`mmap_crash.rs`, `typed_mmap_crash.rs`):
//! a deterministic generator and the spawn-then-SIGKILL of a child run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// SplitMix64: operations are a pure function of a seed, so the parent can
/// replay what the child did.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Runs test `child` of this binary with `dir` in `dir_env` and `seed` in
/// `seed_env`, kills it with SIGKILL after `run_ms`, and returns the
/// report file `dir/report` it wrote (empty if none). Fails if the child
/// exited on its own before the kill.
pub fn run_and_kill(
    child: &str,
    dir: &Path,
    dir_env: &str,
    seed_env: &str,
    seed: u64,
    run_ms: u64,
) -> String {
    let report_path = dir.join("report");
    let _ = std::fs::remove_file(&report_path);
    let mut process = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", child, "--nocapture", "--test-threads=1"])
        .env(dir_env, dir)
        .env(seed_env, seed.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(run_ms));
    let still_running = process.try_wait().unwrap().is_none();
    process.kill().unwrap(); // SIGKILL
    let out = process.wait_with_output().unwrap();
    assert!(
        still_running,
        "child exited before the kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&report_path).unwrap_or_default()
}

/// The operation index of the last report line starting with `tag`.
pub fn last(report: &str, tag: &str) -> u64 {
    report
        .lines()
        .filter_map(|l| l.strip_prefix(tag))
        .filter_map(|n| n.split_whitespace().next()?.parse().ok())
        .next_back()
        .unwrap_or(0)
}
