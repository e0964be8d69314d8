use laminar_core::state::state_store;

// No typed `Mmap` marker in this build: a backend that cannot be used here.
#[state_store(backend = Mmap)]
struct State {
    #[state(key = u64)]
    values: u64,
}

fn main() {}
