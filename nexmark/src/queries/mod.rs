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

pub mod q7;

/// A Nexmark query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Query {
    /// Q7: highest bid per tumbling window.
    Q7,
}

impl Query {
    /// Every query implemented.
    pub const ALL: [Query; 1] = [Query::Q7];

    /// `"q7"`, ...
    pub fn name(self) -> &'static str {
        match self {
            Query::Q7 => "q7",
        }
    }

    /// One line on what the query computes.
    pub fn about(self) -> &'static str {
        match self {
            Query::Q7 => "highest bid per 10 s tumbling window",
        }
    }

    /// The query called `name` (`q7` or `7`).
    pub fn parse(name: &str) -> Option<Query> {
        let n = name.trim_start_matches(['q', 'Q']);
        Query::ALL.into_iter().find(|q| &q.name()[1..] == n)
    }

    /// The query's operator on `backend`.
    pub fn operator(self, backend: Backend, base: Option<&Path>) -> Result<Box<dyn Operator>> {
        match self {
            Query::Q7 => q7::operator(backend, base),
        }
    }

    /// The oracle's output over the whole stream.
    pub fn oracle(self, evs: &[Ev]) -> Vec<Row> {
        match self {
            Query::Q7 => q7::oracle(evs),
        }
    }
}
