//! Q8, monitor new users: persons who opened an auction in the same 10 s
//! tumbling window in which they registered.
//!
//! ```sql
//! SELECT P.id, P.name, P.starttime
//! FROM (SELECT id, name, window_start AS starttime, window_end AS endtime
//!       FROM TUMBLE(person, date_time, INTERVAL '10' SECOND)
//!       GROUP BY id, name, window_start, window_end) P
//! JOIN (SELECT seller, window_start AS starttime, window_end AS endtime
//!       FROM TUMBLE(auction, date_time, INTERVAL '10' SECOND)
//!       GROUP BY seller, window_start, window_end) A
//! ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime;
//! ```
//!
//! A match is emitted as soon as both sides are in (once per person and
//! window). State: the window's persons and sellers, keyed `(window start,
//! id)`; when the watermark crosses into a new window the previous windows'
//! entries are removed, so live state is one window's persons and sellers.
//!
//! Row: `[person id, hash(name), window start, 0, 0, 0]`.

use std::collections::{BTreeMap, BTreeSet};

use laminar_core::state::Result;

use crate::events::{hash_str, Ev};
use crate::op::Row;

/// Window size, ms.
pub const SIZE: u64 = 10_000;

query! {
    tables {
        /// (window start, person id) -> name.
        persons: (u64, u64) => String,
        /// (window start, seller id) -> 1 (seen).
        sellers: (u64, u64) => u8,
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
                if ts / SIZE > old / SIZE {
                    let bound = (ts / SIZE * SIZE, 0);
                    let mut gone = Vec::new();
                    self.persons_mut().take_range((0, 0), bound, &mut gone)?;
                    let mut gone = Vec::new();
                    self.sellers_mut().take_range((0, 0), bound, &mut gone)?;
                }
            }
            match e {
                Ev::Person(p) => {
                    let w = p.ts / SIZE * SIZE;
                    if self.sellers().has((w, p.id))? {
                        out.push([p.id, hash_str(&p.name), w, 0, 0, 0]);
                    }
                    self.persons_mut().set((w, p.id), p.name.clone())?;
                }
                Ev::Auction(a) => {
                    let w = a.ts / SIZE * SIZE;
                    if !self.sellers().has((w, a.seller))? {
                        self.sellers_mut().set((w, a.seller), 1)?;
                        self.persons().look((w, a.seller), |p| {
                            if let Some(name) = p {
                                out.push([a.seller, hash_str(name), w, 0, 0, 0]);
                            }
                        })?;
                    }
                }
                Ev::Bid(_) => {}
            }
            Ok(())
        }

        fn finish(&mut self, _out: &mut Vec<Row>) -> Result<()> {
            Ok(())
        }
    }
}

/// Whole-stream oracle: the persons of each window, the sellers of each
/// window, their intersection.
pub fn oracle(evs: &[Ev]) -> Vec<Row> {
    let mut persons: BTreeMap<(u64, u64), &str> = BTreeMap::new();
    let mut sellers: BTreeSet<(u64, u64)> = BTreeSet::new();
    for e in evs {
        match e {
            Ev::Person(p) => {
                persons.insert((p.ts / SIZE * SIZE, p.id), &p.name);
            }
            Ev::Auction(a) => {
                sellers.insert((a.ts / SIZE * SIZE, a.seller));
            }
            Ev::Bid(_) => {}
        }
    }
    persons
        .into_iter()
        .filter(|(k, _)| sellers.contains(k))
        .map(|((w, id), name)| [id, hash_str(name), w, 0, 0, 0])
        .collect()
}
