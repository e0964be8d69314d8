//! The commit protocol of `Mmap` tables: a table's own commits (with a
//! generation, and the two-phase commit that keeps the previous one
//! recoverable), and [`MmapValues`], which makes the flush of a
//! `#[state_store(backend = Mmap)]` struct atomic across its files.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use rkyv::api::high::HighDeserializer;
use rkyv::{rancor, Archive, Deserialize};

use super::{remove_if_exists, tag, Mmap, INITIAL_CAPACITY};
use crate::state::backend::mmap::file::sync_dir;
use crate::state::backend::mmap::MmapStateStore;
use crate::state::error::{Result, StateError};
use crate::state::key::Key;
use crate::state::store::{CheckArchived, SerializeValue};
use crate::state::typed::single::{single_key, write_single};
use crate::state::typed::{Table, Value};
use crate::state::StateStore;

/// The stored form of a commit generation: 8 bytes, little-endian.
fn encode_generation(generation: u64) -> Vec<u8> {
    generation.to_le_bytes().to_vec()
}

/// The commit generation stored under `key` in `store`, if any.
fn read_generation(store: &MmapStateStore, key: &[u8]) -> Result<Option<u64>> {
    let Some(bytes) = store.get_ref(key) else {
        return Ok(None);
    };
    <[u8; 8]>::try_from(bytes)
        .map(|b| Some(u64::from_le_bytes(b)))
        .map_err(|_| {
            let file = match store.path() {
                Some(p) => p.display().to_string(),
                None => "in-memory store".into(),
            };
            StateError::corruption(file, "commit generation is not 8 bytes")
        })
}

impl<K, V> Table<K, V, Mmap>
where
    K: Key,
    V: Archive + SerializeValue,
    V::Archived: CheckArchived + Deserialize<V, HighDeserializer<rancor::Error>>,
{
    /// Opens the table file at `path` as of the commit before its last one,
    /// durably undoing the last (see
    /// [`MmapStateStore::persistent_rolled_back`]).
    pub(crate) fn open_rolled_back(path: &Path) -> Result<Self> {
        Self::from_store(MmapStateStore::persistent_rolled_back(
            path,
            INITIAL_CAPACITY,
        )?)
    }

    /// Like [`flush`](Self::flush), recording `generation` in the same
    /// commit (read back by [`generation`](Self::generation)).
    /// `#[state_store]` structs record their flush generation this way to
    /// keep a flush atomic across their table files.
    pub fn commit(&mut self, generation: u64) -> Result<()> {
        if !self.is_persistent() {
            return Ok(());
        }
        self.write_dicts()?;
        self.map
            .put_reserved(&[tag::GENERATION], encode_generation(generation))?;
        self.map.store.flush()
    }

    /// First phase of a struct-wide flush (`#[state_store]`): makes the
    /// table's state durable under `generation` while keeping its previous
    /// commit recoverable, so the struct's flush can still be undone.
    ///
    /// Normally an append-only commit (no compaction: the previous commit
    /// stays in the file's other header slot). After `clear` or `restore`
    /// the file must be rewritten, which would erase the previous commit, so
    /// the new state goes to a separate file `next` instead, renamed into
    /// place only by [`finish_commit`](Self::finish_commit) or a later open.
    pub(crate) fn prepare_commit(&mut self, generation: u64, next: &Path) -> Result<()> {
        if !self.is_persistent() {
            return Ok(());
        }
        self.write_dicts()?;
        self.map
            .put_reserved(&[tag::GENERATION], encode_generation(generation))?;
        if !self.map.store.rewrite_pending() {
            return self.map.store.commit_log();
        }
        remove_if_exists(next)?;
        let mut copy = MmapStateStore::persistent(next, INITIAL_CAPACITY)?;
        for (k, v) in self.map.store.prefix_scan(b"") {
            copy.put(&k, v)?;
        }
        copy.flush()?;
        drop(copy);
        sync_dir(next)
    }

    /// Last phase of a struct-wide flush, after its commit point: rewrites
    /// or compacts the file if due (each a commit of the same state) and
    /// removes the `next` file of [`prepare_commit`](Self::prepare_commit).
    pub(crate) fn finish_commit(&mut self, next: &Path) -> Result<()> {
        if !self.is_persistent() {
            return Ok(());
        }
        self.map.store.flush()?;
        remove_if_exists(next)
    }

    /// The generation of the last [`commit`](Self::commit), if any.
    pub fn generation(&self) -> Result<Option<u64>> {
        read_generation(&self.map.store, &[tag::GENERATION])
    }
}

/// Key of the struct's commit generation in the values file (field
/// names never start with `0x00`).
const GENERATION: &[u8] = b"\0generation";

/// The single values and commit generation of a `#[state_store(backend =
/// Mmap)]` struct: `<dir>/values.state` once opened, nothing (`None`)
/// for a struct from `new()` or `from_snapshot`.
///
/// # Flush protocol
///
/// A struct's flush must be atomic across its files. Its commit point is
/// the commit of the values file, which records the flush's generation:
///
/// 1. every table commits its state under the new generation without
///    erasing its previous commit (`Table::prepare_commit`: an
///    append-only commit, or after `clear`/`restore` a separate
///    `<field>.table.next` file);
/// 2. the values file commits (single values and the generation);
/// 3. tables rewrite or compact if due, and `.next` files are renamed
///    into place (`Table::finish_commit`).
///
/// [`open_table`](Self::open_table) brings every table to the values
/// file's generation: a table one generation ahead (the flush stopped
/// before step 2) is rolled back to its previous commit, a `.next` file
/// of the committed generation (stopped before step 3) is renamed into
/// place, and a stale one removed. So a crash at any point reopens to
/// the last complete flush.
#[derive(Debug, Default)]
pub struct MmapValues {
    store: Option<MmapStateStore>,
    generation: Option<u64>,
    dir: Option<PathBuf>,
    /// A flush failed part-way: the files may be at two generations, and
    /// another flush could overwrite the one to roll back to.
    poisoned: bool,
}

impl MmapValues {
    /// Creates `dir` if needed and opens (locks) its values file.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StateError::io(format!("creating {}", dir.display()), e))?;
        let store = MmapStateStore::persistent(dir.join("values.state"), 1 << 16)?;
        let generation = read_generation(&store, GENERATION)?;
        Ok(MmapValues {
            store: Some(store),
            generation,
            dir: Some(dir.to_path_buf()),
            poisoned: false,
        })
    }

    /// Where phase one of a flush writes a rewritten table.
    fn next_path(dir: &Path, field: &str) -> PathBuf {
        dir.join(format!("{field}.table.next"))
    }

    fn corrupt(path: &Path, what: String) -> StateError {
        StateError::corruption(path.display().to_string(), what)
    }

    /// Opens table `field` at the generation of the values file,
    /// finishing or undoing an interrupted flush (see the type docs).
    pub fn open_table<K, V>(&self, field: &str) -> Result<Table<K, V, Mmap>>
    where
        K: Key,
        V: Archive + SerializeValue,
        V::Archived: CheckArchived + Deserialize<V, HighDeserializer<rancor::Error>>,
    {
        let Some(dir) = &self.dir else {
            return Ok(Table::new());
        };
        let path = Self::table_path(dir, field);
        let next = Self::next_path(dir, field);
        let target = self.generation;
        let next_exists = next
            .try_exists()
            .map_err(|e| StateError::io(format!("checking {}", next.display()), e))?;
        if next_exists {
            // Written by step 1 of a flush: current if that flush
            // committed (the values file has its generation), else stale.
            // One whose content is corrupt is stale too (a committed one
            // was synced before the commit point; if it was not, the
            // table check below reports it). Any other error (I/O, a
            // lock, a format version from the future, …) says nothing of
            // its content, and the file may be the only copy of the last
            // complete flush: it stays, and the error is returned.
            let g = Table::<K, V, Mmap>::open(&next).and_then(|t| t.generation());
            match g {
                Ok(g) if target.is_some() && g == target => {
                    std::fs::rename(&next, &path).map_err(|e| {
                        StateError::io(
                            format!("renaming {} to {}", next.display(), path.display()),
                            e,
                        )
                    })?;
                    sync_dir(&path)?;
                }
                Ok(_) | Err(StateError::Corruption { .. } | StateError::Deserialization(_)) => {
                    std::fs::remove_file(&next)
                        .map_err(|e| StateError::io(format!("removing {}", next.display()), e))?;
                }
                Err(e) => return Err(e),
            }
        }
        let table = Table::<K, V, Mmap>::open(&path)?;
        let g = table.generation()?;
        if g == target || (g.is_none() && table.is_empty()) {
            return Ok(table);
        }
        let after = match target {
            None => Some(1),
            Some(t) => t.checked_add(1),
        };
        if g.is_none() || g != after {
            return Err(Self::corrupt(
                &path,
                format!(
                    "committed by flush {g:?} but the struct's last complete flush is {target:?}"
                ),
            ));
        }
        // Step 1 of the next flush committed here, but the flush never
        // reached its commit point: undo it.
        drop(table);
        let table = Table::<K, V, Mmap>::open_rolled_back(&path)?;
        let back = table.generation()?;
        if back == target {
            Ok(table)
        } else {
            Err(Self::corrupt(
                &path,
                format!(
                    "an interrupted flush left this table at flush {g:?}, and its previous commit is flush {back:?}, not the struct's last complete flush {target:?}"
                ),
            ))
        }
    }

    /// Step 1 of a flush for table `field` (see the type docs).
    pub fn prepare_table<K, V>(
        &self,
        table: &mut Table<K, V, Mmap>,
        field: &str,
        generation: u64,
    ) -> Result<()>
    where
        K: Key,
        V: Archive + SerializeValue,
        V::Archived: CheckArchived + Deserialize<V, HighDeserializer<rancor::Error>>,
    {
        match &self.dir {
            None => Ok(()),
            Some(dir) => table.prepare_commit(generation, &Self::next_path(dir, field)),
        }
    }

    /// Step 3 of a flush for table `field` (see the type docs).
    pub fn finish_table<K, V>(&self, table: &mut Table<K, V, Mmap>, field: &str) -> Result<()>
    where
        K: Key,
        V: Archive + SerializeValue,
        V::Archived: CheckArchived + Deserialize<V, HighDeserializer<rancor::Error>>,
    {
        match &self.dir {
            None => Ok(()),
            Some(dir) => table.finish_commit(&Self::next_path(dir, field)),
        }
    }

    /// Starts a flush: the generation it commits with, if persistent.
    /// Fails if an earlier flush failed part-way (reopen to recover).
    pub fn begin_flush(&mut self) -> Result<Option<u64>> {
        if self.store.is_none() {
            return Ok(None);
        }
        if self.poisoned {
            return Err(StateError::InvalidArgument(
                "an earlier flush of this state failed part-way; reopen it to recover the last complete flush".into(),
            ));
        }
        let next =
            self.generation.unwrap_or(0).checked_add(1).ok_or_else(|| {
                StateError::CapacityExceeded("flush generations exhausted".into())
            })?;
        self.poisoned = true;
        Ok(Some(next))
    }

    /// Ends a flush whose every step succeeded.
    pub fn end_flush(&mut self) {
        self.poisoned = false;
    }

    /// The file of table field `field` in `dir`.
    pub fn table_path(dir: &Path, field: &str) -> PathBuf {
        dir.join(format!("{field}.table"))
    }

    /// Single-value field `name` as last flushed (`Default` if it never was).
    pub fn read_single<V: Value + Default>(&self, name: &str) -> Result<V> {
        match self
            .store
            .as_ref()
            .and_then(|s| s.get_ref(&single_key(name)))
        {
            None => Ok(V::default()),
            Some(bytes) => V::from_snapshot_bytes(bytes)
                .map_err(|e| e.within(|| format!("single value `{name}`"))),
        }
    }

    /// Writes single value `name` (not yet durable).
    pub fn put_single<V: Value>(&mut self, value: &V, name: &str) -> Result<()> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        let mut out = Vec::with_capacity(1);
        write_single(value, name, &mut out)?;
        for (k, v) in out {
            store.put(&k, Bytes::from(v))?;
        }
        Ok(())
    }

    /// Commits the values file with `generation`: the last step of a flush.
    pub fn commit(&mut self, generation: u64) -> Result<()> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        store.put(GENERATION, Bytes::from(encode_generation(generation)))?;
        store.flush()?;
        self.generation = Some(generation);
        Ok(())
    }
}
