//! Model-based testing harness shared by every backend's property test.
//!
//! A `BTreeMap<Vec<u8>, Vec<u8>>` is the model. [`Op`] is the operation
//! alphabet; [`apply`] runs one operation on both the store and the model and
//! compares their answers, and [`check_invariants`] compares the whole content
//! after every operation. Persistent backends add their own operations
//! (flush, reopen, compact) around these.
#![allow(dead_code)]

use std::collections::BTreeMap;

use bytes::Bytes;
use laminar_core::state::{encode_value, StateSnapshot, StateStore, StateStoreExt};
use proptest::prelude::*;

/// Typed values used by the typed operations.
pub type TypedValue = (u64, String);

/// One operation of the model test.
#[derive(Debug, Clone)]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Get(Vec<u8>),
    GetRef(Vec<u8>),
    Contains(Vec<u8>),
    PrefixScan(Vec<u8>),
    RangeScan(Vec<u8>, Vec<u8>),
    Snapshot,
    Restore,
    /// Serialize the last snapshot, read it back, restore it.
    RestoreFromBytes,
    Clear,
    PutTyped(Vec<u8>, TypedValue),
    GetTyped(Vec<u8>),
}

/// The model: expected content, the last snapshot taken, and which keys hold
/// a typed value (and which one).
#[derive(Debug, Default, Clone)]
pub struct Model {
    pub map: BTreeMap<Vec<u8>, Vec<u8>>,
    pub typed: BTreeMap<Vec<u8>, TypedValue>,
    pub snapshot: Option<(StateSnapshot, BTreeMap<Vec<u8>, TypedValue>)>,
}

/// Keys from a small alphabet (including 0x00 and 0xFF) so collisions,
/// shared prefixes and the empty key happen often.
pub fn key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(0x00u8), Just(0x01), Just(b'a'), Just(b'b'), Just(0xFF)],
        0..4,
    )
}

/// A key longer than the inline capacity of the in-memory backends, sometimes.
pub fn any_key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        9 => key(),
        // Keys crossing 7- and 8-byte boundaries that share long prefixes.
        3 => proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(0x00u8)], 5..18),
        1 => (key(), 20usize..40).prop_map(|(mut k, n)| { k.resize(n, b'z'); k }),
    ]
}

pub fn value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..24)
}

/// The weighted operation strategy.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => (any_key(), value()).prop_map(|(k, v)| Op::Put(k, v)),
        8 => any_key().prop_map(Op::Delete),
        8 => any_key().prop_map(Op::Get),
        4 => any_key().prop_map(Op::GetRef),
        4 => any_key().prop_map(Op::Contains),
        5 => key().prop_map(Op::PrefixScan),
        5 => (key(), key()).prop_map(|(a, b)| Op::RangeScan(a, b)),
        2 => Just(Op::Snapshot),
        2 => Just(Op::Restore),
        1 => Just(Op::RestoreFromBytes),
        1 => Just(Op::Clear),
        5 => (any_key(), (any::<u64>(), "[a-z]{0,12}")).prop_map(|(k, v)| Op::PutTyped(k, v)),
        5 => any_key().prop_map(Op::GetTyped),
    ]
}

/// A sequence of operations.
pub fn ops(max: usize) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..max)
}

/// Number of cases: `PROPTEST_CASES` if set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn pairs(it: impl Iterator<Item = (Bytes, Bytes)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    it.map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}

fn model_range(model: &Model, lo: &[u8], hi: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    if lo >= hi {
        return Vec::new();
    }
    model
        .map
        .range::<[u8], _>((std::ops::Bound::Included(lo), std::ops::Bound::Excluded(hi)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Applies `op` to `store` and `model`, checking the store's answer.
pub fn apply(
    store: &mut (impl StateStore + ?Sized),
    model: &mut Model,
    op: &Op,
) -> Result<(), TestCaseError> {
    match op {
        Op::Put(k, v) => {
            store
                .put(k, Bytes::copy_from_slice(v))
                .map_err(|e| TestCaseError::fail(format!("put: {e}")))?;
            model.map.insert(k.clone(), v.clone());
            model.typed.remove(k);
        }
        Op::Delete(k) => {
            store
                .delete(k)
                .map_err(|e| TestCaseError::fail(format!("delete: {e}")))?;
            model.map.remove(k);
            model.typed.remove(k);
        }
        Op::Get(k) => {
            prop_assert_eq!(store.get(k).map(|b| b.to_vec()), model.map.get(k).cloned());
        }
        Op::GetRef(k) => {
            prop_assert_eq!(store.get_ref(k), model.map.get(k).map(|v| v.as_slice()));
        }
        Op::Contains(k) => {
            prop_assert_eq!(store.contains(k), model.map.contains_key(k));
        }
        Op::PrefixScan(p) => {
            let got = pairs(store.prefix_scan(p));
            let want: Vec<_> = model
                .map
                .iter()
                .filter(|(k, _)| k.starts_with(p))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            prop_assert_eq!(got, want);
        }
        Op::RangeScan(lo, hi) => {
            let got = pairs(store.range_scan(lo.as_slice()..hi.as_slice()));
            prop_assert_eq!(got, model_range(model, lo, hi));
        }
        Op::Snapshot => {
            let snap = store.snapshot();
            let want: Vec<_> = model
                .map
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            prop_assert_eq!(
                snap.iter()
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect::<Vec<_>>(),
                want
            );
            model.snapshot = Some((snap, model.typed.clone()));
        }
        Op::Restore | Op::RestoreFromBytes => {
            if let Some((snap, typed)) = model.snapshot.clone() {
                let snap = if matches!(op, Op::RestoreFromBytes) {
                    let bytes = snap
                        .to_bytes()
                        .map_err(|e| TestCaseError::fail(format!("to_bytes: {e}")))?;
                    StateSnapshot::from_bytes(&bytes)
                        .map_err(|e| TestCaseError::fail(format!("from_bytes: {e}")))?
                } else {
                    snap
                };
                model.map = snap.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
                model.typed = typed;
                store
                    .restore(snap)
                    .map_err(|e| TestCaseError::fail(format!("restore: {e}")))?;
            }
        }
        Op::Clear => {
            store.clear();
            model.map.clear();
            model.typed.clear();
        }
        Op::PutTyped(k, v) => {
            store
                .put_typed(k, v)
                .map_err(|e| TestCaseError::fail(format!("put_typed: {e}")))?;
            let bytes = encode_value(v).map_err(|e| TestCaseError::fail(e.to_string()))?;
            model.map.insert(k.clone(), bytes.to_vec());
            model.typed.insert(k.clone(), v.clone());
        }
        Op::GetTyped(k) => {
            let got = store.get_typed::<TypedValue>(k);
            match (model.typed.get(k), model.map.contains_key(k)) {
                (Some(want), _) => {
                    let got = got.map_err(|e| TestCaseError::fail(format!("get_typed: {e}")))?;
                    prop_assert_eq!(got.as_ref(), Some(want));
                    // The zero-copy path agrees with the owned one.
                    let len = store
                        .with_archived::<TypedValue, _>(k, |a| a.1.len())
                        .map_err(|e| TestCaseError::fail(format!("with_archived: {e}")))?;
                    prop_assert_eq!(len, Some(want.1.len()));
                }
                (None, false) => {
                    prop_assert!(matches!(got, Ok(None)), "absent key gave {:?}", got);
                }
                // Raw bytes read as a typed value: any answer but a panic is fine.
                (None, true) => {}
            }
        }
    }
    Ok(())
}

/// Compares the whole content of `store` with the model.
pub fn check_invariants(
    store: &(impl StateStore + ?Sized),
    model: &Model,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(store.len(), model.map.len());
    prop_assert_eq!(store.is_empty(), model.map.is_empty());
    let size: usize = model.map.iter().map(|(k, v)| k.len() + v.len()).sum();
    prop_assert_eq!(store.size_bytes(), size);
    let all = pairs(store.prefix_scan(b""));
    let want: Vec<_> = model
        .map
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    prop_assert_eq!(all, want);
    Ok(())
}

/// Runs `ops` on a fresh store and the model, checking after every operation.
pub fn run<S: StateStore + ?Sized>(store: &mut S, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    for op in ops {
        apply(store, &mut model, op)?;
        check_invariants(store, &model)?;
    }
    Ok(())
}
