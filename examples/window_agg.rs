//! Tumbling-window GROUP BY with `#[state_store]`:
//! `SELECT region, window_start, count(*), sum(amount) ... GROUP BY region, TUMBLE(ts, 10s)`.
//!
//! State: one aggregate per `(region, window start)` (the region
//! dictionary-encoded, so the key is an inline `(DictCode, i64)` in a hash
//! table), one event-time timer per open window at its end (a
//! [`TimerQueue`] field, part of the snapshot like any value), and the
//! watermark. When the watermark moves, the timers that are due say which
//! windows to emit and drop: the work is proportional to the windows that
//! close, never a scan of the table.
//!
//! The run is checked: a second run takes a snapshot halfway, round-trips it
//! through bytes, restores it into a fresh state and continues; its output
//! must equal the uninterrupted run's, and since the stream's disorder is
//! within the allowed lateness, every event must be counted (the process
//! exits non-zero otherwise).

use laminar_core::state::key::Dict;
use laminar_core::state::time::TimerQueue;
use laminar_core::state::{state_store, Result, StateSnapshot};

const WINDOW: i64 = 10_000;
const LATENESS: i64 = 2_000;
const EVENTS: u64 = 40_000;
const REGIONS: [&str; 5] = ["eu-west", "eu-north", "us-east", "us-west", "ap-south"];

/// A running aggregate.
#[derive(
    rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, Copy, Debug, Default, PartialEq,
)]
struct Agg {
    count: u64,
    sum: u64,
}

#[state_store(backend = AHash)]
struct WindowAgg {
    /// `(region, window start)` -> aggregate of the open window.
    #[state(key = (Dict<String>, i64))]
    windows: Agg,
    /// One timer per open window, at its end, keyed `(region, window start)`.
    closes: TimerQueue<(String, i64)>,
    /// Largest event time seen minus the allowed lateness.
    watermark: i64,
}

/// One closed window: `(window start, region, count, sum)`.
type Row = (i64, String, u64, u64);

struct Event {
    region: &'static str,
    ts: i64,
    amount: u64,
}

/// Deterministic event `i`: time roughly increasing with bounded disorder.
fn event(i: u64) -> Event {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    Event {
        region: REGIONS[(z % REGIONS.len() as u64) as usize],
        ts: (i as i64) * 25 - ((z >> 8) % 1_500) as i64,
        amount: (z >> 20) % 1_000,
    }
}

impl WindowAgg {
    fn on_event(&mut self, e: &Event, out: &mut Vec<Row>) -> Result<()> {
        let start = e.ts.div_euclid(WINDOW) * WINDOW;
        if start + WINDOW <= self.watermark {
            return Ok(()); // late: its window was already emitted
        }
        if !self.windows().contains((e.region, start)) {
            // A new window: close it when the watermark reaches its end.
            self.closes
                .register_after(start, WINDOW, (e.region.to_owned(), start))?;
        }
        self.windows_mut().update((e.region, start), |a| {
            a.count += 1;
            a.sum += e.amount;
        })?;
        let wm = e.ts - LATENESS;
        if wm > self.watermark {
            self.watermark = wm;
            self.close_windows(out)?;
        }
        Ok(())
    }

    /// Emits and drops every window that ended at or before the watermark,
    /// in (window end, region) order: the order the timers fire in.
    fn close_windows(&mut self, out: &mut Vec<Row>) -> Result<()> {
        for (_end, (region, start)) in self.closes.advance_to(self.watermark)? {
            if let Some(agg) = self.windows_mut().delete((region.as_str(), start)) {
                out.push((start, region, agg.count, agg.sum));
            }
        }
        Ok(())
    }
}

fn run(interrupt_at: Option<u64>) -> Result<Vec<Row>> {
    let mut state = WindowAgg::new();
    // No event seen yet: nothing is late. (The field's default, 0, would
    // drop the stream's first events, whose times start below 0.)
    state.watermark = i64::MIN;
    let mut out = Vec::new();
    for i in 0..EVENTS {
        if Some(i) == interrupt_at {
            // Checkpoint, "crash", recover into a fresh instance.
            let bytes = state.snapshot()?.to_bytes()?;
            drop(state);
            state = WindowAgg::from_snapshot(&StateSnapshot::from_bytes(&bytes)?)?;
        }
        state.on_event(&event(i), &mut out)?;
    }
    state.watermark = i64::MAX;
    state.close_windows(&mut out)?;
    if !state.windows().is_empty() || !state.closes.is_empty() {
        return Err(laminar_core::state::StateError::InvalidArgument(
            "state left after the final watermark".into(),
        ));
    }
    Ok(out)
}

fn main() {
    let (plain, restored) = match (run(None), run(Some(EVENTS / 2))) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("window_agg failed: {e}");
            std::process::exit(1);
        }
    };
    let total: u64 = plain.iter().map(|r| r.2).sum();
    println!("{} windows closed, {total} events aggregated", plain.len());
    for row in plain.iter().take(3) {
        println!(
            "  window {:>7} {:<9} count {:>3} sum {:>6}",
            row.0, row.1, row.2, row.3
        );
    }
    if plain != restored || plain.is_empty() {
        eprintln!("MISMATCH: output after snapshot/restore differs from the uninterrupted run");
        std::process::exit(1);
    }
    if total != EVENTS {
        eprintln!("MISMATCH: {total} of {EVENTS} events aggregated, but none is late");
        std::process::exit(1);
    }
    println!("snapshot/restore mid-stream: output identical to the uninterrupted run");
}
