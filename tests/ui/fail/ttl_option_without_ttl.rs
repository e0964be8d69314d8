use laminar_core::state::state_store;

#[state_store]
struct State {
    #[state(key = u64, ttl_visibility = return_expired)]
    seen: u64,
}

fn main() {}
