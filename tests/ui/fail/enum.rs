use laminar_core::state::state_store;

#[state_store]
enum State {
    A,
}

fn main() {}
