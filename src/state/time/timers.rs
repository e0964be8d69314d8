//! [`TimerQueue`]: timers keyed by `(time, key)`, fired in order by a watermark.

use std::collections::{btree_map, btree_set, BTreeMap, BTreeSet};
use std::fmt;

use rkyv::{Archive, Deserialize, Serialize};

use super::clock::{check_forward, Clock};
use crate::state::error::{Result, StateError};
use crate::state::typed::Value;

/// The timers registered for one instant: one key inline (the common case
/// of distinct times costs no allocation), more in an ordered set.
#[derive(Clone)]
enum Bucket<K> {
    One(K),
    Many(BTreeSet<K>),
}

impl<K: Ord> Bucket<K> {
    fn len(&self) -> usize {
        match self {
            Bucket::One(_) => 1,
            Bucket::Many(set) => set.len(),
        }
    }
}

/// Timers keyed by `(time, key)`: [`register`](Self::register),
/// [`delete`](Self::delete), and [`advance_to`](Self::advance_to) a
/// watermark, which hands out every timer at or before it in `(time, key)`
/// order, each exactly once.
///
/// The queue is domain-agnostic: advance it with the event-time watermark
/// (event-time timers) or with a [`Clock`]'s time
/// ([`advance_to_clock`](Self::advance_to_clock), processing-time timers);
/// [`Timers`] holds one of each. Times are `i64`; the crate's convention is
/// milliseconds (what [`SystemClock`](super::SystemClock) returns), but any
/// unit works as long as one queue uses one unit. Every `i64` is a valid
/// time, `i64::MIN` and `i64::MAX` included.
///
/// # Structure and costs
///
/// An ordered map from time to a bucket of keys (`BTreeMap<i64, Bucket>`):
/// a bucket is a single key stored inline, or an ordered set once a second
/// key shares the instant.
///
/// - `register` and `delete`: `O(log n)` (a map lookup, plus a set lookup
///   when several keys share the instant). Registering a timer that is
///   already there changes nothing (timers are a set, as in Flink).
/// - `advance_to(wm)`: `O(1)` when nothing is due (a look at the first
///   time). Due instants are removed from the front of the tree: the first
///   32 one by one (`BTreeMap::first_entry`, a walk down the left edge
///   that compares no keys, about 4 nodes deep at 1M instants, with
///   amortized-constant rebalancing), the rest in one `split_off`
///   (`O(log n)` plus work proportional to the part it hands out), so a
///   fired timer costs `O(1)` amortized when many fire at once and one
///   short walk otherwise, never anything per unfired timer.
///
/// Buckets are kept sorted as they fill rather than sorted once when they
/// fire: that keeps `delete` at `O(log n)` even when many timers share an
/// instant (an unsorted bucket would make `delete` a linear search of it,
/// and would need a sort and deduplication per firing), at the price of an
/// ordered set for instants that hold two keys or more.
///
/// # Watermarks
///
/// The watermark only moves forward: `advance_to` to an earlier time than
/// the last one is a [`StateError::Time`] and changes nothing. Advancing to
/// the same watermark again is allowed. A timer registered at or before the
/// current watermark is not lost: it fires on the next `advance_to`.
///
/// # Snapshots
///
/// `TimerQueue<K>` implements [`Value`] when `K` is an rkyv value, so a
/// field of this type in a `#[state_store]` struct is part of its
/// `snapshot()`/`restore()` with no attribute; [`snapshot`](Self::snapshot)
/// and [`from_snapshot`](Self::from_snapshot) do the same on their own. The
/// watermark is saved with the timers, so a restored queue fires exactly
/// what the original would have fired.
///
/// ```
/// use laminar_core::state::time::TimerQueue;
///
/// let mut timers: TimerQueue<String> = TimerQueue::new();
/// timers.register(20, "b".to_string());
/// timers.register(10, "z".to_string());
/// timers.register(20, "a".to_string());
/// timers.register(30, "c".to_string());
/// assert!(timers.delete(30, &"c".to_string()));
///
/// let fired: Vec<(i64, String)> = timers.advance_to(25)?.collect();
/// assert_eq!(fired, [(10, "z".into()), (20, "a".into()), (20, "b".into())]);
/// assert!(timers.is_empty());
/// assert!(timers.advance_to(24).is_err()); // the watermark went backwards
///
/// // Through a snapshot: the restored queue fires what the original would.
/// timers.register(40, "d".to_string());
/// let snap = timers.snapshot()?;
/// let mut restored: TimerQueue<String> = TimerQueue::from_snapshot(&snap)?;
/// assert_eq!(restored.advance_to(i64::MAX)?.collect::<Vec<_>>(), [(40, "d".into())]);
/// # Ok::<(), laminar_core::state::StateError>(())
/// ```
#[derive(Clone)]
pub struct TimerQueue<K> {
    buckets: BTreeMap<i64, Bucket<K>>,
    len: usize,
    watermark: Option<i64>,
}

impl<K> Default for TimerQueue<K> {
    fn default() -> Self {
        TimerQueue {
            buckets: BTreeMap::new(),
            len: 0,
            watermark: None,
        }
    }
}

impl<K: Ord + fmt::Debug> fmt::Debug for TimerQueue<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerQueue")
            .field("watermark", &self.watermark)
            .field("timers", &self.iter().collect::<Vec<_>>())
            .finish()
    }
}

impl<K: Ord> PartialEq for TimerQueue<K> {
    fn eq(&self, other: &Self) -> bool {
        self.watermark == other.watermark && self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<K: Ord> TimerQueue<K> {
    /// An empty queue that has seen no watermark yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of pending timers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` if no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The last watermark passed to [`advance_to`](Self::advance_to), or
    /// `None` before the first.
    pub fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    /// The earliest pending time, if any.
    pub fn next_time(&self) -> Option<i64> {
        self.buckets.keys().next().copied()
    }

    /// Registers a timer for `key` at `time`; returns `false` (and changes
    /// nothing) if that exact timer is already pending. `O(log n)`.
    pub fn register(&mut self, time: i64, key: K) -> bool {
        match self.buckets.entry(time) {
            btree_map::Entry::Vacant(v) => {
                v.insert(Bucket::One(key));
            }
            btree_map::Entry::Occupied(o) => {
                let bucket = o.into_mut();
                match bucket {
                    Bucket::One(existing) => {
                        if *existing == key {
                            return false;
                        }
                        let Bucket::One(first) =
                            std::mem::replace(bucket, Bucket::Many(BTreeSet::new()))
                        else {
                            return false; // just matched as `One`
                        };
                        *bucket = Bucket::Many(BTreeSet::from([first, key]));
                    }
                    Bucket::Many(set) => {
                        if !set.insert(key) {
                            return false;
                        }
                    }
                }
            }
        }
        self.len += 1;
        true
    }

    /// Registers a timer `delay` after `time` (for example a window's end,
    /// or an expiry): [`StateError::Time`] if `time + delay` is past the
    /// `i64` range, never a wrapped time.
    pub fn register_after(&mut self, time: i64, delay: i64, key: K) -> Result<bool> {
        Ok(self.register(super::add_time(time, delay)?, key))
    }

    /// Removes the timer for `key` at `time`; returns `false` if there was
    /// none. `O(log n)`.
    pub fn delete(&mut self, time: i64, key: &K) -> bool {
        let btree_map::Entry::Occupied(mut o) = self.buckets.entry(time) else {
            return false;
        };
        let (removed, now_empty) = match o.get_mut() {
            Bucket::One(existing) => {
                let hit = existing == key;
                (hit, hit)
            }
            Bucket::Many(set) => (set.remove(key), set.is_empty()),
        };
        if now_empty {
            o.remove();
        }
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// `true` if a timer for `key` at `time` is pending.
    pub fn contains(&self, time: i64, key: &K) -> bool {
        match self.buckets.get(&time) {
            Some(Bucket::One(k)) => k == key,
            Some(Bucket::Many(set)) => set.contains(key),
            None => false,
        }
    }

    /// Every pending timer in `(time, key)` order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &K)> + '_ {
        self.buckets.iter().flat_map(|(&t, b)| {
            let (one, many) = match b {
                Bucket::One(k) => (Some(k), None),
                Bucket::Many(set) => (None, Some(set.iter())),
            };
            one.into_iter()
                .chain(many.into_iter().flatten())
                .map(move |k| (t, k))
        })
    }

    /// Moves the watermark to `watermark` and removes every timer at or
    /// before it, returned in `(time, key)` order.
    ///
    /// The returned iterator owns the fired timers (the queue can be used,
    /// and new timers registered, while it is walked); dropping it early
    /// discards the rest of them, they are not fired again.
    ///
    /// Fails with [`StateError::Time`], changing nothing, if `watermark` is
    /// before the last watermark.
    pub fn advance_to(&mut self, watermark: i64) -> Result<Fired<K>> {
        check_forward("timer watermark", self.watermark, watermark)?;
        self.watermark = Some(watermark);
        // Due instants one by one from the front of the tree, then, past
        // FRONT_POPS of them, the rest in one `split_off`: a pop costs the
        // walk down the left edge (no key comparisons), a split is dearer
        // but is amortized over the many instants it hands out.
        let mut head = Vec::new();
        let mut count = 0usize;
        let mut tail = BTreeMap::new();
        while let Some(first) = self.buckets.first_entry() {
            if *first.key() > watermark {
                break;
            }
            if head.len() == FRONT_POPS {
                tail = match watermark.checked_add(1) {
                    Some(first_kept) => {
                        let kept = self.buckets.split_off(&first_kept);
                        std::mem::replace(&mut self.buckets, kept)
                    }
                    None => std::mem::take(&mut self.buckets),
                };
                count += tail.values().map(Bucket::len).sum::<usize>();
                break;
            }
            let (t, bucket) = first.remove_entry();
            count += bucket.len();
            head.push((t, bucket));
        }
        self.len -= count;
        Ok(Fired {
            head: head.into_iter(),
            tail: tail.into_iter(),
            current: None,
            remaining: count,
        })
    }

    /// [`advance_to`](Self::advance_to) the clock's current time: how a
    /// processing-time queue fires. A clock that went back is a
    /// [`StateError::Time`].
    pub fn advance_to_clock(&mut self, clock: &dyn Clock) -> Result<Fired<K>> {
        self.advance_to(clock.now())
    }

    /// Removes every timer and forgets the watermark.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

impl<K: Ord + Clone> TimerQueue<K>
where
    TimerSnapshot<K>: Value,
{
    /// The queue (timers and watermark) as a one-entry
    /// [`StateSnapshot`](crate::state::StateSnapshot) (key `b"timers"`).
    pub fn snapshot(&self) -> Result<crate::state::StateSnapshot> {
        Ok(crate::state::StateSnapshot::new(vec![(
            b"timers".to_vec(),
            self.to_snapshot_bytes()?,
        )]))
    }

    /// A queue from a [`snapshot`](Self::snapshot), validated: bad bytes
    /// are a [`StateError`], never a panic.
    pub fn from_snapshot(snapshot: &crate::state::StateSnapshot) -> Result<Self> {
        match (snapshot.len(), snapshot.entry(0)) {
            (1, Some((k, v))) if k == b"timers" => Self::from_snapshot_bytes(v),
            _ => Err(StateError::corruption(
                "timer snapshot",
                "expected exactly one entry named `timers`",
            )),
        }
    }
}

/// The archived form of a [`TimerQueue`]: its watermark and its timers in
/// strictly ascending `(time, key)` order (checked on read).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TimerSnapshot<K> {
    /// The queue's watermark.
    pub watermark: Option<i64>,
    /// Pending timers, ascending.
    pub timers: Vec<(i64, K)>,
}

impl<K: Ord + Clone> Value for TimerQueue<K>
where
    TimerSnapshot<K>: Value,
{
    fn to_snapshot_bytes(&self) -> Result<Vec<u8>> {
        TimerSnapshot {
            watermark: self.watermark,
            timers: self.iter().map(|(t, k)| (t, k.clone())).collect(),
        }
        .to_snapshot_bytes()
    }

    fn from_snapshot_bytes(bytes: &[u8]) -> Result<Self> {
        let snap = TimerSnapshot::<K>::from_snapshot_bytes(bytes)?;
        let mut queue = TimerQueue {
            buckets: BTreeMap::new(),
            len: 0,
            watermark: snap.watermark,
        };
        let mut last: Option<(i64, K)> = None;
        for (n, (t, k)) in snap.timers.into_iter().enumerate() {
            if let Some((lt, lk)) = &last {
                if (*lt, lk) >= (t, &k) {
                    return Err(StateError::corruption(
                        format!("timer snapshot entry {n}"),
                        "timers not in strictly ascending (time, key) order",
                    ));
                }
            }
            queue.register(t, k.clone());
            last = Some((t, k));
        }
        Ok(queue)
    }
}

/// Due instants an `advance_to` pops one by one before it splits the rest
/// off in one step.
const FRONT_POPS: usize = 32;

/// The timers fired by one [`TimerQueue::advance_to`], in `(time, key)`
/// order. Owns them: see `advance_to`.
pub struct Fired<K> {
    head: std::vec::IntoIter<(i64, Bucket<K>)>,
    tail: btree_map::IntoIter<i64, Bucket<K>>,
    current: Option<(i64, BucketIter<K>)>,
    remaining: usize,
}

enum BucketIter<K> {
    One(Option<K>),
    Many(btree_set::IntoIter<K>),
}

impl<K> Iterator for Fired<K> {
    type Item = (i64, K);

    fn next(&mut self) -> Option<(i64, K)> {
        loop {
            if let Some((t, it)) = &mut self.current {
                let next = match it {
                    BucketIter::One(k) => k.take(),
                    BucketIter::Many(set) => set.next(),
                };
                if let Some(k) = next {
                    self.remaining -= 1;
                    return Some((*t, k));
                }
            }
            let (t, bucket) = self.head.next().or_else(|| self.tail.next())?;
            let it = match bucket {
                Bucket::One(k) => BucketIter::One(Some(k)),
                Bucket::Many(set) => BucketIter::Many(set.into_iter()),
            };
            self.current = Some((t, it));
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<K> ExactSizeIterator for Fired<K> {}

/// The event-time and processing-time timers of one operator: two
/// [`TimerQueue`]s, one advanced by the watermark, one by a [`Clock`].
/// Part of a `#[state_store]` struct's snapshot like any [`Value`] field.
///
/// ```
/// use laminar_core::state::time::{ManualClock, Timers};
///
/// let clock = ManualClock::new(0);
/// let mut timers: Timers<u64> = Timers::new();
/// timers.event.register(100, 1);
/// timers.processing.register(5_000, 2);
/// assert_eq!(timers.event.advance_to(100)?.collect::<Vec<_>>(), [(100, 1)]);
/// clock.advance(5_000)?;
/// assert_eq!(timers.processing.advance_to_clock(&clock)?.collect::<Vec<_>>(), [(5_000, 2)]);
/// # Ok::<(), laminar_core::state::StateError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timers<K: Ord> {
    /// Event-time timers, fired by the watermark.
    pub event: TimerQueue<K>,
    /// Processing-time timers, fired by a clock's time.
    pub processing: TimerQueue<K>,
}

impl<K: Ord> Timers<K> {
    /// No timers.
    pub fn new() -> Self {
        Timers {
            event: TimerQueue::new(),
            processing: TimerQueue::new(),
        }
    }

    /// Pending timers of both kinds.
    pub fn len(&self) -> usize {
        self.event.len() + self.processing.len()
    }

    /// `true` if neither queue holds a timer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Ord + Clone> Value for Timers<K>
where
    TimerSnapshot<K>: Value,
{
    fn to_snapshot_bytes(&self) -> Result<Vec<u8>> {
        let event = self.event.to_snapshot_bytes()?;
        let processing = self.processing.to_snapshot_bytes()?;
        (event, processing).to_snapshot_bytes()
    }

    fn from_snapshot_bytes(bytes: &[u8]) -> Result<Self> {
        let (event, processing) = <(Vec<u8>, Vec<u8>)>::from_snapshot_bytes(bytes)?;
        Ok(Timers {
            event: TimerQueue::from_snapshot_bytes(&event)
                .map_err(|e| e.within(|| "event-time timers".into()))?,
            processing: TimerQueue::from_snapshot_bytes(&processing)
                .map_err(|e| e.within(|| "processing-time timers".into()))?,
        })
    }
}
