//! Checkpoints of keyed state: key groups for splitting state across workers.

pub mod key_group;
