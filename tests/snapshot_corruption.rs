//! Every single-byte corruption and every truncation of a serialized snapshot
//! (format version 2, several blocks) is reported as an error naming the
//! input and the offset of the bad region, never a panic and never a
//! silently different state. Also: round trips of arbitrary entries,
//! tombstones included, through many blocks.

use std::collections::BTreeMap;

use laminar_core::state::{
    SnapshotReader, SnapshotWriter, StateError, StateSnapshot, SNAPSHOT_HEADER_LEN,
};
use proptest::prelude::*;

const LOCATION: &str = "corrupt.snap";

/// Entries as written: `None` is a tombstone.
type Entries = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn entries() -> Entries {
    (0..40u32)
        .map(|i| {
            let key = format!("key:{i:03}").into_bytes();
            let value = (i % 5 != 3).then(|| vec![i as u8; (i % 7) as usize]);
            (key, value)
        })
        .collect()
}

/// A snapshot of `entries` in blocks of at most 8 entries, and the byte
/// ranges of its frames (header, each block, footer).
fn write(entries: &[(Vec<u8>, Option<Vec<u8>>)]) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
    let mut w = SnapshotWriter::with_timestamp(Vec::new(), 7)
        .unwrap()
        .with_block_size(8, 1 << 20);
    let mut frames = Vec::new();
    frames.push(0..SNAPSHOT_HEADER_LEN);
    let mut at = SNAPSHOT_HEADER_LEN as u64;
    for (k, v) in entries {
        match v {
            Some(v) => w.put(k, v).unwrap(),
            None => w.delete(k).unwrap(),
        }
        if w.bytes_written() != at {
            frames.push(at as usize..w.bytes_written() as usize);
            at = w.bytes_written();
        }
    }
    let bytes = w.finish().unwrap();
    if bytes.len() - 32 > at as usize {
        frames.push(at as usize..bytes.len() - 32);
    }
    frames.push(bytes.len() - 32..bytes.len());
    (bytes, frames)
}

fn read_all(bytes: &[u8]) -> Result<Entries, StateError> {
    let mut r = SnapshotReader::new(bytes, LOCATION)?;
    let mut out = Vec::new();
    while let Some(e) = r.next_entry()? {
        out.push((e.key.to_vec(), e.value.map(<[u8]>::to_vec)));
    }
    Ok(out)
}

/// The offset an error message names (`... at offset N`).
fn named_offset(msg: &str) -> Option<usize> {
    let rest = &msg[msg.find("at offset ")? + "at offset ".len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn the_sample_has_several_blocks() {
    let (bytes, frames) = write(&entries());
    assert!(frames.len() >= 7, "{frames:?}");
    assert_eq!(read_all(&bytes).unwrap(), entries());
}

#[test]
fn every_byte_flip_is_detected_and_located() {
    let (bytes, frames) = write(&entries());
    let region = |at: usize| frames.iter().position(|f| f.contains(&at));
    for at in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut corrupt = bytes.clone();
            corrupt[at] ^= mask;
            let err = match read_all(&corrupt) {
                Ok(_) => panic!("flip {mask:#04x} at {at} accepted"),
                Err(e) => e,
            };
            let msg = err.to_string();
            assert!(msg.contains(LOCATION), "flip at {at}: {msg}");
            if at >= SNAPSHOT_HEADER_LEN {
                assert!(
                    matches!(err, StateError::Corruption { .. }),
                    "flip at {at}: {msg}"
                );
            }
            let off = named_offset(&msg).unwrap_or_else(|| panic!("no offset: {msg}"));
            assert_eq!(
                region(off),
                region(at),
                "flip at {at} reported at {off}: {msg}"
            );
        }
    }
}

#[test]
fn every_truncation_is_detected() {
    let (bytes, _) = write(&entries());
    for len in 0..bytes.len() {
        let err = read_all(&bytes[..len]).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, StateError::Corruption { .. }),
            "len {len}: {msg}"
        );
        assert!(msg.contains(LOCATION), "len {len}: {msg}");
        assert!(
            msg.contains("truncated") || msg.contains("magic"),
            "len {len}: {msg}"
        );
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    let (mut bytes, _) = write(&entries());
    bytes.push(0);
    let err = read_all(&bytes).unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");
}

/// The same checks through the in-memory API, on a file of puts only.
#[test]
fn from_bytes_and_view_reject_every_flip_and_truncation() {
    let puts: Vec<_> = entries()
        .into_iter()
        .map(|(k, v)| (k, Some(v.unwrap_or_default())))
        .collect();
    let (bytes, _) = write(&puts);
    let original = StateSnapshot::from_bytes(&bytes).unwrap();
    assert_eq!(original.len(), 40);
    for at in 0..bytes.len() {
        let mut corrupt = bytes.clone();
        corrupt[at] ^= 0x10;
        assert!(StateSnapshot::from_bytes(&corrupt).is_err(), "flip at {at}");
        assert!(StateSnapshot::view(&corrupt).is_err(), "flip at {at}");
    }
    for len in 0..bytes.len() {
        let msg = StateSnapshot::from_bytes(&bytes[..len])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("truncated") || msg.contains("magic"),
            "len {len}: {msg}"
        );
    }
    assert!(StateSnapshot::from_bytes(&[&bytes[..], &[0]].concat()).is_err());
}

#[test]
fn tombstones_are_refused_where_a_full_snapshot_is_expected() {
    let (bytes, _) = write(&entries());
    let err = StateSnapshot::from_bytes(&bytes).unwrap_err();
    assert!(err.to_string().contains("tombstone"), "{err}");
    assert!(StateSnapshot::read_from(&bytes[..], LOCATION).is_err());
}

#[test]
fn the_writer_refuses_keys_out_of_order() {
    let mut w = SnapshotWriter::new(Vec::new())
        .unwrap()
        .with_block_size(2, 100);
    w.put(b"b", b"").unwrap();
    assert!(w.put(b"a", b"").is_err());
    assert!(w.delete(b"b").is_err());
    w.put(b"c", b"").unwrap();
    w.put(b"d", b"").unwrap(); // a new block: still checked against "c"
    assert!(w.put(b"c\0", b"").is_err());
    w.delete(b"e").unwrap();
    let bytes = w.finish().unwrap();
    let got: Vec<_> = read_all(&bytes).unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(got[3], (b"e".to_vec(), None));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary entries, tombstones included, through blocks of arbitrary
    /// size: the reader returns exactly what was written, and a snapshot of
    /// the puts survives `to_bytes`/`from_bytes`, `write_to`/`read_from`.
    #[test]
    fn round_trip(
        map in proptest::collection::btree_map(
            proptest::collection::vec(any::<u8>(), 0..12),
            proptest::option::weighted(0.8, proptest::collection::vec(any::<u8>(), 0..40)),
            0..120,
        ),
        max_entries in 1usize..10,
        target_bytes in 1usize..300,
    ) {
        let want: Vec<_> = map.clone().into_iter().collect();
        let mut w = SnapshotWriter::new(Vec::new()).unwrap().with_block_size(max_entries, target_bytes);
        for (k, v) in &want {
            match v {
                Some(v) => w.put(k, v).unwrap(),
                None => w.delete(k).unwrap(),
            }
        }
        prop_assert_eq!(w.entries(), want.len() as u64);
        let bytes = w.finish().unwrap();
        prop_assert_eq!(read_all(&bytes).unwrap(), want);

        let puts: BTreeMap<Vec<u8>, Vec<u8>> =
            map.into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
        let snap = StateSnapshot::new(puts.clone().into_iter().collect());
        let bytes = snap.to_bytes().unwrap();
        let back = StateSnapshot::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &snap);
        prop_assert!(back.iter().eq(puts.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))));
        let view = StateSnapshot::view(&bytes).unwrap();
        for (k, v) in &puts {
            prop_assert_eq!(view.get(k), Some(v.as_slice()));
            prop_assert_eq!(snap.get(k), Some(v.as_slice()));
        }
        let mut streamed = Vec::new();
        snap.write_to(&mut streamed).unwrap();
        prop_assert_eq!(&streamed[..], &bytes[..]);
        prop_assert_eq!(StateSnapshot::read_from(&streamed[..], "x").unwrap(), snap);
    }

    /// Arbitrary input never panics.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        prop_assert!(StateSnapshot::from_bytes(&bytes).is_err());
        prop_assert!(read_all(&bytes).is_err());
    }

    /// A valid header in front of garbage: rejected, never a panic.
    #[test]
    fn garbage_body_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = StateSnapshot::new(vec![]).to_bytes().unwrap()[..SNAPSHOT_HEADER_LEN].to_vec();
        bytes.extend_from_slice(&body);
        prop_assert!(StateSnapshot::from_bytes(&bytes).is_err());
        prop_assert!(read_all(&bytes).is_err());
    }
}

/// Restoring a store straight from a stream: all of the snapshot, or (on a
/// corrupt or truncated stream, or one with tombstones) an error and an
/// empty store, never a mix.
#[test]
fn restore_from_reader_is_all_or_nothing() {
    use laminar_core::state::{restore_from_reader, InMemoryStore, StateStore};
    let puts: Vec<_> = entries()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    let snap = StateSnapshot::new(puts.clone());
    let mut bytes = Vec::new();
    snap.write_to(&mut bytes).unwrap();
    let mut store = InMemoryStore::new();
    store
        .put(b"stale", bytes::Bytes::from_static(b"x"))
        .unwrap();
    let mut r = SnapshotReader::new(&bytes[..], LOCATION).unwrap();
    restore_from_reader(&mut store, &mut r).unwrap();
    assert_eq!(store.len(), puts.len());
    for (k, v) in &puts {
        assert_eq!(store.get_ref(k), Some(v.as_slice()));
    }
    let last = bytes.len() - 40;
    bytes[last] ^= 1;
    let mut r = SnapshotReader::new(&bytes[..], LOCATION).unwrap();
    let err = restore_from_reader(&mut store, &mut r).unwrap_err();
    assert!(err.to_string().contains(LOCATION), "{err}");
    assert!(store.is_empty());
    let (with_tombstones, _) = write(&entries());
    let mut r = SnapshotReader::new(&with_tombstones[..], LOCATION).unwrap();
    assert!(restore_from_reader(&mut store, &mut r).is_err());
    assert!(store.is_empty());
}
