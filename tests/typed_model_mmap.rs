//! Model-based property test of `#[state_store(backend = Mmap)]`: the
//! generated struct and a hand-written `BTreeMap` model go through the same
//! random operations, including snapshot/restore, in memory (`new()`) and
//! persistent (`open(dir)`), where `Flush` commits and `Reopen` drops the
//! state and opens it again: the model then returns to its last flushed copy.
#![cfg(all(feature = "macros", feature = "mmap"))]

mod common;

use std::path::Path;

use common::typed_model::{
    add, apply, check, op, round_trip, state_struct, Model, Op, Prev, TypedState, OP_WEIGHT,
};
use laminar_core::state::key::Dict;
use proptest::prelude::*;

state_struct!(MappedState, Mmap);

/// The operations of this test: the shared ones, commit and reopen.
#[derive(Clone, Debug)]
enum MOp {
    Base(Op),
    Flush,
    /// Drops the state (without flushing) and opens it again.
    Reopen,
}

fn m_op() -> impl Strategy<Value = MOp> {
    prop_oneof![
        OP_WEIGHT => op().prop_map(MOp::Base),
        2 => Just(MOp::Flush),
        2 => Just(MOp::Reopen),
    ]
}

impl TypedState for MappedState {
    // Names have no dictionary component: key order is string order.
    const ORDERED: bool = true;
    fn put_sum(&mut self, r: &str, w: i64, v: i64) -> Prev<i64> {
        self.sums_mut().put((r, w), v).unwrap();
        Prev::Unreported
    }
    fn add_sum(&mut self, r: &str, w: i64, v: i64) -> i64 {
        self.sums_mut().update((r, w), add(v)).unwrap()
    }
    fn delete_sum(&mut self, r: &str, w: i64) -> Prev<i64> {
        Prev::Existed(self.sums_mut().delete((r, w)).unwrap())
    }
    fn put_name(&mut self, r: &str, i: u32, v: Vec<u8>) -> Prev<Vec<u8>> {
        self.names_mut().put((r, i), v).unwrap();
        Prev::Unreported
    }
    fn delete_name(&mut self, r: &str, i: u32) -> Prev<Vec<u8>> {
        Prev::Existed(self.names_mut().delete((r, i)).unwrap())
    }
    fn watermark(&self) -> i64 {
        self.watermark
    }
    fn set_watermark(&mut self, w: i64) {
        self.watermark = w;
    }
    fn expire_names(&mut self, a: &str, b: &str) -> Option<usize> {
        Some(self.names_mut().remove_range((a, 0), (b, 0)).unwrap())
    }
    fn snapshot_restore(&mut self) {
        // Restore into the same (possibly persistent) state.
        let snap = round_trip(&self.snapshot().unwrap());
        self.restore(&snap).unwrap();
    }
    fn sums_len(&self) -> usize {
        self.sums().len()
    }
    fn names_len(&self) -> usize {
        self.names().len()
    }
    fn sum(&self, r: &str, w: i64) -> Result<Option<i64>, TestCaseError> {
        let owned = self.sums().get((r, w)).unwrap();
        let archived = self.sums().get_archived((r, w)).unwrap();
        prop_assert_eq!(archived.map(|a| a.to_native()), owned);
        Ok(owned)
    }
    fn sums(&self) -> Vec<((String, i64), i64)> {
        let mut sums = Vec::new();
        self.sums()
            .for_each(|(r, w), v| sums.push(((r.to_owned(), w), v)))
            .unwrap();
        sums
    }
    fn names(&self) -> Vec<((String, u32), Vec<u8>)> {
        let mut names = Vec::new();
        self.names()
            .for_each(|(r, i), v| names.push(((r.to_owned(), i), v)))
            .unwrap();
        names
    }
}

/// Runs `ops`; `dir` makes the state persistent.
fn drive(ops: Vec<MOp>, dir: Option<&Path>) -> Result<(), TestCaseError> {
    let open = || match dir {
        Some(d) => MappedState::open(d).expect("open"),
        None => MappedState::new(),
    };
    let mut s = open();
    let mut m = Model::default();
    let mut committed = Model::default();
    for op in ops {
        match op {
            MOp::Base(op) => apply(&mut s, &mut m, op)?,
            MOp::Flush => {
                s.flush().unwrap();
                committed = m.clone();
            }
            MOp::Reopen => {
                if dir.is_some() {
                    drop(s);
                    s = open();
                    m = committed.clone();
                }
            }
        }
        // Agreement after every operation.
        check(&s, &m)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn in_memory_mmap_state_matches_model(ops in proptest::collection::vec(m_op(), 1..60)) {
        drive(ops, None)?;
    }
}

proptest! {
    // Every case creates files and syncs them: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn persistent_mmap_state_matches_model_across_reopen(ops in proptest::collection::vec(m_op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        drive(ops, Some(&dir.path().join("state")))?;
    }
}

type SumsTable =
    laminar_core::state::typed::Table<(Dict<String>, i64), i64, laminar_core::state::typed::Mmap>;

fn sums_of(s: &MappedState) -> Vec<i64> {
    (0..4)
        .filter_map(|w| s.sums().get(("eu", w)).unwrap())
        .collect()
}

#[test]
fn flush_interrupted_before_its_commit_point_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    {
        let mut s = MappedState::open(&path).unwrap();
        s.sums_mut().put(("eu", 1), 1).unwrap();
        s.watermark = 7;
        s.flush().unwrap();
    }
    // A crash after one table committed the next flush (generation 2) but
    // before the values file did: what step 1 of that flush leaves.
    {
        let mut t = SumsTable::open(path.join("sums.table")).unwrap();
        t.put(("eu", 2), 2).unwrap();
        t.commit(2).unwrap();
    }
    for _ in 0..2 {
        // Twice: the roll-back is itself durable.
        let s = MappedState::open(&path).unwrap();
        assert_eq!(sums_of(&s), vec![1]);
        assert_eq!(s.watermark, 7);
    }
    {
        let mut s = MappedState::open(&path).unwrap();
        s.sums_mut().put(("eu", 3), 3).unwrap();
        s.flush().unwrap();
    }
    assert_eq!(sums_of(&MappedState::open(&path).unwrap()), vec![1, 3]);
}

#[test]
fn a_table_two_flushes_ahead_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    {
        let mut s = MappedState::open(&path).unwrap();
        s.sums_mut().put(("eu", 1), 1).unwrap();
        s.flush().unwrap();
    }
    {
        let mut t = SumsTable::open(path.join("sums.table")).unwrap();
        t.commit(2).unwrap();
        t.put(("eu", 2), 2).unwrap();
        t.commit(3).unwrap();
    }
    let Err(err) = MappedState::open(&path) else {
        panic!("a table two flushes ahead opened");
    };
    assert!(matches!(
        err,
        laminar_core::state::StateError::Corruption { .. }
    ));
    assert!(err.to_string().contains("sums.table"), "{err}");
}

#[test]
fn rewritten_table_of_an_uncommitted_flush_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    {
        let mut s = MappedState::open(&path).unwrap();
        s.sums_mut().put(("eu", 1), 1).unwrap();
        s.flush().unwrap();
    }
    // Step 1 of a flush after `clear` writes `sums.table.next`; the crash
    // comes before the commit point.
    {
        let mut t = SumsTable::open(path.join("sums.table.next")).unwrap();
        t.put(("eu", 2), 2).unwrap();
        t.commit(2).unwrap();
    }
    let s = MappedState::open(&path).unwrap();
    assert_eq!(sums_of(&s), vec![1]);
    assert!(!path.join("sums.table.next").exists());
}

/// Leaves in `dir/state` what a crash after the commit point of flush 2 but
/// before its step 3 leaves: flush 2 rewrote the table (after `clear`), the
/// table file still holds flush 1, and `.next` holds flush 2, its only copy.
fn crash_before_next_is_moved(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("state");
    let saved = dir.join("sums-after-flush-1");
    {
        let mut s = MappedState::open(&path).unwrap();
        s.sums_mut().put(("eu", 1), 1).unwrap();
        s.flush().unwrap();
        std::fs::copy(path.join("sums.table"), &saved).unwrap();
        s.sums_mut().clear();
        s.sums_mut().put(("eu", 2), 2).unwrap();
        s.flush().unwrap();
    }
    std::fs::copy(path.join("sums.table"), path.join("sums.table.next")).unwrap();
    std::fs::copy(&saved, path.join("sums.table")).unwrap();
    path
}

#[test]
fn rewritten_table_of_a_committed_flush_is_moved_into_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = crash_before_next_is_moved(dir.path());
    let s = MappedState::open(&path).unwrap();
    assert_eq!(sums_of(&s), vec![2]);
    assert!(!path.join("sums.table.next").exists());
    drop(s);
    assert_eq!(sums_of(&MappedState::open(&path).unwrap()), vec![2]);
}

#[test]
fn committed_rewritten_table_survives_a_failed_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = crash_before_next_is_moved(dir.path());
    // An open that cannot read `.next` for a reason unrelated to its
    // content (here: another handle holds its lock) must fail without
    // deleting it.
    {
        let _holder = SumsTable::open(path.join("sums.table.next")).unwrap();
        let Err(err) = MappedState::open(&path) else {
            panic!("opened while sums.table.next was locked");
        };
        assert!(
            matches!(err, laminar_core::state::StateError::Locked { .. }),
            "{err}"
        );
        assert!(path.join("sums.table.next").exists());
    }
    let s = MappedState::open(&path).unwrap();
    assert_eq!(sums_of(&s), vec![2]);
    assert!(!path.join("sums.table.next").exists());
}

#[test]
fn a_corrupt_rewritten_table_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    {
        let mut s = MappedState::open(&path).unwrap();
        s.sums_mut().put(("eu", 1), 1).unwrap();
        s.flush().unwrap();
    }
    // A `.next` torn by a crash before the commit point: not a table file.
    std::fs::write(path.join("sums.table.next"), [0xA5u8; 9000]).unwrap();
    let s = MappedState::open(&path).unwrap();
    assert_eq!(sums_of(&s), vec![1]);
    assert!(!path.join("sums.table.next").exists());
}

#[test]
fn flush_after_clear_and_restore_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    {
        let mut s = MappedState::open(&path).unwrap();
        for w in 0..4 {
            s.sums_mut().put(("eu", w), w).unwrap();
        }
        s.flush().unwrap();
        let snap = s.snapshot().unwrap();
        s.sums_mut().clear();
        s.flush().unwrap();
        assert!(sums_of(&MappedState::from_snapshot(&snap).unwrap()).len() == 4);
        s.restore(&snap).unwrap();
        s.flush().unwrap();
    }
    let s = MappedState::open(&path).unwrap();
    assert_eq!(sums_of(&s), vec![0, 1, 2, 3]);
    assert!(!path.join("sums.table.next").exists());
}

#[test]
fn snapshot_restores_into_other_backends() {
    let mut s = MappedState::new();
    s.sums_mut().put(("eu", 1), 5).unwrap();
    s.names_mut().put(("x", 1), vec![9]).unwrap();
    s.watermark = 4;
    let snap = s.snapshot().unwrap();
    let back = MappedState::from_snapshot(&round_trip(&snap)).unwrap();
    assert_eq!(back.sums().get(("eu", 1)).unwrap(), Some(5));
    assert_eq!(back.watermark, 4);
    #[cfg(feature = "btree")]
    {
        state_struct!(OrderedState, BTree);
        let o = OrderedState::from_snapshot(&snap).unwrap();
        assert_eq!(o.names().get(("x", 1)), Some(&vec![9]));
        let again = MappedState::from_snapshot(&o.snapshot().unwrap()).unwrap();
        assert_eq!(again.names().get(("x", 1)).unwrap(), Some(vec![9]));
    }
}
