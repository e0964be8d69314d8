//! Checkpoints that cost what changed.
//!
//! (module docs: see below; written last)

mod capture;
mod dir;
pub mod key_group;
mod manifest;
mod part;
pub mod storage;

pub use self::capture::{Capture, Checkpointable, Checkpointed, Lineage};
pub use self::dir::{CheckpointDir, CheckpointHandle, CheckpointOptions, Fallback};
pub use self::manifest::{ChainFile, FileKind, Manifest, ManifestPart};
