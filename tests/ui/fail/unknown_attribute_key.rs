use laminar_core::state::state_store;

#[state_store]
struct State {
    #[state(kye = u64)]
    values: u64,
}

fn main() {}
