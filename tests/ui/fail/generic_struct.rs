use laminar_core::state::state_store;

#[state_store]
struct State<V> {
    #[state(key = u64)]
    values: V,
}

fn main() {}
