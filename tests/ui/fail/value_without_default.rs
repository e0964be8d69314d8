use laminar_core::state::state_store;

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct NoDefault {
    x: u64,
}

#[state_store]
struct State {
    single: NoDefault,
}

fn main() {}
