//! Q19, auction top-N: the 10 highest bids of each auction, as a changelog.
//!
//! ```sql
//! SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction
//!                                             ORDER BY price DESC) AS rank_number
//!                FROM bid)
//! WHERE rank_number <= 10;
//! ```
//!
//! Rank: price descending, then arrival (an earlier bid ranks above a later
//! one at the same price). A bid that enters the top 10 is inserted; the
//! bid it pushes out is retracted. State: one entry per auction (its top
//! 10), unbounded in auctions as the query is.
//!
//! Row: `[0 insert | 1 retract, auction, bidder, price, date_time, 0]`.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use laminar_core::state::Result;

use crate::events::Ev;
use crate::op::Row;

/// N.
pub const N: usize = 10;

/// `(price, bidder, date_time)` of an auction's top bids, best first.
pub type Top = Vec<(u64, u64, u64)>;

query! {
    tables {
        /// auction -> its top N bids, best first.
        top: u64 => Top,
    }
    values {}
    logic {
        fn handle(&mut self, e: &Ev, out: &mut Vec<Row>) -> Result<()> {
            if let Ev::Bid(b) = e {
                let (entered, evicted) = self.top_mut().upsert_with(b.auction, Vec::new, |top| {
                    let at = top.iter().position(|(p, _, _)| *p < b.price).unwrap_or(top.len());
                    if at >= N {
                        return (false, None);
                    }
                    top.insert(at, (b.price, b.bidder, b.ts));
                    let evicted = if top.len() > N { top.pop() } else { None };
                    (true, evicted)
                })?;
                if entered {
                    out.push([0, b.auction, b.bidder, b.price, b.ts, 0]);
                }
                if let Some((price, bidder, ts)) = evicted {
                    out.push([1, b.auction, bidder, price, ts, 0]);
                }
            }
            Ok(())
        }

        fn finish(&mut self, _out: &mut Vec<Row>) -> Result<()> {
            Ok(())
        }
    }
}

/// How many of `prices` (a multiset: price -> count) lie in `range`,
/// counting no further than `N`.
fn at_least(prices: &BTreeMap<u64, usize>, range: (Bound<u64>, Bound<u64>)) -> usize {
    let mut n = 0;
    for (_, c) in prices.range(range) {
        n += c;
        if n >= N {
            break;
        }
    }
    n
}

/// Whole-stream oracle, by counting instead of simulating: a bid enters the
/// top N if fewer than N earlier bids of its auction have a price at least
/// its own; it is retracted if it entered and, over the whole stream, N or
/// more bids rank above it (earlier at a price at least its own, or later
/// at a higher price).
pub fn oracle(evs: &[Ev]) -> Vec<Row> {
    let mut bids: HashMap<u64, Vec<(u64, u64, u64)>> = HashMap::new();
    for e in evs {
        if let Ev::Bid(b) = e {
            bids.entry(b.auction)
                .or_default()
                .push((b.price, b.bidder, b.ts));
        }
    }
    let mut out = Vec::new();
    for (auction, bids) in bids {
        let mut earlier = vec![0; bids.len()];
        let mut seen = BTreeMap::new();
        for (i, (p, _, _)) in bids.iter().enumerate() {
            if let Some(e) = earlier.get_mut(i) {
                *e = at_least(&seen, (Bound::Included(*p), Bound::Unbounded));
            }
            *seen.entry(*p).or_insert(0) += 1;
        }
        let mut later = vec![0; bids.len()];
        let mut seen = BTreeMap::new();
        for (i, (p, _, _)) in bids.iter().enumerate().rev() {
            if let Some(l) = later.get_mut(i) {
                *l = at_least(&seen, (Bound::Excluded(*p), Bound::Unbounded));
            }
            *seen.entry(*p).or_insert(0) += 1;
        }
        for (i, (price, bidder, ts)) in bids.iter().enumerate() {
            let (e, l) = (
                earlier.get(i).copied().unwrap_or(0),
                later.get(i).copied().unwrap_or(0),
            );
            if e < N {
                out.push([0, auction, *bidder, *price, *ts, 0]);
                if e + l >= N {
                    out.push([1, auction, *bidder, *price, *ts, 0]);
                }
            }
        }
    }
    out
}
