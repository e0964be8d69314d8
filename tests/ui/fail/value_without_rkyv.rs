use laminar_core::state::state_store;

struct NotArchived {
    x: u64,
}

#[state_store]
struct State {
    #[state(key = u64)]
    values: NotArchived,
}

fn main() {}
