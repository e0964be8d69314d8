//! Processing time: the [`Clock`] trait, the system clock and a manual clock for tests.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::state::error::{Result, StateError};

/// A source of processing time, in milliseconds (the unit is a convention:
/// every time in this module is an `i64`, and milliseconds since the Unix
/// epoch are what [`SystemClock`] returns).
///
/// Law: a clock should not go backwards. Consumers check: a processing-time
/// [`TimerQueue`](super::TimerQueue) advanced to an earlier time, or a
/// processing-time TTL table that reads an earlier time on a write, returns
/// [`StateError::Time`] instead of moving back.
///
/// ```
/// use laminar_core::state::time::{Clock, ManualClock};
/// let clock = ManualClock::new(1_000);
/// let shared = clock.clone(); // the same time, e.g. handed to a table
/// clock.advance(500).unwrap();
/// assert_eq!(shared.now(), 1_500);
/// ```
pub trait Clock: Send + Sync {
    /// The current processing time.
    fn now(&self) -> i64;
}

/// Wall-clock processing time: milliseconds since the Unix epoch
/// ([`std::time::SystemTime`]). A system clock can be set back by the
/// operating system; consumers report that as [`StateError::Time`].
///
/// ```
/// use laminar_core::state::time::{Clock, SystemClock};
/// assert!(SystemClock.now() > 1_600_000_000_000); // after September 2020
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => i64::try_from(e.duration().as_millis())
                .map(|ms| -ms)
                .unwrap_or(i64::MIN),
        }
    }
}

/// A clock that moves only when told to: for tests and replays. Clones share
/// the same time.
///
/// ```
/// use laminar_core::state::time::{Clock, ManualClock};
/// let clock = ManualClock::new(0);
/// clock.set(10);
/// assert_eq!(clock.now(), 10);
/// assert!(clock.advance(i64::MAX).is_err()); // would overflow: an error, not a wrap
/// assert_eq!(clock.now(), 10);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock that reads `start`.
    pub fn new(start: i64) -> Self {
        ManualClock {
            now: Arc::new(AtomicI64::new(start)),
        }
    }

    /// Sets the time (it may go backwards: that is how tests check that
    /// consumers reject a clock going back).
    pub fn set(&self, now: i64) {
        self.now.store(now, Ordering::SeqCst);
    }

    /// Moves the time forward by `by` (negative moves it back).
    ///
    /// Fails with [`StateError::Time`] if the result would leave the `i64`
    /// range; the time is then unchanged.
    pub fn advance(&self, by: i64) -> Result<i64> {
        // One atomic step: clones share the time, and two threads advancing
        // at once must both count.
        match self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_add(by))
        {
            Ok(prev) => super::add_time(prev, by),
            Err(now) => super::add_time(now, by),
        }
    }

    /// The clock as a shareable `Arc<dyn Clock>` (for
    /// [`TtlConfig::processing_time`](super::TtlConfig::processing_time)).
    pub fn shared(&self) -> Arc<dyn Clock> {
        Arc::new(self.clone())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// Checks that `next` does not move time back from `last`.
pub(crate) fn check_forward(what: &str, last: Option<i64>, next: i64) -> Result<()> {
    match last {
        Some(last) if next < last => Err(StateError::Time(format!(
            "{what} went backwards: {next} after {last}"
        ))),
        _ => Ok(()),
    }
}
