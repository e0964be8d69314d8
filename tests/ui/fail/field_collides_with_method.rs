use laminar_core::state::state_store;

#[state_store]
struct State {
    #[state(key = u64)]
    snapshot: u64,
}

fn main() {}
