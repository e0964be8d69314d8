//! Safe containers shared by the byte-level stores and the typed tables: the
//! B+ tree ([`bptree`]), the open-addressing probe table ([`probe_table`]),
//! packed key storage ([`key_buf`]) and the hash index over it
//! ([`key_index`]).

pub(crate) mod bptree;
pub(crate) mod key_buf;
#[cfg(feature = "mmap")]
pub(crate) mod key_index;
#[cfg(any(feature = "ahash", feature = "mmap"))]
pub(crate) mod probe_table;
