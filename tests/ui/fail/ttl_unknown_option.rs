use laminar_core::state::state_store;

#[state_store]
struct State {
    #[state(key = u64, ttl = 1_000, ttl_update = sometimes)]
    a: u64,
    #[state(key = u64, ttl = 1_000, ttl_mode = event)]
    b: u64,
}

fn main() {}
