//! Q5, hot items: per sliding window (10 s, every 2 s), the auctions with
//! the most bids.
//!
//! ```sql
//! SELECT AuctionBids.auction, AuctionBids.num
//! FROM (SELECT auction, count(*) AS num, window_start AS starttime
//!       FROM HOP(bid, date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND)
//!       GROUP BY window_start, window_end, auction) AS AuctionBids
//! JOIN (SELECT max(CountBids.num) AS maxn, CountBids.starttime
//!       FROM (SELECT count(*) AS num, window_start AS starttime
//!             FROM HOP(bid, date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND)
//!             GROUP BY auction, window_start, window_end) AS CountBids
//!       GROUP BY CountBids.starttime) AS MaxBids
//! ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.num >= MaxBids.maxn;
//! ```
//!
//! State: a count per `(window start, auction)`; a window is emitted and
//! removed when the watermark reaches its end (checked each time the
//! watermark crosses a 2 s boundary), so live state is the five open
//! windows' counts: bounded by the auctions active in 10 s.
//!
//! Row: `[window start, auction, count, 0, 0, 0]`.

use std::collections::BTreeMap;

use laminar_core::state::Result;

use crate::events::Ev;
use crate::op::Row;

/// Window size, ms.
pub const SIZE: u64 = 10_000;
/// Slide, ms.
pub const SLIDE: u64 = 2_000;

/// The starts of the windows that contain `ts`.
pub fn windows(ts: u64) -> impl Iterator<Item = u64> {
    let last = ts / SLIDE * SLIDE;
    (0..SIZE / SLIDE).filter_map(move |k| last.checked_sub(k * SLIDE))
}

fn emit(closed: Vec<((u64, u64), u64)>, out: &mut Vec<Row>) {
    let mut max: BTreeMap<u64, u64> = BTreeMap::new();
    for ((w, _), n) in &closed {
        let m = max.entry(*w).or_default();
        *m = (*m).max(*n);
    }
    for ((w, a), n) in closed {
        if max.get(&w) == Some(&n) {
            out.push([w, a, n, 0, 0, 0]);
        }
    }
}

query! {
    tables {
        /// (window start, auction) -> bids.
        counts: (u64, u64) => u64,
    }
    values {
        /// Largest event time seen.
        watermark: u64,
    }
    logic {
        fn handle(&mut self, e: &Ev, out: &mut Vec<Row>) -> Result<()> {
            let ts = e.ts();
            if ts > self.watermark {
                let old = self.watermark;
                self.watermark = ts;
                if ts / SLIDE > old / SLIDE && ts >= SIZE {
                    // Windows with start + SIZE <= ts.
                    let bound = (ts / SLIDE * SLIDE - SIZE) + 1;
                    let mut closed = Vec::new();
                    self.counts_mut().take_range((0, 0), (bound, 0), &mut closed)?;
                    emit(closed, out);
                }
            }
            if let Ev::Bid(b) = e {
                for w in windows(b.ts) {
                    self.counts_mut().upsert_with((w, b.auction), || 0, |n| *n += 1)?;
                }
            }
            Ok(())
        }

        fn finish(&mut self, out: &mut Vec<Row>) -> Result<()> {
            let mut closed = Vec::new();
            self.counts_mut().take_range((0, 0), (u64::MAX, u64::MAX), &mut closed)?;
            emit(closed, out);
            Ok(())
        }
    }
}

/// Whole-stream oracle: count every (window, auction), then keep each
/// window's maximum.
pub fn oracle(evs: &[Ev]) -> Vec<Row> {
    let mut counts: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for e in evs {
        if let Ev::Bid(b) = e {
            for w in windows(b.ts) {
                *counts.entry((w, b.auction)).or_default() += 1;
            }
        }
    }
    let mut max: BTreeMap<u64, u64> = BTreeMap::new();
    for ((w, _), n) in &counts {
        let m = max.entry(*w).or_default();
        *m = (*m).max(*n);
    }
    counts
        .into_iter()
        .filter(|((w, _), n)| max.get(w) == Some(n))
        .map(|((w, a), n)| [w, a, n, 0, 0, 0])
        .collect()
}
