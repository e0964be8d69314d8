use laminar_core::state::state_store;

#[state_store(backend = AHash)]
struct State {
    #[state(key = (u64, u64))]
    values: u64,
}

fn main() {
    let s = State::new();
    let _ = s.values().range((0, 0), (10, 0)).count();
}
