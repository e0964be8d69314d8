// `crate = path` reaches laminar_core when a crate renames or re-exports it.
mod deps {
    pub use laminar_core as state_lib;
}

use deps::state_lib::state::key::Dict;

#[deps::state_lib::state::state_store(crate = crate::deps::state_lib)]
struct Renamed {
    #[state(key = Dict<String>)]
    counts: u64,
    total: u64,
}

fn main() {
    let mut s = Renamed::new();
    s.counts_mut().put("eu", 3).unwrap();
    s.total = 3;
    let snap = s.snapshot().unwrap();
    let back = Renamed::from_snapshot(&snap).unwrap();
    assert_eq!(back.counts().get("eu"), Some(&3));
    assert_eq!(back.total, 3);
    let mut other = Renamed::new();
    other.restore(&snap).unwrap();
    assert_eq!(other.counts().get("eu"), Some(&3));
}
