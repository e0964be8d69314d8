// A private table field gets private accessors: outside its module neither
// `hidden()` nor `hidden_mut()` is callable (the field's visibility is kept).
mod operator {
    use laminar_core::state::state_store;

    #[state_store]
    pub struct State {
        #[state(key = u64)]
        pub visible: u64,
        #[state(key = u64)]
        hidden: u64,
    }
}

fn main() {
    let mut s = operator::State::new();
    s.visible_mut().put(1, 2).unwrap();
    let _ = s.hidden().len();
    s.hidden_mut().put(1, 1).unwrap();
}
