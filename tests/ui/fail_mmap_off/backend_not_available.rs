use laminar_core::state::state_store;

// Built without the `mmap` feature: a backend whose feature is off.
#[state_store(backend = Mmap)]
struct State {
    #[state(key = u64)]
    values: u64,
}

fn main() {}
