//! The typed `Mmap` backend: zero-copy reads, ordered scans, persistence of
//! entries and dictionaries across a reopen, and snapshot interchange with the
//! in-memory backends.
#![cfg(feature = "mmap")]

use laminar_core::state::key::{Dict, DictCode, Key, StackKey};
use laminar_core::state::typed::{Mmap, Table};
use laminar_core::state::StateError;

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq, Default, Clone)]
struct Agg {
    sum: u64,
    tags: Vec<u32>,
}

#[test]
fn point_operations_and_owned_values() {
    let mut t: Table<(Dict<String>, u64), u64, Mmap> = Table::new();
    assert!(!t.is_persistent());
    assert_eq!(t.get(("eu", 1)).unwrap(), None);
    t.put(("eu", 1), 10).unwrap();
    t.put(("us", 1), 20).unwrap();
    t.put(("eu", 1), 11).unwrap();
    assert_eq!(t.get(("eu", 1)).unwrap(), Some(11));
    assert!(t.contains(("us", 1)));
    assert!(!t.contains(("ap", 1)));
    assert_eq!(t.len(), 2);
    assert_eq!(t.update(("eu", 2), |v| *v += 5).unwrap(), ());
    assert_eq!(t.get(("eu", 2)).unwrap(), Some(5));
    assert!(t.delete(("us", 1)).unwrap());
    assert!(!t.delete(("us", 1)).unwrap());
    assert!(!t.delete(("zz", 1)).unwrap());
    assert_eq!(t.len(), 2);
    assert!(t.size_bytes() > 0);
    t.clear();
    assert!(t.is_empty());
    assert_eq!(t.get(("eu", 1)).unwrap(), None);
}

#[test]
fn archived_reads_are_zero_copy_and_aligned() {
    let mut t: Table<u64, Agg, Mmap> = Table::new();
    for i in 0..100u64 {
        t.put(
            i,
            Agg {
                sum: i * 3,
                tags: (0..(i as u32 % 7)).collect(),
            },
        )
        .unwrap();
    }
    let a = t.get_archived(42).unwrap().unwrap();
    assert_eq!(a.sum.to_native(), 126);
    assert_eq!(a.tags.len(), 0);
    // The view points into the mapping, at a 16-byte-aligned address.
    assert_eq!((a as *const _ as usize) % 16, 0);
    let b = t.get_archived(13).unwrap().unwrap();
    assert_eq!(b.tags.iter().map(|x| x.to_native()).sum::<u32>(), 15);
    // Two reads of the same key see the same bytes (no copy per read).
    let again = t.get_archived(42).unwrap().unwrap();
    assert!(std::ptr::eq(a, again));
    assert_eq!(t.get(13).unwrap().unwrap().tags, (0..6).collect::<Vec<_>>());
    let mut sum = 0;
    t.for_each_archived(|_, v| sum += v.sum.to_native())
        .unwrap();
    assert_eq!(sum, (0..100).map(|i| i * 3).sum::<u64>());
}

#[test]
fn fixed_width_keys_encode_on_the_stack() {
    let code = DictCode::new(3).unwrap();
    let mut k = StackKey::new();
    <(Dict<String>, u64) as Key>::encode(&(code, 7), &mut k);
    assert!(!k.spilled());
    assert_eq!(k.as_slice(), [0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 7]);
    // A long variable-width key spills, and still encodes the same bytes.
    let long: Box<str> = "x".repeat(100).into();
    let mut k = StackKey::new();
    <String as Key>::encode(&long, &mut k);
    assert!(k.spilled());
    let mut v = Vec::new();
    <String as Key>::encode(&long, &mut v);
    assert_eq!(k.as_slice(), v.as_slice());
}

#[test]
fn scans_are_in_key_order() {
    let mut t: Table<(i64, u32), u8, Mmap> = Table::new();
    for i in [3i64, -2, 0, 7, -9] {
        for j in [2u32, 0, 1] {
            t.put((i, j), (j as u8) + 1).unwrap();
        }
    }
    let mut all = Vec::new();
    t.for_each(|k, v| all.push((k, v))).unwrap();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(all, expected);
    assert_eq!(all.len(), 15);

    let mut range = Vec::new();
    t.range_for_each((-2, 1), (3, 1), |k, _| range.push(k))
        .unwrap();
    assert_eq!(range, [(-2, 1), (-2, 2), (0, 0), (0, 1), (0, 2), (3, 0)]);
    let mut reversed = 0;
    t.range_for_each((3, 0), (-3, 0), |_, _| reversed += 1)
        .unwrap();
    assert_eq!(reversed, 0);

    let mut prefix = Vec::new();
    t.prefix_for_each(0, |k, v| prefix.push((k, v))).unwrap();
    assert_eq!(prefix, [((0, 0), 1), ((0, 1), 2), ((0, 2), 3)]);

    assert_eq!(t.remove_range((-9, 0), (0, 0)).unwrap(), 6);
    assert_eq!(t.remove_range((5, 0), (1, 0)).unwrap(), 0);
    assert_eq!(t.len(), 9);

    // Strings and dictionaries: prefix of a string component stops at the
    // next string, dictionary bounds it does not know yield nothing.
    let mut s: Table<(String, u32), u8, Mmap> = Table::new();
    for (a, i) in [("a", 1), ("a", 0), ("a\0", 0), ("ab", 0), ("", 7)] {
        s.put((a, i), 0).unwrap();
    }
    let mut a = Vec::new();
    s.prefix_for_each("a", |k, _| a.push((k.0.to_owned(), k.1)))
        .unwrap();
    assert_eq!(a, [("a".to_owned(), 0), ("a".to_owned(), 1)]);
    let mut d: Table<(Dict<String>, i64), u8, Mmap> = Table::new();
    d.put(("eu", 1), 1).unwrap();
    let mut n = 0;
    d.range_for_each(("eu", 0), ("zz", 0), |_, _| n += 1)
        .unwrap();
    d.prefix_for_each("zz", |_, _| n += 1).unwrap();
    assert_eq!(n, 0);
    assert_eq!(d.remove_range(("eu", 0), ("zz", 0)).unwrap(), 0);
}

#[test]
fn persistent_table_keeps_entries_and_dictionaries_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sums.table");
    {
        let mut t: Table<(Dict<String>, u64), Agg, Mmap> = Table::open(&path).unwrap();
        assert!(t.is_persistent());
        assert_eq!(t.path(), Some(path.as_path()));
        t.put(
            ("eu", 1),
            Agg {
                sum: 1,
                tags: vec![1],
            },
        )
        .unwrap();
        t.put(
            ("us", 2),
            Agg {
                sum: 2,
                tags: vec![],
            },
        )
        .unwrap();
        t.flush().unwrap();
        // Not flushed: lost on drop, as after a crash.
        t.put(
            ("ap", 3),
            Agg {
                sum: 3,
                tags: vec![],
            },
        )
        .unwrap();
        t.delete(("eu", 1)).unwrap();
        // The file is locked while the table is open.
        assert!(matches!(
            Table::<(Dict<String>, u64), Agg, Mmap>::open(&path),
            Err(StateError::Locked { .. }) | Err(StateError::Io { .. })
        ));
    }
    {
        let mut t: Table<(Dict<String>, u64), Agg, Mmap> = Table::open(&path).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(("eu", 1)).unwrap().unwrap().tags, [1]);
        assert_eq!(t.get(("ap", 3)).unwrap(), None);
        // Codes survived: "eu" is 0, "us" 1; a new value gets the next code.
        assert_eq!(t.dictionaries().0.encode(b"us"), Some(1));
        t.put(("ap", 3), Agg::default()).unwrap();
        assert_eq!(t.dictionaries().0.encode(b"ap"), Some(2));
        assert_eq!(t.generation().unwrap(), None);
        t.commit(7).unwrap();
    }
    let t: Table<(Dict<String>, u64), Agg, Mmap> = Table::open(&path).unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(t.generation().unwrap(), Some(7));
    let mut keys = Vec::new();
    t.for_each(|(r, w), _| keys.push((r.to_owned(), w)))
        .unwrap();
    assert_eq!(
        keys,
        [
            ("eu".to_owned(), 1),
            ("us".to_owned(), 2),
            ("ap".to_owned(), 3)
        ]
    );
}

#[test]
fn cleared_persistent_table_reopens_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    {
        let mut t: Table<(Dict<String>, u8), u8, Mmap> = Table::open(&path).unwrap();
        t.put(("a", 1), 1).unwrap();
        t.flush().unwrap();
        t.clear();
        t.put(("b", 1), 2).unwrap();
        t.flush().unwrap();
    }
    let t: Table<(Dict<String>, u8), u8, Mmap> = Table::open(&path).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t.get(("b", 1)).unwrap(), Some(2));
    assert_eq!(t.dictionaries().0.encode(b"b"), Some(0));
    assert_eq!(t.dictionaries().0.encode(b"a"), None);
}

#[test]
fn snapshots_interchange_with_other_backends() {
    let mut t: Table<(Dict<String>, i64), Agg, Mmap> = Table::new();
    t.put(
        ("eu", -1),
        Agg {
            sum: 1,
            tags: vec![2],
        },
    )
    .unwrap();
    t.put(("us", 5), Agg::default()).unwrap();
    let mut out = Vec::new();
    t.write_snapshot("f", &mut out).unwrap();
    out.sort();
    let (back, used) = Table::<(Dict<String>, i64), Agg, Mmap>::read_snapshot("f", &out).unwrap();
    assert_eq!(used, out.len());
    assert_eq!(back.get(("eu", -1)).unwrap(), t.get(("eu", -1)).unwrap());
    assert_eq!(back.len(), 2);

    #[cfg(feature = "btree")]
    {
        use laminar_core::state::typed::BTree;
        let (b, _) = Table::<(Dict<String>, i64), Agg, BTree>::read_snapshot("f", &out).unwrap();
        assert_eq!(
            b.get(("eu", -1)),
            Some(&Agg {
                sum: 1,
                tags: vec![2]
            })
        );
        let mut out2 = Vec::new();
        b.write_snapshot("f", &mut out2).unwrap();
        out2.sort();
        assert_eq!(out, out2);
    }

    // Corrupt value bytes are an error, never a panic. (The last bytes of an
    // archived `Agg` are its vector's length: flipped, it points past the
    // value, which validation must catch.)
    for i in 0..out.len() {
        let mut bad = out.clone();
        if let Some(b) = bad[i].1.last_mut() {
            *b ^= 0xFF;
        }
        let r = Table::<(Dict<String>, i64), Agg, Mmap>::read_snapshot("f", &bad);
        assert!(r.is_err(), "flipped value {i} accepted");
    }
    let mut bad = out.clone();
    bad.last_mut().unwrap().0.push(0);
    assert!(Table::<(Dict<String>, i64), Agg, Mmap>::read_snapshot("f", &bad).is_err());
}

#[test]
fn assign_keeps_a_persistent_table_on_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    {
        let mut t: Table<(Dict<String>, u8), u8, Mmap> = Table::open(&path).unwrap();
        t.put(("old", 1), 1).unwrap();
        let mut other: Table<(Dict<String>, u8), u8, Mmap> = Table::new();
        other.put(("new", 2), 2).unwrap();
        t.assign(other).unwrap();
        assert!(t.is_persistent());
        t.flush().unwrap();
    }
    let t: Table<(Dict<String>, u8), u8, Mmap> = Table::open(&path).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t.get(("new", 2)).unwrap(), Some(2));
}

#[test]
fn sixteen_byte_aligned_values_read_in_place() {
    let mut t: Table<(u8, [u8; 3]), u128, Mmap> = Table::new();
    for i in 0..50u8 {
        // Keys of odd lengths: the value offsets stay 16-byte aligned anyway.
        t.put((i, [i; 3]), u128::from(i) << 100).unwrap();
    }
    for i in 0..50u8 {
        let v = t.get_archived((i, [i; 3])).unwrap().unwrap();
        assert_eq!((v as *const _ as usize) % 16, 0);
        assert_eq!(v.to_native(), u128::from(i) << 100);
    }
}
