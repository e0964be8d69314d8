//! Byte-level backends implementing [`StateStore`](crate::state::StateStore).

pub(crate) mod bptree;
pub(crate) mod key_buf;
#[cfg(feature = "ahash")]
pub(crate) mod probe_table;

pub mod in_memory;

#[cfg(feature = "ahash")]
pub mod ahash;

#[cfg(feature = "mmap")]
pub mod mmap;
