//! Model-based property test: a `#[state_store]` struct (one per backend) and
//! a hand-written model built on `BTreeMap` go through the same random
//! operations, including snapshot/restore through bytes; they must agree after
//! every operation.
#![cfg(all(feature = "macros", feature = "btree", feature = "ahash"))]

mod common;

use common::typed_model::{
    add, apply, check, op, region, round_trip, state_struct, Model, Op, Prev, TypedState, OP_WEIGHT,
};
use laminar_core::state::StateSnapshot;
use proptest::prelude::*;

state_struct!(OrderedState, BTree);

state_struct!(HashedState, AHash);

/// The operations of this test: the shared ones and the batched lookups of
/// the in-memory tables.
#[derive(Clone, Debug)]
enum TOp {
    Base(Op),
    /// Looks up four sum keys at once (`Table::get_many`), present or not.
    GetMany([(String, i64); 4]),
    /// Looks up a run of sum keys in order (`Table::get_each`), long enough
    /// to wrap around its pipeline of 16.
    GetEach(Vec<(String, i64)>),
}

fn t_op() -> impl Strategy<Value = TOp> {
    prop_oneof![
        OP_WEIGHT => op().prop_map(TOp::Base),
        2 => [(region(), -3i64..3), (region(), -3i64..3), (region(), -3i64..3), (region(), -3i64..3)]
            .prop_map(TOp::GetMany),
        1 => proptest::collection::vec((region(), -3i64..3), 0..40).prop_map(TOp::GetEach),
    ]
}

/// The batched lookups, which the shared harness does not know.
trait Lookups {
    fn get_many(&self, keys: &[(String, i64); 4]) -> [Option<i64>; 4];
    fn get_each(&self, keys: &[(String, i64)]) -> Vec<Option<i64>>;
}

/// `TypedState` and `Lookups` for a struct of either in-memory backend;
/// `expire` is its range removal (`None`: the backend has none).
macro_rules! typed_state {
    ($state:ident, ordered: $ordered:expr, expire: $expire:expr) => {
        impl TypedState for $state {
            const ORDERED: bool = $ordered;
            fn put_sum(&mut self, r: &str, w: i64, v: i64) -> Prev<i64> {
                Prev::Value(self.sums_mut().put((r, w), v).unwrap())
            }
            fn add_sum(&mut self, r: &str, w: i64, v: i64) -> i64 {
                self.sums_mut().update((r, w), add(v)).unwrap()
            }
            fn delete_sum(&mut self, r: &str, w: i64) -> Prev<i64> {
                Prev::Value(self.sums_mut().delete((r, w)))
            }
            fn put_name(&mut self, r: &str, i: u32, v: Vec<u8>) -> Prev<Vec<u8>> {
                Prev::Value(self.names_mut().put((r, i), v).unwrap())
            }
            fn delete_name(&mut self, r: &str, i: u32) -> Prev<Vec<u8>> {
                Prev::Value(self.names_mut().delete((r, i)))
            }
            fn watermark(&self) -> i64 {
                self.watermark
            }
            fn set_watermark(&mut self, w: i64) {
                self.watermark = w;
            }
            fn expire_names(&mut self, a: &str, b: &str) -> Option<usize> {
                let expire: fn(&mut $state, &str, &str) -> Option<usize> = $expire;
                expire(self, a, b)
            }
            fn snapshot_restore(&mut self) {
                let snap = round_trip(&self.snapshot().unwrap());
                let mut fresh = $state::new();
                fresh.restore(&snap).unwrap();
                *self = fresh;
            }
            fn sums_len(&self) -> usize {
                self.sums().len()
            }
            fn names_len(&self) -> usize {
                self.names().len()
            }
            fn sum(&self, r: &str, w: i64) -> Result<Option<i64>, TestCaseError> {
                Ok(self.sums().get((r, w)).copied())
            }
            fn sums(&self) -> Vec<((String, i64), i64)> {
                self.sums()
                    .iter()
                    .map(|((r, w), v)| ((r.to_string(), w), *v))
                    .collect()
            }
            fn names(&self) -> Vec<((String, u32), Vec<u8>)> {
                self.names()
                    .iter()
                    .map(|((r, i), v)| ((r.to_string(), i), v.clone()))
                    .collect()
            }
        }

        impl Lookups for $state {
            fn get_many(&self, keys: &[(String, i64); 4]) -> [Option<i64>; 4] {
                self.sums()
                    .get_many(keys.each_ref().map(|(r, w)| (r.as_str(), *w)))
                    .map(|v| v.copied())
            }
            fn get_each(&self, keys: &[(String, i64)]) -> Vec<Option<i64>> {
                self.sums()
                    .get_each(keys.iter().map(|(r, w)| (r.as_str(), *w)))
                    .map(|v| v.copied())
                    .collect()
            }
        }
    };
}

typed_state!(OrderedState, ordered: true, expire: |s, a, b| {
    Some(s.names_mut().remove_range((a, 0), (b, 0)))
});
typed_state!(HashedState, ordered: false, expire: |_, _, _| None);

/// Runs `ops` on `s` and the model, checking after every operation.
fn drive<S: TypedState + Lookups>(mut s: S, ops: Vec<TOp>) -> Result<(), TestCaseError> {
    let mut m = Model::default();
    for op in ops {
        match op {
            TOp::Base(op) => apply(&mut s, &mut m, op)?,
            TOp::GetMany(keys) => {
                let want = keys.each_ref().map(|k| m.sums.get(k).copied());
                prop_assert_eq!(s.get_many(&keys), want);
            }
            TOp::GetEach(keys) => {
                let want: Vec<_> = keys.iter().map(|k| m.sums.get(k).copied()).collect();
                prop_assert_eq!(s.get_each(&keys), want);
            }
        }
        // Agreement after every operation.
        check(&s, &m)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn btree_state_matches_model(ops in proptest::collection::vec(t_op(), 1..60)) {
        drive(OrderedState::new(), ops)?;
    }

    #[test]
    fn ahash_state_matches_model(ops in proptest::collection::vec(t_op(), 1..60)) {
        let ops: Vec<TOp> = ops.into_iter().filter(|o| !matches!(o, TOp::Base(Op::ExpireNames(..)))).collect();
        drive(HashedState::new(), ops)?;
    }

    /// Flipping any byte of any snapshot entry yields an error or a state,
    /// never a panic.
    #[test]
    fn corrupt_snapshots_are_errors_not_panics(ops in proptest::collection::vec(t_op(), 1..20),
                                               which in any::<prop::sample::Index>(),
                                               pos in any::<prop::sample::Index>(),
                                               flip in 1u8..=255,
                                               in_key: bool) {
        let mut s = OrderedState::new();
        for op in ops {
            match op {
                TOp::Base(Op::PutSum(r, w, v)) => { s.sums_mut().put((&r, w), v).unwrap(); }
                TOp::Base(Op::PutName(r, i, v)) => { s.names_mut().put((&r, i), v).unwrap(); }
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
