//! Persistent state that flushes when dropped (a `Drop` impl), restored in
//! place from a snapshot.
use laminar_core::state::state_store;

#[state_store(backend = Mmap)]
struct Flushing {
    #[state(key = u64)]
    counts: u64,
    watermark: i64,
}

impl Drop for Flushing {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("laminar-ui-drop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let snap = {
        let mut s = Flushing::new();
        s.counts_mut().put(1, 10).unwrap();
        s.watermark = 7;
        s.snapshot().unwrap()
    };
    {
        let mut s = Flushing::open(&dir).unwrap();
        s.restore(&snap).unwrap();
    } // dropped: flushed
    let s = Flushing::open(&dir).unwrap();
    assert_eq!(s.counts().get(1).unwrap(), Some(10));
    assert_eq!(s.watermark, 7);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}
