use laminar_core::state::key::Dict;
use laminar_core::state::state_store;

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Default)]
struct Session {
    start: i64,
    events: Vec<u32>,
}

#[state_store(backend = BTree)]
struct Join {
    /// (event time, id): time-ordered.
    #[state(key = (i64, u64))]
    left: Session,
    #[state(key = (Dict<String>, i64))]
    r#type: u32,
    r#match: Session,
}

fn main() {
    let mut j = Join::new();
    for t in -5..5 {
        j.left_mut().put((t, 1), Session { start: t, events: vec![1] }).unwrap();
    }
    assert_eq!(j.left().range((-5, 0), (0, 0)).count(), 5);
    assert_eq!(j.left_mut().remove_range((i64::MIN, 0), (0, 0)), 5);
    assert_eq!(j.left().iter().next().map(|(k, _)| k), Some((0, 1)));
    j.r#type_mut().put(("click", 3), 1).unwrap();
    j.r#type_mut().update(("click", 3), |c| *c += 1).unwrap();
    assert_eq!(j.r#type().prefix("click").map(|(_, v)| *v).sum::<u32>(), 2);
    j.r#match.events.push(9);
    let back = Join::from_snapshot(&j.snapshot().unwrap()).unwrap();
    assert_eq!(back.r#match, j.r#match);
    assert_eq!(back.left().len(), 5);
}
