//! Model-based testing harness shared by the `#[state_store]` property tests
//! (`typed_model.rs` for the `BTree` and `AHash` backends, `typed_model_mmap.rs`
//! for `Mmap`).
//!
//! Each test file declares the struct for its backend with [`state_struct!`]
//! (`sums: (Dict<String>, i64) -> i64`, `names: (String, u32) -> Vec<u8>`,
//! `watermark: i64`), implements [`TypedState`] for it (the backends' table APIs differ: `&V`
//! or owned values, `put` returning the old value or nothing), and runs the
//! shared [`Op`]s through [`apply`] and [`check`] next to a [`Model`] built
//! on `BTreeMap`, adding its own operations (batched lookups, flush, reopen)
//! around them.

use std::collections::BTreeMap;
use std::fmt::Debug;

use laminar_core::state::StateSnapshot;
use proptest::prelude::*;

/// Declares `struct $name` of the shape above on typed backend `$backend`
/// (`BTree`, `AHash`, `Mmap`).
macro_rules! state_struct {
    ($name:ident, $backend:ident) => {
        #[::laminar_core::state::state_store(backend = $backend)]
        struct $name {
            #[state(key = (::laminar_core::state::key::Dict<String>, i64))]
            sums: i64,
            #[state(key = (String, u32))]
            names: Vec<u8>,
            watermark: i64,
        }
    };
}
pub(crate) use state_struct;

/// The update of [`Op::AddSum`]: adds `v`, returns the new sum.
pub fn add(v: i64) -> impl FnOnce(&mut i64) -> i64 {
    move |x| {
        *x += v;
        *x
    }
}

/// Expected content of the struct.
#[derive(Default, Debug, Clone, PartialEq)]
pub struct Model {
    pub sums: BTreeMap<(String, i64), i64>,
    pub names: BTreeMap<(String, u32), Vec<u8>>,
    pub watermark: i64,
}

impl Model {
    /// Removes the names with `(a, 0) <= key < (b, 0)`; returns how many.
    pub fn expire_names(&mut self, a: &str, b: &str) -> usize {
        let doomed: Vec<_> = self
            .names
            .keys()
            .filter(|k| (a, 0) <= (k.0.as_str(), k.1) && (k.0.as_str(), k.1) < (b, 0))
            .cloned()
            .collect();
        for k in &doomed {
            self.names.remove(k);
        }
        doomed.len()
    }
}

/// The operations every backend runs.
#[derive(Clone, Debug)]
pub enum Op {
    PutSum(String, i64, i64),
    AddSum(String, i64, i64),
    DeleteSum(String, i64),
    PutName(String, u32, Vec<u8>),
    DeleteName(String, u32),
    SetWatermark(i64),
    /// Removes names with `(a, 0) <= key < (b, 0)` (ordered backends only).
    ExpireNames(String, String),
    /// Snapshot, through bytes, and restore.
    SnapshotRestore,
}

/// Regions: a few fixed ones and short strings with NUL bytes.
pub fn region() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("eu".to_string()),
        Just("us".to_string()),
        Just("ap".to_string()),
        "[a-c\\x00]{0,3}"
    ]
}

/// The total weight of [`op`]'s alternatives: a test that adds its own
/// operations gives `op()` this weight next to theirs, so each shared
/// operation keeps its share (`prop_oneof![OP_WEIGHT => op().prop_map(..), 2 => ..]`).
pub const OP_WEIGHT: u32 = 18;

/// The weighted strategy of the shared operations.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (region(), -3i64..3, any::<i64>()).prop_map(|(r, w, v)| Op::PutSum(r, w, v)),
        4 => (region(), -3i64..3, -100i64..100).prop_map(|(r, w, v)| Op::AddSum(r, w, v)),
        2 => (region(), -3i64..3).prop_map(|(r, w)| Op::DeleteSum(r, w)),
        3 => (region(), 0u32..4, proptest::collection::vec(any::<u8>(), 0..4)).prop_map(|(r, i, v)| Op::PutName(r, i, v)),
        2 => (region(), 0u32..4).prop_map(|(r, i)| Op::DeleteName(r, i)),
        1 => any::<i64>().prop_map(Op::SetWatermark),
        1 => (region(), region()).prop_map(|(a, b)| Op::ExpireNames(a, b)),
        1 => Just(Op::SnapshotRestore),
    ]
}

/// A snapshot serialized and read back.
pub fn round_trip(snapshot: &StateSnapshot) -> StateSnapshot {
    let bytes = snapshot.to_bytes().expect("encode snapshot");
    StateSnapshot::from_bytes(&bytes).expect("decode snapshot")
}

/// What a backend's `put` or `delete` says about the entry it replaced.
#[derive(Debug)]
pub enum Prev<V> {
    /// The old value, if any.
    Value(Option<V>),
    /// Only whether there was one.
    Existed(bool),
    /// Nothing.
    Unreported,
}

/// Checks a backend's [`Prev`] against the model's old value.
fn agree<V: PartialEq + Debug>(got: Prev<V>, want: Option<V>) -> Result<(), TestCaseError> {
    match got {
        Prev::Value(v) => prop_assert_eq!(v, want),
        Prev::Existed(existed) => prop_assert_eq!(existed, want.is_some()),
        Prev::Unreported => {}
    }
    Ok(())
}

/// A `#[state_store]` struct of the shape above, as the shared operations see it.
pub trait TypedState {
    /// Whether `names` iterates in key order (else in any order).
    const ORDERED: bool;
    fn put_sum(&mut self, r: &str, w: i64, v: i64) -> Prev<i64>;
    /// Adds `v` to the sum (0 if absent); returns the new sum.
    fn add_sum(&mut self, r: &str, w: i64, v: i64) -> i64;
    fn delete_sum(&mut self, r: &str, w: i64) -> Prev<i64>;
    fn put_name(&mut self, r: &str, i: u32, v: Vec<u8>) -> Prev<Vec<u8>>;
    fn delete_name(&mut self, r: &str, i: u32) -> Prev<Vec<u8>>;
    fn watermark(&self) -> i64;
    fn set_watermark(&mut self, w: i64);
    /// Removes the names with `(a, 0) <= key < (b, 0)` and returns how many;
    /// `None` (and nothing removed) where the backend has no ranges.
    fn expire_names(&mut self, a: &str, b: &str) -> Option<usize>;
    /// Takes a snapshot, sends it through bytes and restores it.
    fn snapshot_restore(&mut self);
    fn sums_len(&self) -> usize;
    fn names_len(&self) -> usize;
    /// One sum (a backend with two read paths checks they agree).
    fn sum(&self, r: &str, w: i64) -> Result<Option<i64>, TestCaseError>;
    /// All sums, in any order.
    fn sums(&self) -> Vec<((String, i64), i64)>;
    /// All names, in iteration order.
    fn names(&self) -> Vec<((String, u32), Vec<u8>)>;
}

/// Applies `op` to the state and the model, checking the state's answers.
pub fn apply<S: TypedState>(s: &mut S, m: &mut Model, op: Op) -> Result<(), TestCaseError> {
    match op {
        Op::PutSum(r, w, v) => {
            let prev = s.put_sum(&r, w, v);
            agree(prev, m.sums.insert((r, w), v))?;
        }
        Op::AddSum(r, w, v) => {
            let got = s.add_sum(&r, w, v);
            let e = m.sums.entry((r, w)).or_insert(0);
            *e += v;
            prop_assert_eq!(got, *e);
        }
        Op::DeleteSum(r, w) => {
            let prev = s.delete_sum(&r, w);
            agree(prev, m.sums.remove(&(r, w)))?;
        }
        Op::PutName(r, i, v) => {
            let prev = s.put_name(&r, i, v.clone());
            agree(prev, m.names.insert((r, i), v))?;
        }
        Op::DeleteName(r, i) => {
            let prev = s.delete_name(&r, i);
            agree(prev, m.names.remove(&(r, i)))?;
        }
        Op::SetWatermark(w) => {
            s.set_watermark(w);
            m.watermark = w;
        }
        Op::ExpireNames(a, b) => {
            if let Some(n) = s.expire_names(&a, &b) {
                prop_assert_eq!(n, m.expire_names(&a, &b));
            }
        }
        Op::SnapshotRestore => s.snapshot_restore(),
    }
    Ok(())
}

/// Compares the whole state with the model (run after every operation).
pub fn check<S: TypedState>(s: &S, m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(s.sums_len(), m.sums.len());
    prop_assert_eq!(s.names_len(), m.names.len());
    prop_assert_eq!(s.watermark(), m.watermark);
    for ((r, w), v) in &m.sums {
        prop_assert_eq!(s.sum(r, *w)?, Some(*v));
    }
    let mut names = s.names();
    if !S::ORDERED {
        names.sort();
    }
    let model_names: Vec<_> = m.names.clone().into_iter().collect();
    prop_assert_eq!(names, model_names);
    let mut sums = s.sums();
    sums.sort();
    let model_sums: Vec<_> = m.sums.clone().into_iter().collect();
    prop_assert_eq!(sums, model_sums);
    Ok(())
}
