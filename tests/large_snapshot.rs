//! A snapshot larger than 2 GiB: the size where rkyv's default 32-bit relative
//! pointers would overflow. This crate archives with 64-bit relative pointers;
//! the test proves a > 2 GiB body round-trips through `to_bytes`/`from_bytes`.
//!
//! It needs about 8 GiB of memory and runs only when `LAMINAR_LARGE_TESTS=1`
//! (CI sets it and runs this file in release mode).

use laminar_core::state::{StateSnapshot, SNAPSHOT_HEADER_LEN};

#[test]
fn snapshot_larger_than_2_gib_round_trips() {
    if std::env::var("LAMINAR_LARGE_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set LAMINAR_LARGE_TESTS=1 to run (needs ~8 GiB of memory)");
        return;
    }
    const CHUNK: usize = 768 << 20; // three chunks: 2.25 GiB of values
    let data: Vec<(Vec<u8>, Vec<u8>)> = (0..3u8)
        .map(|i| (vec![i], vec![i.wrapping_mul(37).wrapping_add(1); CHUNK]))
        .collect();
    let snap = StateSnapshot::new(data);
    let bytes = snap.to_bytes().expect("serialize");
    assert!(
        bytes.len() - SNAPSHOT_HEADER_LEN > (2usize << 30),
        "body must exceed 2 GiB"
    );
    let view = StateSnapshot::view(&bytes).expect("zero-copy view");
    assert_eq!(view.len(), 3);
    assert_eq!(
        view.get(&[2]).map(|v| (v.len(), v[CHUNK - 1])),
        Some((CHUNK, 2 * 37 + 1))
    );
    let back = StateSnapshot::from_bytes(&bytes).expect("deserialize");
    assert_eq!(back, snap);
}
