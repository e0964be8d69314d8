//! Operators: one query's state and logic on one backend, behind
//! [`Operator`], and the [`query!`] macro that writes a query's state once
//! for every backend.
//!
//! A query is written as a state layout (tables with their key and value
//! types, and single values) plus logic (`handle` per event and `finish` at
//! the end of the stream) that uses only [`Tbl`](crate::tbl::Tbl) and the
//! generated accessors (`table()`, `table_mut()`). `query!` expands it into
//! one module per backend:
//!
//! | module         | state                                                        | checkpoint |
//! |----------------|--------------------------------------------------------------|------------|
//! | `on_ahash`     | `#[state_store(backend = AHash)]`                            | `snapshot()` → bytes → `from_snapshot` |
//! | `on_btree`     | `#[state_store(backend = BTree)]`                            | same |
//! | `on_mmap`      | `#[state_store(backend = Mmap)]`, `new()` or `open(dir)`     | in memory: same; persistent: `flush()`, restore = reopen the directory |
//! | `on_dyn`       | one `Box<dyn StateStore>` per table ([`DynTable`](crate::tbl::DynTable)) | each store's `snapshot()` + the single values (rkyv), framed |
//! | `on_hashbrown` | hand-written peer: `hashbrown::HashMap` + ahash              | none (a user's own map has none) |
//! | `on_btreemap`  | hand-written peer: std `BTreeMap`                            | none |
//!
//! Windows are closed by the watermark explicitly in each query's logic
//! (written before `laminar_core::state::time` existed; some queries still
//! scan a table when a window closes, and moving them onto `TimerQueue` is
//! open work): the watermark is the largest event time seen (the generated
//! stream is in time order), and `finish` closes everything still open.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use laminar_core::state::{Result, StateError};

use crate::events::Ev;

/// Checkpoint bytes (16-byte aligned, as snapshots are written).
pub type CkBytes = rkyv::util::AlignedVec;

/// One output row: up to six fields, unused ones zero; strings are put in as
/// [`hash_str`](crate::events::hash_str). Each query documents its columns.
pub type Row = [u64; 6];

/// What a query's state does, whatever its backend (implemented by
/// [`query!`]).
pub trait Logic {
    /// Handles one event, appending any output.
    fn on_event(&mut self, e: &Ev, out: &mut Vec<Row>) -> Result<()>;
    /// End of stream: closes whatever is still open.
    fn on_finish(&mut self, out: &mut Vec<Row>) -> Result<()>;
    /// Live entries in all tables.
    fn live_entries(&self) -> usize;
    /// Approximate bytes of all tables.
    fn live_bytes(&self) -> usize;
}

/// A state that can be checkpointed into bytes and restored from them.
pub trait Snap: Sized {
    /// The checkpoint's bytes.
    fn snap(&self) -> Result<CkBytes>;
    /// A fresh state restored from `bytes` (`self` gives the configuration,
    /// such as the kind of store, not the data).
    fn unsnap(&self, bytes: &[u8]) -> Result<Self>;
}

/// A persistent state that commits in place and reopens from its directory.
pub trait FileState: Sized {
    /// Opens (or creates) the state in `dir`.
    fn open_dir(dir: &Path) -> Result<Self>;
    /// Commits the state to its files.
    fn commit(&mut self) -> Result<()>;
}

/// One query on one backend, as the runner drives it.
pub trait Operator {
    /// Handles a batch of events.
    fn process(&mut self, evs: &[Ev], out: &mut Vec<Row>) -> Result<()>;
    /// End of stream.
    fn finish(&mut self, out: &mut Vec<Row>) -> Result<()>;
    /// Live entries in all tables.
    fn live_entries(&self) -> usize;
    /// Approximate bytes of all tables.
    fn live_bytes(&self) -> usize;
    /// `true` if [`checkpoint`](Self::checkpoint) is supported (not for the
    /// hand-written peers).
    fn can_checkpoint(&self) -> bool;
    /// Takes a checkpoint; returns its size in bytes.
    fn checkpoint(&mut self) -> Result<u64>;
    /// Replaces the state by a fresh one restored from the last checkpoint.
    fn restore(&mut self) -> Result<()>;
}

fn no_checkpoint() -> StateError {
    StateError::Serialization("this operator has no checkpoint (a hand-written peer)".into())
}

/// An operator whose state checkpoints into bytes ([`Snap`]).
pub struct SnapOp<S> {
    st: S,
    last: Option<CkBytes>,
}

impl<S> SnapOp<S> {
    /// Wraps a fresh state.
    pub fn new(st: S) -> Self {
        SnapOp { st, last: None }
    }
}

impl<S: Logic + Snap> Operator for SnapOp<S> {
    fn process(&mut self, evs: &[Ev], out: &mut Vec<Row>) -> Result<()> {
        evs.iter().try_for_each(|e| self.st.on_event(e, out))
    }
    fn finish(&mut self, out: &mut Vec<Row>) -> Result<()> {
        self.st.on_finish(out)
    }
    fn live_entries(&self) -> usize {
        self.st.live_entries()
    }
    fn live_bytes(&self) -> usize {
        self.st.live_bytes()
    }
    fn can_checkpoint(&self) -> bool {
        true
    }
    fn checkpoint(&mut self) -> Result<u64> {
        let bytes = self.st.snap()?;
        let n = bytes.len() as u64;
        self.last = Some(bytes);
        Ok(n)
    }
    fn restore(&mut self) -> Result<()> {
        let bytes = self
            .last
            .as_deref()
            .ok_or_else(|| StateError::Serialization("restore before any checkpoint".into()))?;
        self.st = self.st.unsnap(bytes)?;
        Ok(())
    }
}

/// An operator on persistent `Mmap` state in a temporary directory:
/// checkpoint = `flush()`, restore = drop the state and reopen the directory.
pub struct FileOp<S> {
    st: Option<S>,
    dir: tempfile::TempDir,
}

impl<S: FileState> FileOp<S> {
    /// New state in a fresh temporary directory under `base` (or the
    /// system's temporary directory).
    pub fn create(base: Option<&Path>) -> Result<Self> {
        let dir = match base {
            Some(b) => tempfile::tempdir_in(b),
            None => tempfile::tempdir(),
        }
        .map_err(|e| StateError::Io {
            context: "creating a temporary state directory".into(),
            source: e,
        })?;
        let st = S::open_dir(dir.path())?;
        Ok(FileOp { st: Some(st), dir })
    }

    fn st(&self) -> Result<&S> {
        self.st.as_ref().ok_or_else(closed)
    }

    fn st_mut(&mut self) -> Result<&mut S> {
        self.st.as_mut().ok_or_else(closed)
    }

    /// The state's directory.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

fn closed() -> StateError {
    StateError::Serialization("state closed by a failed restore".into())
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

impl<S: Logic + FileState> Operator for FileOp<S> {
    fn process(&mut self, evs: &[Ev], out: &mut Vec<Row>) -> Result<()> {
        let st = self.st_mut()?;
        evs.iter().try_for_each(|e| st.on_event(e, out))
    }
    fn finish(&mut self, out: &mut Vec<Row>) -> Result<()> {
        self.st_mut()?.on_finish(out)
    }
    fn live_entries(&self) -> usize {
        self.st().map(|s| s.live_entries()).unwrap_or(0)
    }
    fn live_bytes(&self) -> usize {
        self.st().map(|s| s.live_bytes()).unwrap_or(0)
    }
    fn can_checkpoint(&self) -> bool {
        true
    }
    fn checkpoint(&mut self) -> Result<u64> {
        self.st_mut()?.commit()?;
        Ok(dir_bytes(self.dir.path()))
    }
    fn restore(&mut self) -> Result<()> {
        // Drop first: the files are locked while open.
        self.st = None;
        self.st = Some(S::open_dir(self.dir.path())?);
        Ok(())
    }
}

/// A hand-written peer: state in plain maps, no checkpoint.
pub struct PeerOp<S>(pub S);

impl<S: Logic> Operator for PeerOp<S> {
    fn process(&mut self, evs: &[Ev], out: &mut Vec<Row>) -> Result<()> {
        evs.iter().try_for_each(|e| self.0.on_event(e, out))
    }
    fn finish(&mut self, out: &mut Vec<Row>) -> Result<()> {
        self.0.on_finish(out)
    }
    fn live_entries(&self) -> usize {
        self.0.live_entries()
    }
    fn live_bytes(&self) -> usize {
        self.0.live_bytes()
    }
    fn can_checkpoint(&self) -> bool {
        false
    }
    fn checkpoint(&mut self) -> Result<u64> {
        Err(no_checkpoint())
    }
    fn restore(&mut self) -> Result<()> {
        Err(no_checkpoint())
    }
}

/// Length-prefixed frames: how the `dyn StateStore` variant puts its
/// stores' snapshots and its single values into one checkpoint.
#[derive(Default)]
pub struct Frames(pub CkBytes);

impl Frames {
    /// Appends one frame.
    pub fn push(&mut self, bytes: &[u8]) {
        self.0
            .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        self.0.extend_from_slice(bytes);
    }
}

/// Reads [`Frames`] back, with bounds checks.
pub struct FrameReader<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> FrameReader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        FrameReader {
            rest: bytes,
            offset: 0,
        }
    }

    fn bad(&self, what: &str) -> StateError {
        StateError::corruption(format!("dyn checkpoint at offset {}", self.offset), what)
    }

    /// The next frame.
    pub fn next_frame(&mut self) -> Result<&'a [u8]> {
        let (len, rest) = self
            .rest
            .split_first_chunk::<8>()
            .ok_or_else(|| self.bad("truncated frame length"))?;
        let len = usize::try_from(u64::from_le_bytes(*len))
            .map_err(|_| self.bad("frame length too large"))?;
        let (frame, rest) = rest
            .split_at_checked(len)
            .ok_or_else(|| self.bad("truncated frame"))?;
        self.rest = rest;
        self.offset += 8 + len;
        Ok(frame)
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.bad("trailing bytes"))
        }
    }
}

/// rkyv bytes of a single value.
pub fn value_bytes<T: laminar_core::state::SerializeValue>(v: &T) -> Result<Vec<u8>> {
    Ok(laminar_core::state::encode_value(v)?.to_vec())
}

/// Times `f` (wall clock).
pub fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

/// CPU time this thread has run so far (`CLOCK_THREAD_CPUTIME_ID` through
/// the `cpu-time` crate), or `None` where that clock is not available.
///
/// On a machine shared with other work, wall-clock time includes the time
/// the thread waited for a core; its CPU time does not, so throughput
/// figures use it when they can.
pub fn thread_cpu() -> Option<Duration> {
    cpu_time::ThreadTime::try_now()
        .ok()
        .map(|t| t.as_duration())
}

/// Expands a query's state layout and logic into one module per backend
/// (see the [module docs](self)) and a `pub fn operator(backend, dir)`.
macro_rules! query {
    (
        tables { $( $(#[doc = $td:literal])* $t:ident : $k:ty => $v:ty ),* $(,)? }
        values { $( $(#[doc = $sd:literal])* $s:ident : $sty:ty ),* $(,)? }
        logic { $($logic:tt)* }
    ) => {
        query!(@typed on_ahash, AHash, "`#[state_store(backend = AHash)]`",
            { $( $(#[doc = $td])* $t : $k => $v ),* } { $( $(#[doc = $sd])* $s : $sty ),* } { $($logic)* });
        query!(@typed on_btree, BTree, "`#[state_store(backend = BTree)]`",
            { $( $(#[doc = $td])* $t : $k => $v ),* } { $( $(#[doc = $sd])* $s : $sty ),* } { $($logic)* });
        query!(@typed on_mmap, Mmap, "`#[state_store(backend = Mmap)]`, in memory (`new()`) or persistent (`open(dir)`)",
            { $( $(#[doc = $td])* $t : $k => $v ),* } { $( $(#[doc = $sd])* $s : $sty ),* } { $($logic)* });

        impl $crate::op::FileState for on_mmap::State {
            fn open_dir(dir: &std::path::Path) -> laminar_core::state::Result<Self> {
                on_mmap::State::open(dir)
            }
            fn commit(&mut self) -> laminar_core::state::Result<()> {
                self.flush()
            }
        }

        /// The state on byte-level stores, one `Box<dyn StateStore>` per table.
        pub mod on_dyn {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::tbl::Tbl;
            use $crate::tbl::{DynKind, DynTable};

            /// The query's state on `dyn StateStore`s.
            pub struct State {
                kind: DynKind,
                $( $(#[doc = $td])* $t: DynTable<$k, $v>, )*
                $( $(#[doc = $sd])* pub $s: $sty, )*
            }

            impl State {
                /// Empty state on stores of `kind`.
                pub fn new_on(kind: DynKind) -> Self {
                    State {
                        kind,
                        $( $t: DynTable::new(kind), )*
                        $( $s: Default::default(), )*
                    }
                }
                paste::paste! {
                    $(
                        #[allow(dead_code)]
                        fn $t(&self) -> &DynTable<$k, $v> { &self.$t }
                        #[allow(dead_code)]
                        fn [<$t _mut>](&mut self) -> &mut DynTable<$k, $v> { &mut self.$t }
                    )*
                }
                $($logic)*
            }

            impl $crate::op::Snap for State {
                fn snap(&self) -> laminar_core::state::Result<$crate::op::CkBytes> {
                    let mut w = $crate::op::Frames::default();
                    $( w.push(&self.$t.snapshot_bytes()?); )*
                    $( w.push(&$crate::op::value_bytes(&self.$s)?); )*
                    Ok(w.0)
                }
                fn unsnap(&self, bytes: &[u8]) -> laminar_core::state::Result<Self> {
                    let mut r = $crate::op::FrameReader::new(bytes);
                    let st = State {
                        kind: self.kind,
                        $( $t: DynTable::from_snapshot_bytes(self.kind, r.next_frame()?)?, )*
                        $( $s: laminar_core::state::decode_value::<$sty>(r.next_frame()?)?, )*
                    };
                    r.finish()?;
                    Ok(st)
                }
            }

            query!(@logic State, $($t),*);
        }

        query!(@peer on_hashbrown, HashPeer, "Hand-written peer: `hashbrown::HashMap` with ahash.",
            { $( $(#[doc = $td])* $t : $k => $v ),* } { $( $(#[doc = $sd])* $s : $sty ),* } { $($logic)* });
        query!(@peer on_btreemap, BTreeMap, "Hand-written peer: std `BTreeMap`.",
            { $( $(#[doc = $td])* $t : $k => $v ),* } { $( $(#[doc = $sd])* $s : $sty ),* } { $($logic)* });

        /// This query's operator on `backend` (`base`: where the persistent
        /// backend makes its temporary directory).
        pub fn operator(
            backend: $crate::Backend,
            base: Option<&std::path::Path>,
        ) -> laminar_core::state::Result<Box<dyn $crate::op::Operator>> {
            use $crate::op::{FileOp, PeerOp, SnapOp};
            use $crate::tbl::DynKind;
            use $crate::Backend as B;
            Ok(match backend {
                B::AHash => Box::new(SnapOp::new(on_ahash::State::new())),
                B::BTree => Box::new(SnapOp::new(on_btree::State::new())),
                B::MmapMem => Box::new(SnapOp::new(on_mmap::State::new())),
                B::MmapFile => Box::new(FileOp::<on_mmap::State>::create(base)?),
                B::DynInMemory => Box::new(SnapOp::new(on_dyn::State::new_on(DynKind::InMemory))),
                B::DynAHash => Box::new(SnapOp::new(on_dyn::State::new_on(DynKind::AHash))),
                B::DynMmap => Box::new(SnapOp::new(on_dyn::State::new_on(DynKind::Mmap))),
                B::Hashbrown => Box::new(PeerOp(on_hashbrown::State::default())),
                B::BTreeMap => Box::new(PeerOp(on_btreemap::State::default())),
            })
        }
    };

    (@typed $m:ident, $backend:ident, $doc:literal,
        { $( $(#[doc = $td:literal])* $t:ident : $k:ty => $v:ty ),* }
        { $( $(#[doc = $sd:literal])* $s:ident : $sty:ty ),* }
        { $($logic:tt)* }
    ) => {
        #[doc = $doc]
        pub mod $m {
            // `#[state_store]` generates `new()`; a `Default` is not needed here.
            #![allow(clippy::new_without_default)]
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::tbl::Tbl;

            /// The query's state.
            #[laminar_core::state::state_store(backend = $backend)]
            pub struct State {
                $( $(#[doc = $td])* #[state(key = $k)] pub $t: $v, )*
                $( $(#[doc = $sd])* pub $s: $sty, )*
            }

            impl State {
                $($logic)*
            }

            impl $crate::op::Snap for State {
                fn snap(&self) -> laminar_core::state::Result<$crate::op::CkBytes> {
                    self.snapshot()?.to_bytes()
                }
                fn unsnap(&self, bytes: &[u8]) -> laminar_core::state::Result<Self> {
                    State::from_snapshot(&laminar_core::state::StateSnapshot::from_bytes(bytes)?)
                }
            }

            query!(@logic State, $($t),*);
        }
    };

    (@peer $m:ident, $map:ident, $doc:literal,
        { $( $(#[doc = $td:literal])* $t:ident : $k:ty => $v:ty ),* }
        { $( $(#[doc = $sd:literal])* $s:ident : $sty:ty ),* }
        { $($logic:tt)* }
    ) => {
        #[doc = $doc]
        pub mod $m {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::tbl::{HashPeer, Tbl};
            #[allow(unused_imports)]
            use std::collections::BTreeMap;

            /// The query's state in plain maps.
            #[derive(Default)]
            pub struct State {
                $( $(#[doc = $td])* $t: $map<$k, $v>, )*
                $( $(#[doc = $sd])* pub $s: $sty, )*
            }

            impl State {
                paste::paste! {
                    $(
                        #[allow(dead_code)]
                        fn $t(&self) -> &$map<$k, $v> { &self.$t }
                        #[allow(dead_code)]
                        fn [<$t _mut>](&mut self) -> &mut $map<$k, $v> { &mut self.$t }
                    )*
                }
                $($logic)*
            }

            query!(@logic State, $($t),*);
        }
    };

    (@logic $st:ident, $($t:ident),*) => {
        impl $crate::op::Logic for $st {
            fn on_event(
                &mut self,
                e: &$crate::events::Ev,
                out: &mut Vec<$crate::op::Row>,
            ) -> laminar_core::state::Result<()> {
                $st::handle(self, e, out)
            }
            fn on_finish(&mut self, out: &mut Vec<$crate::op::Row>) -> laminar_core::state::Result<()> {
                $st::finish(self, out)
            }
            fn live_entries(&self) -> usize {
                0 $( + $crate::tbl::Tbl::entries(self.$t()) )*
            }
            fn live_bytes(&self) -> usize {
                0 $( + $crate::tbl::Tbl::bytes(self.$t()) )*
            }
        }
    };
}
