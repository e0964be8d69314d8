use laminar_core::state::state_store;

#[state_store]
struct State {
    #[state(key = u64, ttl = 1_000)]
    seen: u64,
    #[state(key = u64)]
    advance_ttl_to: u64,
}

fn main() {}
