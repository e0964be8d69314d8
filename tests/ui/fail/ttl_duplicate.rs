use laminar_core::state::state_store;

#[state_store]
struct State {
    #[state(key = u64, ttl = 1_000, ttl = 2_000)]
    seen: u64,
}

fn main() {}
