//! Crate-private unsafe primitives: 2 MiB-aligned anonymous memory with huge
//! pages ([`huge_pages`]), the node allocator built on it ([`node_alloc`]) and
//! cache prefetch hints ([`prefetch`]). All `unsafe` of the in-memory
//! containers lives here; the layers above are safe code.

pub(crate) mod huge_pages;
pub(crate) mod node_alloc;
pub(crate) mod prefetch;
