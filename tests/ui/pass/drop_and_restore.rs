//! A state struct may implement `Drop`: `restore` reads the snapshot into the
//! fields without building (and dropping) a temporary state.
use std::sync::atomic::{AtomicUsize, Ordering};

use laminar_core::state::state_store;

static DROPS: AtomicUsize = AtomicUsize::new(0);

#[state_store(backend = BTree)]
struct Guarded {
    #[state(key = u64)]
    counts: u64,
    watermark: i64,
}

impl Drop for Guarded {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

fn main() {
    let mut a = Guarded::new();
    a.counts_mut().put(1, 10).unwrap();
    a.watermark = 5;
    let snap = a.snapshot().unwrap();

    let mut b = Guarded::new();
    b.counts_mut().put(2, 20).unwrap();
    b.restore(&snap).unwrap();
    assert_eq!(b.counts().get(1), Some(&10));
    assert_eq!(b.counts().get(2), None);
    assert_eq!(b.watermark, 5);
    assert_eq!(DROPS.load(Ordering::SeqCst), 0, "restore dropped a temporary state");

    let c = Guarded::from_snapshot(&snap).unwrap();
    assert_eq!(c.counts().get(1), Some(&10));
    drop((a, b, c));
    assert_eq!(DROPS.load(Ordering::SeqCst), 3);
}
