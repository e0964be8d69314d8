use laminar_core::state::state_store;

#[state_store]
struct State {
    #[state(key = u64)]
    values: u64,
    __laminar_values: u64,
}

fn main() {}
