use laminar_core::state::state_store;

#[state_store]
union State {
    a: u64,
}

fn main() {}
