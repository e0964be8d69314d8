//! Q9, winning bids: each auction with its highest bid placed between its
//! start and its expiry (ties: the earlier bid).
//!
//! ```sql
//! SELECT id, item_name, description, initial_bid, reserve, date_time, expires,
//!        seller, category, auction, bidder, price, bid_date_time
//! FROM (SELECT A.*, B.auction, B.bidder, B.price, B.date_time AS bid_date_time,
//!              ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.date_time ASC) AS rownum
//!       FROM auction A, bid B
//!       WHERE A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires)
//! WHERE rownum <= 1;
//! ```
//!
//! The winner is emitted once, when the watermark passes the auction's
//! expiry (no later bid can change it), and the auction's state removed;
//! closing uses the same table-kept timer wheel as Q4. Bids tied on price
//! and time: the first to arrive wins.
//!
//! Row: `[auction id, category, seller, bidder, price, bid date_time]`.

use laminar_core::state::Result;

use super::join::{self, Open};
use crate::events::Ev;
use crate::op::Row;

query! {
    tables {
        /// auction id -> the open auction and its best bid.
        auctions: u64 => Open,
        /// second -> `(expires, auction id)` of the auctions expiring in it.
        timers: u64 => Vec<(u64, u64)>,
    }
    values {
        /// The join's watermark and bookkeeping.
        clock: join::Clock,
    }
    logic {
        join_methods!();

        fn handle(&mut self, e: &Ev, out: &mut Vec<Row>) -> Result<()> {
            self.join_event(e, out)
        }

        fn close_one(&mut self, id: u64, out: &mut Vec<Row>) -> Result<()> {
            let Some(a) = self.auctions().fetch(id)? else {
                return Ok(());
            };
            self.auctions_mut().unset(id)?;
            if let Some(b) = a.best {
                out.push([id, a.category, a.seller, b.bidder, b.price, b.ts]);
            }
            Ok(())
        }

        fn finish(&mut self, out: &mut Vec<Row>) -> Result<()> {
            let limit = self.clock.max_sec.saturating_add(1);
            self.close_until(limit, out)
        }
    }
}

/// Whole-stream oracle: every auction's best matching bid.
pub fn oracle(evs: &[Ev]) -> Vec<Row> {
    join::oracle_winners(evs)
        .into_iter()
        .map(|(a, b)| [a.id, a.category, a.seller, b.bidder, b.price, b.ts])
        .collect()
}
