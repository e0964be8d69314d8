mod operator {
    use laminar_core::state::state_store;

    #[state_store]
    pub struct State {
        #[state(key = u64)]
        pub visible: u64,
        #[state(key = u64)]
        hidden: u64,
        pub(crate) watermark: i64,
    }

    pub fn touch(s: &mut State) {
        s.hidden_mut().put(1, 1).unwrap();
        let _ = s.hidden.len();
    }
}

fn main() {
    let mut s = operator::State::new();
    s.visible_mut().put(1, 2).unwrap();
    s.visible.put(2, 3).unwrap();
    s.watermark = 5;
    operator::touch(&mut s);
    assert_eq!(s.visible().len(), 2);
}
