use laminar_core::state::state_store;

// With `backend = Mmap` the struct gets `open` and `flush`: a table field may
// not take those names.
#[state_store(backend = Mmap)]
struct State {
    #[state(key = u64)]
    open: u64,
}

fn main() {}
