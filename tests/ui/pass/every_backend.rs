use laminar_core::state::key::Dict;
use laminar_core::state::state_store;

#[state_store]
struct DefaultBackend {
    #[state(key = (Dict<String>, u64))]
    counts: u64,
}

#[state_store(backend = BTree)]
struct Ordered {
    #[state(key = (Dict<String>, u64))]
    counts: u64,
}

#[state_store(backend = AHash)]
struct Hashed {
    #[state(key = (Dict<String>, u64))]
    counts: u64,
}

fn main() {
    let mut d = DefaultBackend::new();
    let mut o = Ordered::new();
    let mut h = Hashed::new();
    *d.counts_mut().upsert(("eu", 1), || 0).unwrap() += 1;
    *o.counts_mut().upsert(("eu", 1), || 0).unwrap() += 1;
    *h.counts_mut().upsert(("eu", 1), || 0).unwrap() += 1;
    // One snapshot format for every backend.
    let snap = h.snapshot().unwrap();
    o.restore(&snap).unwrap();
    d.restore(&o.snapshot().unwrap()).unwrap();
    assert_eq!(d.counts().get(("eu", 1)), Some(&1));
    assert_eq!(o.counts().prefix("eu").count(), 1);
}
