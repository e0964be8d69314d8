//! # State Store Module
//!
//! High-performance state storage for streaming operators.
//!
//! ## Design Goals
//!
//! - < 500ns lookup latency for point queries
//! - Zero-copy access where possible
//! - Lock-free for single-threaded access
//! - Memory-mapped for large state
//!
//! ## State Backends
//!
//! - [`InMemoryStore`]: ordered (layered B+ trees), fast lookups with O(log n + k) prefix/range scans
//! - [`AHashMapStore`]: O(1) point operations with ahash, ordered scans from a sorted key index
//! - `MmapStateStore`: Memory-mapped, supports larger-than-memory state with optional persistence
//!
//! ## Example
//!
//! ```rust
//! use bytes::Bytes;
//! use laminar_core::state::{StateStore, StateStoreExt, InMemoryStore};
//!
//! let mut store = InMemoryStore::new();
//!
//! // Basic key-value operations
//! store.put(b"user:1", Bytes::from_static(b"alice")).unwrap();
//! assert_eq!(store.get(b"user:1").unwrap().as_ref(), b"alice");
//!
//! // Typed state access (requires StateStoreExt)
//! store.put_typed(b"count", &42u64).unwrap();
//! let count: u64 = store.get_typed(b"count").unwrap().unwrap();
//! assert_eq!(count, 42);
//!
//! // Snapshots for checkpointing
//! let snapshot = store.snapshot();
//! store.delete(b"user:1").unwrap();
//! assert!(store.get(b"user:1").is_none());
//!
//! // Restore from snapshot
//! store.restore(snapshot);
//! assert_eq!(store.get(b"user:1").unwrap().as_ref(), b"alice");
//! ```
//!
#![cfg_attr(
    feature = "mmap",
    doc = r#"
## Memory-Mapped Store Example

```rust
use bytes::Bytes;
use laminar_core::state::{StateStore, MmapStateStore};
use std::path::Path;

// In-memory mode (fast, not persistent)
let mut store = MmapStateStore::in_memory(1024 * 1024);
store.put(b"key", Bytes::from_static(b"value")).unwrap();

// Persistent mode (survives restarts)
let mut persistent = MmapStateStore::persistent(
    Path::new("/tmp/state.db"),
    1024 * 1024
).unwrap();
persistent.put(b"key", Bytes::from_static(b"value")).unwrap();
persistent.flush().unwrap();
```
"#
)]

mod backend;
pub mod checkpoint;
mod collections;
mod error;
pub mod key;
mod mem;
pub mod snapshot;
mod store;
pub mod typed;

#[doc(hidden)]
pub mod __private;

pub use self::checkpoint::{CheckpointDir, Checkpointed};
pub use self::error::{Result, StateError};
pub use self::StateError as Error;

pub use self::snapshot::{
    restore_from_reader, ArchivedStateSnapshot, Iter as StateSnapshotIter, SnapshotEntry,
    SnapshotReader, SnapshotSink, SnapshotSource, SnapshotView, SnapshotWriter, StateSnapshot,
    StateSnapshotBuilder, StateSnapshotResolver, ValueSink, SNAPSHOT_BLOCK_MAX_ENTRIES,
    SNAPSHOT_BLOCK_TARGET_BYTES, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_HEADER_LEN, SNAPSHOT_MAGIC,
    SNAPSHOT_MAX_ENTRY_BYTES,
};
pub use self::store::{
    decode_value, encode_value, with_archived_bytes, CheckArchived, ScanIter, SerializeValue,
    StateStore, StateStoreExt, VALUE_ALIGN,
};

pub use self::backend::in_memory::InMemoryStore;
#[cfg(feature = "mmap")]
pub use self::backend::mmap::MmapStateStore;

pub use self::key::{ArchivedDictArchive, DictArchive};

/// AHashMap-backed state store with O(1) lookups and zero-copy reads.
#[cfg(feature = "ahash")]
pub mod ahash_store {
    pub use super::backend::ahash::AHashMapStore;
}
#[cfg(feature = "ahash")]
pub use self::ahash_store::AHashMapStore;

/// Dictionary key encoder for low-cardinality GROUP BY keys.
pub mod dict_encoder {
    pub use super::key::DictionaryKeyEncoder;
}
pub use self::dict_encoder::DictionaryKeyEncoder;

/// The `#[state_store]` attribute macro: see the [`typed`] module.
#[cfg(feature = "macros")]
pub use laminar_core_macros::state_store;
