//! Model-based property test: a `#[state_store]` struct (one per backend) and
//! a hand-written model built on `BTreeMap` go through the same random
//! operations, including snapshot/restore through bytes; they must agree after
//! every operation.
#![cfg(all(feature = "macros", feature = "btree", feature = "ahash"))]

use std::collections::BTreeMap;

use laminar_core::state::key::Dict;
use laminar_core::state::{state_store, StateSnapshot};
use proptest::prelude::*;

#[state_store(backend = BTree)]
struct OrderedState {
    #[state(key = (Dict<String>, i64))]
    sums: i64,
    #[state(key = (String, u32))]
    names: Vec<u8>,
    watermark: i64,
}

#[state_store(backend = AHash)]
struct HashedState {
    #[state(key = (Dict<String>, i64))]
    sums: i64,
    #[state(key = (String, u32))]
    names: Vec<u8>,
    watermark: i64,
}

#[derive(Default, Debug)]
struct Model {
    sums: BTreeMap<(String, i64), i64>,
    names: BTreeMap<(String, u32), Vec<u8>>,
    watermark: i64,
}

#[derive(Clone, Debug)]
enum Op {
    PutSum(String, i64, i64),
    AddSum(String, i64, i64),
    DeleteSum(String, i64),
    PutName(String, u32, Vec<u8>),
    DeleteName(String, u32),
    SetWatermark(i64),
    /// Removes names with `(a, 0) <= key < (b, 0)` (ordered backend only).
    ExpireNames(String, String),
    SnapshotRestore,
    /// Looks up four sum keys at once (`Table::get_many`), present or not.
    GetMany([(String, i64); 4]),
    /// Looks up a run of sum keys in order (`Table::get_each`), long enough
    /// to wrap around its pipeline of 16.
    GetEach(Vec<(String, i64)>),
}

fn region() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("eu".to_string()),
        Just("us".to_string()),
        Just("ap".to_string()),
        "[a-c\\x00]{0,3}"
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (region(), -3i64..3, any::<i64>()).prop_map(|(r, w, v)| Op::PutSum(r, w, v)),
        4 => (region(), -3i64..3, -100i64..100).prop_map(|(r, w, v)| Op::AddSum(r, w, v)),
        2 => (region(), -3i64..3).prop_map(|(r, w)| Op::DeleteSum(r, w)),
        3 => (region(), 0u32..4, proptest::collection::vec(any::<u8>(), 0..4)).prop_map(|(r, i, v)| Op::PutName(r, i, v)),
        2 => (region(), 0u32..4).prop_map(|(r, i)| Op::DeleteName(r, i)),
        1 => any::<i64>().prop_map(Op::SetWatermark),
        1 => (region(), region()).prop_map(|(a, b)| Op::ExpireNames(a, b)),
        1 => Just(Op::SnapshotRestore),
        2 => [(region(), -3i64..3), (region(), -3i64..3), (region(), -3i64..3), (region(), -3i64..3)]
            .prop_map(Op::GetMany),
        1 => proptest::collection::vec((region(), -3i64..3), 0..40).prop_map(Op::GetEach),
    ]
}

fn round_trip(snapshot: &StateSnapshot) -> StateSnapshot {
    let bytes = snapshot.to_bytes().expect("encode snapshot");
    StateSnapshot::from_bytes(&bytes).expect("decode snapshot")
}

macro_rules! drive {
    ($state:ident, $ordered:expr, $ops:expr) => {{
        let mut s = $state::new();
        let mut m = Model::default();
        for op in $ops {
            match op {
                Op::PutSum(r, w, v) => {
                    let prev = s.sums_mut().put((&r, w), v).unwrap();
                    prop_assert_eq!(prev, m.sums.insert((r, w), v));
                }
                Op::AddSum(r, w, v) => {
                    let got = s
                        .sums_mut()
                        .update((&r, w), |x| {
                            *x += v;
                            *x
                        })
                        .unwrap();
                    let e = m.sums.entry((r, w)).or_insert(0);
                    *e += v;
                    prop_assert_eq!(got, *e);
                }
                Op::DeleteSum(r, w) => {
                    prop_assert_eq!(s.sums_mut().delete((&r, w)), m.sums.remove(&(r, w)));
                }
                Op::PutName(r, i, v) => {
                    let prev = s.names_mut().put((&r, i), v.clone()).unwrap();
                    prop_assert_eq!(prev, m.names.insert((r, i), v));
                }
                Op::DeleteName(r, i) => {
                    prop_assert_eq!(s.names_mut().delete((&r, i)), m.names.remove(&(r, i)));
                }
                Op::SetWatermark(w) => {
                    s.watermark = w;
                    m.watermark = w;
                }
                Op::ExpireNames(a, b) => {
                    if $ordered {
                        expire(&mut s, &a, &b);
                        let doomed: Vec<_> = m
                            .names
                            .keys()
                            .filter(|k| {
                                (a.as_str(), 0) <= (k.0.as_str(), k.1)
                                    && (k.0.as_str(), k.1) < (b.as_str(), 0)
                            })
                            .cloned()
                            .collect();
                        for k in doomed {
                            m.names.remove(&k);
                        }
                    }
                }
                Op::GetMany(keys) => {
                    let got = s
                        .sums()
                        .get_many(keys.each_ref().map(|(r, w)| (r.as_str(), *w)));
                    let want = keys.each_ref().map(|k| m.sums.get(k));
                    prop_assert_eq!(got, want);
                }
                Op::GetEach(keys) => {
                    let got: Vec<_> = s
                        .sums()
                        .get_each(keys.iter().map(|(r, w)| (r.as_str(), *w)))
                        .collect();
                    let want: Vec<_> = keys.iter().map(|k| m.sums.get(k)).collect();
                    prop_assert_eq!(got, want);
                }
                Op::SnapshotRestore => {
                    let snap = round_trip(&s.snapshot().unwrap());
                    let mut fresh = $state::new();
                    fresh.restore(&snap).unwrap();
                    s = fresh;
                }
            }
            // Agreement after every operation.
            prop_assert_eq!(s.sums().len(), m.sums.len());
            prop_assert_eq!(s.names().len(), m.names.len());
            prop_assert_eq!(s.watermark, m.watermark);
            for ((r, w), v) in &m.sums {
                prop_assert_eq!(s.sums().get((r, *w)), Some(v));
            }
            let mut names: Vec<_> = s
                .names()
                .iter()
                .map(|((r, i), v)| ((r.to_string(), i), v.clone()))
                .collect();
            if !$ordered {
                names.sort();
            }
            let model_names: Vec<_> = m
                .names
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            prop_assert_eq!(names, model_names);
            let mut sums: Vec<_> = s
                .sums()
                .iter()
                .map(|((r, w), v)| ((r.to_string(), w), *v))
                .collect();
            sums.sort();
            prop_assert_eq!(
                sums,
                m.sums
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect::<Vec<_>>()
            );
        }
    }};
}

fn expire(s: &mut OrderedState, a: &str, b: &str) {
    s.names_mut().remove_range((a, 0), (b, 0));
}

/// A local shim so the macro can call `expire` for both state types.
trait Expire {
    fn expire_range(&mut self, a: &str, b: &str);
}
impl Expire for HashedState {
    fn expire_range(&mut self, _: &str, _: &str) {}
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn btree_state_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        drive!(OrderedState, true, ops);
    }

    #[test]
    fn ahash_state_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        let ops: Vec<Op> = ops.into_iter().filter(|o| !matches!(o, Op::ExpireNames(..))).collect();
        drive_hashed(ops)?;
    }

    /// Flipping any byte of any snapshot entry yields an error or a state,
    /// never a panic.
    #[test]
    fn corrupt_snapshots_are_errors_not_panics(ops in proptest::collection::vec(op(), 1..20),
                                               which in any::<prop::sample::Index>(),
                                               pos in any::<prop::sample::Index>(),
                                               flip in 1u8..=255,
                                               in_key: bool) {
        let mut s = OrderedState::new();
        for op in ops {
            match op {
                Op::PutSum(r, w, v) => { s.sums_mut().put((&r, w), v).unwrap(); }
                Op::PutName(r, i, v) => { s.names_mut().put((&r, i), v).unwrap(); }
                _ => {}
            }
        }
        let mut data = s.snapshot().unwrap().iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect::<Vec<_>>();
        let i = which.index(data.len());
        let target = if in_key { &mut data[i].0 } else { &mut data[i].1 };
        if !target.is_empty() {
            let p = pos.index(target.len());
            target[p] ^= flip;
        }
        let _ = OrderedState::from_snapshot(&StateSnapshot::new(data));
    }
}

fn drive_hashed(ops: Vec<Op>) -> Result<(), TestCaseError> {
    fn expire(s: &mut HashedState, a: &str, b: &str) {
        s.expire_range(a, b)
    }
    drive!(HashedState, false, ops);
    Ok(())
}

#[test]
fn unknown_entries_and_missing_fields_are_corruption() {
    let mut s = OrderedState::new();
    s.sums_mut().put(("eu", 1), 5).unwrap();
    let mut data = s
        .snapshot()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect::<Vec<_>>();
    data.push((b"zzz\0\x01".to_vec(), vec![]));
    assert!(OrderedState::from_snapshot(&StateSnapshot::new(data.clone())).is_err());
    data.retain(|(k, _)| !k.starts_with(b"watermark"));
    data.pop();
    assert!(OrderedState::from_snapshot(&StateSnapshot::new(data)).is_err());
    // Snapshots of one struct restore into a struct with the same fields
    // whatever the backend.
    let snap = s.snapshot().unwrap();
    let h = HashedState::from_snapshot(&snap).unwrap();
    assert_eq!(h.sums().get(("eu", 1)), Some(&5));
}
