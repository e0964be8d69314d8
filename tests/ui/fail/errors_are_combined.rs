use laminar_core::state::state_store;

// Every error is reported at once, and the struct still exists (no follow-on
// "cannot find type `State`" in `main`).
#[state_store(backend = Nope)]
struct State {
    #[state(key = u64, key = u64)]
    a: u64,
    #[state(value = u64)]
    b: u64,
}

fn main() {
    let _unused: Option<State> = None;
}
