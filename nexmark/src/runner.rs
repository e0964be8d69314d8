//! Runs one query on one backend over an in-memory stream: times the
//! processing, checkpoints at random points (each checkpoint is restored at
//! once into a fresh state, which then carries on), and checks the output
//! against the oracle.

use std::path::PathBuf;
use std::time::Duration;

use laminar_core::state::Result;

use crate::events::Ev;
use crate::op::{thread_cpu, timed, Row};
use crate::queries::Query;
use crate::Backend;

/// How to run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Mean events between checkpoints (0: none). Each checkpoint lands at a
    /// random point in `[interval/2, 3*interval/2)` after the previous one.
    pub checkpoint_every: usize,
    /// Seed of the checkpoint points.
    pub seed: u64,
    /// Events per `process` call.
    pub batch: usize,
    /// Where the persistent backend makes its temporary directory.
    pub dir: Option<PathBuf>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            checkpoint_every: 0,
            seed: 7,
            batch: 1024,
            dir: None,
        }
    }
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The query.
    pub query: Query,
    /// The backend.
    pub backend: Backend,
    /// Events handled.
    pub events: usize,
    /// Time spent handling events (checkpoints and restores excluded): the
    /// thread's CPU time where it can be read (Linux), else wall-clock time.
    pub processing: Duration,
    /// `true` if `processing` is CPU time.
    pub cpu_time: bool,
    /// Wall-clock time spent handling events (checkpoints and restores excluded).
    pub wall: Duration,
    /// Largest number of live entries seen (sampled after every batch).
    pub peak_entries: usize,
    /// Live entries at the end of the stream, before `finish`.
    pub end_entries: usize,
    /// Approximate state bytes at the end of the stream, before `finish`.
    pub end_bytes: usize,
    /// Pause of each checkpoint.
    pub checkpoint_pauses: Vec<Duration>,
    /// Size of the largest checkpoint, bytes.
    pub checkpoint_bytes: u64,
    /// Time of each restore.
    pub restores: Vec<Duration>,
    /// Output rows, sorted.
    pub output: Vec<Row>,
}

impl Report {
    /// Events per second of processing time.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.processing.as_secs_f64().max(1e-9)
    }
}

/// `p`-quantile (0..=1) of `d`, or `None` if empty.
pub fn quantile(d: &[Duration], p: f64) -> Option<Duration> {
    let mut v = d.to_vec();
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Runs `query` on `backend` over `evs`; `progress` is called with the
/// number of events handled after each batch.
pub fn run(
    query: Query,
    backend: Backend,
    evs: &[Ev],
    cfg: &RunConfig,
    mut progress: impl FnMut(usize),
) -> Result<Report> {
    let mut op = query.operator(backend, cfg.dir.as_deref())?;
    let mut out: Vec<Row> = Vec::new();
    let mut rng = Rng(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let every = if op.can_checkpoint() {
        cfg.checkpoint_every
    } else {
        0
    };
    let next_ck = |pos: usize, rng: &mut Rng| {
        if every == 0 {
            usize::MAX
        } else {
            pos + every / 2 + (rng.next() % every.max(1) as u64) as usize + 1
        }
    };
    let mut ck_at = next_ck(0, &mut rng);
    let mut report = Report {
        query,
        backend,
        events: evs.len(),
        processing: Duration::ZERO,
        cpu_time: false,
        wall: Duration::ZERO,
        peak_entries: 0,
        end_entries: 0,
        end_bytes: 0,
        checkpoint_pauses: Vec::new(),
        checkpoint_bytes: 0,
        restores: Vec::new(),
        output: Vec::new(),
    };
    let batch = cfg.batch.max(1);
    let mut pos = 0;
    // CPU time of this thread outside checkpoints and restores.
    let cpu_start = thread_cpu();
    let mut cpu_excluded = Duration::ZERO;
    while pos < evs.len() {
        let end = (pos + batch).min(evs.len()).min(ck_at.max(pos + 1));
        let chunk = evs.get(pos..end).unwrap_or_default();
        let (r, t) = timed(|| op.process(chunk, &mut out));
        r?;
        report.wall += t;
        pos = end;
        report.peak_entries = report.peak_entries.max(op.live_entries());
        if pos == ck_at && pos < evs.len() {
            let cpu_before = thread_cpu();
            let (bytes, t) = timed(|| op.checkpoint());
            report.checkpoint_bytes = report.checkpoint_bytes.max(bytes?);
            report.checkpoint_pauses.push(t);
            let (r, t) = timed(|| op.restore());
            r?;
            report.restores.push(t);
            if let (Some(a), Some(b)) = (cpu_before, thread_cpu()) {
                cpu_excluded += b.saturating_sub(a);
            }
            ck_at = next_ck(pos, &mut rng);
        }
        progress(pos);
    }
    report.end_entries = op.live_entries();
    report.end_bytes = op.live_bytes();
    let (r, t) = timed(|| op.finish(&mut out));
    r?;
    report.wall += t;
    match (cpu_start, thread_cpu()) {
        (Some(a), Some(b)) => {
            report.processing = b.saturating_sub(a).saturating_sub(cpu_excluded);
            report.cpu_time = true;
        }
        _ => report.processing = report.wall,
    }
    out.sort_unstable();
    report.output = out;
    Ok(report)
}

/// The oracle's output for `query`, sorted.
pub fn oracle(query: Query, evs: &[Ev]) -> Vec<Row> {
    let mut v = query.oracle(evs);
    v.sort_unstable();
    v
}
