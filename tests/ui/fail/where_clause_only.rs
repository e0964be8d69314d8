use laminar_core::state::state_store;

// No type parameters, but a `where` clause: still generic, and the error
// points at the clause.
#[state_store]
struct State
where
    u8: Copy,
{
    #[state(key = u64)]
    values: u64,
}

fn main() {}
