//! Edge cases of typed tables: scans never panic, unknown dictionary values,
//! and corrupt table snapshots are errors.
#![cfg(all(feature = "btree", feature = "ahash"))]

use laminar_core::state::key::{Dict, DictCode, Key};
use laminar_core::state::typed::{layout, AHash, BTree, Table};
use laminar_core::state::StateError;

#[test]
fn empty_reversed_and_unknown_ranges_yield_nothing() {
    let mut t: Table<(i64, u64), u8, BTree> = Table::new();
    for i in -5..5 {
        t.put((i, 0), 1).unwrap();
    }
    assert_eq!(t.range((3, 0), (-3, 0)).count(), 0); // reversed
    assert_eq!(t.range((1, 0), (1, 0)).count(), 0); // empty
    assert_eq!(t.range((i64::MIN, 0), (i64::MAX, u64::MAX)).count(), 10);
    assert_eq!(t.remove_range((2, 0), (-2, 0)), 0);
    assert_eq!(t.remove_range((-5, 0), (0, 0)), 5);
    assert_eq!(
        t.iter().map(|(k, _)| k.0).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );

    let mut d: Table<(Dict<String>, i64), u8, BTree> = Table::new();
    d.put(("eu", 1), 1).unwrap();
    assert_eq!(d.range(("eu", 0), ("zz", 0)).count(), 0); // "zz" unknown: no position
    assert_eq!(d.prefix("zz").count(), 0);
    assert_eq!(d.get(("zz", 1)), None);
    assert_eq!(d.delete(("zz", 1)), None);
}

#[test]
fn prefix_stops_at_the_next_first_component() {
    let mut t: Table<(String, u32), u8, BTree> = Table::new();
    for (s, i) in [("a", 1), ("a", 0), ("a\0", 0), ("ab", 0), ("", 7)] {
        t.put((s, i), 0).unwrap();
    }
    let a: Vec<_> = t.prefix("a").map(|(k, _)| k).collect();
    assert_eq!(a, [("a", 0), ("a", 1)]);
    assert_eq!(t.prefix("").count(), 1);
}

#[test]
fn clear_forgets_dictionaries_and_sizes_follow_contents() {
    let mut t: Table<(Dict<String>, u64), u64, AHash> = Table::new();
    assert_eq!(t.size_bytes(), 0);
    t.put(("eu", 1), 1).unwrap();
    assert!(t.size_bytes() >= 16 + 8);
    t.clear();
    assert!(t.is_empty());
    assert_eq!(t.dictionaries().0.len(), 0);
    t.retain(|_, _| false);
    assert_eq!(t.size_bytes(), 0);
}

fn table_entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut t: Table<(Dict<String>, u64), u64, BTree> = Table::new();
    t.put(("eu", 1), 10).unwrap();
    t.put(("us", 2), 20).unwrap();
    let mut out = Vec::new();
    t.write_snapshot("f", &mut out).unwrap();
    out.sort();
    out
}

#[test]
fn table_snapshot_round_trips_across_backends() {
    let entries = table_entries();
    let (back, used) =
        Table::<(Dict<String>, u64), u64, AHash>::read_snapshot("f", &entries).unwrap();
    assert_eq!(used, entries.len());
    assert_eq!(back.get(("us", 2)), Some(&20));
    // Other fields' entries are not consumed; a field without dictionaries
    // reads as empty, one whose key needs a dictionary reports it missing.
    let (none, used) = Table::<u64, u64, AHash>::read_snapshot("g", &entries).unwrap();
    assert_eq!((none.len(), used), (0, 0));
    assert!(Table::<(Dict<String>, u64), u64, AHash>::read_snapshot("g", &entries).is_err());
}

#[test]
fn corrupt_table_snapshots_are_errors() {
    type T = Table<(Dict<String>, u64), u64, BTree>;
    // A code that is not in the dictionary.
    let mut entries = table_entries();
    let mut key = layout::header("f", layout::ENTRY);
    <(Dict<String>, u64) as Key>::encode(&(DictCode::new(7).unwrap(), 1), &mut key);
    entries.push((key, entries[1].1.clone()));
    entries.sort();
    assert!(matches!(
        T::read_snapshot("f", &entries),
        Err(StateError::Corruption { .. })
    ));
    // Code u32::MAX, which no dictionary code can be.
    let mut entries = table_entries();
    let mut key = layout::header("f", layout::ENTRY);
    key.extend_from_slice(&[0xFF; 4]);
    key.extend_from_slice(&1u64.to_be_bytes());
    entries.push((key, entries[1].1.clone()));
    entries.sort();
    match T::read_snapshot("f", &entries) {
        Err(StateError::Corruption { what, location }) => {
            assert!(
                what.contains("dictionary code 4294967295 is reserved"),
                "{what}"
            );
            // The error says which field and entry hold the bad key (the
            // code sorts after the table's own entries).
            assert!(location.contains("field `f` entry 2 key"), "{location}");
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
    // A value that is not a valid archived u64: the error names the entry.
    let mut entries = table_entries();
    if let Some((_, v)) = entries.last_mut() {
        v.truncate(3);
    }
    let err = T::read_snapshot("f", &entries).unwrap_err();
    assert!(err.to_string().contains("field `f` entry 1 value"), "{err}");
    // A truncated key.
    let mut entries = table_entries();
    let mut key = layout::header("f", layout::ENTRY);
    key.extend_from_slice(&[0, 0, 0]);
    entries.push((key, vec![]));
    entries.sort();
    assert!(T::read_snapshot("f", &entries).is_err());
    // A missing dictionary.
    let entries: Vec<_> = table_entries()
        .into_iter()
        .filter(|(k, _)| k[2] != layout::DICT)
        .collect();
    assert!(T::read_snapshot("f", &entries).is_err());
    // A value that is not a u64.
    let mut entries = table_entries();
    if let Some(last) = entries.last_mut() {
        last.1 = vec![1, 2, 3];
    }
    assert!(T::read_snapshot("f", &entries).is_err());
}

/// A `Dict<String>` dictionary whose bytes are not UTF-8 is refused when
/// read, whether or not an entry uses the bad value (until 25 November an
/// unused one was accepted and a used one reported as "not in the
/// dictionary").
#[test]
fn a_dictionary_value_that_is_not_utf8_is_named() {
    use laminar_core::state::DictionaryKeyEncoder;
    type T = Table<(u8, Dict<String>), u64, BTree>;
    let dict = DictionaryKeyEncoder::from_values([&b"ok"[..], b"\xff"]).unwrap();
    let mut dict_key = layout::header("f", layout::DICT);
    dict_key.push(0);
    let dict_entry = (dict_key, dict.to_bytes().unwrap().to_vec());
    let mut entry_key = layout::header("f", layout::ENTRY);
    <(u8, Dict<String>) as Key>::encode(&(3, DictCode::new(0).unwrap()), &mut entry_key);
    let value = {
        let mut t: Table<u8, u64, BTree> = Table::new();
        t.put(1, 5).unwrap();
        let mut out = Vec::new();
        t.write_snapshot("v", &mut out).unwrap();
        out.pop().unwrap().1
    };
    for entries in [
        vec![dict_entry.clone()],
        vec![dict_entry.clone(), (entry_key, value)],
    ] {
        match T::read_snapshot("f", &entries) {
            Err(StateError::Corruption { location, what }) => {
                assert!(
                    location.contains("field `f` dictionaries")
                        && location.contains("key component 1")
                        && location.contains("dictionary value 1"),
                    "{location}"
                );
                assert!(
                    what.contains("not a valid") && what.contains("String"),
                    "{what}"
                );
            }
            other => panic!("expected a corruption error, got {other:?}"),
        }
    }
    // The same bytes are fine for a `Dict<Vec<u8>>` key.
    let ok = Table::<(u8, Dict<Vec<u8>>), u64, BTree>::read_snapshot("f", &[dict_entry]);
    assert_eq!(ok.map(|(t, used)| (t.len(), used)).unwrap(), (0, 1));
}
