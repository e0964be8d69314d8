//! A snapshot larger than 2 GiB (where rkyv's default 32-bit relative
//! pointers would overflow, and beyond what one block's 31-bit arena
//! offsets address): format version 2 needs no 64-bit pointers for it, its
//! blocks keep every offset small. The test proves a > 2 GiB snapshot
//! round-trips through `to_bytes`/`from_bytes`, `view`, and the streaming
//! `SnapshotReader` / `StateSnapshot::read_from`.
//!
//! It needs about 7 GiB of memory and runs only when `LAMINAR_LARGE_TESTS=1`
//! (CI sets it and runs this file in release mode).

use laminar_core::state::{SnapshotReader, StateSnapshot};

#[test]
fn snapshot_larger_than_2_gib_round_trips() {
    if std::env::var("LAMINAR_LARGE_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set LAMINAR_LARGE_TESTS=1 to run (needs ~7 GiB of memory)");
        return;
    }
    const CHUNK: usize = 768 << 20; // three values of 768 MiB: 2.25 GiB
    const SMALL: u32 = 100_000; // and many small entries, in many blocks
    let value = |i: u8| vec![i.wrapping_mul(37).wrapping_add(1); CHUNK];
    let mut b = StateSnapshot::builder(SMALL as usize + 3, 3 * CHUNK + 64 * SMALL as usize);
    for i in 0..3u8 {
        b.push(&[i], &value(i));
    }
    for i in 0..SMALL {
        let key = [&[9u8][..], &i.to_be_bytes()].concat();
        b.push(&key, &[i as u8; 64]);
    }
    let snap = b.finish();
    let bytes = snap.to_bytes().expect("serialize");
    assert!(bytes.len() > (2usize << 30), "snapshot must exceed 2 GiB");
    assert_eq!(bytes.len(), snap.serialized_len());

    let view = StateSnapshot::view(&bytes).expect("zero-copy view");
    assert_eq!(view.len(), 3 + SMALL as usize);
    assert_eq!(
        view.get(&[2]).map(|v| (v.len(), v[CHUNK - 1])),
        Some((CHUNK, 2 * 37 + 1))
    );
    let last = [&[9u8][..], &(SMALL - 1).to_be_bytes()].concat();
    assert_eq!(view.get(&last), Some(&[(SMALL - 1) as u8; 64][..]));

    let mut r = SnapshotReader::new(&bytes[..], "large snapshot").expect("reader");
    let mut n = 0usize;
    let mut total = 0usize;
    while let Some(e) = r.next_entry().expect("entry") {
        n += 1;
        total += e.key.len() + e.value.map_or(0, <[u8]>::len);
    }
    assert_eq!((n, total), (snap.len(), snap.size_bytes()));

    let back = StateSnapshot::from_bytes(&bytes).expect("deserialize");
    assert!(back == snap, "from_bytes differs");
    drop(back);
    let streamed = StateSnapshot::read_from(&bytes[..], "large snapshot").expect("read_from");
    assert!(streamed == snap, "read_from differs");
}
