use laminar_core::state::state_store;

// The only error is the macro's: the `#[state]` attribute is removed from the
// enum it emits, so rustc does not add "cannot find attribute `state`".
#[state_store]
enum State {
    A {
        #[state(key = u64)]
        counts: u64,
    },
}

fn main() {}
