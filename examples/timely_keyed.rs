//! A keyed, stateful operator on timely dataflow that survives a killed
//! process and restarts at another parallelism.
//!
//! The job sums a value per key over a deterministic stream of events
//! (`i` in `0..events`, split into `epochs` epochs of consecutive events;
//! each worker generates the events `i ≡ worker (mod workers)` of each
//! epoch). Events are exchanged by key group (128 groups, Flink's
//! contiguous assignment, `laminar_core::state::checkpoint::key_group`), so
//! each worker owns the state of its groups, kept in a change-tracking
//! byte store (`Checkpointed<InMemoryStore>`, key = the key's 8 bytes
//! big-endian, value = the sum's 8 bytes little-endian).
//!
//! When the operator's input frontier passes an epoch, the worker applies
//! that epoch's events, writes an incremental checkpoint of its state to its
//! local checkpoint directory, uploads it to the shared storage (another
//! directory standing in for object storage, or S3 with `--s3 BUCKET` and
//! the `object-store` feature) together with its output for the epoch (one
//! line `epoch key sum` per key the epoch touched), and only then releases
//! the epoch downstream. When the probe at worker 0 passes the epoch every
//! worker's part is durable, and worker 0 commits the epoch
//! (`commits/e<epoch>`, a conditional put naming the run and its worker
//! count): output is released per committed epoch.
//!
//! A restart (`--run` a new id, any number of workers and processes) reads
//! the latest committed epoch, restores into each new worker exactly its key
//! groups from every old worker's checkpoint, and replays the input from
//! the next epoch; uncommitted output of the dead run is ignored, so
//! nothing is emitted twice. `collect` prints the committed output of every
//! epoch in order: it is the same, byte for byte, whatever the parallelism
//! and however many restarts.
//!
//! ```text
//! cargo run --release --example timely_keyed -- run --storage /tmp/tk --run 1 -- -w 2
//! cargo run --release --example timely_keyed -- collect --storage /tmp/tk
//! ```
//! (`scripts/timely_kill_rescale.sh` runs 2 processes, kills one and
//! restarts with 3 workers.)

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use laminar_core::state::checkpoint::key_group::KeyGroups;
use laminar_core::state::checkpoint::storage::{
    CheckpointStorage, LocalStorage, RemoteCheckpoints,
};
use laminar_core::state::checkpoint::{CheckpointDir, Checkpointed};
use laminar_core::state::{InMemoryStore, Result, StateError, StateStore};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Operator, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};

/// Options of the example (those before `--`; timely's come after it).
#[derive(Debug, Clone)]
struct Opts {
    storage: PathBuf,
    s3: Option<String>,
    run: u64,
    events: u64,
    epochs: u64,
    keys: u64,
    delay_ms: u64,
    scratch: PathBuf,
}

fn parse() -> std::result::Result<(String, Opts, Vec<String>), String> {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_else(|| "timely_keyed".into());
    let mode = args
        .next()
        .ok_or("usage: timely_keyed run|collect [options] [-- timely options]")?;
    let mut opts = Opts {
        storage: PathBuf::from("timely_keyed_storage"),
        s3: None,
        run: 1,
        events: 1_000_000,
        epochs: 20,
        keys: 10_000,
        delay_ms: 0,
        scratch: std::env::temp_dir().join("timely_keyed_scratch"),
    };
    let mut timely_args = vec![program];
    while let Some(arg) = args.next() {
        if arg == "--" {
            timely_args.extend(args.by_ref());
            break;
        }
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        let num = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{arg} {value}: {e}"))
        };
        match arg.as_str() {
            "--storage" => opts.storage = PathBuf::from(&value),
            "--s3" => opts.s3 = Some(value.clone()),
            "--scratch" => opts.scratch = PathBuf::from(&value),
            "--run" => opts.run = num()?,
            "--events" => opts.events = num()?,
            "--epochs" => opts.epochs = num()?.max(1),
            "--keys" => opts.keys = num()?.max(1),
            "--delay-ms" => opts.delay_ms = num()?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok((mode, opts, timely_args))
}

fn storage(opts: &Opts) -> Result<Arc<dyn CheckpointStorage>> {
    if let Some(bucket) = &opts.s3 {
        #[cfg(feature = "object-store")]
        {
            let endpoint = std::env::var("LAMINAR_S3_ENDPOINT").ok();
            let s3 = laminar_core::state::checkpoint::storage::ObjectStorage::s3(
                bucket,
                endpoint.as_deref(),
            )?;
            return Ok(Arc::new(s3));
        }
        #[cfg(not(feature = "object-store"))]
        return Err(StateError::NotSupported(format!(
            "--s3 {bucket}: build with --features object-store"
        )));
    }
    Ok(Arc::new(LocalStorage::open(&opts.storage)?))
}

/// Event `i`: a key and a value, deterministic.
fn event(i: u64, keys: u64) -> (u64, u64) {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^= z >> 29;
    (z % keys, (z >> 32) % 1000)
}

fn epoch_range(epoch: u64, opts: &Opts) -> std::ops::Range<u64> {
    let per = opts.events.div_ceil(opts.epochs);
    (epoch * per).min(opts.events)..((epoch + 1) * per).min(opts.events)
}

fn commit_name(epoch: u64) -> String {
    format!("commits/e{epoch:010}")
}

/// The latest committed epoch: `(epoch, run, workers)`.
fn latest_commit(storage: &dyn CheckpointStorage) -> Result<Option<(u64, u64, u32)>> {
    let mut best = None;
    for name in storage.list("commits")? {
        let Some(epoch) = name
            .strip_prefix("commits/e")
            .and_then(|e| e.parse::<u64>().ok())
        else {
            continue;
        };
        if best.is_some_and(|b| b >= epoch) {
            continue;
        }
        best = Some(epoch);
    }
    let Some(epoch) = best else { return Ok(None) };
    let (run, workers) = read_commit(storage, epoch)?;
    Ok(Some((epoch, run, workers)))
}

fn read_commit(storage: &dyn CheckpointStorage, epoch: u64) -> Result<(u64, u32)> {
    let name = commit_name(epoch);
    let bytes = storage.get(&name)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut it = text.split_whitespace();
    let bad = || StateError::corruption(storage.location(&name), "not `run <id> workers <n>`");
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some("run"), Some(run), Some("workers"), Some(n)) => Ok((
            run.parse().map_err(|_| bad())?,
            n.parse().map_err(|_| bad())?,
        )),
        _ => Err(bad()),
    }
}

fn worker_prefix(run: u64, worker: u32, workers: u32) -> String {
    format!("run{run}/w{worker}of{workers}")
}

fn output_name(run: u64, epoch: u64, worker: u32, workers: u32) -> String {
    format!("run{run}/out/e{epoch:010}/w{worker}of{workers}")
}

type Store = Checkpointed<InMemoryStore>;

/// Restores this worker's key groups from every old worker's part of
/// committed epoch `epoch` (written by `old_workers` workers of run `old_run`).
fn restore_groups(
    storage: &Arc<dyn CheckpointStorage>,
    opts: &Opts,
    (epoch, old_run, old_workers): (u64, u64, u32),
    worker: u32,
    workers: u32,
) -> Result<Store> {
    let groups = KeyGroups::DEFAULT;
    let mine = groups.range_for_worker(workers, worker)?;
    let mut store = Checkpointed::new(InMemoryStore::new());
    for old in 0..old_workers {
        // Old worker `old` holds groups `theirs`: skip it if they do not meet ours.
        let theirs = groups.range_for_worker(old_workers, old)?;
        if theirs.intersect(mine).is_empty() {
            continue;
        }
        let remote = RemoteCheckpoints::shared(
            Arc::clone(storage),
            &worker_prefix(old_run, old, old_workers),
        )?;
        let manifest = remote.manifest(epoch)?;
        let scratch = opts.scratch.join(format!(
            "run{}-w{worker}of{workers}-restore-{old}",
            opts.run
        ));
        let _ = std::fs::remove_dir_all(&scratch);
        let dir = CheckpointDir::open(&scratch)?;
        let mut part = Checkpointed::new(InMemoryStore::new());
        remote.restore(&manifest, &dir, &mut [("state", &mut part)])?;
        for (key, value) in part.inner().prefix_scan(b"") {
            if mine.contains(groups.group_of(&key)) {
                store.put(&key, value)?;
            }
        }
        drop(dir);
        let _ = std::fs::remove_dir_all(&scratch);
    }
    Ok(store)
}

fn get_sum(store: &Store, key: u64) -> u64 {
    store
        .get_ref(&key.to_be_bytes())
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map_or(0, u64::from_le_bytes)
}

/// The per-worker durable side of the operator.
struct Durable {
    storage: Arc<dyn CheckpointStorage>,
    remote: RemoteCheckpoints,
    dir: CheckpointDir,
    run: u64,
    worker: u32,
    workers: u32,
}

impl Durable {
    /// Applies `events` of `epoch` to `store`, checkpoints, uploads the
    /// checkpoint and the epoch's output.
    fn complete_epoch(
        &mut self,
        store: &mut Store,
        epoch: u64,
        events: Vec<(u64, u64)>,
    ) -> Result<u64> {
        let mut touched = BTreeMap::new();
        for (key, value) in events {
            let sum = get_sum(store, key) + value;
            store.put(
                &key.to_be_bytes(),
                Bytes::copy_from_slice(&sum.to_le_bytes()),
            )?;
            touched.insert(key, sum);
        }
        self.dir
            .checkpoint(epoch, [("state", store.capture())])?
            .wait()?;
        self.remote.upload(&self.dir, epoch)?;
        let mut text = String::new();
        for (key, sum) in &touched {
            text.push_str(&format!("{epoch} {key} {sum}\n"));
        }
        self.storage.put(
            &output_name(self.run, epoch, self.worker, self.workers),
            &mut text.as_bytes(),
        )?;
        Ok(touched.len() as u64)
    }
}

fn run(opts: Opts, timely_args: Vec<String>) -> std::result::Result<(), String> {
    let started = Instant::now();
    let guards = timely::execute_from_args(timely_args.into_iter(), move |worker| {
        if let Err(e) = run_worker(worker, &opts) {
            eprintln!("worker {}: {e}", worker.index());
            std::process::exit(2);
        }
    })?;
    drop(guards);
    eprintln!("run finished in {:.3} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn run_worker(worker: &mut timely::worker::Worker, opts: &Opts) -> Result<()> {
    let index = worker.index() as u32;
    let peers = worker.peers() as u32;
    let groups = KeyGroups::DEFAULT;
    if peers > groups.count() {
        return Err(StateError::InvalidArgument(format!(
            "{peers} workers but only {} key groups",
            groups.count()
        )));
    }
    let storage = storage(opts)?;
    let latest = latest_commit(&*storage)?;
    let start = latest.map_or(0, |(e, _, _)| e + 1);
    let store = match latest {
        Some(commit) => restore_groups(&storage, opts, commit, index, peers)?,
        None => Checkpointed::new(InMemoryStore::new()),
    };
    let local = opts
        .scratch
        .join(format!("run{}-w{index}of{peers}", opts.run));
    let _ = std::fs::remove_dir_all(&local);
    let mut durable = Durable {
        remote: RemoteCheckpoints::shared(
            Arc::clone(&storage),
            &worker_prefix(opts.run, index, peers),
        )?,
        storage: Arc::clone(&storage),
        dir: CheckpointDir::open(&local)?,
        run: opts.run,
        worker: index,
        workers: peers,
    };
    if index == 0 {
        eprintln!(
            "run {}: {peers} workers, starting at epoch {start} of {} ({})",
            opts.run,
            opts.epochs,
            match latest {
                Some((e, r, n)) => format!("restored epoch {e} of run {r}, {n} workers"),
                None => "no committed epoch".into(),
            }
        );
    }

    let mut input = InputHandle::new();
    let probe = ProbeHandle::new();
    let epochs = opts.epochs;
    let failure: std::rc::Rc<std::cell::RefCell<Option<StateError>>> = Default::default();
    let failure_in_op = std::rc::Rc::clone(&failure);
    worker.dataflow::<u64, _, _>(|scope| {
        let exchange = Exchange::new(move |&(key, _): &(u64, u64)| {
            u64::from(
                groups
                    .worker_for_key(peers, &key.to_be_bytes())
                    .unwrap_or(0),
            )
        });
        input
            .to_stream(scope)
            .unary_frontier(exchange, "KeyedSum", move |cap, _info| {
                let mut store = store;
                let mut cap = Some(cap);
                let mut next = start;
                let mut pending: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
                move |(input, frontier), output| {
                    input.for_each(|time, data| {
                        if let Some(t) = time.retain_least(0).map(|c| *c.time()) {
                            pending.entry(t).or_default().append(data);
                        }
                    });
                    while next < epochs && !frontier.less_equal(&next) {
                        let events = pending.remove(&next).unwrap_or_default();
                        let Some(held) = cap.as_mut() else { break };
                        match durable.complete_epoch(&mut store, next, events) {
                            Ok(touched) => {
                                output.session(&*held).give((next, touched));
                            }
                            Err(e) => {
                                failure_in_op.borrow_mut().get_or_insert(e);
                                cap = None;
                                break;
                            }
                        }
                        next += 1;
                        if next < epochs {
                            held.downgrade(&next);
                        } else {
                            cap = None;
                        }
                    }
                }
            })
            .container::<Vec<(u64, u64)>>()
            .probe_with(&probe);
    });

    let started = Instant::now();
    let mut sent = 0u64;
    input.advance_to(start);
    for epoch in start..epochs {
        for i in epoch_range(epoch, opts).filter(|i| i % u64::from(peers) == u64::from(index)) {
            input.send(event(i, opts.keys));
            sent += 1;
        }
        input.advance_to(epoch + 1);
        while probe.less_than(&(epoch + 1)) {
            worker.step();
            if let Some(e) = failure.borrow_mut().take() {
                return Err(e);
            }
        }
        if index == 0 {
            // Every worker released `epoch` downstream only after its part
            // was durable: the epoch is complete. Check, then commit it.
            for w in 0..peers {
                RemoteCheckpoints::shared(
                    Arc::clone(&storage),
                    &worker_prefix(opts.run, w, peers),
                )?
                .manifest(epoch)?;
            }
            let record = format!("run {} workers {peers}\n", opts.run);
            if !storage.put_if_absent(&commit_name(epoch), record.as_bytes())? {
                return Err(StateError::InvalidArgument(format!(
                    "epoch {epoch} was committed by another run"
                )));
            }
        }
        if opts.delay_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(opts.delay_ms));
        }
    }
    drop(input);
    while worker.step() {}
    if let Some(e) = failure.borrow_mut().take() {
        return Err(e);
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "worker {index}: sent {sent} events in {secs:.3} s ({:.0} events/s)",
        sent as f64 / secs.max(1e-9)
    );
    let _ = std::fs::remove_dir_all(&local);
    Ok(())
}

/// Prints the committed output of every epoch, in order; fails if an epoch
/// is not committed.
fn collect(opts: &Opts) -> Result<()> {
    let storage = storage(opts)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for epoch in 0..opts.epochs {
        let (run, workers) = read_commit(&*storage, epoch)?;
        let mut lines: Vec<(u64, String)> = Vec::new();
        for w in 0..workers {
            let bytes = storage.get(&output_name(run, epoch, w, workers))?;
            for line in String::from_utf8_lossy(&bytes).lines() {
                let key = line
                    .split(' ')
                    .nth(1)
                    .and_then(|k| k.parse().ok())
                    .unwrap_or(u64::MAX);
                lines.push((key, line.to_string()));
            }
        }
        lines.sort();
        for (_, line) in lines {
            std::io::Write::write_all(&mut out, line.as_bytes())
                .and_then(|()| std::io::Write::write_all(&mut out, b"\n"))
                .map_err(|e| StateError::io("writing the output", e))?;
        }
    }
    Ok(())
}

fn main() {
    let (mode, opts, timely_args) = match parse() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let result = match mode.as_str() {
        "run" => run(opts, timely_args),
        "collect" => collect(&opts).map_err(|e| e.to_string()),
        other => Err(format!("unknown mode {other}: run or collect")),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
