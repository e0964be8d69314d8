//! Checkpoints that cost what changed: O(1) capture on the operator's
//! thread, incremental chains, and a durable checkpoint directory written by
//! a background thread; and [key groups](key_group) for splitting state
//! across workers.
//!
//! # In ten lines
//!
//! ```
//! use bytes::Bytes;
//! use laminar_core::state::checkpoint::{CheckpointDir, Checkpointed, Fallback};
//! use laminar_core::state::{InMemoryStore, StateStore};
//!
//! # fn main() -> laminar_core::state::Result<()> {
//! # let tmp = tempfile::tempdir().unwrap();
//! # let path = tmp.path();
//! let mut dir = CheckpointDir::open(path)?; // locks the directory, starts the writer thread
//! let mut counts = Checkpointed::new(InMemoryStore::new());
//! for epoch in 1..=3u64 {
//!     counts.put(format!("user:{epoch}").as_bytes(), Bytes::from("1"))?; // events...
//!     // Barrier: O(1) here, the files are written on the writer thread.
//!     let durable = dir.checkpoint(epoch, [("counts", counts.capture())])?;
//!     counts.put(b"late", Bytes::from("x"))?; // belongs to the next checkpoint
//!     durable.wait()?; // now acknowledge the barrier
//! }
//! drop(dir);
//!
//! // After a crash or restart: the newest complete checkpoint, as one cut.
//! let dir = CheckpointDir::open(path)?;
//! let mut restored = Checkpointed::new(InMemoryStore::new());
//! let epoch = dir.restore_latest(&mut [("counts", &mut restored)], Fallback::Never)?;
//! assert_eq!(epoch, Some(3));
//! assert_eq!(restored.len(), 4); // user:1..3 and late (put before checkpoint 3's capture)
//! // `restored`'s next capture is a delta on checkpoint 3's chain.
//! # Ok(())
//! # }
//! ```
//!
//! # Capture: change tracking
//!
//! [`Checkpointed<S>`] wraps any byte store and implements
//! [`StateStore`](super::StateStore) by forwarding; every `put` and `delete`
//! also lands in a change set (a hash map from key to the new value or a
//! tombstone; overwrites of one key keep one entry; a value is a
//! reference-counted [`Bytes`](bytes::Bytes) clone, not a copy).
//! [`capture`](Checkpointed::capture) swaps the change set out: O(1) on the
//! operator's thread, whatever the size of the state. The [`Capture`] is
//! `Send`; the writer thread sorts it and writes it. Writes after the capture
//! go to a new change set and belong to the next checkpoint.
//!
//! Why not copy-on-write versions (Flink's `CopyOnWriteStateMap`)? They
//! would have to be built into every backend's own structure (B+ tree leaves,
//! probe tables, the mmap log), each with its own version bookkeeping on the
//! hot path; change tracking works on every backend, typed or not, unchanged,
//! and is what an incremental checkpoint needs anyway: a delta *is* the
//! change set. Its cost is on `put`/`delete` (one extra hash-map update),
//! never on `get`.
//!
//! Memory: the change set holds one entry per *distinct key changed since
//! the last capture* (a boxed key copy, a `Bytes` handle, about 48 bytes of
//! map overhead), and keeps the changed values alive while the capture is
//! being written. On `AHashMapStore` the value is shared with the store; on
//! `InMemoryStore` (which copies values of up to 112 bytes into its own
//! chunks) and `MmapStateStore` the caller's `Bytes` is an extra copy of the
//! value. With one checkpoint in flight there are two change sets: the one
//! being written and the one filling up. The writer's queue is not bounded:
//! an operator that starts checkpoints faster than they are written keeps one
//! change set per checkpoint in flight; wait on a [`CheckpointHandle`] (or
//! [`CheckpointDir::wait_idle`]) before starting the next to bound it.
//!
//! What a capture costs, by case:
//!
//! | situation | capture | written |
//! |---|---|---|
//! | store empty when wrapped, first capture | O(1) | a base of the changes |
//! | later captures | O(1) | a delta (puts and tombstones) |
//! | restored through [`CheckpointDir::restore`] | O(1) | a delta on that chain |
//! | after [`StateStore::clear`](super::StateStore::clear) | O(1) | a base of what was put since |
//! | store already filled when wrapped, or after [`StateStore::restore`](super::StateStore::restore) | one scan of the store on the caller's thread (`Bytes` clones on the in-memory backends, copies on mmap) | a base |
//! | a capture the writer could not write (I/O error) | one scan (as above), the next time | a base |
//!
//! # Incremental chains and materialization
//!
//! Each named part of a checkpoint has a chain: a base, then deltas in
//! order; restore reads the base and applies the deltas, and a delete is a
//! tombstone, so a deleted key never comes back. The writer appends a delta
//! only on top of the chain the same store wrote (or was restored from) last,
//! checked by a lineage id and sequence number carried in the capture; a
//! delta from anywhere else fails instead of mixing two histories, and that
//! store's next capture is a full one.
//!
//! When a chain's deltas add up to more than
//! [`materialize_ratio`](CheckpointOptions::materialize_ratio) (default 0.5)
//! times its base's bytes, or there are more than
//! [`max_deltas`](CheckpointOptions::max_deltas) (default 32), the writer
//! thread merges the chain into a new base once the checkpoint is durable: one
//! streaming k-way merge of the files (one block of each in memory), newest
//! wins, tombstones dropped. The operator never pauses for it; a checkpoint
//! started during a merge waits for it on the writer thread. So a restore
//! reads at most about `1 + ratio` times the state, and the disk holds the
//! retained chains.
//!
//! Part files are flat snapshots (format version 2, see
//! [`SnapshotWriter`](super::SnapshotWriter)) with tombstones: this module
//! has no entry format of its own.
//!
//! # The directory
//!
//! [`CheckpointDir::open`] takes an exclusive lock on `LOCK` (a second writer
//! gets [`StateError::Locked`](super::StateError::Locked)), removes temporary
//! files and part files no manifest references (a crash's leftovers), and
//! starts the writer thread. A checkpoint is committed in this order: every
//! part file written to a temporary name, fsynced and renamed; the directory
//! fsynced; the [manifest](Manifest) (every part's chain, each file with its
//! length and CRC-32C, the whole checksummed) written the same way; the
//! directory fsynced again. The manifest's rename is the commit point: a
//! crash before it leaves the previous checkpoint as the latest, after it
//! the new one. [`CheckpointHandle::wait`] returns once that is done, so an
//! engine acknowledges the barrier then.
//!
//! Retention keeps the newest [`retain`](CheckpointOptions::retain) (default
//! 3) manifests; older ones are deleted (and the deletion fsynced) before any
//! part file no kept manifest references, so no manifest ever names a missing
//! file.
//!
//! # Errors, never panics
//!
//! A missing, truncated or corrupt file (a part or a manifest) is a
//! [`StateError`](super::StateError) naming the file and, where the format
//! locates it, the offset; every file is checked against its manifest line
//! (length, CRC-32C) and the flat format's own block checksums. A failed
//! restore leaves its targets empty. [`CheckpointDir::restore_latest`] with
//! [`Fallback::ToOlder`] then tries the next older checkpoint, all parts from
//! that one checkpoint; with [`Fallback::Never`] it returns the error.
//!
//! # Typed tables and `#[state_store]` structs
//!
//! They have no change tracking of their own yet. Until they do, they
//! checkpoint through the same directory as whole snapshots:
//! `dir.checkpoint(epoch, [("op", Capture::from_snapshot(state.snapshot()?))])`
//! and `Struct::from_snapshot(&dir.read_snapshot(&manifest, "op")?)`, every
//! checkpoint a full base whose snapshot costs O(state) on the caller's
//! thread (the write and fsync still happen on the writer thread). A
//! `#[state_store]` snapshot covers all its tables and dictionaries, so it is
//! one consistent cut.

mod capture;
mod dir;
pub mod key_group;
mod manifest;
mod part;
pub mod storage;

pub use self::capture::{Capture, Checkpointable, Checkpointed, Lineage};
pub use self::dir::{CheckpointDir, CheckpointHandle, CheckpointOptions, Fallback};
pub use self::manifest::{ChainFile, FileKind, Manifest, ManifestPart};
