//! Byte-level backends implementing [`StateStore`](crate::state::StateStore).

pub(crate) mod bptree;
pub(crate) mod key_buf;

pub mod in_memory;

#[cfg(feature = "ahash")]
pub mod ahash;

#[cfg(feature = "mmap")]
pub mod mmap;
