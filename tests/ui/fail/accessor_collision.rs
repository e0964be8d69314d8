use laminar_core::state::state_store;

#[state_store]
struct State {
    #[state(key = u64)]
    counts_mut: u64,
    #[state(key = u64)]
    counts: u64,
}

fn main() {}
