//! The documented edge cases of `StateStore`, checked on every backend.

use bytes::Bytes;
use laminar_core::state::{InMemoryStore, StateStore, StateStoreExt};

fn backends() -> Vec<(&'static str, Box<dyn StateStore>)> {
    #[allow(unused_mut)]
    let mut v: Vec<(&'static str, Box<dyn StateStore>)> =
        vec![("InMemoryStore", Box::new(InMemoryStore::new()))];
    #[cfg(feature = "ahash")]
    v.push((
        "AHashMapStore",
        Box::new(laminar_core::state::AHashMapStore::new()),
    ));
    #[cfg(feature = "mmap")]
    v.push((
        "MmapStateStore",
        Box::new(laminar_core::state::MmapStateStore::in_memory(0)),
    ));
    v
}

fn keys(it: laminar_core::state::ScanIter<'_>) -> Vec<Vec<u8>> {
    it.map(|(k, _)| k.to_vec()).collect()
}

fn fill(s: &mut dyn StateStore) {
    for k in [
        &b""[..],
        b"\x00",
        b"\x00\x00",
        b"a",
        b"ab",
        b"b",
        b"\xFF",
        b"\xFF\x00",
        b"\xFF\xFF",
        b"\xFF\xFF\xFF",
    ] {
        s.put(k, Bytes::copy_from_slice(k)).unwrap();
    }
}

#[test]
fn empty_key_is_a_valid_key() {
    for (name, mut s) in backends() {
        s.put(b"", Bytes::from_static(b"root")).unwrap();
        assert_eq!(s.get(b"").as_deref(), Some(&b"root"[..]), "{name}");
        assert!(s.contains(b""), "{name}");
        assert_eq!(s.size_bytes(), 4, "{name}");
        s.delete(b"").unwrap();
        assert!(s.is_empty(), "{name}");
    }
}

#[test]
fn empty_prefix_scans_everything_in_order() {
    for (name, mut s) in backends() {
        fill(s.as_mut());
        let all = keys(s.prefix_scan(b""));
        assert_eq!(all.len(), 10, "{name}");
        assert!(all.windows(2).all(|w| w[0] < w[1]), "{name}: {all:?}");
    }
}

#[test]
fn prefix_of_ff_bytes_works() {
    for (name, mut s) in backends() {
        fill(s.as_mut());
        assert_eq!(
            keys(s.prefix_scan(b"\xFF")),
            vec![
                b"\xFF".to_vec(),
                b"\xFF\x00".to_vec(),
                b"\xFF\xFF".to_vec(),
                b"\xFF\xFF\xFF".to_vec()
            ],
            "{name}"
        );
        assert_eq!(
            keys(s.prefix_scan(b"\xFF\xFF")),
            vec![b"\xFF\xFF".to_vec(), b"\xFF\xFF\xFF".to_vec()],
            "{name}"
        );
        assert_eq!(
            keys(s.prefix_scan(b"\x00")),
            vec![b"\x00".to_vec(), b"\x00\x00".to_vec()],
            "{name}"
        );
        assert!(keys(s.prefix_scan(b"zz")).is_empty(), "{name}");
    }
}

#[test]
fn reversed_or_empty_range_yields_nothing() {
    for (name, mut s) in backends() {
        fill(s.as_mut());
        assert!(
            keys(s.range_scan(&b"b"[..]..&b"a"[..])).is_empty(),
            "{name}"
        );
        assert!(
            keys(s.range_scan(&b"a"[..]..&b"a"[..])).is_empty(),
            "{name}"
        );
        assert!(
            keys(s.range_scan(&b"\xFF"[..]..&b""[..])).is_empty(),
            "{name}"
        );
        assert_eq!(
            keys(s.range_scan(&b""[..]..&b"a"[..])),
            vec![b"".to_vec(), b"\x00".to_vec(), b"\x00\x00".to_vec()],
            "{name}"
        );
        assert_eq!(
            keys(s.range_scan(&b"ab"[..]..&b"\xFF\x00"[..])),
            vec![b"ab".to_vec(), b"b".to_vec(), b"\xFF".to_vec()],
            "{name}"
        );
    }
}

#[test]
fn delete_of_missing_key_is_ok_and_changes_nothing() {
    for (name, mut s) in backends() {
        fill(s.as_mut());
        let before = s.size_bytes();
        s.delete(b"missing").unwrap();
        assert_eq!((s.len(), s.size_bytes()), (10, before), "{name}");
    }
}

#[test]
fn get_clones_without_copying_on_in_memory_backends() {
    for (name, mut s) in backends() {
        // Every `get` hands out the stored bytes: no copy on the read path.
        s.put(b"small", Bytes::from(vec![7u8; 64])).unwrap();
        let first = s.get(b"small").unwrap();
        assert_eq!(
            s.get(b"small").unwrap().as_ptr(),
            first.as_ptr(),
            "{name}: get copied the value"
        );
        assert_eq!(
            s.get_ref(b"small").unwrap().as_ptr(),
            first.as_ptr(),
            "{name}: get_ref copied the value"
        );
        // A large value is kept in the caller's allocation (by the in-memory
        // maps: `MmapStateStore` writes every value into its log).
        if name == "MmapStateStore" {
            continue;
        }
        let value = Bytes::from(vec![7u8; 4096]);
        let ptr = value.as_ptr();
        s.put(b"large", value).unwrap();
        assert_eq!(
            s.get(b"large").unwrap().as_ptr(),
            ptr,
            "{name}: put or get copied a large value"
        );
        assert_eq!(
            s.get_ref(b"large").unwrap().as_ptr(),
            ptr,
            "{name}: get_ref copied a large value"
        );
    }
}

#[test]
fn typed_reads_never_fail_on_alignment() {
    for (name, mut s) in backends() {
        // Store an archived u64 at an odd address inside a larger buffer.
        let archived = laminar_core::state::encode_value(&0x1122_3344_5566_7788u64).unwrap();
        let mut raw = vec![0u8; archived.len() + 1];
        raw[1..].copy_from_slice(&archived);
        let misaligned = Bytes::from(raw).slice(1..);
        assert_ne!(misaligned.as_ptr() as usize % 8, 0);
        s.put(b"n", misaligned).unwrap();
        assert_eq!(
            s.get_typed::<u64>(b"n").unwrap(),
            Some(0x1122_3344_5566_7788),
            "{name}"
        );
        assert_eq!(
            s.with_archived::<u64, _>(b"n", |a| a.to_native()).unwrap(),
            Some(0x1122_3344_5566_7788),
            "{name}"
        );
    }
}

#[test]
fn typed_values_are_stored_aligned_for_zero_copy() {
    for (name, mut s) in backends() {
        s.put_typed(b"v", &vec![1u64, 2, 3]).unwrap();
        let ptr = s.get_ref(b"v").unwrap().as_ptr() as usize;
        assert_eq!(ptr % 16, 0, "{name}");
        // After a snapshot round trip too.
        let snap = s.snapshot();
        s.restore(snap).unwrap();
        let ptr = s.get_ref(b"v").unwrap().as_ptr() as usize;
        assert_eq!(ptr % 16, 0, "{name} after restore");
    }
}

#[test]
fn typed_read_of_wrong_bytes_is_an_error() {
    for (name, mut s) in backends() {
        s.put(b"x", Bytes::from_static(b"\x01\x02\x03")).unwrap();
        let err = s.get_typed::<u64>(b"x").unwrap_err();
        assert!(
            err.to_string().starts_with("deserialization failed"),
            "{name}: {err}"
        );
    }
}
