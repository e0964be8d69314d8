//! Damaged checkpoint bytes give an error, never a panic or a wrong state.

use laminar_nexmark::events::generate_with;
use laminar_nexmark::op::{Logic, Snap};
use laminar_nexmark::queries::{q18, q4};
use laminar_nexmark::tbl::DynKind;

fn fed<S: Logic>(mut st: S) -> S {
    let mut out = Vec::new();
    for e in generate_with(3_000, 500, |_| {}) {
        st.on_event(&e, &mut out).expect("event");
    }
    st
}

fn damaged<S: Snap>(st: &S) {
    let bytes = st.snap().expect("snapshot");
    assert!(st.unsnap(&bytes).is_ok(), "intact bytes restore");
    for cut in [0, 1, 7, 8, 9, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            st.unsnap(bytes.get(..cut).unwrap_or_default()).is_err(),
            "bytes cut at {cut} of {} restored",
            bytes.len()
        );
    }
    let mut extra = bytes.to_vec();
    extra.push(0);
    assert!(st.unsnap(&extra).is_err(), "a trailing byte was accepted");
    let mut flipped = bytes.to_vec();
    if let Some(b) = flipped.get_mut(bytes.len() / 2) {
        *b ^= 0x40;
    }
    assert!(st.unsnap(&flipped).is_err(), "a flipped byte was accepted");
}

#[test]
fn dyn_checkpoints_reject_damaged_bytes() {
    for kind in [DynKind::InMemory, DynKind::AHash, DynKind::Mmap] {
        damaged(&fed(q18::on_dyn::State::new_on(kind)));
        damaged(&fed(q4::on_dyn::State::new_on(kind)));
    }
}

#[test]
fn typed_checkpoints_reject_damaged_bytes() {
    damaged(&fed(q18::on_ahash::State::new()));
    damaged(&fed(q4::on_btree::State::new()));
    damaged(&fed(q4::on_mmap::State::new()));
}

#[test]
fn restored_state_has_the_same_entries() {
    let st = fed(q18::on_ahash::State::new());
    let back = st.unsnap(&st.snap().expect("snapshot")).expect("restore");
    assert!(st.live_entries() > 100);
    assert_eq!(back.live_entries(), st.live_entries());
}
