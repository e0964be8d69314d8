//! File-system steps of the persistent mode: opening and locking the store
//! file, and publishing a rewritten file atomically (write-new-then-rename).

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::state::error::{Result, StateError};

/// How often an open retries when the file is replaced under it by a
/// concurrent compaction of another store that then closed.
const REPLACED_RETRIES: usize = 8;

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Locks `file` exclusively without blocking (`File::try_lock`, stable
/// since Rust 1.89: the crate's `rust-version`).
pub(crate) fn try_lock(file: &File, path: &Path) -> Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(StateError::Locked {
            path: path.to_path_buf(),
        }),
        Err(TryLockError::Error(e)) => Err(StateError::io(format!("locking {}", display(path)), e)),
    }
}

/// Opens (creating if absent) and exclusively locks the store file.
///
/// A compaction replaces the file by renaming a new one over it. If that
/// happens between our `open` and our `try_lock`, we would hold a lock on
/// the unlinked old file; so after locking we check that `path` still names
/// the file we locked, and retry otherwise.
pub(crate) fn open_locked(path: &Path) -> Result<File> {
    for _ in 0..REPLACED_RETRIES {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StateError::io(format!("opening {}", display(path)), e))?;
        try_lock(&file, path)?;
        if same_file(&file, path)? {
            return Ok(file);
        }
    }
    Err(StateError::Locked {
        path: path.to_path_buf(),
    })
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let ours = file
        .metadata()
        .map_err(|e| StateError::io(format!("reading metadata of {}", display(path)), e))?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(now.dev() == ours.dev() && now.ino() == ours.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StateError::io(
            format!("reading metadata of {}", display(path)),
            e,
        )),
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, _path: &Path) -> Result<bool> {
    Ok(true)
}

/// The side file a new version of the store is written to before it is
/// renamed over the store file: `.<name>.laminar-compact` beside `<path>`.
///
/// A hidden name of the crate's own, so it does not collide with a store a
/// caller names (the old `<path>.compact` could be another store, which a
/// compaction then truncated and an open deleted). Even so, the file is
/// locked before it is truncated or removed, so a store that is open under
/// that name is never touched.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_else(|| OsStr::new("store")));
    name.push(".laminar-compact");
    path.with_file_name(name)
}

/// Creates and locks the temporary file, then truncates any leftover of a
/// crashed run. Fails with [`StateError::Locked`] (and changes nothing) if
/// another store holds the file open.
pub(crate) fn create_temp(path: &Path) -> Result<(File, PathBuf)> {
    let tmp = temp_path(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&tmp)
        .map_err(|e| StateError::io(format!("creating {}", display(&tmp)), e))?;
    try_lock(&file, &tmp)?;
    file.set_len(0)
        .map_err(|e| StateError::io(format!("truncating {}", display(&tmp)), e))?;
    Ok((file, tmp))
}

/// Syncs the directory holding `path`, so a rename into it is durable.
#[cfg(unix)]
pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StateError::io(format!("syncing directory {}", display(dir)), e))
}

#[cfg(not(unix))]
pub(crate) fn sync_dir(_path: &Path) -> Result<()> {
    Ok(())
}

/// Removes a temporary file left by a crash during a compaction (best
/// effort). A file that some store holds open (locked) is left alone.
pub(crate) fn remove_stale_temp(path: &Path) {
    let tmp = temp_path(path);
    let Ok(file) = OpenOptions::new().read(true).write(true).open(&tmp) else {
        return;
    };
    if file.try_lock().is_ok() {
        let _ = std::fs::remove_file(&tmp);
    }
}
