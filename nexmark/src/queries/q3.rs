//! Q3, local item suggestion: sellers in Oregon, Idaho or California and
//! their auctions in category 10 (an unbounded incremental join).
//!
//! ```sql
//! SELECT P.name, P.city, P.state, A.id
//! FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
//! WHERE A.category = 10 AND (P.state = 'or' OR P.state = 'id' OR P.state = 'ca');
//! ```
//!
//! (The generator writes states in lower case.) State: the matching persons
//! by id, and category-10 auctions whose seller has not been seen yet, by
//! seller. Person ids are handed out in stream order, so an auction whose
//! seller id is at most the largest person id seen either joins now or
//! never, and is not kept. The join has no time bound, so state grows with
//! the number of matching persons, as the query requires.
//!
//! Row: `[auction id, person id, hash(name), hash(city), hash(state), 0]`.

use std::collections::HashMap;

use laminar_core::state::Result;

use crate::events::{hash_str, Ev};
use crate::op::Row;

/// The auction category the query selects.
pub const CATEGORY: u64 = 10;

/// `true` for the states the query selects.
pub fn selected_state(s: &str) -> bool {
    matches!(s, "or" | "id" | "ca")
}

/// What the join outputs of a person.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Seller {
    /// Name.
    pub name: String,
    /// City.
    pub city: String,
    /// State.
    pub state: String,
}

fn row(auction: u64, person: u64, p: &Seller) -> Row {
    [
        auction,
        person,
        hash_str(&p.name),
        hash_str(&p.city),
        hash_str(&p.state),
        0,
    ]
}

query! {
    tables {
        /// person id -> person, for persons in a selected state.
        persons: u64 => Seller,
        /// seller id -> category-10 auctions waiting for that seller.
        pending: u64 => Vec<u64>,
    }
    values {
        /// Largest person id seen.
        max_person: u64,
    }
    logic {
        fn handle(&mut self, e: &Ev, out: &mut Vec<Row>) -> Result<()> {
            match e {
                Ev::Person(p) => {
                    self.max_person = self.max_person.max(p.id);
                    let waiting = self.pending().fetch(p.id)?;
                    if waiting.is_some() {
                        self.pending_mut().unset(p.id)?;
                    }
                    if selected_state(&p.state) {
                        let s = Seller {
                            name: p.name.clone(),
                            city: p.city.clone(),
                            state: p.state.clone(),
                        };
                        for a in waiting.unwrap_or_default() {
                            out.push(row(a, p.id, &s));
                        }
                        self.persons_mut().set(p.id, s)?;
                    }
                }
                Ev::Auction(a) if a.category == CATEGORY => {
                    let found = self.persons().look(a.seller, |p| {
                        if let Some(p) = p {
                            out.push(row(a.id, a.seller, p));
                            true
                        } else {
                            false
                        }
                    })?;
                    if !found && a.seller > self.max_person {
                        self.pending_mut().upsert_with(a.seller, Vec::new, |v| v.push(a.id))?;
                    }
                }
                _ => {}
            }
            Ok(())
        }

        fn finish(&mut self, _out: &mut Vec<Row>) -> Result<()> {
            Ok(())
        }
    }
}

/// Whole-stream oracle: every (category-10 auction, selected person) pair
/// with `auction.seller = person.id`.
pub fn oracle(evs: &[Ev]) -> Vec<Row> {
    let mut persons = HashMap::new();
    for e in evs {
        if let Ev::Person(p) = e {
            if selected_state(&p.state) {
                persons.insert(p.id, p);
            }
        }
    }
    let mut out = Vec::new();
    for e in evs {
        if let Ev::Auction(a) = e {
            if a.category == CATEGORY {
                if let Some(p) = persons.get(&a.seller) {
                    out.push([
                        a.id,
                        p.id,
                        hash_str(&p.name),
                        hash_str(&p.city),
                        hash_str(&p.state),
                        0,
                    ]);
                }
            }
        }
    }
    out
}
