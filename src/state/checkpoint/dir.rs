//! [`CheckpointDir`]: the durable checkpoint directory and its writer thread.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::super::backend::in_memory::InMemoryStore;
use super::super::error::{Result, StateError};
use super::super::snapshot::StateSnapshot;
use super::super::store::StateStore;
use super::capture::{Capture, Checkpointable, Checkpointed, Lineage};
use super::manifest::{
    part_file_name, valid_part_name, ChainFile, FileKind, Manifest, ManifestPart, PART_SUFFIX,
};
use super::part::{merge_parts, write_part, CrcReader, CrcWriter, PartReader, PartWriter};

/// Name of the lock file inside a checkpoint directory.
const LOCK_FILE: &str = "LOCK";
/// Prefix of temporary files (removed on open).
const TMP_PREFIX: &str = ".tmp-";

/// Tuning of a [`CheckpointDir`].
#[derive(Debug, Clone)]
pub struct CheckpointOptions {
    retain: usize,
    materialize_ratio: f64,
    max_deltas: usize,
}

impl Default for CheckpointOptions {
    /// Keep 3 checkpoints; materialize a new base when a chain's deltas
    /// exceed half of its base's bytes, or 32 deltas.
    fn default() -> Self {
        CheckpointOptions {
            retain: 3,
            materialize_ratio: 0.5,
            max_deltas: 32,
        }
    }
}

impl CheckpointOptions {
    /// Number of newest checkpoints kept (at least 1). Older manifests are
    /// deleted after each commit, then every part file no kept manifest
    /// references.
    pub fn retain(mut self, k: usize) -> Self {
        self.retain = k.max(1);
        self
    }

    /// When a part's deltas add up to more than `ratio` times its base's
    /// bytes, the writer thread merges the chain into a new base after the
    /// checkpoint is durable. Restore then reads at most about
    /// `1 + ratio` times the state's size. `f64::INFINITY` never merges on
    /// size.
    pub fn materialize_ratio(mut self, ratio: f64) -> Self {
        self.materialize_ratio = if ratio.is_nan() { 0.5 } else { ratio.max(0.0) };
        self
    }

    /// A chain with more than `n` deltas is merged as well (bounds the files a
    /// restore opens). `usize::MAX` never merges on count.
    pub fn max_deltas(mut self, n: usize) -> Self {
        self.max_deltas = n;
        self
    }
}

/// Whether a restore may use an older checkpoint when the newest cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Restore the newest checkpoint or fail (the default choice).
    Never,
    /// If the newest checkpoint cannot be read (a file missing, truncated or
    /// corrupt, or the manifest itself), try the next older one, and so on.
    /// Every part always comes from one checkpoint: never a mix.
    ToOlder,
}

/// Completion of one checkpoint, shared by the writer and the handle.
struct Completion {
    result: Mutex<Option<Result<()>>>,
    done: AtomicBool,
    cv: Condvar,
}

impl Completion {
    fn new() -> Arc<Self> {
        Arc::new(Completion {
            result: Mutex::new(None),
            done: AtomicBool::new(false),
            cv: Condvar::new(),
        })
    }

    fn finish(&self, result: Result<()>) {
        let mut slot = self.result.lock().unwrap_or_else(|e| e.into_inner());
        if !self.done.load(Ordering::Acquire) {
            *slot = Some(result);
            self.done.store(true, Ordering::Release);
        }
        self.cv.notify_all();
    }
}

/// Reports an error to a waiting handle if the job is dropped unfinished
/// (the writer thread stopped).
struct CompletionGuard(Arc<Completion>);

impl Drop for CompletionGuard {
    fn drop(&mut self) {
        self.0.finish(Err(StateError::NotSupported(
            "the checkpoint writer thread stopped before this checkpoint was written".into(),
        )));
    }
}

/// Says when one checkpoint is durable; returned by [`CheckpointDir::checkpoint`].
///
/// An engine acknowledges the checkpoint barrier once [`wait`](Self::wait)
/// returns `Ok` (or [`is_durable`](Self::is_durable) is `true`).
#[derive(Debug)]
pub struct CheckpointHandle {
    epoch: u64,
    completion: Arc<Completion>,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("done", &self.done.load(Ordering::Acquire))
            .finish()
    }
}

impl CheckpointHandle {
    /// The checkpoint's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// `true` once the writer has finished with this checkpoint, durable or failed.
    pub fn is_finished(&self) -> bool {
        self.completion.done.load(Ordering::Acquire)
    }

    /// `true` once the checkpoint is committed (its manifest renamed into
    /// place and the directory fsynced): a crash from now on restores it or
    /// a later one.
    pub fn is_durable(&self) -> bool {
        self.is_finished()
            && matches!(
                *self
                    .completion
                    .result
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()),
                Some(Ok(()))
            )
    }

    /// Blocks until the checkpoint is durable (`Ok`) or has failed (the
    /// error the writer met: I/O, or a delta that does not continue the
    /// part's chain).
    pub fn wait(self) -> Result<()> {
        let mut slot = self
            .completion
            .result
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(result) = slot.take() {
                return result;
            }
            if self.completion.done.load(Ordering::Acquire) {
                return Err(StateError::InvalidArgument(
                    "checkpoint result already taken".into(),
                ));
            }
            slot = self
                .completion
                .cv
                .wait(slot)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

enum Job {
    Checkpoint {
        epoch: u64,
        parts: Vec<(String, Capture)>,
        done: CompletionGuard,
    },
    /// A store was restored from `chain`: its next delta continues it.
    Link {
        part: String,
        chain: Vec<ChainFile>,
        lineage: Lineage,
    },
    /// Completes once every earlier job is done.
    Barrier(CompletionGuard),
}

/// A directory of durable, incremental checkpoints, written by a background
/// thread. See the [module docs](super) for the protocol and an example.
///
/// Opening takes an exclusive lock on `LOCK` in the directory; a second
/// `open` (in this or another process) gets [`StateError::Locked`]. Dropping
/// the value waits for the checkpoints already started, then releases the lock.
#[derive(Debug)]
pub struct CheckpointDir {
    path: PathBuf,
    _lock: File,
    last_epoch: Option<u64>,
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

fn io_err<'p>(what: &str, path: &'p Path) -> impl FnOnce(std::io::Error) -> StateError + 'p {
    let what = what.to_string();
    move |e| StateError::io(format!("{what} {}", path.display()), e)
}

fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsyncing directory", path))
}

/// Lists the committed manifests of `path`, by epoch.
fn list_manifests(path: &Path) -> Result<BTreeMap<u64, PathBuf>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(path).map_err(io_err("listing", path))? {
        let entry = entry.map_err(io_err("listing", path))?;
        if let Some(epoch) = entry.file_name().to_str().and_then(Manifest::epoch_of) {
            out.insert(epoch, entry.path());
        }
    }
    Ok(out)
}

fn read_manifest(path: &Path, epoch: u64) -> Result<Manifest> {
    let file = path.join(Manifest::file_name(epoch));
    let bytes = std::fs::read(&file).map_err(io_err("reading", &file))?;
    let manifest = Manifest::decode(&bytes, &file.display().to_string())?;
    if manifest.epoch != epoch {
        return Err(StateError::corruption(
            file.display().to_string(),
            format!("manifest says epoch {}, its name {epoch}", manifest.epoch),
        ));
    }
    Ok(manifest)
}

/// Writes `bytes` durably as `dir/name`: temporary file, fsync, rename.
/// The caller fsyncs the directory.
fn write_file_durably(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut CrcWriter<BufWriter<File>>) -> Result<()>,
) -> Result<ChainFileStats> {
    let tmp = dir.join(format!("{TMP_PREFIX}{name}"));
    let fin = dir.join(name);
    let result = (|| {
        let file = File::create(&tmp).map_err(io_err("creating", &tmp))?;
        let mut out = CrcWriter::new(BufWriter::with_capacity(1 << 20, file));
        fill(&mut out)?;
        out.flush().map_err(io_err("writing", &tmp))?;
        let stats = ChainFileStats {
            len: out.len,
            crc: out.crc,
        };
        let file = out
            .inner
            .into_inner()
            .map_err(|e| StateError::io(format!("writing {}", tmp.display()), e.into_error()))?;
        file.sync_all().map_err(io_err("fsyncing", &tmp))?;
        drop(file);
        std::fs::rename(&tmp, &fin).map_err(io_err("renaming into place", &fin))?;
        Ok(stats)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

struct ChainFileStats {
    len: u64,
    crc: u32,
}

impl CheckpointDir {
    /// Opens (creating if needed) a checkpoint directory with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, CheckpointOptions::default())
    }

    /// Opens (creating if needed) a checkpoint directory: takes its lock,
    /// removes temporary files and part files no manifest references (left
    /// by a crash), and starts the writer thread. No manifest is deleted
    /// here; retention applies after the next commit.
    ///
    /// The directory belongs to the checkpoints: other files are left alone,
    /// but any `*.part` file that no manifest names is deleted. If a
    /// manifest cannot be read, no file is deleted.
    pub fn open_with(path: impl AsRef<Path>, options: CheckpointOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(io_err("creating", &path))?;
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("opening", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StateError::Locked { path: lock_path }),
            Err(TryLockError::Error(e)) => {
                return Err(StateError::io(
                    format!("locking {}", lock_path.display()),
                    e,
                ))
            }
        }
        let manifests = list_manifests(&path)?;
        let last_epoch = manifests.keys().next_back().copied();
        let mut writer = Writer {
            dir: path.clone(),
            options,
            chains: HashMap::new(),
        };
        writer.collect_garbage(false)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("laminar-checkpoint".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StateError::io("starting the checkpoint writer thread", e))?;
        Ok(CheckpointDir {
            path,
            _lock: lock,
            last_epoch,
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send(&self, job: Job) -> Result<()> {
        self.tx
            .as_ref()
            .and_then(|tx| tx.send(job).ok())
            .ok_or_else(|| {
                StateError::NotSupported("the checkpoint writer thread has stopped".into())
            })
    }

    /// Starts writing checkpoint `epoch` of the given parts (a name and a
    /// capture each) and returns at once: the files are written by the
    /// writer thread, in the order checkpoints were started.
    ///
    /// `epoch` must be greater than every epoch started before or found in
    /// the directory, and part names unique, 1 to 64 of `[A-Za-z0-9_-]`;
    /// otherwise [`StateError::InvalidArgument`] (the captures are dropped
    /// and the stores' next captures are full ones).
    pub fn checkpoint<N: Into<String>>(
        &mut self,
        epoch: u64,
        parts: impl IntoIterator<Item = (N, Capture)>,
    ) -> Result<CheckpointHandle> {
        let parts: Vec<(String, Capture)> = parts.into_iter().map(|(n, c)| (n.into(), c)).collect();
        let lose = |parts: &[(String, Capture)], msg: String| {
            parts.iter().for_each(|(_, c)| c.mark_lost());
            Err(StateError::InvalidArgument(msg))
        };
        if let Some(last) = self.last_epoch.filter(|&last| epoch <= last) {
            return lose(
                &parts,
                format!("checkpoint epoch {epoch} is not after the last one, {last}"),
            );
        }
        let mut seen = HashSet::new();
        for (name, _) in &parts {
            if !valid_part_name(name) {
                return lose(
                    &parts,
                    format!("part name {name:?} is not 1 to 64 of [A-Za-z0-9_-]"),
                );
            }
            if !seen.insert(name.as_str()) {
                return lose(&parts, format!("part name {name:?} appears twice"));
            }
        }
        let completion = Completion::new();
        self.send(Job::Checkpoint {
            epoch,
            parts,
            done: CompletionGuard(Arc::clone(&completion)),
        })?;
        self.last_epoch = Some(epoch);
        Ok(CheckpointHandle { epoch, completion })
    }

    /// Waits until every checkpoint started so far is finished (durable or failed).
    pub fn wait_idle(&self) -> Result<()> {
        let completion = Completion::new();
        self.send(Job::Barrier(CompletionGuard(Arc::clone(&completion))))?;
        CheckpointHandle {
            epoch: 0,
            completion,
        }
        .wait()
    }

    /// Epochs of the committed checkpoints in the directory, ascending.
    pub fn epochs(&self) -> Result<Vec<u64>> {
        Ok(list_manifests(&self.path)?.into_keys().collect())
    }

    /// Reads and verifies the manifest of checkpoint `epoch`.
    pub fn manifest(&self, epoch: u64) -> Result<Manifest> {
        read_manifest(&self.path, epoch)
    }

    /// The newest committed checkpoint's manifest, or `None` if there is none.
    /// A newest manifest that cannot be read is an error (no fallback here).
    pub fn latest(&self) -> Result<Option<Manifest>> {
        match self.epochs()?.last() {
            None => Ok(None),
            Some(&epoch) => self.manifest(epoch).map(Some),
        }
    }

    /// Restores every named part of checkpoint `manifest` into its target.
    ///
    /// Each target is emptied, then gets the part's base and deltas in chain
    /// order; every file's length and CRC-32C are checked against the
    /// manifest as it is read. On error every target is left empty and the
    /// error names the file (and offset, where the format knows it). On
    /// success each target's next capture is a delta on this checkpoint's
    /// chain (or, if retention has meanwhile removed that chain's files, is
    /// refused and followed by a full capture: never a mix).
    pub fn restore<T: Checkpointable + ?Sized>(
        &self,
        manifest: &Manifest,
        targets: &mut [(&str, &mut T)],
    ) -> Result<()> {
        let mut chains = Vec::with_capacity(targets.len());
        for (name, _) in targets.iter() {
            let part = manifest.part(name).ok_or_else(|| {
                StateError::InvalidArgument(format!(
                    "checkpoint {} has no part named {name:?}",
                    manifest.epoch
                ))
            })?;
            chains.push(part);
        }
        let mut result = Ok(());
        for ((_, target), part) in targets.iter_mut().zip(&chains) {
            result = restore_part(&self.path, part, &mut **target);
            if result.is_err() {
                break;
            }
        }
        if result.is_err() {
            for (_, target) in targets.iter_mut() {
                target.abort_restore();
            }
            return result;
        }
        for ((_, target), part) in targets.iter_mut().zip(chains) {
            let lineage = target.end_restore();
            self.send(Job::Link {
                part: part.name.clone(),
                chain: part.files.clone(),
                lineage,
            })?;
        }
        Ok(())
    }

    /// Reads part `part` of checkpoint `manifest` back as one snapshot (the
    /// counterpart of [`Capture::from_snapshot`]; works for any chain). Builds
    /// the state in an `InMemoryStore` first, so it briefly holds two copies.
    pub fn read_snapshot(&self, manifest: &Manifest, part: &str) -> Result<StateSnapshot> {
        let chain = manifest.part(part).ok_or_else(|| {
            StateError::InvalidArgument(format!(
                "checkpoint {} has no part named {part:?}",
                manifest.epoch
            ))
        })?;
        let mut store = Checkpointed::new(InMemoryStore::new());
        restore_part(&self.path, chain, &mut store)?;
        Ok(store.inner().snapshot())
    }

    /// Restores the newest checkpoint (or, with [`Fallback::ToOlder`], the
    /// newest one that can be read completely) into the targets. Returns its
    /// epoch, or `None` (targets untouched) if the directory has no checkpoint.
    pub fn restore_latest<T: Checkpointable + ?Sized>(
        &self,
        targets: &mut [(&str, &mut T)],
        fallback: Fallback,
    ) -> Result<Option<u64>> {
        let epochs = self.epochs()?;
        let mut first_error = None;
        for &epoch in epochs.iter().rev() {
            let attempt = self.manifest(epoch).and_then(|m| self.restore(&m, targets));
            match attempt {
                Ok(()) => return Ok(Some(epoch)),
                Err(e) if fallback == Fallback::Never => return Err(e),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => Ok(None),
            Some(e) => Err(e),
        }
    }
}

impl Drop for CheckpointDir {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Streams one part's chain into `target`, checking each file against the manifest.
fn restore_part<T: Checkpointable + ?Sized>(
    dir: &Path,
    part: &ManifestPart,
    target: &mut T,
) -> Result<()> {
    target.begin_restore()?;
    for file in &part.files {
        read_chain_file(dir, file, |key, value| target.restore_entry(key, value))?;
    }
    Ok(())
}

/// Reads one chain file, calling `f` for each entry, and checks its length
/// and CRC-32C against the manifest.
fn read_chain_file(
    dir: &Path,
    file: &ChainFile,
    mut f: impl FnMut(&[u8], Option<&[u8]>) -> Result<()>,
) -> Result<()> {
    let path = dir.join(&file.name);
    let location = path.display().to_string();
    let handle = File::open(&path).map_err(io_err("opening checkpoint file", &path))?;
    let actual_len = handle
        .metadata()
        .map_err(io_err("reading metadata of", &path))?
        .len();
    if actual_len != file.len {
        return Err(StateError::corruption(
            format!("{location} at offset {}", actual_len.min(file.len)),
            format!(
                "file is {actual_len} bytes, the manifest says {} (truncated or overwritten)",
                file.len
            ),
        ));
    }
    let mut reader = CrcReader::new(BufReader::with_capacity(1 << 20, handle));
    {
        let mut part = PartReader::new(&mut reader, location.clone())?;
        while let Some((key, value)) = part.next_entry()? {
            f(key, value)?;
        }
    }
    reader.drain().map_err(io_err("reading", &path))?;
    if reader.crc != file.crc || reader.len != file.len {
        return Err(StateError::corruption(
            format!("{location} at offset 0"),
            format!(
                "CRC-32C of the file is {:08x}, the manifest says {:08x}",
                reader.crc, file.crc
            ),
        ));
    }
    Ok(())
}

/// The chain the writer continues for one part.
struct Chain {
    lineage: Lineage,
    files: Vec<ChainFile>,
    /// A merge of this chain failed; not retried until the chain gets a new base.
    merge_failed: bool,
}

/// State of the writer thread.
struct Writer {
    dir: PathBuf,
    options: CheckpointOptions,
    /// Per part, the chains a delta may continue: the one written last, and
    /// those of stores restored since (each its own lineage).
    chains: HashMap<String, Vec<Chain>>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        while let Ok(job) = rx.recv() {
            match job {
                Job::Checkpoint { epoch, parts, done } => {
                    let result = self.write_checkpoint(epoch, &parts);
                    let committed = result.is_ok();
                    if !committed {
                        parts.iter().for_each(|(_, c)| c.mark_lost());
                    }
                    done.0.finish(result);
                    let names: Vec<String> = parts.into_iter().map(|(n, _)| n).collect();
                    if committed {
                        // Failures here cost disk space, never a checkpoint.
                        let _ = self.collect_garbage(true);
                        self.materialize(epoch, &names);
                    }
                }
                Job::Link {
                    part,
                    chain,
                    lineage,
                } => {
                    // Retention may have removed the chain's files since the
                    // restore read them (a checkpoint was committed meanwhile):
                    // then the store's next delta fails and it resyncs.
                    let intact = chain.iter().all(|f| {
                        std::fs::metadata(self.dir.join(&f.name)).is_ok_and(|m| m.len() == f.len)
                    });
                    let chains = self.chains.entry(part).or_default();
                    chains.retain(|c| c.lineage.id != lineage.id);
                    if !intact {
                        continue;
                    }
                    chains.push(Chain {
                        lineage,
                        files: chain,
                        merge_failed: false,
                    });
                }
                Job::Barrier(done) => done.0.finish(Ok(())),
            }
        }
    }

    fn write_checkpoint(&mut self, epoch: u64, parts: &[(String, Capture)]) -> Result<()> {
        let mut new_chains = Vec::with_capacity(parts.len());
        for (name, capture) in parts {
            let previous = self.chains.get(name).and_then(|chains| {
                chains.iter().find(|c| {
                    c.lineage.id == capture.lineage.id && c.lineage.seq + 1 == capture.lineage.seq
                })
            });
            let mut files = if capture.is_base() {
                Vec::new()
            } else {
                match previous {
                    Some(chain) => chain.files.clone(),
                    None => {
                        return Err(StateError::InvalidArgument(format!(
                            "part {name:?}: this delta does not follow the last checkpoint written \
                             for the part (an earlier checkpoint failed, or the store was not \
                             restored from this directory); the store's next capture is a full one"
                        )))
                    }
                }
            };
            let kind = if capture.is_base() {
                FileKind::Base
            } else {
                FileKind::Delta
            };
            let file_name = part_file_name(name, epoch, kind);
            let entries = capture.sorted();
            let stats = write_file_durably(&self.dir, &file_name, |out| {
                write_part(out, entries.iter().copied()).map(|_| ())
            })?;
            files.push(ChainFile {
                kind,
                name: file_name,
                len: stats.len,
                crc: stats.crc,
            });
            new_chains.push((name.clone(), capture.lineage, files));
        }
        sync_dir(&self.dir)?;
        let manifest = Manifest {
            epoch,
            parts: new_chains
                .iter()
                .map(|(name, _, files)| ManifestPart {
                    name: name.clone(),
                    files: files.clone(),
                })
                .collect(),
        };
        let bytes = manifest.encode();
        write_file_durably(&self.dir, &Manifest::file_name(epoch), |out| {
            out.write_all(&bytes)
                .map_err(|e| StateError::io("writing a manifest", e))
        })?;
        sync_dir(&self.dir)?;
        // The store that wrote this checkpoint of a part owns its chain now.
        for (name, lineage, files) in new_chains {
            let merge_failed = self
                .chains
                .get(&name)
                .and_then(|chains| chains.iter().find(|c| c.lineage.id == lineage.id))
                .is_some_and(|c| c.merge_failed && c.files.first() == files.first());
            self.chains.insert(
                name,
                vec![Chain {
                    lineage,
                    files,
                    merge_failed,
                }],
            );
        }
        Ok(())
    }

    /// With `prune_manifests` (after a commit), keeps the newest `retain`
    /// manifests; then deletes every part file that no kept manifest and no
    /// chain in progress references, and every temporary file.
    ///
    /// Nothing is deleted unless every kept manifest can be read: an older
    /// checkpoint may be the only complete one left when a newer manifest is
    /// damaged. At open no manifest is deleted (the directory may have been
    /// written with a larger `retain`).
    fn collect_garbage(&mut self, prune_manifests: bool) -> Result<()> {
        let manifests = list_manifests(&self.dir)?;
        let keep_from = if prune_manifests {
            manifests
                .keys()
                .rev()
                .nth(self.options.retain.saturating_sub(1))
                .copied()
                .unwrap_or(0)
        } else {
            0
        };
        let mut referenced: HashSet<String> = HashSet::new();
        for &epoch in manifests.range(keep_from..).map(|(e, _)| e) {
            match read_manifest(&self.dir, epoch) {
                Ok(m) => referenced.extend(m.file_names().map(str::to_string)),
                // Cannot tell what an unreadable manifest references, nor
                // whether the older ones are the only complete checkpoints:
                // delete nothing.
                Err(_) => return Ok(()),
            }
        }
        let mut removed_manifest = false;
        for path in manifests.range(..keep_from).map(|(_, p)| p) {
            std::fs::remove_file(path).map_err(io_err("removing", path))?;
            removed_manifest = true;
        }
        if removed_manifest {
            // The manifests must be gone before the files they name.
            sync_dir(&self.dir)?;
        }
        for chain in self.chains.values().flatten() {
            referenced.extend(chain.files.iter().map(|f| f.name.clone()));
        }
        for entry in std::fs::read_dir(&self.dir).map_err(io_err("listing", &self.dir))? {
            let entry = entry.map_err(io_err("listing", &self.dir))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let is_tmp = name.starts_with(TMP_PREFIX);
            let is_orphan = name.ends_with(PART_SUFFIX) && !referenced.contains(&name);
            if is_tmp || is_orphan {
                // Best effort: what cannot be removed now is retried next time.
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Merges every chain written at `epoch` whose deltas passed the
    /// thresholds into a new base, so the next checkpoint continues from it.
    fn materialize(&mut self, epoch: u64, parts: &[String]) {
        for name in parts {
            let Some(chain) = self.chains.get(name).and_then(|c| c.first()) else {
                continue;
            };
            let deltas = chain.files.len().saturating_sub(1);
            if deltas == 0 || chain.merge_failed {
                continue;
            }
            let base = chain.files.first().map_or(0, |f| f.len) as f64;
            let delta_bytes: u64 = chain.files.iter().skip(1).map(|f| f.len).sum();
            let over_size = delta_bytes as f64 > self.options.materialize_ratio * base;
            if !(over_size || deltas > self.options.max_deltas) {
                continue;
            }
            let files = chain.files.clone();
            let merged = self.merge(&files, &part_file_name(name, epoch, FileKind::Merged));
            let Some(chain) = self.chains.get_mut(name).and_then(|c| c.first_mut()) else {
                continue;
            };
            match merged {
                Ok(file) => chain.files = vec![file],
                Err(_) => chain.merge_failed = true,
            }
        }
    }

    fn merge(&self, files: &[ChainFile], name: &str) -> Result<ChainFile> {
        // Verify every input completely first: a merged base is written only
        // from files that match the manifest.
        for file in files {
            read_chain_file(&self.dir, file, |_, _| Ok(()))?;
        }
        let mut readers = Vec::with_capacity(files.len());
        for file in files {
            let path = self.dir.join(&file.name);
            let handle = File::open(&path).map_err(io_err("opening checkpoint file", &path))?;
            readers.push(PartReader::new(
                BufReader::with_capacity(1 << 20, handle),
                path.display().to_string(),
            )?);
        }
        let stats = write_file_durably(&self.dir, name, |out| {
            let mut writer = PartWriter::new(out)?;
            merge_parts(&mut readers, |k, v| writer.put(k, v))?;
            writer.finish().map(|_| ())
        })?;
        sync_dir(&self.dir)?;
        Ok(ChainFile {
            kind: FileKind::Merged,
            name: name.to_string(),
            len: stats.len,
            crc: stats.crc,
        })
    }
}
