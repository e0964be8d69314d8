//! Where checkpoints live besides the local directory: [`CheckpointStorage`],
//! the few operations a checkpoint needs from a store of named files, and
//! [`RemoteCheckpoints`], which copies committed checkpoints of a
//! [`CheckpointDir`] there and restores from them.
//!
//! The local [`CheckpointDir`] stays the place a checkpoint is written
//! first (its writer thread, incremental chains and background merges work
//! on files). Once a checkpoint is durable locally,
//! [`RemoteCheckpoints::upload`] puts every file of its manifest the storage
//! does not hold yet (part files are immutable and named by part, epoch and
//! kind, so an incremental checkpoint uploads only its new deltas), each
//! checked against the manifest's length and CRC-32C as it is read, and then
//! the manifest itself, last, with [`CheckpointStorage::put_if_absent`]: on
//! a store with conditional puts two writers cannot both commit an epoch.
//! A restore ([`RemoteCheckpoints::restore`]) fetches the files of a manifest
//! into the local directory (those already there with the right length are
//! kept) and restores from them as [`CheckpointDir::restore`] does, so the
//! next checkpoint continues the same chain.
//!
//! Two implementations: [`LocalStorage`], a directory (every put written to
//! a temporary file, fsynced, renamed, the directory fsynced), always
//! compiled; and, with the cargo feature `object-store`, [`ObjectStorage`]
//! over the `object_store` crate: local filesystem (fsynced after each put),
//! in-memory, and S3 or any S3-compatible server (multipart upload for
//! files above [`MULTIPART_THRESHOLD`], `If-None-Match: *` for the
//! manifest).
//!
//! ```
//! use laminar_core::state::checkpoint::storage::{LocalStorage, RemoteCheckpoints};
//! use laminar_core::state::checkpoint::{CheckpointDir, Checkpointed, Fallback};
//! use laminar_core::state::{InMemoryStore, StateStore};
//!
//! let tmp = tempfile::tempdir()?;
//! let remote = RemoteCheckpoints::new(LocalStorage::open(tmp.path().join("remote"))?);
//! let mut store = Checkpointed::new(InMemoryStore::new());
//! store.put(b"k", bytes::Bytes::from_static(b"v"))?;
//! {
//!     let mut dir = CheckpointDir::open(tmp.path().join("worker-a"))?;
//!     dir.checkpoint(1, [("counts", store.capture())])?.wait()?;
//!     remote.upload(&dir, 1)?;
//! }
//! // Another machine, an empty local directory: restore from the storage.
//! let dir = CheckpointDir::open(tmp.path().join("worker-b"))?;
//! let mut restored = Checkpointed::new(InMemoryStore::new());
//! let epoch = remote.restore_latest(&dir, &mut [("counts", &mut restored)], Fallback::Never)?;
//! assert_eq!(epoch, Some(1));
//! assert_eq!(restored.get(b"k").as_deref(), Some(&b"v"[..]));
//! # Ok::<(), laminar_core::state::StateError>(())
//! ```

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::super::error::{Result, StateError};
use super::capture::Checkpointable;
use super::dir::{CheckpointDir, Fallback};
use super::manifest::{ChainFile, Manifest};

/// Files larger than this are uploaded in parts by [`ObjectStorage`] (and
/// parts are this large): 8 MiB.
pub const MULTIPART_THRESHOLD: usize = 8 << 20;

/// Bytes and requests a storage has served since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageCounters {
    /// Bytes returned by `get`, `get_range` and `get_to`.
    pub bytes_read: u64,
    /// Bytes stored by `put` and `put_if_absent`.
    pub bytes_written: u64,
    /// Requests of any kind (a multipart upload counts one per part).
    pub requests: u64,
}

#[derive(Debug, Default)]
struct Counters {
    read: AtomicU64,
    written: AtomicU64,
    requests: AtomicU64,
}

impl Counters {
    fn read(&self, n: u64) {
        self.read.fetch_add(n, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    fn written(&self, n: u64) {
        self.written.fetch_add(n, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    fn snapshot(&self) -> StorageCounters {
        StorageCounters {
            bytes_read: self.read.load(Ordering::Relaxed),
            bytes_written: self.written.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
        }
    }
}

/// A flat store of named, immutable files: what a checkpoint needs from
/// object storage.
///
/// Names are 1 to 512 bytes of `/`-separated segments, each 1 to 255 of
/// `[A-Za-z0-9._-]` and not `.` or `..` (checked by every method:
/// [`StateError::InvalidArgument`]). A missing file is a
/// [`StateError::Io`] whose source has kind [`std::io::ErrorKind::NotFound`].
/// Every method blocks until the operation is done; a successful `put` is
/// durable.
pub trait CheckpointStorage: Send + Sync + std::fmt::Debug {
    /// Where `name` is, for error messages (a path or a URL).
    fn location(&self, name: &str) -> String;

    /// Stores everything `source` yields as `name`, replacing any file of
    /// that name; returns the number of bytes stored. Readers see the old
    /// file or the whole new one, never a part.
    fn put(&self, name: &str, source: &mut dyn Read) -> Result<u64>;

    /// Stores `bytes` as `name` only if no file of that name exists; returns
    /// `false` (and stores nothing) if one does. Atomic where the store
    /// supports conditional puts ([`supports_conditional_put`](Self::supports_conditional_put));
    /// elsewhere a check followed by a put, which two concurrent writers can
    /// both pass.
    fn put_if_absent(&self, name: &str, bytes: &[u8]) -> Result<bool>;

    /// Whether [`put_if_absent`](Self::put_if_absent) is atomic.
    fn supports_conditional_put(&self) -> bool;

    /// The whole file.
    fn get(&self, name: &str) -> Result<Vec<u8>>;

    /// Bytes `range` of the file; a range past its end is an error.
    fn get_range(&self, name: &str, range: Range<u64>) -> Result<Vec<u8>>;

    /// Streams the whole file into `sink`; returns its length.
    fn get_to(&self, name: &str, sink: &mut dyn Write) -> Result<u64>;

    /// Names of the files whose name starts with `prefix` (a whole number of
    /// segments, `""` for all), in no particular order.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;

    /// Removes `name`; removing a missing file is not an error.
    fn delete(&self, name: &str) -> Result<()>;

    /// Bytes and requests served so far.
    fn counters(&self) -> StorageCounters;
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 512
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && seg.len() <= 255
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidArgument(format!(
            "storage name {name:?} is not 1 to 512 bytes of /-separated segments of [A-Za-z0-9._-]"
        )))
    }
}

fn check_prefix(prefix: &str) -> Result<()> {
    if prefix.is_empty() {
        Ok(())
    } else {
        check_name(prefix.trim_end_matches('/'))
    }
}

/// Whether an error is a missing file.
pub fn is_not_found(e: &StateError) -> bool {
    matches!(e, StateError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

/// [`CheckpointStorage`] in a local directory (any filesystem, a network
/// mount included): every put goes to a temporary file that is fsynced and
/// renamed into place, then the directory is fsynced; `put_if_absent` links
/// the temporary file into place, which fails atomically if the name exists.
#[derive(Debug)]
pub struct LocalStorage {
    root: PathBuf,
    counters: Counters,
}

/// Prefix of the temporary files of [`LocalStorage`] (never listed).
const LOCAL_TMP: &str = ".tmp-";

impl LocalStorage {
    /// Opens (creating if needed) the directory `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        std::fs::create_dir_all(&root)
            .map_err(|e| StateError::io(format!("creating {}", root.display()), e))?;
        Ok(LocalStorage {
            root,
            counters: Counters::default(),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        Ok(self.root.join(name))
    }

    /// Writes `source` to a fsynced temporary file next to `path`.
    fn write_tmp(&self, path: &Path, source: &mut dyn Read) -> Result<(PathBuf, u64)> {
        let parent = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent)
            .map_err(|e| StateError::io(format!("creating {}", parent.display()), e))?;
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tmp = parent.join(format!(
            "{LOCAL_TMP}{}-{}-{file_name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let file = File::create(&tmp)
                .map_err(|e| StateError::io(format!("creating {}", tmp.display()), e))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let n = std::io::copy(source, &mut out)
                .map_err(|e| StateError::io(format!("writing {}", tmp.display()), e))?;
            let file = out.into_inner().map_err(|e| {
                StateError::io(format!("writing {}", tmp.display()), e.into_error())
            })?;
            file.sync_all()
                .map_err(|e| StateError::io(format!("fsyncing {}", tmp.display()), e))?;
            Ok(n)
        })();
        match result {
            Ok(n) => Ok((tmp, n)),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    fn sync_parent(&self, path: &Path) -> Result<()> {
        let parent = path.parent().unwrap_or(&self.root);
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| StateError::io(format!("fsyncing directory {}", parent.display()), e))
    }
}

fn list_local(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StateError::io(format!("listing {}", dir.display()), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| StateError::io(format!("listing {}", dir.display()), e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with(LOCAL_TMP) {
            continue;
        }
        let file_type = entry
            .file_type()
            .map_err(|e| StateError::io(format!("listing {}", dir.display()), e))?;
        let path = entry.path();
        let Some(rel) = path
            .strip_prefix(root)
            .ok()
            .and_then(|p| p.to_str())
            .map(|p| p.replace(std::path::MAIN_SEPARATOR, "/"))
        else {
            continue;
        };
        if file_type.is_dir() {
            list_local(root, &path, prefix, out)?;
        } else if rel.starts_with(prefix) && check_name(&rel).is_ok() {
            out.push(rel);
        }
    }
    Ok(())
}

impl CheckpointStorage for LocalStorage {
    fn location(&self, name: &str) -> String {
        self.root.join(name).display().to_string()
    }

    fn put(&self, name: &str, source: &mut dyn Read) -> Result<u64> {
        let path = self.path(name)?;
        let (tmp, n) = self.write_tmp(&path, source)?;
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(StateError::io(
                format!("renaming into place {}", path.display()),
                e,
            ));
        }
        self.sync_parent(&path)?;
        self.counters.written(n);
        Ok(n)
    }

    fn put_if_absent(&self, name: &str, bytes: &[u8]) -> Result<bool> {
        let path = self.path(name)?;
        let (tmp, n) = self.write_tmp(&path, &mut &bytes[..])?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                self.sync_parent(&path)?;
                self.counters.written(n);
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                self.counters.request();
                Ok(false)
            }
            Err(e) => Err(StateError::io(format!("linking {}", path.display()), e)),
        }
    }

    fn supports_conditional_put(&self) -> bool {
        true
    }

    fn get(&self, name: &str) -> Result<Vec<u8>> {
        let path = self.path(name)?;
        let bytes = std::fs::read(&path)
            .map_err(|e| StateError::io(format!("reading {}", path.display()), e))?;
        self.counters.read(bytes.len() as u64);
        Ok(bytes)
    }

    fn get_range(&self, name: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let path = self.path(name)?;
        let len = range.end.checked_sub(range.start).ok_or_else(|| {
            StateError::InvalidArgument(format!(
                "byte range {range:?} of {} is reversed",
                path.display()
            ))
        })?;
        let mut file = File::open(&path)
            .map_err(|e| StateError::io(format!("opening {}", path.display()), e))?;
        file.seek(SeekFrom::Start(range.start))
            .map_err(|e| StateError::io(format!("seeking in {}", path.display()), e))?;
        let len = usize::try_from(len).map_err(|_| {
            StateError::InvalidArgument(format!("byte range {range:?} does not fit in memory"))
        })?;
        let mut out = vec![0; len];
        file.read_exact(&mut out).map_err(|e| {
            StateError::io(format!("reading bytes {range:?} of {}", path.display()), e)
        })?;
        self.counters.read(len as u64);
        Ok(out)
    }

    fn get_to(&self, name: &str, sink: &mut dyn Write) -> Result<u64> {
        let path = self.path(name)?;
        let file = File::open(&path)
            .map_err(|e| StateError::io(format!("opening {}", path.display()), e))?;
        let n = std::io::copy(&mut BufReader::with_capacity(1 << 20, file), sink)
            .map_err(|e| StateError::io(format!("copying {}", path.display()), e))?;
        self.counters.read(n);
        Ok(n)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        check_prefix(prefix)?;
        let mut out = Vec::new();
        list_local(&self.root, &self.root, prefix, &mut out)?;
        self.counters.request();
        Ok(out)
    }

    fn delete(&self, name: &str) -> Result<()> {
        let path = self.path(name)?;
        self.counters.request();
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StateError::io(format!("removing {}", path.display()), e)),
        }
    }

    fn counters(&self) -> StorageCounters {
        self.counters.snapshot()
    }
}

/// A reader that computes the CRC-32C and length of what passes through.
struct Checked<R> {
    inner: R,
    crc: u32,
    len: u64,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = buf.get(..n).unwrap_or_default();
        self.crc = crc32c::crc32c_append(self.crc, got);
        self.len += n as u64;
        Ok(n)
    }
}

/// A writer that computes the CRC-32C and length of what passes through.
struct CheckedWriter<W> {
    inner: W,
    crc: u32,
    len: u64,
}

impl<W: Write> Write for CheckedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let put = buf.get(..n).unwrap_or_default();
        self.crc = crc32c::crc32c_append(self.crc, put);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What one [`RemoteCheckpoints::upload`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadStats {
    /// Files put (the manifest included).
    pub files: usize,
    /// Bytes put.
    pub bytes: u64,
    /// Files of the manifest the storage held already (earlier parts of a chain).
    pub skipped: usize,
}

/// Checkpoints of [`CheckpointDir`]s on a [`CheckpointStorage`], under a
/// name prefix (e.g. one per job or per worker). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct RemoteCheckpoints {
    storage: Arc<dyn CheckpointStorage>,
    prefix: String,
}

impl RemoteCheckpoints {
    /// Checkpoints at the top of `storage`.
    pub fn new(storage: impl CheckpointStorage + 'static) -> Self {
        RemoteCheckpoints {
            storage: Arc::new(storage),
            prefix: String::new(),
        }
    }

    /// Checkpoints under `prefix` (`""`, or `/`-separated segments as in a
    /// [`CheckpointStorage`] name) of a shared storage.
    pub fn shared(storage: Arc<dyn CheckpointStorage>, prefix: &str) -> Result<Self> {
        let prefix = prefix.trim_end_matches('/');
        check_prefix(prefix)?;
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        Ok(RemoteCheckpoints { storage, prefix })
    }

    /// The storage.
    pub fn storage(&self) -> &Arc<dyn CheckpointStorage> {
        &self.storage
    }

    fn name(&self, file: &str) -> String {
        format!("{}{file}", self.prefix)
    }

    /// Names (without the prefix) of the files stored under the prefix.
    fn files(&self) -> Result<HashSet<String>> {
        Ok(self
            .storage
            .list(&self.prefix)?
            .into_iter()
            .filter_map(|n| n.strip_prefix(&self.prefix).map(str::to_string))
            .filter(|n| !n.contains('/'))
            .collect())
    }

    /// Copies committed checkpoint `epoch` of `dir` to the storage: every
    /// file of its manifest not stored yet (each checked against the
    /// manifest's length and CRC-32C as it is read), then the manifest with
    /// a conditional put.
    ///
    /// If the storage holds a manifest for `epoch` already, the call
    /// succeeds only if it is byte for byte this one (a retried upload);
    /// otherwise it is an error of kind [`std::io::ErrorKind::AlreadyExists`]:
    /// another writer committed the epoch first.
    pub fn upload(&self, dir: &CheckpointDir, epoch: u64) -> Result<UploadStats> {
        let manifest = dir.manifest(epoch)?;
        let have = self.files()?;
        let mut stats = UploadStats::default();
        for part in manifest.parts() {
            for file in part.files() {
                if have.contains(file.name()) {
                    stats.skipped += 1;
                    continue;
                }
                stats.bytes += self.upload_file(dir.path(), file)?;
                stats.files += 1;
            }
        }
        let manifest_name = Manifest::file_name(epoch);
        let bytes = manifest.encode();
        let remote_name = self.name(&manifest_name);
        if !self.storage.put_if_absent(&remote_name, &bytes)? {
            let existing = self.storage.get(&remote_name)?;
            if existing != bytes {
                return Err(StateError::io(
                    format!(
                        "committing {}: another writer committed checkpoint {epoch} first",
                        self.storage.location(&remote_name)
                    ),
                    std::io::Error::from(std::io::ErrorKind::AlreadyExists),
                ));
            }
            return Ok(stats);
        }
        stats.files += 1;
        stats.bytes += bytes.len() as u64;
        Ok(stats)
    }

    fn upload_file(&self, dir: &Path, file: &ChainFile) -> Result<u64> {
        let path = dir.join(file.name());
        let handle = File::open(&path)
            .map_err(|e| StateError::io(format!("opening {}", path.display()), e))?;
        // Read one byte past the manifest's length: a longer file is caught.
        let mut source = Checked {
            inner: BufReader::with_capacity(1 << 20, handle).take(file.len.saturating_add(1)),
            crc: 0,
            len: 0,
        };
        let remote = self.name(file.name());
        // Check before the put completes where possible: a reader error
        // aborts the put, so a bad file is never stored under its name.
        let mut guarded = Guarded {
            inner: &mut source,
            expect_len: file.len,
            expect_crc: file.crc,
        };
        let n = self
            .storage
            .put(&remote, &mut guarded)
            .map_err(|e| match e {
                StateError::Io { context, source }
                    if source.kind() == std::io::ErrorKind::InvalidData =>
                {
                    StateError::corruption(
                        format!("{} at offset 0", path.display()),
                        format!("{context}: {source}"),
                    )
                }
                other => other,
            })?;
        Ok(n)
    }

    /// Epochs of the checkpoints committed to the storage, ascending.
    pub fn epochs(&self) -> Result<Vec<u64>> {
        let mut epochs: Vec<u64> = self
            .files()?
            .iter()
            .filter_map(|n| Manifest::epoch_of(n))
            .collect();
        epochs.sort_unstable();
        Ok(epochs)
    }

    /// Reads and verifies the manifest of checkpoint `epoch`.
    pub fn manifest(&self, epoch: u64) -> Result<Manifest> {
        let name = self.name(&Manifest::file_name(epoch));
        let bytes = self.storage.get(&name)?;
        let location = self.storage.location(&name);
        let manifest = Manifest::decode(&bytes, &location)?;
        if manifest.epoch() != epoch {
            return Err(StateError::corruption(
                location,
                format!("manifest says epoch {}, its name {epoch}", manifest.epoch()),
            ));
        }
        Ok(manifest)
    }

    /// Copies every file of `manifest` into `dir`'s directory (a file there
    /// already, of the manifest's length, is kept: [`CheckpointDir::restore`]
    /// checks its CRC-32C as it reads it). Returns the bytes fetched.
    pub fn fetch(&self, manifest: &Manifest, dir: &CheckpointDir) -> Result<u64> {
        let mut fetched = 0;
        for part in manifest.parts() {
            for file in part.files() {
                let path = dir.path().join(file.name());
                if std::fs::metadata(&path).is_ok_and(|m| m.len() == file.len()) {
                    continue;
                }
                fetched += self.fetch_file(dir.path(), file)?;
            }
        }
        Ok(fetched)
    }

    fn fetch_file(&self, dir: &Path, file: &ChainFile) -> Result<u64> {
        let fin = dir.join(file.name());
        let tmp = dir.join(format!(".tmp-fetch-{}", file.name()));
        let remote = self.name(file.name());
        let result = (|| {
            let handle = File::create(&tmp)
                .map_err(|e| StateError::io(format!("creating {}", tmp.display()), e))?;
            let mut out = CheckedWriter {
                inner: BufWriter::with_capacity(1 << 20, handle),
                crc: 0,
                len: 0,
            };
            self.storage.get_to(&remote, &mut out)?;
            if out.len != file.len || out.crc != file.crc {
                return Err(StateError::corruption(
                    format!("{} at offset 0", self.storage.location(&remote)),
                    format!(
                        "{} bytes with CRC-32C {:08x}, the manifest says {} bytes with {:08x}",
                        out.len, out.crc, file.len, file.crc
                    ),
                ));
            }
            let n = out.len;
            let handle = out.inner.into_inner().map_err(|e| {
                StateError::io(format!("writing {}", tmp.display()), e.into_error())
            })?;
            handle
                .sync_all()
                .map_err(|e| StateError::io(format!("fsyncing {}", tmp.display()), e))?;
            std::fs::rename(&tmp, &fin)
                .map_err(|e| StateError::io(format!("renaming into place {}", fin.display()), e))?;
            Ok(n)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Fetches the files of `manifest` into `dir` and restores its named
    /// parts into the targets, as [`CheckpointDir::restore`] does (same
    /// checks; on error every target is left empty). The stores' next
    /// captures are deltas on this checkpoint's chains, written to `dir`.
    pub fn restore<T: Checkpointable + ?Sized>(
        &self,
        manifest: &Manifest,
        dir: &CheckpointDir,
        targets: &mut [(&str, &mut T)],
    ) -> Result<()> {
        // Only the targets' parts are fetched.
        let wanted = Manifest {
            epoch: manifest.epoch(),
            parts: manifest
                .parts()
                .iter()
                .filter(|p| targets.iter().any(|(n, _)| *n == p.name()))
                .cloned()
                .collect(),
        };
        if let Err(e) = self.fetch(&wanted, dir) {
            for (_, target) in targets.iter_mut() {
                if target.begin_restore().is_ok() {
                    target.abort_restore();
                }
            }
            return Err(e);
        }
        dir.restore(manifest, targets)
    }

    /// Restores the newest checkpoint in the storage (or, with
    /// [`Fallback::ToOlder`], the newest that can be read completely) into
    /// the targets through `dir`. Returns its epoch, or `None` (targets
    /// untouched) if the storage holds no checkpoint.
    pub fn restore_latest<T: Checkpointable + ?Sized>(
        &self,
        dir: &CheckpointDir,
        targets: &mut [(&str, &mut T)],
        fallback: Fallback,
    ) -> Result<Option<u64>> {
        let epochs = self.epochs()?;
        let mut first_error = None;
        for &epoch in epochs.iter().rev() {
            let attempt = self
                .manifest(epoch)
                .and_then(|m| self.restore(&m, dir, targets));
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

    /// Keeps the newest `retain` (at least 1) manifests under the prefix and
    /// deletes the older ones, then every part file no kept manifest
    /// references. Returns the number of files deleted. If a kept manifest
    /// cannot be read, no part file is deleted.
    pub fn collect_garbage(&self, retain: usize) -> Result<usize> {
        let epochs = self.epochs()?;
        let keep = retain.max(1);
        let split = epochs.len().saturating_sub(keep);
        let (old, kept) = epochs.split_at(split);
        let mut deleted = 0;
        for &epoch in old {
            self.storage
                .delete(&self.name(&Manifest::file_name(epoch)))?;
            deleted += 1;
        }
        let mut referenced = HashSet::new();
        for &epoch in kept {
            match self.manifest(epoch) {
                Ok(m) => referenced.extend(m.file_names().map(str::to_string)),
                Err(_) => return Ok(deleted),
            }
        }
        for name in self.files()? {
            if Manifest::epoch_of(&name).is_none() && !referenced.contains(&name) {
                self.storage.delete(&self.name(&name))?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

/// Passes reads through and fails the last one if the length or CRC-32C
/// differs from the manifest's (so the put that consumes it is aborted).
struct Guarded<'a, R> {
    inner: &'a mut Checked<R>,
    expect_len: u64,
    expect_crc: u32,
}

impl<R: Read> Read for Guarded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.inner.len > self.expect_len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "file is longer than the manifest's {} bytes",
                    self.expect_len
                ),
            ));
        }
        if n == 0 && !buf.is_empty() {
            if self.inner.len != self.expect_len {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "file is {} bytes, the manifest says {}",
                        self.inner.len, self.expect_len
                    ),
                ));
            }
            if self.inner.crc != self.expect_crc {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "CRC-32C of the file is {:08x}, the manifest says {:08x}",
                        self.inner.crc, self.expect_crc
                    ),
                ));
            }
        }
        Ok(n)
    }
}

#[cfg(feature = "object-store")]
pub use self::object::ObjectStorage;

#[cfg(feature = "object-store")]
mod object;
