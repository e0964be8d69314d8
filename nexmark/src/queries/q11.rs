//! Q11, user sessions: bids per bidder per session window (a session ends
//! after 10 s without a bid).
//!
//! ```sql
//! SELECT B.bidder, count(*) AS bid_count,
//!        SESSION_START(B.date_time, INTERVAL '10' SECOND) AS starttime,
//!        SESSION_END(B.date_time, INTERVAL '10' SECOND) AS endtime
//! FROM bid B
//! GROUP BY B.bidder, SESSION(B.date_time, INTERVAL '10' SECOND);
//! ```
//!
//! A session `[start, last + gap)` takes a bid at `ts < last + gap`. A
//! session is emitted when a bid of the same bidder starts a new one, or
//! when the watermark reaches its end (swept each time the watermark
//! crosses a second), and then removed: live state is the bidders active in
//! the last 10 s (plus up to a second).
//!
//! Row: `[bidder, bids, session start, session end, 0, 0]`.

use std::collections::BTreeMap;

use laminar_core::state::Result;

use crate::events::Ev;
use crate::op::Row;

/// Session gap, ms.
pub const GAP: u64 = 10_000;

/// An open session.
#[derive(
    rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, Copy, Debug, Default, PartialEq,
)]
pub struct Session {
    /// First bid's time.
    pub start: u64,
    /// Last bid's time.
    pub last: u64,
    /// Bids.
    pub count: u64,
}

fn row(bidder: u64, s: &Session) -> Row {
    [bidder, s.count, s.start, s.last + GAP, 0, 0]
}

query! {
    tables {
        /// bidder -> open session.
        sessions: u64 => Session,
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
                if ts / 1000 > old / 1000 {
                    let mut ended = Vec::new();
                    self.sessions_mut().take_if(|_, s| s.last + GAP <= ts, &mut ended)?;
                    out.extend(ended.iter().map(|(k, s)| row(*k, s)));
                }
            }
            if let Ev::Bid(b) = e {
                let fresh = Session { start: b.ts, last: b.ts, count: 0 };
                let ended = self.sessions_mut().upsert_with(b.bidder, || fresh, |s| {
                    let ended = if s.count > 0 && b.ts >= s.last + GAP {
                        let old = *s;
                        *s = fresh;
                        Some(old)
                    } else {
                        None
                    };
                    s.count += 1;
                    s.last = s.last.max(b.ts);
                    ended
                })?;
                if let Some(s) = ended {
                    out.push(row(b.bidder, &s));
                }
            }
            Ok(())
        }

        fn finish(&mut self, out: &mut Vec<Row>) -> Result<()> {
            let mut ended = Vec::new();
            self.sessions_mut().take_if(|_, _| true, &mut ended)?;
            out.extend(ended.iter().map(|(k, s)| row(*k, s)));
            Ok(())
        }
    }
}

/// Whole-stream oracle: each bidder's bid times in order, split where the
/// gap is at least [`GAP`].
pub fn oracle(evs: &[Ev]) -> Vec<Row> {
    let mut times: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for e in evs {
        if let Ev::Bid(b) = e {
            times.entry(b.bidder).or_default().push(b.ts);
        }
    }
    let mut out = Vec::new();
    for (bidder, ts) in times {
        let mut start = 0;
        for i in 1..=ts.len() {
            let split = match (ts.get(i), ts.get(i - 1)) {
                (Some(t), Some(prev)) => *t >= prev + GAP,
                _ => true,
            };
            if split {
                if let (Some(first), Some(last)) = (ts.get(start), ts.get(i - 1)) {
                    out.push([bidder, (i - start) as u64, *first, last + GAP, 0, 0]);
                }
                start = i;
            }
        }
    }
    out
}
