use laminar_core::state::state_store;

#[state_store]
struct State {
    #[state(key = u64)]
    #[state(key = u32)]
    values: u64,
}

fn main() {}
