use laminar_core::state::state_store;

#[state_store]
struct State {
    #[state(key = u64, ttl = 0)]
    seen: u64,
}

fn main() {}
