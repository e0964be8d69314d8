//! # laminar-core
//!
//! Fast, crash-safe keyed state for stream-processing operators.
//!
//! Operators (windowed aggregations, joins, deduplication) keep per-key state
//! between events. Every event does a few point lookups and a write, and every
//! checkpoint takes a snapshot. [`state`] provides:
//!
//! - an object-safe byte-level [`state::StateStore`] trait with in-memory
//!   ([`state::InMemoryStore`], [`state::AHashMapStore`]) and memory-mapped
//!   backends,
//! - typed, validated access to [rkyv](https://docs.rs/rkyv) values through
//!   [`state::StateStoreExt`],
//! - verifiable snapshots ([`state::StateSnapshot`]) with a framed, checksummed
//!   on-disk format.
//!
//! See the [`state`] module documentation for examples.
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod state;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
