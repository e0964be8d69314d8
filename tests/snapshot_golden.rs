//! Golden files pin every on-disk layout that a release has written: a file
//! written by an older build must still load, entry for entry.
//!
//! `tests/golden/*_v1*` were written by the format-version-1 build (rkyv
//! archives with 64-bit relative pointers, commit 402e894). They are never
//! regenerated; `LAMINAR_WRITE_GOLDEN=1` only rewrites the files of the
//! current format version.
#![cfg(all(feature = "macros", feature = "ahash", feature = "mmap"))]

use std::path::{Path, PathBuf};

use laminar_core::state::key::Dict;
use laminar_core::state::{state_store, StateSnapshot, StateStore};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// The byte-store entries of `snapshot_v*.bin`: an empty key, an empty
/// value, every byte value, a value longer than a cache line.
fn byte_entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    vec![
        (vec![], b"value of the empty key".to_vec()),
        (b"a".to_vec(), vec![]),
        (vec![0x00, 0xFF, 0x80, 0x7F], (0..=255u8).collect()),
        (b"key:\x00\x01".to_vec(), vec![0xAB; 300]),
        (vec![0xFF; 3], b"\xde\xad\xbe\xef".to_vec()),
    ]
}

#[state_store(backend = AHash)]
struct GoldenState {
    #[state(key = (Dict<String>, u64))]
    sums: u64,
    #[state(key = (u32, i64))]
    counts: i64,
    watermark: i64,
}

fn golden_state() -> GoldenState {
    let mut s = GoldenState::new();
    for (i, region) in ["eu", "us", "", "ap\u{e9}"].iter().enumerate() {
        s.sums_mut()
            .put((*region, i as u64), 100 + i as u64)
            .unwrap();
        s.sums_mut().put((*region, 7), 7).unwrap();
    }
    for i in 0..5u32 {
        s.counts_mut()
            .put((i, -(i as i64)), i as i64 * 1000)
            .unwrap();
    }
    s.watermark = -42;
    s
}

fn check_state(s: &GoldenState) {
    assert_eq!(s.sums().len(), 8);
    for (i, region) in ["eu", "us", "", "ap\u{e9}"].iter().enumerate() {
        assert_eq!(s.sums().get((*region, i as u64)), Some(&(100 + i as u64)));
        assert_eq!(s.sums().get((*region, 7)), Some(&7));
    }
    assert_eq!(s.counts().len(), 5);
    for i in 0..5u32 {
        assert_eq!(s.counts().get((i, -(i as i64))), Some(&(i as i64 * 1000)));
    }
    assert_eq!(s.watermark, -42);
}

#[state_store(backend = Mmap)]
struct GoldenMapped {
    #[state(key = (Dict<String>, i64))]
    sums: i64,
    watermark: i64,
}

const MAPPED_FILES: [&str; 2] = ["sums.table", "values.state"];

fn fill_mapped(s: &mut GoldenMapped) {
    for (i, region) in ["eu", "us", ""].iter().enumerate() {
        s.sums_mut()
            .put((*region, i as i64 - 1), i as i64 * 11)
            .unwrap();
    }
    s.watermark = 9;
}

fn check_mapped(s: &GoldenMapped) {
    assert_eq!(s.sums().len(), 3);
    for (i, region) in ["eu", "us", ""].iter().enumerate() {
        assert_eq!(
            s.sums().get((*region, i as i64 - 1)).unwrap(),
            Some(i as i64 * 11)
        );
    }
    assert_eq!(s.watermark, 9);
}

/// Writes the golden files of the format version this build writes.
#[test]
fn write_golden_files() {
    if std::env::var("LAMINAR_WRITE_GOLDEN").as_deref() != Ok("1") {
        return;
    }
    let v = laminar_core::state::SNAPSHOT_FORMAT_VERSION;
    let snap = StateSnapshot::new(byte_entries());
    std::fs::write(
        golden(&format!("snapshot_v{v}.bin")),
        snap.to_bytes().unwrap(),
    )
    .unwrap();
    let s = golden_state().snapshot().unwrap();
    std::fs::write(
        golden(&format!("state_store_v{v}.bin")),
        s.to_bytes().unwrap(),
    )
    .unwrap();
    if v == 1 {
        let dir = tempfile::tempdir().unwrap();
        let mut m = GoldenMapped::open(dir.path()).unwrap();
        fill_mapped(&mut m);
        m.flush().unwrap();
        drop(m);
        let out = golden("typed_mmap_v1");
        std::fs::create_dir_all(&out).unwrap();
        for f in MAPPED_FILES {
            std::fs::copy(dir.path().join(f), out.join(f)).unwrap();
        }
    }
}

#[test]
fn byte_store_snapshot_v1_loads() {
    let bytes = std::fs::read(golden("snapshot_v1.bin")).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 1);
    let snap = StateSnapshot::from_bytes(&bytes).unwrap();
    let want = StateSnapshot::new(byte_entries());
    assert_eq!(snap.len(), want.len());
    assert_eq!(snap.data(), want.data());
    // Restores into every byte-level store.
    let mut store = laminar_core::state::InMemoryStore::new();
    store.restore(snap.clone()).unwrap();
    for (k, v) in byte_entries() {
        assert_eq!(store.get(&k).as_deref(), Some(&v[..]));
    }
}

#[test]
fn state_store_snapshot_v1_loads() {
    let bytes = std::fs::read(golden("state_store_v1.bin")).unwrap();
    let snap = StateSnapshot::from_bytes(&bytes).unwrap();
    check_state(&GoldenState::from_snapshot(&snap).unwrap());
}

#[test]
fn typed_mmap_files_v1_open() {
    let dir = tempfile::tempdir().unwrap();
    for f in MAPPED_FILES {
        std::fs::copy(golden("typed_mmap_v1").join(f), dir.path().join(f)).unwrap();
    }
    let mut m = GoldenMapped::open(dir.path()).unwrap();
    check_mapped(&m);
    // Still writable, and the rewritten files read back.
    m.sums_mut().put(("new", 5), 55).unwrap();
    m.flush().unwrap();
    drop(m);
    let m = GoldenMapped::open(dir.path()).unwrap();
    assert_eq!(m.sums().get(("new", 5)).unwrap(), Some(55));
    assert_eq!(m.sums().len(), 4);
}
