use laminar_core::state::state_store;

#[state_store(backnd = BTree, backend = AHash, backend = BTree)]
struct State {
    #[state(key = u64)]
    values: u64,
}

fn main() {}
