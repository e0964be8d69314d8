use laminar_core::state::state_store;

#[state_store]
struct Counts(u64, u64);

fn main() {}
