//! Archives this crate's own type with rkyv (32-bit relative pointers, the
//! choice of this "application"), reads it back, and keeps it in
//! laminar-core stores through a snapshot round trip.

use std::error::Error;

use laminar_core::state::{
    AHashMapStore, InMemoryStore, MmapStateStore, StateSnapshot, StateStore, StateStoreExt,
};
use rkyv::{Archive, Deserialize, Serialize};

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Reading {
    sensor: String,
    samples: Vec<u32>,
    at: u64,
}

fn main() -> Result<(), Box<dyn Error>> {
    // The application's pointer width is in force: relative pointers and
    // lengths are 32-bit, so an archived String or Vec is 8 bytes.
    assert_eq!(std::mem::size_of::<rkyv::Archived<usize>>(), 4);
    assert_eq!(std::mem::size_of::<rkyv::string::ArchivedString>(), 8);
    assert_eq!(std::mem::size_of::<ArchivedReading>(), 24);

    let reading = Reading {
        sensor: "a sensor with a name longer than sixteen bytes".into(),
        samples: (0..100).collect(),
        at: 1_700_000_000,
    };
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&reading)?;
    let back = rkyv::from_bytes::<Reading, rkyv::rancor::Error>(&bytes)?;
    assert_eq!(back, reading);

    // The same type as a laminar-core value, on every byte-level store,
    // through a snapshot serialized and read back.
    let mut source = InMemoryStore::new();
    for i in 0..1000u32 {
        let mut r = reading.clone();
        r.at += u64::from(i);
        source.put_typed(&i.to_be_bytes(), &r)?;
    }
    let snapshot = StateSnapshot::from_bytes(&source.snapshot().to_bytes()?)?;
    let dir = std::env::temp_dir().join(format!("laminar-downstream-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut stores: Vec<Box<dyn StateStore>> = vec![
        Box::new(InMemoryStore::new()),
        Box::new(AHashMapStore::new()),
        Box::new(MmapStateStore::persistent(dir.join("state.mmap"), 0)?),
    ];
    for store in &mut stores {
        store.restore(snapshot.clone())?;
        assert_eq!(store.len(), 1000);
        let got: Option<Reading> = store.get_typed(&999u32.to_be_bytes())?;
        assert_eq!(got.map(|r| r.at), Some(reading.at + 999));
        let first = store.with_archived::<Reading, _>(&0u32.to_be_bytes(), |a| a.samples.len())?;
        assert_eq!(first, Some(100));
    }
    drop(stores);
    std::fs::remove_dir_all(&dir)?;
    println!("downstream: rkyv pointer_width_32 archive and laminar-core stores agree");
    Ok(())
}
