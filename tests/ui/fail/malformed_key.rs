use laminar_core::state::state_store;

#[state_store]
struct State {
    #[state(key)]
    values: u64,
    #[state(key = )]
    others: u64,
}

fn main() {}
