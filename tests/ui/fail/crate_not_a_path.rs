use laminar_core::state::state_store;

#[state_store(crate = [u8; 4])]
struct NotAPath {
    #[state(key = u64)]
    counts: u64,
}

fn main() {}
