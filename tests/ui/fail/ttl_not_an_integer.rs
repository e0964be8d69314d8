use laminar_core::state::state_store;

#[state_store]
struct State {
    #[state(key = u64, ttl = "60s")]
    seen: u64,
    #[state(key = u64, ttl = 99999999999999999999)]
    big: u64,
}

fn main() {}
