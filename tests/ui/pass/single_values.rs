use laminar_core::state::state_store;

/// A struct with only single values still gets snapshot/restore.
#[state_store]
struct Watermarks {
    low: i64,
    high: Option<u64>,
    label: String,
}

fn main() {
    let mut w = Watermarks::new();
    w.low = -3;
    w.high = Some(9);
    w.label.push_str("x");
    let back = Watermarks::from_snapshot(&w.snapshot().unwrap()).unwrap();
    assert_eq!((back.low, back.high, back.label.as_str()), (-3, Some(9), "x"));
}
