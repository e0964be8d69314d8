//! The auction ⋈ bid join shared by Q4 and Q9: bids join their auction
//! when `auction.date_time <= bid.date_time <= auction.expires`, and each
//! auction keeps its best bid (highest price, then earliest time, then
//! first to arrive) until the watermark passes its expiry.
//!
//! Expiry is a timer wheel of one-second buckets kept in a table
//! (`timers: second -> [(expires, id)]`): when the watermark enters a new
//! second, the buckets of the seconds before it are read, removed and their
//! auctions closed in `(expires, id)` order. Only point operations, so it
//! runs on every backend; it stands in for the crate's timers until they
//! land. A bid may arrive before its auction with the same timestamp (the
//! generator lets bids name auctions a few ids ahead); such bids wait in
//! `Clock::early` until the watermark moves on.

use std::collections::HashMap;

use crate::events::{Auction, Bid, Ev};

/// A bid as an auction keeps it.
#[derive(
    rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, Copy, Debug, Default, PartialEq,
)]
pub struct Best {
    /// Price.
    pub price: u64,
    /// Bid time.
    pub ts: u64,
    /// Bidder.
    pub bidder: u64,
}

/// An open auction.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Open {
    /// Category.
    pub category: u64,
    /// Seller.
    pub seller: u64,
    /// Start time.
    pub ts: u64,
    /// Expiry time.
    pub expires: u64,
    /// Best matching bid so far.
    pub best: Option<Best>,
}

impl Open {
    /// Takes `b` if it joins and beats the best so far.
    pub fn offer(&mut self, b: Best) {
        if b.ts < self.ts || b.ts > self.expires {
            return;
        }
        let better = match self.best {
            None => true,
            Some(cur) => b.price > cur.price || (b.price == cur.price && b.ts < cur.ts),
        };
        if better {
            self.best = Some(b);
        }
    }
}

/// The join's single values.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Clock {
    /// Largest event time seen.
    pub watermark: u64,
    /// `true` once the first event was seen.
    pub started: bool,
    /// The first timer bucket (second) not yet closed.
    pub next_sec: u64,
    /// The last timer bucket used.
    pub max_sec: u64,
    /// Largest auction id seen.
    pub max_auction: u64,
    /// `(auction, bid)` of bids for auctions not seen yet, at the watermark.
    pub early: Vec<(u64, Best)>,
}

/// The join's methods, pasted into a query's logic; the query supplies
/// `close_one(id, out)`, called for each auction as it closes.
macro_rules! join_methods {
    () => {
        fn join_event(&mut self, e: &Ev, out: &mut Vec<Row>) -> Result<()> {
            let ts = e.ts();
            if !self.clock.started {
                self.clock.started = true;
                self.clock.next_sec = ts / 1000;
                self.clock.max_sec = ts / 1000;
            }
            if ts > self.clock.watermark {
                self.clock.watermark = ts;
                self.clock.early.retain(|(_, b)| b.ts >= ts);
                self.close_until(ts / 1000, out)?;
            }
            match e {
                Ev::Auction(a) => {
                    self.clock.max_auction = self.clock.max_auction.max(a.id);
                    let mut open = $crate::queries::join::Open {
                        category: a.category,
                        seller: a.seller,
                        ts: a.ts,
                        expires: a.expires,
                        best: None,
                    };
                    for (id, b) in &self.clock.early {
                        if *id == a.id {
                            open.offer(*b);
                        }
                    }
                    self.clock.early.retain(|(id, _)| *id != a.id);
                    self.auctions_mut().set(a.id, open)?;
                    let sec = a.expires / 1000;
                    self.clock.max_sec = self.clock.max_sec.max(sec);
                    let entry = (a.expires, a.id);
                    self.timers_mut()
                        .upsert_with(sec, Vec::new, |v| v.push(entry))?;
                }
                Ev::Bid(b) => {
                    let best = $crate::queries::join::Best {
                        price: b.price,
                        ts: b.ts,
                        bidder: b.bidder,
                    };
                    let hit = self.auctions_mut().modify(b.auction, |o| o.offer(best))?;
                    if hit.is_none() && b.auction > self.clock.max_auction {
                        self.clock.early.push((b.auction, best));
                    }
                }
                Ev::Person(_) => {}
            }
            Ok(())
        }

        /// Closes the auctions of every timer bucket before second `limit`.
        fn close_until(&mut self, limit: u64, out: &mut Vec<Row>) -> Result<()> {
            while self.clock.next_sec < limit && self.clock.next_sec <= self.clock.max_sec {
                let sec = self.clock.next_sec;
                if let Some(mut due) = self.timers().fetch(sec)? {
                    self.timers_mut().unset(sec)?;
                    due.sort_unstable();
                    for (_, id) in due {
                        self.close_one(id, out)?;
                    }
                }
                self.clock.next_sec += 1;
            }
            if self.clock.next_sec < limit && limit != u64::MAX {
                // No bucket past max_sec: skip the empty seconds.
                self.clock.next_sec = limit;
            }
            Ok(())
        }
    };
}

/// Whole-stream oracle of the join: each auction that has a matching bid,
/// with its best one.
pub fn oracle_winners(evs: &[Ev]) -> Vec<(Auction, Bid)> {
    let auctions: HashMap<u64, Auction> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::Auction(a) => Some((a.id, *a)),
            _ => None,
        })
        .collect();
    let mut best: HashMap<u64, Bid> = HashMap::new();
    for e in evs {
        let Ev::Bid(b) = e else { continue };
        let Some(a) = auctions.get(&b.auction) else {
            continue;
        };
        if b.ts < a.ts || b.ts > a.expires {
            continue;
        }
        match best.get(&a.id) {
            Some(cur) if !(b.price > cur.price || (b.price == cur.price && b.ts < cur.ts)) => {}
            _ => {
                best.insert(a.id, *b);
            }
        }
    }
    best.into_iter()
        .filter_map(|(id, b)| Some((*auctions.get(&id)?, b)))
        .collect()
}
