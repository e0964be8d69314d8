use laminar_core::state::state_store;

#[state_store]
struct State {
    #[state(ttl = 60_000)]
    watermark: i64,
}

fn main() {}
