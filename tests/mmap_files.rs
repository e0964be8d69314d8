//! The files a persistent `MmapStateStore` touches besides its own: the
//! compaction side file must never be another store, and a store must stay
//! reopenable when the process cannot map as much as it once did.
#![cfg(feature = "mmap")]

use std::path::Path;

use bytes::Bytes;
use laminar_core::state::{MmapStateStore, StateError, StateStore};

fn side_file(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!(".{name}.laminar-compact"))
}

fn put_flush(s: &mut MmapStateStore, k: &[u8], v: &'static [u8]) {
    s.put(k, Bytes::from_static(v)).unwrap();
    s.flush().unwrap();
}

/// Until 25 November the side file was `<path>.compact`: compacting `s`
/// truncated a store named `s.compact` and opening `s` deleted it.
#[test]
fn a_store_named_path_dot_compact_survives_compaction_and_open() {
    let dir = tempfile::tempdir().unwrap();
    let neighbour = dir.path().join("s.compact");
    {
        let mut b = MmapStateStore::persistent(&neighbour, 0).unwrap();
        put_flush(&mut b, b"k", b"flushed");
        let mut a = MmapStateStore::persistent(dir.path().join("s"), 0).unwrap();
        put_flush(&mut a, b"a", b"1");
        a.compact().unwrap();
        put_flush(&mut b, b"k2", b"also flushed");
    }
    let b = MmapStateStore::persistent(&neighbour, 0).unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(b.get(b"k").as_deref(), Some(&b"flushed"[..]));
    assert_eq!(b.get(b"k2").as_deref(), Some(&b"also flushed"[..]));
}

/// Even a store opened under the side file's own name is left alone while it
/// is open: compaction fails with `Locked`, opening the main store does not
/// remove it.
#[test]
fn an_open_store_at_the_side_file_name_is_never_truncated_or_removed() {
    let dir = tempfile::tempdir().unwrap();
    let side = side_file(dir.path(), "s");
    let mut a = MmapStateStore::persistent(dir.path().join("s"), 0).unwrap();
    put_flush(&mut a, b"a", b"1");
    let mut b = MmapStateStore::persistent(&side, 0).unwrap();
    put_flush(&mut b, b"k", b"flushed");
    match a.compact() {
        Err(StateError::Locked { path }) => assert_eq!(path, side),
        other => panic!("compaction over a locked side file: {other:?}"),
    }
    // The failed compaction changed nothing on either side.
    assert_eq!(a.get(b"a").as_deref(), Some(&b"1"[..]));
    assert_eq!(b.get(b"k").as_deref(), Some(&b"flushed"[..]));
    put_flush(&mut b, b"k2", b"v2");
    drop(b);
    drop(a);
    let b = MmapStateStore::persistent(&side, 0).unwrap();
    assert_eq!(b.len(), 2);
    let a = MmapStateStore::persistent(dir.path().join("s"), 0).unwrap();
    assert_eq!(a.get(b"a").as_deref(), Some(&b"1"[..]));
}

/// A side file left by a crashed compaction (nobody holds it) is removed
/// when the store is opened.
#[test]
fn a_stale_side_file_is_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let side = side_file(dir.path(), "s");
    std::fs::write(&side, b"half-written compaction").unwrap();
    let s = MmapStateStore::persistent(dir.path().join("s"), 0).unwrap();
    assert!(!side.exists(), "stale side file still there");
    drop(s);
}

/// Runs the test named `name` in a child process (this same test binary),
/// with `env` set, and asserts it passed.
#[cfg(target_os = "linux")]
fn run_child(name: &str, env: &str, dir: &Path) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(env, dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child {name} failed:\n{text}");
    assert!(
        text.contains(&format!("{name} ... ok")),
        "child did not run {name}:\n{text}"
    );
}

/// Caps this process's address space at what it uses now plus `extra`.
#[cfg(target_os = "linux")]
fn limit_address_space(extra: u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let cap = kib * 1024 + extra;
    let lim = libc::rlimit {
        rlim_cur: cap,
        rlim_max: cap,
    };
    // SAFETY: setrlimit reads the struct we pass and changes only this
    // process's limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
}

#[cfg(target_os = "linux")]
const MAP_LIMIT_ENV: &str = "LAMINAR_MAP_LIMIT_CHILD";

/// Under an address-space limit, a store asked to start at 16 GiB falls
/// back to smaller mappings when it grows and when it compacts. The file it
/// leaves must reopen: a reopen that mapped the whole (sparse) file at once
/// failed forever, although every flush had succeeded.
#[cfg(target_os = "linux")]
#[test]
fn a_store_grown_under_an_address_space_limit_reopens() {
    let dir = tempfile::tempdir().unwrap();
    run_child("map_limit_child", MAP_LIMIT_ENV, dir.path());
}

#[cfg(target_os = "linux")]
#[test]
fn map_limit_child() {
    let Some(dir) = std::env::var_os(MAP_LIMIT_ENV) else {
        return; // run by `a_store_grown_under_an_address_space_limit_reopens`
    };
    let path = Path::new(&dir).join("s");
    limit_address_space(2 << 30);
    let big = 16u64 << 30;
    {
        let mut s = MmapStateStore::persistent(&path, 0).unwrap();
        put_flush(&mut s, b"a", b"1");
    }
    {
        // Growth past the first mapping asks for the 16 GiB start.
        let mut s = MmapStateStore::persistent(&path, big as usize).unwrap();
        s.put(b"big", Bytes::from(vec![7u8; 300_000])).unwrap();
        s.flush().unwrap();
    }
    let file_len = std::fs::metadata(&path).unwrap().len();
    assert!(file_len < big, "file left {file_len} bytes long");
    {
        let mut s = MmapStateStore::persistent(&path, 0).unwrap();
        assert_eq!(s.get(b"a").as_deref(), Some(&b"1"[..]));
        assert_eq!(s.get(b"big").map(|v| v.len()), Some(300_000));
        s.delete(b"big").unwrap();
        s.flush().unwrap();
    }
    {
        // Compaction writes a new file sized for the 16 GiB start.
        let mut s = MmapStateStore::persistent(&path, big as usize).unwrap();
        s.compact().unwrap();
        put_flush(&mut s, b"b", b"2");
    }
    let s = MmapStateStore::persistent(&path, 0).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s.get(b"b").as_deref(), Some(&b"2"[..]));
}

#[cfg(target_os = "linux")]
const FORGED_ENV: &str = "LAMINAR_FORGED_COUNT_CHILD";
#[cfg(target_os = "linux")]
const FORGED_MANY_ENV: &str = "LAMINAR_FORGED_COUNT_MANY_CHILD";

/// A header whose checksum is right but whose key count is forged (with a
/// sparse file long enough to seem to hold that many records) must not make
/// the open reserve gigabytes before it reads the first record.
#[cfg(target_os = "linux")]
#[test]
fn a_forged_key_count_does_not_reserve_gigabytes() {
    let dir = tempfile::tempdir().unwrap();
    run_child("forged_count_child", FORGED_ENV, dir.path());
}

#[cfg(target_os = "linux")]
#[test]
fn forged_count_child() {
    if let Some(dir) = std::env::var_os(FORGED_ENV) {
        open_forged(Path::new(&dir), 0, 512 * 1024);
    } // else run by `a_forged_key_count_does_not_reserve_gigabytes`
}

/// The same forged header over a log that really holds more keys than a
/// reopen reserves room for up front (2^20): until 5 December the replay
/// then reserved room for every key the forged count and the sparse length
/// allowed (about 3 GiB here; 48 GiB, and an abort, for a 16 GiB file).
#[cfg(target_os = "linux")]
#[test]
fn a_forged_key_count_past_a_million_real_keys_does_not_reserve_gigabytes() {
    let dir = tempfile::tempdir().unwrap();
    run_child("forged_count_many_child", FORGED_MANY_ENV, dir.path());
}

#[cfg(target_os = "linux")]
#[test]
fn forged_count_many_child() {
    if let Some(dir) = std::env::var_os(FORGED_MANY_ENV) {
        // The honest reopen of these keys peaks at about 200 MiB.
        open_forged(Path::new(&dir), (1 << 20) + 50_000, 768 * 1024);
    } // else run by `a_forged_key_count_past_a_million_real_keys_…`
}

/// Writes `keys` keys to a store in `dir`, forges a newer header claiming
/// `u64::MAX` keys in a 1 GiB log (sparse past the real records), opens it,
/// and checks that the open fails at the end of the real records with a peak
/// resident size below `max_peak_kib`.
#[cfg(target_os = "linux")]
fn open_forged(dir: &Path, keys: u64, max_peak_kib: u64) {
    use std::os::unix::fs::FileExt;
    let path = dir.join("s");
    let records_end = {
        let mut s = MmapStateStore::persistent(&path, 0).unwrap();
        for i in 0..keys {
            s.put(&i.to_be_bytes(), Bytes::from_static(b"v")).unwrap();
        }
        s.flush().unwrap();
        drop(s);
        std::fs::metadata(&path).unwrap().len()
    };
    // Header slot B (offset 4096): magic, version, sequence, log start,
    // committed end (1 GiB, sparse zeros past the records), key count,
    // CRC-32C. Its sequence is above any real header's.
    let end: u64 = 1 << 30;
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(end).unwrap();
    let mut slot = [0u8; 52];
    slot[0..8].copy_from_slice(b"LMNRMMAP");
    slot[8..12].copy_from_slice(&1u32.to_le_bytes());
    slot[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    slot[24..32].copy_from_slice(&8192u64.to_le_bytes());
    slot[32..40].copy_from_slice(&end.to_le_bytes());
    slot[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
    let crc = crc32c::crc32c(&slot[0..48]);
    slot[48..52].copy_from_slice(&crc.to_le_bytes());
    f.write_all_at(&slot, 4096).unwrap();
    drop(f);
    // This child runs nothing else, so its peak resident memory is the
    // open's (and, with `keys`, the writes before it).
    match MmapStateStore::persistent(&path, 0) {
        Err(StateError::Corruption { location, what }) => {
            // The first zero byte past the real records is no record.
            let offset: u64 = location
                .rsplit("offset ")
                .next()
                .and_then(|o| o.trim().parse().ok())
                .unwrap_or_else(|| panic!("no offset in {location}: {what}"));
            // Every record takes more than 16 bytes: the replay read them all.
            assert!(
                (8192 + 16 * keys..=records_end).contains(&offset),
                "{location}: {what} (records end by {records_end})"
            );
        }
        Err(e) => panic!("forged header: {e}"),
        Ok(_) => panic!("a forged header opened"),
    }
    let peak_kib: u64 = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(
        peak_kib < max_peak_kib,
        "opening the forged file peaked at {peak_kib} KiB resident"
    );
}
