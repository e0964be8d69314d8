//! Q4, average closing price per category: each auction's final price is
//! its highest bid between its start and its expiry; then the average of
//! final prices per category, updated as auctions close.
//!
//! ```sql
//! SELECT Q.category, AVG(Q.final)
//! FROM (SELECT MAX(B.price) AS final, A.category
//!       FROM auction A, bid B
//!       WHERE A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires
//!       GROUP BY A.id, A.category) Q
//! GROUP BY Q.category;
//! ```
//!
//! An auction closes when the watermark passes its expiry (no later bid can
//! join it); then its final price (if it had a matching bid) updates its
//! category's sum and count, and the update is emitted. Closing uses
//! the timer wheel of [`join`](super::join): one-second buckets kept
//! in a table (point operations only, so it works on every backend; it
//! predates `laminar_core::state::time`). State: the open auctions, their
//! timer buckets, and one aggregate per category.
//!
//! Row: `[category, sum of final prices, number of auctions, 0, 0, 0]`
//! (the average is `sum / count`, kept exact).

use std::collections::{BTreeMap, HashMap};

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
        /// category -> (sum of final prices, auctions).
        categories: u64 => (u64, u64),
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
            if let Some(best) = a.best {
                let (sum, n) = self
                    .categories_mut()
                    .upsert_with(a.category, Default::default, |c| {
                        c.0 += best.price;
                        c.1 += 1;
                        *c
                    })?;
                out.push([a.category, sum, n, 0, 0, 0]);
            }
            Ok(())
        }

        fn finish(&mut self, out: &mut Vec<Row>) -> Result<()> {
            let limit = self.clock.max_sec.saturating_add(1);
            self.close_until(limit, out)
        }
    }
}

/// Whole-stream oracle: join every bid to its auction, take each auction's
/// maximum, fold the auctions into their categories in closing order
/// (expiry, then id).
pub fn oracle(evs: &[Ev]) -> Vec<Row> {
    let finals: BTreeMap<(u64, u64), (u64, u64)> = join::oracle_winners(evs)
        .into_iter()
        .map(|(a, b)| ((a.expires, a.id), (a.category, b.price)))
        .collect();
    let mut agg: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut out = Vec::new();
    for (category, price) in finals.into_values() {
        let c = agg.entry(category).or_default();
        c.0 += price;
        c.1 += 1;
        out.push([category, c.0, c.1, 0, 0, 0]);
    }
    out
}
