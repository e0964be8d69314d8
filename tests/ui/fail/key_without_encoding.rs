use laminar_core::state::state_store;

#[state_store]
struct State {
    #[state(key = (String, f64))]
    values: u64,
}

fn main() {}
