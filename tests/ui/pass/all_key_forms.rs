use laminar_core::state::key::Dict;
use laminar_core::state::state_store;

#[state_store(backend = BTree)]
struct AllKeys {
    #[state(key = u8)]
    a: u64,
    #[state(key = i128)]
    b: u64,
    #[state(key = bool)]
    c: u64,
    #[state(key = char)]
    d: u64,
    #[state(key = String)]
    e: u64,
    #[state(key = Vec<u8>)]
    f: u64,
    #[state(key = [u8; 20])]
    g: u64,
    #[state(key = Dict<String>)]
    h: u64,
    #[state(key = Dict<Vec<u8>>)]
    i: u64,
    #[state(key = (Dict<String>, i64))]
    j: f64,
    #[state(key = (u8, String, i32))]
    k: Vec<u32>,
    #[state(key = (Dict<String>, bool, char, [u8; 4]))]
    l: String,
}

fn main() {
    let mut s = AllKeys::new();
    s.a_mut().put(1, 1).unwrap();
    s.b_mut().put(-1, 1).unwrap();
    s.c_mut().put(true, 1).unwrap();
    s.d_mut().put('x', 1).unwrap();
    s.e_mut().put("x", 1).unwrap();
    s.f_mut().put(b"x", 1).unwrap();
    s.g_mut().put([7; 20], 1).unwrap();
    s.h_mut().put("eu", 1).unwrap();
    s.i_mut().put(b"eu", 1).unwrap();
    s.j_mut().put(("eu", 5), 1.5).unwrap();
    s.k_mut().put((1, "x", -3), vec![1]).unwrap();
    s.l_mut().put(("eu", true, 'c', [1, 2, 3, 4]), "v".into()).unwrap();
    let owned = String::from("eu");
    assert_eq!(s.j().get((&owned, 5)), Some(&1.5));
    let snap = s.snapshot().unwrap();
    let back = AllKeys::from_snapshot(&snap).unwrap();
    assert_eq!(back.l().get(("eu", true, 'c', [1, 2, 3, 4])).map(String::as_str), Some("v"));
    assert_eq!(back.j().prefix("eu").count(), 1);
}
