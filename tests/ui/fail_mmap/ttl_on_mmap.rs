use laminar_core::state::state_store;

#[state_store(backend = Mmap)]
struct State {
    #[state(key = u64, ttl = 60_000)]
    seen: u64,
}

fn main() {}
