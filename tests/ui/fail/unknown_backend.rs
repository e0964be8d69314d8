use laminar_core::state::state_store;

#[state_store(backend = RocksDb)]
struct State {
    #[state(key = u64)]
    values: u64,
}

fn main() {}
