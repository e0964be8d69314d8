//! What a user moving from laminar-core 0.18.5 finds unchanged.
//!
//! Each test states a behaviour of 0.18.5's public `state` API (from its
//! documentation) that this crate keeps, written the way such a user's code
//! calls it: the same paths, method names and signatures. The deliberate
//! differences are listed in the README ("Coming from laminar-core 0.18.5");
//! where a test touches one, it says so.

use std::ops::Range;

use bytes::Bytes;
use laminar_core::state::{
    InMemoryStore, ScanIter, StateError, StateSnapshot, StateStore, StateStoreExt,
};

/// Every byte backend of this build, fresh, as `Box<dyn StateStore>` (0.18.5
/// documents the trait as dyn compatible).
fn backends() -> Vec<(&'static str, Box<dyn StateStore>)> {
    #[allow(unused_mut)]
    let mut v: Vec<(&'static str, Box<dyn StateStore>)> = vec![
        ("InMemoryStore", Box::new(InMemoryStore::new())),
        ("InMemoryStore::default", Box::<InMemoryStore>::default()),
        (
            "InMemoryStore::with_capacity",
            Box::new(InMemoryStore::with_capacity(1000)),
        ),
    ];
    #[cfg(feature = "ahash")]
    {
        use laminar_core::state::ahash_store::AHashMapStore;
        v.push(("AHashMapStore", Box::new(AHashMapStore::new())));
        v.push(("AHashMapStore::default", Box::<AHashMapStore>::default()));
        v.push((
            "AHashMapStore::with_capacity",
            Box::new(AHashMapStore::with_capacity(1000)),
        ));
    }
    #[cfg(feature = "mmap")]
    {
        use laminar_core::state::MmapStateStore;
        v.push((
            "MmapStateStore::in_memory",
            Box::new(MmapStateStore::in_memory(4096)),
        ));
        v.push((
            "MmapStateStore::in_memory(32)",
            Box::new(MmapStateStore::in_memory(32)),
        ));
    }
    v
}

fn keys(it: ScanIter<'_>) -> Vec<Vec<u8>> {
    it.map(|(k, _)| k.to_vec()).collect()
}

fn b(s: &'static [u8]) -> Bytes {
    Bytes::from_static(s)
}

#[test]
fn put_get_overwrite_delete() {
    for (name, mut s) in backends() {
        assert!(s.is_empty(), "{name}");
        assert_eq!(s.len(), 0, "{name}");
        assert!(s.get(b"nonexistent").is_none(), "{name}");
        s.put(b"key1", b(b"value1")).unwrap();
        assert_eq!(s.get(b"key1"), Some(Bytes::from("value1")), "{name}");
        assert_eq!(s.len(), 1, "{name}");
        assert!(!s.is_empty(), "{name}");
        // Overwrite keeps one entry.
        s.put(b"key1", b(b"value2")).unwrap();
        assert_eq!(s.get(b"key1"), Some(Bytes::from("value2")), "{name}");
        assert_eq!(s.len(), 1, "{name}");
        s.delete(b"key1").unwrap();
        assert!(s.get(b"key1").is_none(), "{name}");
        assert_eq!(s.len(), 0, "{name}");
        // Deleting a missing key is not an error.
        s.delete(b"nonexistent").unwrap();
        // Flushing an in-memory store is a no-op that succeeds.
        s.flush().unwrap();
    }
}

#[test]
fn contains_follows_put_and_delete() {
    for (name, mut s) in backends() {
        assert!(!s.contains(b"key1"), "{name}");
        s.put(b"key1", b(b"value1")).unwrap();
        assert!(s.contains(b"key1"), "{name}");
        s.delete(b"key1").unwrap();
        assert!(!s.contains(b"key1"), "{name}");
    }
}

#[test]
fn get_ref_is_the_value_without_a_copy() {
    for (name, mut s) in backends() {
        s.put(b"key1", b(b"value1")).unwrap();
        assert_eq!(s.get_ref(b"key1"), Some(&b"value1"[..]), "{name}");
        assert_eq!(s.get_ref(b"missing"), None, "{name}");
    }
}

#[test]
fn size_bytes_counts_keys_and_values_of_live_entries() {
    for (name, mut s) in backends() {
        assert_eq!(s.size_bytes(), 0, "{name}");
        s.put(b"key1", b(b"value1")).unwrap();
        assert_eq!(s.size_bytes(), 4 + 6, "{name}");
        s.put(b"key2", b(b"value2")).unwrap();
        assert_eq!(s.size_bytes(), (4 + 6) * 2, "{name}");
        s.put(b"key1", b(b"v1")).unwrap();
        assert_eq!(s.size_bytes(), 4 + 2 + 4 + 6, "{name}");
        s.delete(b"key1").unwrap();
        assert_eq!(s.size_bytes(), 4 + 6, "{name}");
        s.clear();
        assert_eq!(s.size_bytes(), 0, "{name}");
    }
}

#[test]
fn clear_removes_everything() {
    for (name, mut s) in backends() {
        s.put(b"key1", b(b"value1")).unwrap();
        s.put(b"key2", b(b"value2")).unwrap();
        assert_eq!(s.len(), 2, "{name}");
        s.clear();
        assert_eq!(s.len(), 0, "{name}");
        assert!(s.is_empty(), "{name}");
        assert!(s.get(b"key1").is_none(), "{name}");
        // The store is usable after a clear.
        s.put(b"key3", b(b"value3")).unwrap();
        assert_eq!(s.get(b"key3"), Some(b(b"value3")), "{name}");
    }
}

#[test]
fn prefix_scan_yields_matching_entries_in_key_order() {
    for (name, mut s) in backends() {
        s.put(b"prefix:c", b(b"3")).unwrap();
        s.put(b"prefix:1", b(b"value1")).unwrap();
        s.put(b"prefix:10", b(b"value10")).unwrap();
        s.put(b"prefix:a", b(b"1")).unwrap();
        s.put(b"other:1", b(b"value3")).unwrap();
        let got: Vec<(Bytes, Bytes)> = s.prefix_scan(b"prefix:").collect();
        let want: Vec<(&[u8], &[u8])> = vec![
            (b"prefix:1", b"value1"),
            (b"prefix:10", b"value10"),
            (b"prefix:a", b"1"),
            (b"prefix:c", b"3"),
        ];
        let got: Vec<(&[u8], &[u8])> = got.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        assert_eq!(got, want, "{name}");
        // An empty prefix yields every entry.
        assert_eq!(s.prefix_scan(b"").count(), 5, "{name}");
        assert_eq!(
            keys(s.prefix_scan(b"")),
            vec![
                b"other:1".to_vec(),
                b"prefix:1".to_vec(),
                b"prefix:10".to_vec(),
                b"prefix:a".to_vec(),
                b"prefix:c".to_vec()
            ],
            "{name}"
        );
        assert_eq!(s.prefix_scan(b"nothing").count(), 0, "{name}");
    }
}

#[test]
fn prefix_scan_of_binary_and_0xff_prefixes() {
    for (name, mut s) in backends() {
        for k in [
            &[0x00, 0x01, 0xAA][..],
            &[0x00, 0x01, 0xBB],
            &[0x00, 0x02, 0xCC],
            &[0x00, 0x02, 0xDD],
            &[0x01, 0x01, 0xEE],
        ] {
            s.put(k, Bytes::copy_from_slice(k)).unwrap();
        }
        assert_eq!(
            keys(s.prefix_scan(&[0x00, 0x01])),
            vec![vec![0x00, 0x01, 0xAA], vec![0x00, 0x01, 0xBB]],
            "{name}"
        );
        assert_eq!(
            keys(s.prefix_scan(&[0x00, 0x02])),
            vec![vec![0x00, 0x02, 0xCC], vec![0x00, 0x02, 0xDD]],
            "{name}"
        );
        // A prefix of 0xFF bytes has no successor key: still works.
        assert_eq!(s.prefix_scan(&[0xFF, 0xFF]).count(), 0, "{name}");
        s.put(&[0xFF, 0xFF], b(b"x")).unwrap();
        s.put(&[0xFF, 0xFF, 0x00], b(b"y")).unwrap();
        s.put(&[0xFF, 0xFE], b(b"z")).unwrap();
        assert_eq!(
            keys(s.prefix_scan(&[0xFF, 0xFF])),
            vec![vec![0xFF, 0xFF], vec![0xFF, 0xFF, 0x00]],
            "{name}"
        );
    }
}

#[test]
fn range_scan_is_half_open_and_ordered() {
    for (name, mut s) in backends() {
        for k in [&b"d"[..], b"a", b"c", b"b"] {
            s.put(k, Bytes::copy_from_slice(k)).unwrap();
        }
        let r: Range<&[u8]> = b"b".as_slice()..b"d".as_slice();
        let got: Vec<(Bytes, Bytes)> = s.range_scan(r).collect();
        assert_eq!(got, vec![(b(b"b"), b(b"b")), (b(b"c"), b(b"c"))], "{name}");
        assert_eq!(
            keys(s.range_scan(b"".as_slice()..b"\xFF".as_slice())),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()],
            "{name}"
        );
        // An empty range (start == end) yields nothing, as in 0.18.5.
        assert_eq!(s.range_scan(b"b".as_slice()..b"b".as_slice()).count(), 0);
        // A reversed range panicked in 0.18.5 (BTreeMap::range); here it
        // yields nothing (a deliberate difference).
        assert_eq!(s.range_scan(b"d".as_slice()..b"a".as_slice()).count(), 0);
    }
}

#[test]
#[allow(deprecated)] // `data()`: 0.18.5's accessor, kept as a deprecated shim
fn snapshot_then_restore_returns_to_the_snapshot() {
    for (name, mut s) in backends() {
        s.put(b"key1", b(b"value1")).unwrap();
        s.put(b"key2", b(b"value2")).unwrap();
        let snapshot = s.snapshot();
        assert_eq!(snapshot.len(), 2, "{name}");
        assert!(!snapshot.is_empty(), "{name}");
        assert_eq!(snapshot.size_bytes(), 20, "{name}");
        assert!(snapshot.timestamp_ns() > 0, "{name}");
        assert_eq!(
            snapshot.data(),
            &[
                (b"key1".to_vec(), b"value1".to_vec()),
                (b"key2".to_vec(), b"value2".to_vec())
            ][..],
            "{name}"
        );
        s.put(b"key1", b(b"modified")).unwrap();
        s.put(b"key3", b(b"value3")).unwrap();
        s.delete(b"key2").unwrap();
        assert_eq!(s.len(), 2, "{name}");
        assert_eq!(s.get(b"key1"), Some(Bytes::from("modified")), "{name}");
        // 0.18.5's `restore` returned `()`; ours returns a `Result`.
        s.restore(snapshot).unwrap();
        assert_eq!(s.len(), 2, "{name}");
        assert_eq!(s.size_bytes(), 20, "{name}");
        assert_eq!(s.get(b"key1"), Some(Bytes::from("value1")), "{name}");
        assert_eq!(s.get(b"key2"), Some(Bytes::from("value2")), "{name}");
        assert!(s.get(b"key3").is_none(), "{name}");
    }
}

#[test]
#[allow(deprecated)] // `data()`: 0.18.5's accessor, kept as a deprecated shim
fn snapshot_serialization_round_trips() {
    for (name, mut s) in backends() {
        s.put(b"key1", b(b"value1")).unwrap();
        s.put(b"key2", b(b"value2")).unwrap();
        let snapshot = s.snapshot();
        let bytes = snapshot.to_bytes().unwrap();
        let restored = StateSnapshot::from_bytes(&bytes).unwrap();
        assert_eq!(restored.len(), snapshot.len(), "{name}");
        assert_eq!(restored.data(), snapshot.data(), "{name}");
        assert_eq!(restored.timestamp_ns(), snapshot.timestamp_ns(), "{name}");
        // A snapshot taken on one backend restores into any other.
        for (other, mut t) in backends() {
            t.put(b"stale", b(b"x")).unwrap();
            t.restore(StateSnapshot::from_bytes(&bytes).unwrap())
                .unwrap();
            assert_eq!(
                keys(t.prefix_scan(b"")),
                keys(s.prefix_scan(b"")),
                "{name} -> {other}"
            );
            assert_eq!(t.get(b"key2"), Some(b(b"value2")), "{name} -> {other}");
        }
    }
}

#[test]
#[allow(deprecated)] // `data()`: 0.18.5's accessor, kept as a deprecated shim
fn snapshot_new_keeps_sorted_data() {
    let data = vec![
        (b"a".to_vec(), b"1".to_vec()),
        (b"b".to_vec(), b"2".to_vec()),
    ];
    let snap = StateSnapshot::new(data.clone());
    assert_eq!(snap.data(), &data[..]);
    assert_eq!(snap.len(), 2);
    assert_eq!(snap.size_bytes(), 4);
    let empty = StateSnapshot::new(Vec::new());
    assert!(empty.is_empty());
    let mut s = InMemoryStore::new();
    s.put(b"x", b(b"y")).unwrap();
    s.restore(snap).unwrap();
    assert_eq!(s.get(b"a"), Some(b(b"1")));
    assert!(!s.contains(b"x"));
}

/// Bytes in 0.18.5's snapshot layout (a bare rkyv archive of data,
/// timestamp and version) are not read as a snapshot: a clean error, never a
/// panic or a wrong snapshot. (The byte format is a deliberate difference.)
#[test]
fn snapshot_bytes_of_another_format_are_an_error() {
    #[derive(rkyv::Archive, rkyv::Serialize)]
    struct OldSnapshot {
        data: Vec<(Vec<u8>, Vec<u8>)>,
        timestamp_ns: u64,
        version: u32,
    }
    let old = OldSnapshot {
        data: vec![(b"key1".to_vec(), b"value1".to_vec())],
        timestamp_ns: 1,
        version: 1,
    };
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&old).unwrap();
    assert!(StateSnapshot::from_bytes(&bytes).is_err());
    assert!(StateSnapshot::from_bytes(&[]).is_err());
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq)]
struct Counter {
    value: u64,
    label: String,
}

#[test]
fn typed_access_round_trips() {
    for (name, mut s) in backends() {
        s.put_typed(b"count", &42u64).unwrap();
        let count: u64 = s.get_typed(b"count").unwrap().unwrap();
        assert_eq!(count, 42, "{name}");
        s.put_typed(b"name", &String::from("alice")).unwrap();
        let n: String = s.get_typed(b"name").unwrap().unwrap();
        assert_eq!(n, "alice", "{name}");
        let nums = vec![1i64, 2, 3, 4, 5];
        s.put_typed(b"nums", &nums).unwrap();
        let back: Vec<i64> = s.get_typed(b"nums").unwrap().unwrap();
        assert_eq!(back, nums, "{name}");
        let c = Counter {
            value: 7,
            label: "clicks".into(),
        };
        s.put_typed(b"counter", &c).unwrap();
        assert_eq!(
            s.get_typed::<Counter>(b"counter").unwrap(),
            Some(c),
            "{name}"
        );
        let missing: Option<u64> = s.get_typed(b"missing").unwrap();
        assert!(missing.is_none(), "{name}");
        // Bytes that are not a valid archive are an error, not garbage.
        s.put(b"bad", b(b"\x01")).unwrap();
        assert!(s.get_typed::<String>(b"bad").is_err(), "{name}");
    }
}

#[test]
fn get_or_insert_inserts_the_default_once() {
    for (name, mut s) in backends() {
        let v = s.get_or_insert(b"key1", b"default").unwrap();
        assert_eq!(v, Bytes::from("default"), "{name}");
        assert_eq!(s.len(), 1, "{name}");
        assert_eq!(s.get(b"key1"), Some(Bytes::from("default")), "{name}");
        s.put(b"key1", b(b"modified")).unwrap();
        let v = s.get_or_insert(b"key1", b"default").unwrap();
        assert_eq!(v, Bytes::from("modified"), "{name}");
        assert_eq!(s.len(), 1, "{name}");
        // The empty default is a value like any other.
        assert_eq!(
            s.get_or_insert(b"empty", b"").unwrap(),
            Bytes::new(),
            "{name}"
        );
        assert!(s.contains(b"empty"), "{name}");
        // A typed default stays readable as that type.
        let zero = laminar_core::state::encode_value(&0u64).unwrap();
        s.get_or_insert(b"typed", &zero).unwrap();
        assert_eq!(s.get_typed::<u64>(b"typed").unwrap(), Some(0), "{name}");
    }
}

#[test]
fn update_replaces_or_deletes() {
    let read = |v: &Bytes| u32::from_le_bytes(v.as_ref().try_into().unwrap_or([0; 4]));
    for (name, mut s) in backends() {
        s.put(b"counter", b(b"\x00\x00\x00\x00")).unwrap();
        s.update(b"counter", |cur| {
            let n = cur.as_ref().map_or(0, read);
            Some((n + 1).to_le_bytes().to_vec())
        })
        .unwrap();
        assert_eq!(s.get(b"counter").as_ref().map(read), Some(1), "{name}");
        // An absent key reaches the closure as `None`.
        let mut seen = Some(Bytes::new());
        s.update(b"fresh", |cur| {
            seen = cur;
            Some(b"new".to_vec())
        })
        .unwrap();
        assert_eq!(seen, None, "{name}");
        assert_eq!(s.get(b"fresh"), Some(b(b"new")), "{name}");
        // Returning `None` deletes the key; on an absent key it is a no-op.
        s.update(b"counter", |_| None).unwrap();
        assert!(s.get(b"counter").is_none(), "{name}");
        s.update(b"never", |_| None).unwrap();
        assert_eq!(s.len(), 1, "{name}");
    }
}

/// A store whose writes fail: `get_or_insert` and `update` return the error
/// and leave the store as it was. (Also shows a user's own `StateStore`
/// getting the default methods.)
struct RefusingStore(InMemoryStore);

impl StateStore for RefusingStore {
    fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.0.get(key)
    }
    fn get_ref(&self, key: &[u8]) -> Option<&[u8]> {
        self.0.get_ref(key)
    }
    fn put(&mut self, _key: &[u8], _value: Bytes) -> Result<(), StateError> {
        Err(StateError::NotSupported("read-only store".into()))
    }
    fn delete(&mut self, _key: &[u8]) -> Result<(), StateError> {
        Err(StateError::NotSupported("read-only store".into()))
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn size_bytes(&self) -> usize {
        self.0.size_bytes()
    }
    fn clear(&mut self) {}
    fn prefix_scan<'a>(&'a self, prefix: &'a [u8]) -> ScanIter<'a> {
        self.0.prefix_scan(prefix)
    }
    fn range_scan<'a>(&'a self, range: Range<&'a [u8]>) -> ScanIter<'a> {
        self.0.range_scan(range)
    }
    fn snapshot(&self) -> StateSnapshot {
        self.0.snapshot()
    }
    fn restore(&mut self, snapshot: StateSnapshot) -> Result<(), StateError> {
        self.0.restore(snapshot)
    }
}

#[test]
fn failed_writes_of_get_or_insert_and_update_change_nothing() {
    let mut inner = InMemoryStore::new();
    inner.put(b"present", b(b"v")).unwrap();
    let mut s = RefusingStore(inner);
    assert_eq!(s.get_or_insert(b"present", b"d").unwrap(), b(b"v"));
    assert!(matches!(
        s.get_or_insert(b"absent", b"d"),
        Err(StateError::NotSupported(_))
    ));
    assert!(!s.contains(b"absent"));
    assert!(s.update(b"present", |_| Some(b"w".to_vec())).is_err());
    assert!(s.update(b"present", |_| None).is_err());
    assert_eq!(s.get(b"present"), Some(b(b"v")));
    assert_eq!(s.len(), 1);
    assert!(!s.is_empty());
    s.flush().unwrap();
}

#[test]
fn typed_access_works_through_dyn_state_store() {
    let mut boxed: Box<dyn StateStore> = Box::new(InMemoryStore::new());
    boxed.put_typed(b"n", &5u32).unwrap();
    assert_eq!(boxed.get_typed::<u32>(b"n").unwrap(), Some(5));
    boxed.update(b"raw", |_| Some(vec![1, 2])).unwrap();
    assert_eq!(boxed.get_or_insert(b"raw", b"x").unwrap(), b(b"\x01\x02"));
    let dyn_ref: &mut dyn StateStore = &mut *boxed;
    dyn_ref.put(b"k", b(b"v")).unwrap();
    assert_eq!(dyn_ref.len(), 3);
}

#[test]
fn in_memory_store_capacity_methods() {
    let mut s = InMemoryStore::with_capacity(1000);
    // 0.18.5: `capacity()` is the entry count of an ordered store.
    assert_eq!(s.capacity(), 0);
    assert!(s.is_empty());
    for i in 0..100u32 {
        s.put(&i.to_be_bytes(), Bytes::from(vec![0u8; 40])).unwrap();
    }
    for i in 0..50u32 {
        s.put(&i.to_be_bytes(), Bytes::from(vec![1u8; 40])).unwrap();
    }
    assert_eq!(s.capacity(), 100);
    s.shrink_to_fit();
    assert_eq!(s.len(), 100);
    assert_eq!(s.capacity(), 100);
    assert_eq!(s.get(&0u32.to_be_bytes()), Some(Bytes::from(vec![1u8; 40])));
    assert_eq!(
        s.get(&99u32.to_be_bytes()),
        Some(Bytes::from(vec![0u8; 40]))
    );
    assert_eq!(s.size_bytes(), 100 * 44);
}

#[test]
fn large_and_binary_values() {
    for (name, mut s) in backends() {
        let large = vec![0xABu8; 100 * 1024];
        s.put(b"large", Bytes::from(large.clone())).unwrap();
        assert_eq!(s.get(b"large").as_deref(), Some(&large[..]), "{name}");
        let key = [0x00, 0x01, 0x02, 0xFF, 0xFE];
        let value = [0xDE, 0xAD, 0xBE, 0xEF];
        s.put(&key, Bytes::copy_from_slice(&value)).unwrap();
        assert_eq!(s.get(&key).as_deref(), Some(&value[..]), "{name}");
        // Growth past any initial capacity.
        for i in 0..100 {
            s.put(
                format!("key{i:04}").as_bytes(),
                Bytes::from(format!("value{i:04}")),
            )
            .unwrap();
        }
        for i in 0..100 {
            assert_eq!(
                s.get(format!("key{i:04}").as_bytes()).as_deref(),
                Some(format!("value{i:04}").as_bytes()),
                "{name}"
            );
        }
    }
}

#[test]
fn error_type_paths_and_variants() {
    // `state::Error` is the same type as `state::StateError`, as in 0.18.5.
    let e: laminar_core::state::Error = StateError::Serialization("x".into());
    assert!(matches!(e, StateError::Serialization(ref m) if m == "x"));
    let e = StateError::Deserialization("y".into());
    assert!(e.to_string().contains('y'));
    // `?` on a `std::io::Error` in a function returning `StateError`.
    fn read_missing() -> Result<Vec<u8>, StateError> {
        Ok(std::fs::read("/nonexistent/laminar-compat-test")?)
    }
    match read_missing() {
        Err(StateError::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
        }
        other => panic!("expected StateError::Io, got {other:?}"),
    }
    let from: StateError = std::io::Error::other("boom").into();
    assert!(std::error::Error::source(&from).is_some());
}

mod dictionary {
    use laminar_core::state::dict_encoder::DictionaryKeyEncoder;

    #[test]
    fn codes_are_dense_stable_and_decodable() {
        let mut enc = DictionaryKeyEncoder::new();
        // 0.18.5 returned `Option<u32>`; ours returns `Result<u32, _>`:
        // `.unwrap()` reads the same.
        assert_eq!(enc.encode_or_insert(b"first").unwrap(), 0);
        assert_eq!(enc.encode_or_insert(b"second").unwrap(), 1);
        assert_eq!(enc.encode_or_insert(b"third").unwrap(), 2);
        assert_eq!(enc.encode_or_insert(b"second").unwrap(), 1);
        assert_eq!(enc.len(), 3);
        assert!(!enc.is_empty());
        assert_eq!(enc.encode(b"first"), Some(0));
        assert_eq!(enc.encode(b"UNKNOWN"), None);
        assert_eq!(enc.decode(2), Some(b"third".as_slice()));
        assert_eq!(enc.decode(3), None);
        assert_eq!(enc.decode(999), None);
        let key = [0x00, 0xFF, 0xDE, 0xAD];
        let code = enc.encode_or_insert(&key).unwrap();
        assert_eq!(enc.decode(code), Some(key.as_slice()));
    }

    #[test]
    fn encode_to_bytes_is_four_little_endian_bytes() {
        let mut enc = DictionaryKeyEncoder::new();
        enc.encode_or_insert(b"A").unwrap();
        let code = enc.encode_or_insert(b"TEST").unwrap();
        assert_eq!(enc.encode_to_bytes(b"TEST"), Some(code.to_le_bytes()));
        assert_eq!(enc.encode_to_bytes(b"TEST"), Some([1, 0, 0, 0]));
        assert_eq!(enc.encode_to_bytes(b"MISSING"), None);
    }

    #[test]
    fn with_capacity_default_and_clear() {
        let enc = DictionaryKeyEncoder::with_capacity(1000);
        assert!(enc.is_empty());
        assert_eq!(enc.len(), 0);
        let mut enc = DictionaryKeyEncoder::with_capacity(2);
        for v in [&b"A"[..], b"B", b"C"] {
            enc.encode_or_insert(v).unwrap();
        }
        assert_eq!(enc.encode(b"C"), Some(2));
        enc.clear();
        assert!(enc.is_empty());
        assert_eq!(enc.encode(b"A"), None);
        assert_eq!(enc.encode_or_insert(b"B").unwrap(), 0);
        let d = DictionaryKeyEncoder::default();
        assert!(d.is_empty());
    }
}

#[cfg(feature = "ahash")]
mod ahash {
    use bytes::Bytes;
    use laminar_core::state::{ahash_store::AHashMapStore, StateStore};

    #[test]
    fn get_ref_points_into_the_store() {
        let mut s = AHashMapStore::with_capacity(16);
        s.put(b"key1", Bytes::from_static(b"value1")).unwrap();
        let a = s.get_ref(b"key1").unwrap().as_ptr();
        let b = s.get_ref(b"key1").unwrap().as_ptr();
        assert_eq!(a, b);
        assert_eq!(s.get_ref(b"key1"), Some(&b"value1"[..]));
    }
}

#[cfg(feature = "mmap")]
mod mmap {
    use bytes::Bytes;
    use laminar_core::state::{MmapStateStore, StateError, StateStore};

    #[test]
    fn persistent_store_reopens_with_its_flushed_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let mut s = MmapStateStore::persistent(&path, 1024 * 1024).unwrap();
            assert!(s.is_persistent());
            assert_eq!(s.path(), Some(path.as_path()));
            s.put(b"key1", Bytes::from_static(b"value1")).unwrap();
            s.put(b"key2", Bytes::from_static(b"value2")).unwrap();
            s.flush().unwrap();
        }
        let s = MmapStateStore::persistent(path.as_path(), 1024 * 1024).unwrap();
        assert!(s.is_persistent());
        assert_eq!(s.len(), 2);
        assert_eq!(s.get(b"key1").as_deref(), Some(&b"value1"[..]));
        assert_eq!(s.get(b"key2").as_deref(), Some(&b"value2"[..]));
        // One self-describing file: no `.idx` side file (a deliberate difference).
        assert!(!path.with_extension("idx").exists());
    }

    #[test]
    fn in_memory_mode_is_not_persistent() {
        let s = MmapStateStore::in_memory(1024);
        assert!(!s.is_persistent());
        assert_eq!(s.path(), None);
        assert!(s.is_empty());
        assert_eq!(s.size_bytes(), 0);
        assert!(!s.contains(b"nonexistent"));
    }

    #[test]
    fn compact_removes_fragmentation_and_keeps_data() {
        let mut s = MmapStateStore::in_memory(4096);
        s.put(b"key1", Bytes::from_static(b"value1")).unwrap();
        s.put(b"key2", Bytes::from_static(b"value2")).unwrap();
        s.put(b"key3", Bytes::from_static(b"value3")).unwrap();
        s.delete(b"key2").unwrap();
        s.put(b"key1", Bytes::from_static(b"new_value1")).unwrap();
        let before = s.fragmentation();
        assert!(before > 0.0);
        s.compact().unwrap();
        let after = s.fragmentation();
        assert!(after < before);
        assert!(after.abs() < f64::EPSILON);
        assert_eq!(s.get(b"key1").as_deref(), Some(&b"new_value1"[..]));
        assert!(s.get(b"key2").is_none());
        assert_eq!(s.get(b"key3").as_deref(), Some(&b"value3"[..]));
    }

    /// A store file written by 0.18.5 (its 32-byte header: magic, version 1,
    /// zeros) is refused with a clear error, not treated as empty.
    #[test]
    fn a_file_of_the_old_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mut bytes = vec![0u8; 4096];
        bytes[..8].copy_from_slice(&0x004C_414D_494E_4152u64.to_le_bytes());
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        match MmapStateStore::persistent(&path, 4096) {
            Err(StateError::Corruption { location, .. }) => {
                assert!(location.contains("old.db"), "{location}")
            }
            Err(other) => panic!("expected Corruption, got {other}"),
            Ok(_) => panic!("a 0.18.5 file opened as a store"),
        }
        // The file is left as it was.
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}
