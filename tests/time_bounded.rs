//! State with a TTL stays bounded: a stream over a sliding key space keeps
//! at most the keys written during the last two TTLs (the bound documented
//! on `TtlTable`), however long the stream runs. 200K events by default,
//! 10M (and a check of the process's resident memory) with
//! `LAMINAR_LARGE_TESTS=1`.

use bytes::Bytes;
use laminar_core::state::time::{TtlConfig, TtlStore};
use laminar_core::state::{InMemoryStore, StateStore};

const TTL: i64 = 1_000;
/// A key is `i / STRIDE + jitter` with `jitter < SPREAD`, at time `i` (ms).
const STRIDE: u64 = 8;
const SPREAD: u64 = 64;
/// Keys written during any two TTLs: `2 * TTL / STRIDE + SPREAD + 1`.
const BOUND: usize = (2 * TTL as u64 / STRIDE + SPREAD + 1) as usize;

fn large() -> bool {
    std::env::var("LAMINAR_LARGE_TESTS").is_ok_and(|v| v == "1")
}

fn key(i: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    i / STRIDE + (z >> 7) % SPREAD
}

/// Resident set size in bytes (Linux), for the large run.
#[cfg(any(feature = "ahash", feature = "btree"))]
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(feature = "ahash")]
#[test]
fn bounded_by_keys_active_within_ttl() {
    bounded::<laminar_core::state::typed::AHash>(if large() { 10_000_000 } else { 200_000 });
}

#[cfg(feature = "btree")]
#[test]
fn bounded_by_keys_active_within_ttl_btree() {
    bounded::<laminar_core::state::typed::BTree>(if large() { 2_000_000 } else { 50_000 });
}

#[cfg(any(feature = "ahash", feature = "btree"))]
fn bounded<B: laminar_core::state::typed::NativeBackend>(events: u64) {
    use laminar_core::state::time::TtlTable;
    let cfg = TtlConfig::event_time(TTL).unwrap_or_else(|e| panic!("{e}"));
    let mut t: TtlTable<u64, u64, B> = TtlTable::new(cfg);
    let mut peak = 0;
    let mut rss_early = None;
    for i in 0..events {
        t.advance_to(i as i64).unwrap_or_else(|e| panic!("{e}"));
        t.update(key(i), |c| *c += 1)
            .unwrap_or_else(|e| panic!("{e}"));
        if i % 1_000 == 999 {
            peak = peak.max(t.len());
            assert!(
                t.len() <= BOUND,
                "{} live entries at event {i}, bound {BOUND}",
                t.len()
            );
            assert!(t.queued() <= BOUND, "{} queued at event {i}", t.queued());
        }
        if i == 1_000_000 {
            rss_early = rss();
        }
    }
    // Keys active within the last TTL are all there, and readable.
    let last = events - 1;
    assert!(t.get(key(last)).is_some());
    assert!(
        peak > (TTL as u64 / STRIDE) as usize,
        "peak {peak}: the stream kept too little"
    );
    if let (Some(early), Some(late), true) = (rss_early, rss(), events > 2_000_000) {
        assert!(
            late <= early + 16 * 1024 * 1024,
            "resident memory grew from {early} to {late} bytes between 1M and {events} events"
        );
    }
}

#[test]
fn ttl_store_bounded_by_keys_active_within_ttl() {
    let events: u64 = if large() { 2_000_000 } else { 50_000 };
    let cfg = TtlConfig::event_time(TTL).unwrap_or_else(|e| panic!("{e}"));
    let mut s = TtlStore::new(InMemoryStore::new(), cfg);
    for i in 0..events {
        s.advance_to(i as i64).unwrap_or_else(|e| panic!("{e}"));
        s.put(&key(i).to_be_bytes(), Bytes::from_static(b"v"))
            .unwrap_or_else(|e| panic!("{e}"));
        if i % 1_000 == 999 {
            assert!(s.len() <= BOUND, "{} live entries at event {i}", s.len());
            assert!(s.queued() <= BOUND, "{} queued at event {i}", s.queued());
        }
    }
    // A snapshot holds only what is live.
    let snap = s.snapshot();
    assert!(snap.len() <= BOUND + 1);
}
