use laminar_core::state::state_store;

#[state_store]
struct Seen {
    #[state(key = u64)]
    last: i64,
}

fn main() {
    let mut s = Seen::new();
    s.last_mut().put(7, -1).unwrap();
    assert!(s.last().contains(7));
    assert_eq!(s.last_mut().delete(7), Some(-1));
    assert!(s.last().is_empty());
    assert_eq!(s.size_bytes(), 0);
}
