// `backend = Mmap`: in-memory from `new()`, persistent from `open(dir)`,
// archived reads, and the common snapshot format.
use laminar_core::state::key::Dict;
use laminar_core::state::state_store;

#[state_store(backend = Mmap)]
#[derive(Debug)]
pub struct Joins {
    /// (side, event time) -> payload.
    #[state(key = (Dict<String>, i64))]
    pub events: Vec<u8>,
    #[state(key = u64)]
    counts: u64,
    pub watermark: i64,
}

#[state_store(backend = BTree)]
struct Same {
    #[state(key = (Dict<String>, i64))]
    events: Vec<u8>,
    #[state(key = u64)]
    counts: u64,
    watermark: i64,
}

fn main() {
    let mut j = Joins::new();
    j.events_mut().put(("left", 5), vec![1, 2]).unwrap();
    j.counts_mut().update(7, |c| *c += 1).unwrap();
    j.watermark = 3;
    let payload: Option<Vec<u8>> = j.events().get(("left", 5)).unwrap();
    assert_eq!(payload, Some(vec![1, 2]));
    let archived = j.events().get_archived(("left", 5)).unwrap().unwrap();
    assert_eq!(archived.len(), 2);
    j.flush().unwrap(); // in-memory: a no-op

    // Snapshots cross backends.
    let same = Same::from_snapshot(&j.snapshot().unwrap()).unwrap();
    assert_eq!(same.counts().get(7), Some(&1));
    assert_eq!(same.watermark, 3);

    let dir = std::env::temp_dir().join(format!("laminar-ui-mmap-{}", std::process::id()));
    {
        let mut p = Joins::open(&dir).unwrap();
        p.restore(&same.snapshot().unwrap()).unwrap();
        p.flush().unwrap();
    }
    let p = Joins::open(&dir).unwrap();
    assert_eq!(p.counts().get(7).unwrap(), Some(1));
    assert_eq!(p.watermark, 3);
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}
