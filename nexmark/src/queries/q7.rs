//! Q7, highest bid: the bids of each 10 s tumbling window whose price is
//! the window's maximum.
//!
//! ```sql
//! SELECT B.auction, B.price, B.bidder, B.date_time
//! FROM bid B JOIN (SELECT MAX(price) AS maxprice, window_end AS date_time
//!                  FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND)
//!                  GROUP BY window_end) B1
//! ON B.price = B1.maxprice
//! WHERE B.date_time BETWEEN B1.date_time - INTERVAL '10' SECOND AND B1.date_time;
//! ```
//!
//! Windows are half-open, `[start, start + 10 s)`: a bid belongs to one
//! window (the SQL's inclusive `BETWEEN` would also match a bid at exactly
//! `window_end` with the same price; we take the usual reading, "the highest
//! bids of each window"). State: one entry per open window (its maximum and
//! the bids at that price); a window is emitted and removed when the
//! watermark reaches its end, so at most two windows are live.
//!
//! Row: `[window_end, auction, price, bidder, date_time, 0]`.

use std::collections::BTreeMap;

use laminar_core::state::Result;

use crate::events::Ev;
use crate::op::Row;

/// Window size, ms.
pub const SIZE: u64 = 10_000;

/// An open window: its maximum price and the bids at that price.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Win {
    /// The maximum price so far.
    pub price: u64,
    /// `(auction, bidder, date_time)` of the bids at `price`, in arrival order.
    pub bids: Vec<(u64, u64, u64)>,
}

query! {
    tables {
        /// window start -> its maximum and the bids at it.
        windows: u64 => Win,
    }
    values {
        /// Largest event time seen.
        watermark: u64,
    }
    logic {
        fn handle(&mut self, e: &Ev, out: &mut Vec<Row>) -> Result<()> {
            if let Ev::Bid(b) = e {
                let w = b.ts / SIZE * SIZE;
                self.windows_mut().upsert_with(w, Win::default, |win| {
                    if win.bids.is_empty() || b.price > win.price {
                        win.price = b.price;
                        win.bids.clear();
                    }
                    if b.price == win.price {
                        win.bids.push((b.auction, b.bidder, b.ts));
                    }
                })?;
            }
            let ts = e.ts();
            if ts > self.watermark {
                let old = self.watermark;
                self.watermark = ts;
                if ts / SIZE > old / SIZE {
                    self.close(ts / SIZE * SIZE, out)?;
                }
            }
            Ok(())
        }

        /// Emits and removes every window that starts before `bound`.
        fn close(&mut self, bound: u64, out: &mut Vec<Row>) -> Result<()> {
            let mut closed = Vec::new();
            self.windows_mut().take_range(0, bound, &mut closed)?;
            for (w, win) in closed {
                for (auction, bidder, ts) in win.bids {
                    out.push([w + SIZE, auction, win.price, bidder, ts, 0]);
                }
            }
            Ok(())
        }

        fn finish(&mut self, out: &mut Vec<Row>) -> Result<()> {
            self.close(u64::MAX, out)
        }
    }
}

/// Whole-stream oracle: group the bids by window, take each window's
/// maximum, keep the bids at it.
pub fn oracle(evs: &[Ev]) -> Vec<Row> {
    let mut windows: BTreeMap<u64, Vec<crate::events::Bid>> = BTreeMap::new();
    for e in evs {
        if let Ev::Bid(b) = e {
            windows.entry(b.ts / SIZE * SIZE).or_default().push(*b);
        }
    }
    let mut out = Vec::new();
    for (w, bids) in windows {
        let max = bids.iter().map(|b| b.price).max().unwrap_or(0);
        for b in bids.iter().filter(|b| b.price == max) {
            out.push([w + SIZE, b.auction, b.price, b.bidder, b.ts, 0]);
        }
    }
    out
}
