use laminar_core::state::state_store;

#[state_store]
struct State {
    #[cfg(test)]
    #[state(key = u64)]
    values: u64,
}

fn main() {}
