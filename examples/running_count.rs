//! The library's main job in miniature: a keyed running count over a generated
//! stream of events, played against every backend compiled in.
//!
//! Each event increments the count of its user (one typed lookup and one
//! typed write per event). Halfway through, the operator checkpoints: it
//! serializes a snapshot, restores it into a fresh store, and carries on from
//! there, as a restarted operator would. At the end it prints throughput and a
//! checksum of the final state; every backend must produce the same checksum
//! (the example exits non-zero otherwise).
//!
//! ```text
//! cargo run --release --example running_count [events] [users]
//! ```

use std::time::Instant;

use laminar_core::state::{StateSnapshot, StateStore, StateStoreExt};

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Event `i` of the stream: the key of the user who did something.
fn event_key(i: u64, users: u64) -> [u8; 13] {
    let user = mix(i) % users;
    let mut key = *b"user:\0\0\0\0\0\0\0\0";
    key[5..].copy_from_slice(&user.to_be_bytes());
    key
}

fn process(
    store: &mut dyn StateStore,
    from: u64,
    to: u64,
    users: u64,
) -> laminar_core::state::Result<()> {
    for i in from..to {
        let key = event_key(i, users);
        let count: u64 = store.get_typed(&key)?.unwrap_or(0);
        store.put_typed(&key, &(count + 1))?;
    }
    Ok(())
}

/// Order-independent digest of the final state: sum of per-entry hashes.
fn checksum(store: &dyn StateStore) -> laminar_core::state::Result<(u64, u64)> {
    let mut digest = 0u64;
    let mut total = 0u64;
    for (key, _) in store.prefix_scan(b"user:") {
        let count: u64 = store.get_typed(&key)?.unwrap_or(0);
        total += count;
        let mut h = count;
        for &b in key.iter() {
            h = mix(h ^ u64::from(b));
        }
        digest = digest.wrapping_add(h);
    }
    Ok((digest, total))
}

/// Builds a fresh, empty store of one backend.
type MakeStore = Box<dyn Fn() -> laminar_core::state::Result<Box<dyn StateStore>>>;

fn run(
    name: &str,
    make: &dyn Fn() -> laminar_core::state::Result<Box<dyn StateStore>>,
    events: u64,
    users: u64,
) -> laminar_core::state::Result<u64> {
    let mut store = make()?;
    let start = Instant::now();
    process(store.as_mut(), 0, events / 2, users)?;

    // Checkpoint: serialize, then "restart" into a fresh store.
    let bytes = store.snapshot().to_bytes()?;
    let mut store = make()?;
    store.restore(StateSnapshot::from_bytes(&bytes)?)?;

    process(store.as_mut(), events / 2, events, users)?;
    store.flush()?;
    let secs = start.elapsed().as_secs_f64();
    let (digest, total) = checksum(store.as_ref())?;
    if total != events {
        return Err(laminar_core::state::StateError::InvalidArgument(format!(
            "{name}: counted {total} events, expected {events}"
        )));
    }
    println!(
        "{name:<16} {events:>9} events  {:>6} keys  {:>12.0} events/s  checkpoint {:>8} bytes  checksum {digest:016x}",
        store.len(),
        events as f64 / secs,
        bytes.len(),
    );
    Ok(digest)
}

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let events: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let users: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(50_000);

    #[allow(unused_mut)]
    let mut backends: Vec<(&str, MakeStore)> = vec![(
        "InMemoryStore",
        Box::new(|| Ok(Box::new(laminar_core::state::InMemoryStore::new()))),
    )];
    #[cfg(feature = "ahash")]
    backends.push((
        "AHashMapStore",
        Box::new(|| Ok(Box::new(laminar_core::state::AHashMapStore::new()))),
    ));
    #[cfg(feature = "mmap")]
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("creating a temporary directory: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    #[cfg(feature = "mmap")]
    {
        use laminar_core::state::MmapStateStore;
        backends.push((
            "Mmap in_memory",
            Box::new(|| Ok(Box::new(MmapStateStore::in_memory(1 << 20)))),
        ));
        // Each call is a fresh file: the restore after the checkpoint goes
        // into a new store, as after a restart on another machine.
        let base = dir.path().to_path_buf();
        let opened = std::cell::Cell::new(0u32);
        backends.push((
            "Mmap persistent",
            Box::new(move || {
                opened.set(opened.get() + 1);
                let path = base.join(format!("state-{}.db", opened.get()));
                Ok(Box::new(MmapStateStore::persistent(path, 1 << 20)?))
            }),
        ));
    }

    println!("keyed running count: {events} events over {users} users, checkpoint + restore at half-time");
    let mut digests = Vec::new();
    for (name, make) in &backends {
        match run(name, make.as_ref(), events, users) {
            Ok(d) => digests.push(d),
            Err(e) => {
                eprintln!("{name}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    if digests.windows(2).any(|w| w[0] != w[1]) {
        eprintln!("backends disagree on the final state");
        return std::process::ExitCode::FAILURE;
    }
    println!("all {} backends agree", digests.len());
    std::process::ExitCode::SUCCESS
}
