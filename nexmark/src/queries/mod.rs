//! The Nexmark queries, following the suite's SQL as Flink's and
//! RisingWave's repositories give it. Each module has the query's state and
//! logic (expanded for every backend by `query!`), its output columns, and
//! an independent `oracle` written plainly with std collections over the
//! whole stream.

use std::path::Path;

use laminar_core::state::Result;

use crate::events::Ev;
use crate::op::{Operator, Row};
use crate::Backend;

#[macro_use]
pub mod join;
pub mod q11;
pub mod q18;
pub mod q19;
pub mod q3;
pub mod q4;
pub mod q5;
pub mod q7;
pub mod q8;
pub mod q9;

macro_rules! queries {
    ($( $q:ident $m:ident $about:literal ),* $(,)?) => {
        /// A Nexmark query.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Query {
            $( #[doc = $about] $q, )*
        }

        impl Query {
            /// Every query implemented, in order.
            pub const ALL: &'static [Query] = &[$(Query::$q),*];

            /// `"q7"`, ...
            pub fn name(self) -> &'static str {
                match self {
                    $( Query::$q => stringify!($m), )*
                }
            }

            /// One line on what the query computes.
            pub fn about(self) -> &'static str {
                match self {
                    $( Query::$q => $about, )*
                }
            }

            /// The query's operator on `backend` (`base`: where the persistent
            /// backend makes its temporary directory).
            pub fn operator(self, backend: Backend, base: Option<&Path>) -> Result<Box<dyn Operator>> {
                match self {
                    $( Query::$q => $m::operator(backend, base), )*
                }
            }

            /// The oracle's output over the whole stream (unsorted).
            pub fn oracle(self, evs: &[Ev]) -> Vec<Row> {
                match self {
                    $( Query::$q => $m::oracle(evs), )*
                }
            }
        }
    };
}

queries! {
    Q3 q3 "Q3: local item suggestion (person ⋈ auction, unbounded)",
    Q4 q4 "Q4: average closing price per category (auction ⋈ bid until expiry)",
    Q5 q5 "Q5: hot items (most bids per 10 s window sliding by 2 s)",
    Q7 q7 "Q7: highest bid per 10 s tumbling window",
    Q8 q8 "Q8: new users (person ⋈ auction in the same 10 s window)",
    Q9 q9 "Q9: winning bid of each auction",
    Q11 q11 "Q11: bids per bidder session (10 s gap)",
    Q18 q18 "Q18: last bid per (bidder, auction), as a changelog",
    Q19 q19 "Q19: top 10 bids per auction, as a changelog",
}

impl Query {
    /// The query called `name` (`q7` or `7`).
    pub fn parse(name: &str) -> Option<Query> {
        let n = name.trim_start_matches(['q', 'Q']);
        Query::ALL
            .iter()
            .copied()
            .find(|q| q.name().get(1..) == Some(n))
    }
}
