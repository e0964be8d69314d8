//! Time: timers and state that expires (TTL).
//!
//! Every time is an `i64`; the crate's convention, and the unit of
//! [`SystemClock`], is **milliseconds** (since the Unix epoch for processing
//! time; whatever the stream's timestamps use for event time). One table or
//! queue must use one unit throughout. Every `i64` is a valid time
//! (`i64::MIN` and `i64::MAX` included); a computation that would leave the
//! range (a timer at `time + delay`, a clock advanced past `i64::MAX`) is a
//! [`StateError::Time`], as is a watermark or clock going backwards: never a
//! panic, never a wrapped time.
//!
//! - [`TimerQueue`]: timers keyed by `(time, key)`, fired in order when a
//!   watermark passes them; [`Timers`] holds an event-time and a
//!   processing-time queue. Both are [`Value`](crate::state::typed::Value)s,
//!   so a field of either type in a `#[state_store]` struct is part of its
//!   snapshot.
//! - [`Clock`]: processing time; [`SystemClock`] and, for tests,
//!   [`ManualClock`].
//! - [`TtlConfig`]: Flink's `StateTtlConfig` semantics (update on
//!   create-and-write or on read-and-write; never return expired values, or
//!   return them until cleaned up; event time or processing time).
//! - [`TtlTable`]: a typed in-memory table whose entries expire;
//!   [`TtlStore`]: the same for any byte-level
//!   [`StateStore`](crate::state::StateStore), `dyn` included.

mod clock;
mod queue;
mod timers;
mod ttl;
mod ttl_store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use timers::{Fired, TimerQueue, TimerSnapshot, Timers};
pub use ttl::{TimeDomain, TtlConfig, TtlTable, TtlUpdate, TtlVisibility, CLEANUP_PER_WRITE};
pub use ttl_store::TtlStore;

use crate::state::error::{Result, StateError};

/// `time + delay`, or [`StateError::Time`] if the sum leaves the `i64` range.
///
/// ```
/// use laminar_core::state::time::add_time;
/// assert_eq!(add_time(10, 5).unwrap(), 15);
/// assert!(add_time(i64::MAX, 1).is_err());
/// ```
pub fn add_time(time: i64, delay: i64) -> Result<i64> {
    time.checked_add(delay)
        .ok_or_else(|| StateError::Time(format!("{time} + {delay} is outside the i64 time range")))
}
