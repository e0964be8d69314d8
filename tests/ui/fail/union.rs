use laminar_core::state::state_store;

// As for enums, `#[state]` is removed from the union emitted with the error.
#[state_store]
union State {
    #[state(key = u64)]
    a: u64,
}

fn main() {}
