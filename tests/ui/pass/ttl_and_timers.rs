//! TTL table fields with every option, and a timer field, through
//! snapshot/restore.
use laminar_core::state::state_store;
use laminar_core::state::time::{ManualClock, TimerQueue};

#[state_store(backend = AHash)]
struct Dedup {
    /// Event time (the default), expired after 1 000 ms.
    #[state(key = u64, ttl = 1_000)]
    seen: u32,
    /// Every option spelled out.
    #[state(
        key = (String, u64),
        ttl = 60_000,
        ttl_update = read_and_write,
        ttl_visibility = return_expired,
        ttl_time = event
    )]
    sessions: String,
    /// Processing time: starts on the system clock.
    #[state(key = u64, ttl = 5_000, ttl_time = processing, ttl_update = create_and_write, ttl_visibility = never_return_expired)]
    recent: u8,
    timers: TimerQueue<u64>,
}

/// An ordered backend: TTL tables keep their scans-free API on it too.
#[state_store(backend = BTree)]
struct Ordered {
    #[state(key = (String, i64), ttl = 10)]
    rows: Vec<u8>,
}

fn main() -> Result<(), laminar_core::state::StateError> {
    let mut o = Ordered::new();
    o.advance_ttl_to(0)?;
    o.rows_mut().put(("a", 1), vec![1])?;
    let mut o2 = Ordered::from_snapshot(&o.snapshot()?)?;
    assert_eq!(o2.rows().get(("a", 1)).map(Vec::len), Some(1));
    o2.advance_ttl_to(10)?;
    assert_eq!(o2.rows().get(("a", 1)), None);

    let mut d = Dedup::new();
    d.advance_ttl_to(0)?;
    d.seen_mut().put(7, 1)?;
    d.sessions_mut().put(("alice", 1), "open".into())?;
    let clock = ManualClock::new(0);
    d.recent_mut().set_clock(clock.shared())?;
    d.recent_mut().put(3, 9)?;
    d.timers.register(2_000, 7);
    d.advance_ttl_to(999)?;
    let snap = d.snapshot()?;
    let mut r = Dedup::from_snapshot(&snap)?;
    assert_eq!(r.seen().get(7), Some(&1));
    r.advance_ttl_to(1_000)?;
    assert_eq!(r.seen().get(7), None);
    assert_eq!(r.sessions().get(("alice", 1)).map(String::as_str), Some("open"));
    assert_eq!(r.timers.advance_to(2_000)?.collect::<Vec<_>>(), [(2_000, 7)]);
    d.restore(&snap)?;
    assert_eq!(d.seen().get(7), Some(&1));
    assert!(d.advance_ttl_to(5).is_err()); // the watermark went back
    Ok(())
}
