//! Q18, find last bid: the latest bid of each (bidder, auction), as a
//! changelog (deduplication keeping the last row).
//!
//! ```sql
//! SELECT auction, bidder, price, channel, url, date_time, extra
//! FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction
//!                                    ORDER BY date_time DESC) AS rank_number
//!       FROM bid)
//! WHERE rank_number <= 1;
//! ```
//!
//! Each bid inserts its row and retracts the row it replaces (ties on
//! time: the later arrival is the last bid). State: one entry per (bidder,
//! auction) seen, unbounded as the query is.
//!
//! Row: `[0 insert | 1 retract, bidder, auction, price, date_time, 0]`.

use std::collections::HashMap;

use laminar_core::state::Result;

use crate::events::Ev;
use crate::op::Row;

/// The last bid of a (bidder, auction).
#[derive(
    rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, Copy, Debug, Default, PartialEq,
)]
pub struct Last {
    /// `false` for an entry just created.
    pub set: bool,
    /// Price.
    pub price: u64,
    /// Time.
    pub ts: u64,
}

query! {
    tables {
        /// (bidder, auction) -> last bid.
        last: (u64, u64) => Last,
    }
    values {}
    logic {
        fn handle(&mut self, e: &Ev, out: &mut Vec<Row>) -> Result<()> {
            if let Ev::Bid(b) = e {
                let new = Last { set: true, price: b.price, ts: b.ts };
                let old = self.last_mut().upsert_with((b.bidder, b.auction), Last::default, |l| {
                    let old = *l;
                    *l = new;
                    old
                })?;
                if old.set {
                    out.push([1, b.bidder, b.auction, old.price, old.ts, 0]);
                }
                out.push([0, b.bidder, b.auction, b.price, b.ts, 0]);
            }
            Ok(())
        }

        fn finish(&mut self, _out: &mut Vec<Row>) -> Result<()> {
            Ok(())
        }
    }
}

/// Whole-stream oracle: group the bids by (bidder, auction) in arrival
/// order; every bid is inserted, every bid but each group's last retracted.
pub fn oracle(evs: &[Ev]) -> Vec<Row> {
    let mut groups: HashMap<(u64, u64), Vec<(u64, u64)>> = HashMap::new();
    for e in evs {
        if let Ev::Bid(b) = e {
            groups
                .entry((b.bidder, b.auction))
                .or_default()
                .push((b.price, b.ts));
        }
    }
    let mut out = Vec::new();
    for ((bidder, auction), bids) in groups {
        for (i, (price, ts)) in bids.iter().enumerate() {
            out.push([0, bidder, auction, *price, *ts, 0]);
            if i + 1 < bids.len() {
                out.push([1, bidder, auction, *price, *ts, 0]);
            }
        }
    }
    out
}
