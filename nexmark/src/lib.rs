//! Nexmark on `laminar_core::state`: the stateful queries of the standard
//! streaming benchmark written with `#[state_store]`, each with an
//! independent oracle and the hand-written peers a user would write without
//! the crate, plus the runner behind the `laminar-nexmark` binary.
//!
//! - [`events`]: the generated stream (the `nexmark` crate's generator).
//! - [`tbl`]: the table operations the queries use, over every backend.
//! - [`op`]: operators, checkpoints, and the `query!` macro that writes a
//!   query's state once per backend.
//! - [`queries`]: Q3, Q4, Q5, Q7, Q8, Q9, Q11, Q18, Q19, each with its
//!   oracle.
//! - [`runner`]: runs a query on a backend, checks it, measures it.
#![warn(missing_docs)]

#[macro_use]
pub mod op;
pub mod events;
pub mod queries;
pub mod runner;
pub mod tbl;

pub use op::{Operator, Row};

/// Where a query's state lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// `#[state_store(backend = AHash)]`.
    AHash,
    /// `#[state_store(backend = BTree)]`.
    BTree,
    /// `#[state_store(backend = Mmap)]` in memory (`new()`).
    MmapMem,
    /// `#[state_store(backend = Mmap)]` persistent (`open(dir)`), checkpoint = `flush()`.
    MmapFile,
    /// `dyn StateStore` on `InMemoryStore`.
    DynInMemory,
    /// `dyn StateStore` on `AHashMapStore`.
    DynAHash,
    /// `dyn StateStore` on `MmapStateStore::in_memory`.
    DynMmap,
    /// Hand-written peer: `hashbrown::HashMap` + ahash.
    Hashbrown,
    /// Hand-written peer: std `BTreeMap`.
    BTreeMap,
}

impl Backend {
    /// Every backend, ours first, then the peers.
    pub const ALL: [Backend; 9] = [
        Backend::AHash,
        Backend::BTree,
        Backend::MmapMem,
        Backend::MmapFile,
        Backend::DynInMemory,
        Backend::DynAHash,
        Backend::DynMmap,
        Backend::Hashbrown,
        Backend::BTreeMap,
    ];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Backend::AHash => "ahash",
            Backend::BTree => "btree",
            Backend::MmapMem => "mmap",
            Backend::MmapFile => "mmap-file",
            Backend::DynInMemory => "dyn-inmemory",
            Backend::DynAHash => "dyn-ahash",
            Backend::DynMmap => "dyn-mmap",
            Backend::Hashbrown => "hashbrown",
            Backend::BTreeMap => "btreemap",
        }
    }

    /// The backend called `name`.
    pub fn parse(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }

    /// `true` for the hand-written peers.
    pub fn is_peer(self) -> bool {
        matches!(self, Backend::Hashbrown | Backend::BTreeMap)
    }
}
