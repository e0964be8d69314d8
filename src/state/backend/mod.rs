//! Byte-level backends implementing [`StateStore`](crate::state::StateStore).

pub mod in_memory;

#[cfg(feature = "ahash")]
pub mod ahash;

#[cfg(feature = "mmap")]
pub mod mmap;
