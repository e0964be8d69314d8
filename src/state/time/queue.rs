//! The expiry queue shared by [`TtlTable`](super::TtlTable) and
//! [`TtlStore`](super::TtlStore).
//!
//! An item is `(time, key)`: the entry of `key` may expire once its TTL has
//! passed since `time`. Two parts keep every item at its exact time:
//!
//! - new entries go to the back of a FIFO: a table's write time never goes
//!   back, so the FIFO stays ordered and a push costs O(1);
//! - an entry updated since it was queued is queued again, when cleanup
//!   reaches it, at its update time, which may lie before items already in
//!   the FIFO: those go to an ordered map (O(log n) each, paid only by
//!   entries that were updated and lived long enough to be reached).
//!
//! The front is the smaller of the two heads, so cleanup sees items in time
//! order and [`TtlTable::expire_due`](super::TtlTable::expire_due) removes
//! exactly the entries that are expired.

use std::collections::{BTreeMap, VecDeque};

/// Expiry queue: a FIFO of new entries plus an ordered map of re-queued ones.
#[derive(Debug, Clone)]
pub(crate) struct ExpiryQueue<R> {
    fifo: VecDeque<(i64, R)>,
    later: BTreeMap<i64, Vec<R>>,
    later_len: usize,
}

impl<R> Default for ExpiryQueue<R> {
    fn default() -> Self {
        ExpiryQueue {
            fifo: VecDeque::new(),
            later: BTreeMap::new(),
            later_len: 0,
        }
    }
}

impl<R> ExpiryQueue<R> {
    /// A queue holding `items`, which must be sorted by time.
    pub(crate) fn from_sorted(items: Vec<(i64, R)>) -> Self {
        ExpiryQueue {
            fifo: items.into(),
            ..Self::default()
        }
    }

    /// Number of items.
    pub(crate) fn len(&self) -> usize {
        self.fifo.len() + self.later_len
    }

    /// Removes every item.
    pub(crate) fn clear(&mut self) {
        self.fifo.clear();
        self.later.clear();
        self.later_len = 0;
    }

    /// The time [`push_new`](Self::push_new) would queue an entry written
    /// at `now` at: `now`, or the FIFO's last time if that is later, which
    /// keeps the FIFO ordered.
    pub(crate) fn new_time(&self, now: i64) -> i64 {
        self.fifo.back().map_or(now, |b| b.0.max(now))
    }

    /// Queues a new entry written at `now`; returns the time it was queued
    /// at ([`new_time`](Self::new_time)).
    pub(crate) fn push_new(&mut self, now: i64, key: R) -> i64 {
        let t = self.new_time(now);
        self.fifo.push_back((t, key));
        t
    }

    /// Queues an entry again at `time` (its last update).
    pub(crate) fn requeue(&mut self, time: i64, key: R) {
        self.later.entry(time).or_default().push(key);
        self.later_len += 1;
    }

    /// The time of the earliest item.
    pub(crate) fn front_time(&self) -> Option<i64> {
        let a = self.fifo.front().map(|f| f.0);
        let b = self.later.first_key_value().map(|(t, _)| *t);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Removes and returns the earliest item if `due(time)` holds for it.
    pub(crate) fn pop_due(&mut self, due: impl Fn(i64) -> bool) -> Option<(i64, R)> {
        let t = self.front_time()?;
        if !due(t) {
            return None;
        }
        let from_later = self.later.first_key_value().is_some_and(|(lt, _)| *lt == t);
        if from_later {
            let mut entry = self.later.first_entry()?;
            let key = entry.get_mut().pop()?;
            if entry.get().is_empty() {
                entry.remove();
            }
            self.later_len -= 1;
            Some((t, key))
        } else {
            self.fifo.pop_front()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_leave_in_time_order_across_both_parts() {
        let mut q = ExpiryQueue::default();
        assert_eq!(q.push_new(5, 'a'), 5);
        assert_eq!(q.push_new(3, 'b'), 5, "the FIFO stays ordered");
        q.push_new(9, 'c');
        q.requeue(4, 'd');
        q.requeue(7, 'e');
        q.requeue(4, 'f');
        assert_eq!(q.len(), 6);
        assert_eq!(q.front_time(), Some(4));
        let mut out = Vec::new();
        while let Some((t, k)) = q.pop_due(|t| t < 8) {
            out.push((t, k));
        }
        assert_eq!(out.len(), 5);
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0), "{out:?}");
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop_due(|_| true), Some((9, 'c')));
        assert_eq!(q.len(), 0);
        assert_eq!(q.front_time(), None);
        q.requeue(1, 'x');
        q.clear();
        assert_eq!(q.len(), 0);
    }
}
