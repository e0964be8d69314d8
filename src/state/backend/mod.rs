//! Byte-level backends implementing [`StateStore`](crate::state::StateStore).

pub(crate) mod bptree;
pub(crate) mod huge_pages;
pub(crate) mod key_buf;
#[cfg(feature = "mmap")]
pub(crate) mod key_index;
pub(crate) mod node_alloc;
pub(crate) mod prefetch;
#[cfg(any(feature = "ahash", feature = "mmap"))]
pub(crate) mod probe_table;

pub mod in_memory;

#[cfg(feature = "ahash")]
pub mod ahash;

#[cfg(feature = "mmap")]
pub mod mmap;
