//! An ordered map with wide nodes: a B+ tree whose inner nodes hold only keys
//! and child pointers.
//!
//! `std::collections::BTreeMap` is a B-tree: every node, inner ones included,
//! stores values beside its keys, so with values of a few dozen bytes an inner
//! node's child pointers sit several cache lines past its keys, and each of
//! the roughly `log_6(n)` levels costs a cache miss or two. Here values live
//! only in leaves; an inner node of 64 children is its keys plus 64 pointers,
//! so the inner levels of a million-entry tree (about 500 nodes) stay in
//! cache and a lookup misses on the leaf and the value only.
//!
//! # Invariants
//!
//! - Keys within a node are strictly ascending.
//! - An inner node with `c` children has `c - 1` separator keys; separator
//!   `i` is greater than every key below child `i` and at most every key
//!   below child `i + 1` (deleting a key may leave a separator that no longer
//!   exists as a key, which keeps this true).
//! - Every leaf is at the same depth; a node other than the root holds at
//!   least [`MIN`] entries (children for inner nodes); the root, when inner,
//!   has at least two children; an empty map has no root (or an empty leaf
//!   root, after an [`Entry::Vacant`] that was not filled).
//!
//! Every operation keeps these; the code indexes node arrays only at positions
//! bounded by them, never at positions derived from caller data alone.

use std::fmt;
use std::ops::Bound;

use arrayvec::ArrayVec;

use crate::state::mem::node_alloc::NodeBox;

/// Entries per leaf and children per inner node.
const CAP: usize = 64;
/// Fewest entries (children) of a node other than the root.
const MIN: usize = CAP / 3;

#[derive(Clone)]
struct Leaf<K, V> {
    keys: ArrayVec<K, CAP>,
    vals: ArrayVec<V, CAP>,
}

#[derive(Clone)]
struct Inner<K, V> {
    /// `children.len() - 1` separators.
    keys: ArrayVec<K, CAP>,
    children: Children<K, V>,
}

/// The children of an inner node: all leaves or all inner nodes, since every
/// leaf is at the same depth. Leaves and inner nodes are separate types (and
/// allocations), so inner nodes stay small.
#[derive(Clone)]
enum Children<K, V> {
    Leaves(ArrayVec<NodeBox<Leaf<K, V>>, CAP>),
    Inners(ArrayVec<NodeBox<Inner<K, V>>, CAP>),
}

#[derive(Clone)]
enum Root<K, V> {
    Leaf(NodeBox<Leaf<K, V>>),
    Inner(NodeBox<Inner<K, V>>),
}

/// Keys per group in [`count_below`]: eight `u64` keys fill a cache line.
const GROUP: usize = 8;

/// Number of keys (sorted ascending) for which `below` holds, where `below`
/// is monotone (true for a prefix of the keys).
///
/// Two branch-free passes instead of a binary search: first the last key of
/// every group of [`GROUP`] keys, which finds the group holding the boundary,
/// then the keys of that group. A node's keys span several cache lines; this
/// touches every line at once (the loads are independent, so the CPU fetches
/// them in parallel) instead of one dependent probe after another, and
/// compares 16 keys of 64 rather than all of them.
#[inline]
fn count_below<K>(keys: &[K], below: impl Fn(&K) -> bool) -> usize {
    let groups: usize = keys
        .chunks_exact(GROUP)
        .map(|c| usize::from(c.last().is_some_and(&below)))
        .sum();
    let start = groups * GROUP;
    let tail = keys.get(start..).unwrap_or_default();
    start
        + tail
            .iter()
            .take(GROUP)
            .map(|x| usize::from(below(x)))
            .sum::<usize>()
}

/// Bytes of a node array that a lookup prefetches when it enters the node.
///
/// Larger arrays (a leaf of large values) are not prefetched: their lines
/// would cost more memory bandwidth than the one miss they save.
const PREFETCH_MAX: usize = 1024;

/// Asks the CPU to start loading the cache lines of `items`, a node array of
/// a tree keyed by `K`, when a lookup enters the node.
///
/// A lookup in a node reads its keys, then one child pointer (inner node) or
/// one value (leaf) at a position that depends on them; with keys of more
/// than eight bytes a group of [`GROUP`] keys spans two cache lines, so
/// [`count_below`] itself misses twice in a row. Requested together when the
/// node is entered, those misses overlap, which makes dependent lookups of
/// `(u32, u64)` keys clearly faster than with the keys alone not prefetched.
///
/// With keys of at most eight bytes (the `u64` words of `InMemoryStore`) it
/// does nothing: the first pass of [`count_below`] already loads every key
/// line at once, inner nodes are 1 KiB and a million-key tree's inner levels
/// stay in cache, and prefetching there measured slower on dependent
/// lookups and no faster on independent ones. (Figures for both, with
/// their commands: `BENCHMARKS.md`, "Figures behind the source docs".)
///
/// A hint only: it neither faults nor changes any value.
#[inline(always)]
fn prefetch<K, T>(items: &[T]) {
    let bytes = std::mem::size_of_val(items);
    if std::mem::size_of::<K>() * GROUP <= 64 || bytes > PREFETCH_MAX {
        return;
    }
    crate::state::mem::prefetch::lines(items.as_ptr(), bytes);
}

/// Number of keys `< k`: the insertion point of `k`.
#[inline]
fn lower_bound<K: Ord>(keys: &[K], k: &K) -> usize {
    count_below(keys, |x| x < k)
}

/// Number of keys `<= k`: the child of an inner node that may hold `k`.
#[inline]
fn child_index<K: Ord>(keys: &[K], k: &K) -> usize {
    count_below(keys, |x| x <= k)
}

impl<K, V> Leaf<K, V> {
    fn new() -> Self {
        Leaf {
            keys: ArrayVec::new(),
            vals: ArrayVec::new(),
        }
    }
}

impl<K: Ord, V> Leaf<K, V> {
    /// `Ok(position)` of `k`, or `Err(insertion point)`.
    #[inline]
    fn find(&self, k: &K) -> Result<usize, usize> {
        let pos = lower_bound(&self.keys, k);
        match self.keys.get(pos) {
            Some(x) if x == k => Ok(pos),
            _ => Err(pos),
        }
    }

    #[inline]
    fn get(&self, k: &K) -> Option<&V> {
        prefetch::<K, _>(&self.keys);
        prefetch::<K, _>(&self.vals);
        self.vals.get(self.find(k).ok()?)
    }

    #[inline]
    fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let pos = self.find(k).ok()?;
        self.vals.get_mut(pos)
    }

    /// Removes `k` if present.
    fn remove(&mut self, k: &K) -> Option<V> {
        let pos = self.find(k).ok()?;
        self.keys.remove(pos);
        Some(self.vals.remove(pos))
    }

    /// `true` if inserting `k` would overflow this leaf.
    fn needs_split(&self, k: &K) -> bool {
        self.keys.is_full() && self.find(k).is_err()
    }
}

impl<K: Clone, V> Leaf<K, V> {
    /// Moves the upper half into a new right sibling; returns it with the
    /// separator in front of it. Called on full leaves only.
    fn split(&mut self) -> Option<(K, Leaf<K, V>)> {
        let keys: ArrayVec<K, CAP> = self.keys.drain(CAP / 2..).collect();
        let vals: ArrayVec<V, CAP> = self.vals.drain(CAP / 2..).collect();
        let sep = keys.first()?.clone();
        Some((sep, Leaf { keys, vals }))
    }
}

impl<K, V> Children<K, V> {
    fn len(&self) -> usize {
        match self {
            Children::Leaves(c) => c.len(),
            Children::Inners(c) => c.len(),
        }
    }
}

impl<K, V> Inner<K, V> {
    /// Moves the upper half into a new right sibling; returns it with the
    /// separator that moves up. Called on full nodes only: of `CAP` children
    /// and `CAP - 1` keys, the left keeps `CAP / 2` children, key
    /// `CAP / 2 - 1` moves up, the right takes the rest.
    fn split(&mut self) -> Option<(K, Inner<K, V>)> {
        let keys: ArrayVec<K, CAP> = self.keys.drain(CAP / 2..).collect();
        let sep = self.keys.pop()?;
        let children = match &mut self.children {
            Children::Leaves(c) => Children::Leaves(c.drain(CAP / 2..).collect()),
            Children::Inners(c) => Children::Inners(c.drain(CAP / 2..).collect()),
        };
        Some((sep, Inner { keys, children }))
    }
}

/// An ordered map of `K` to `V` with wide nodes: the map behind the typed
/// `BTree` backend and each layer of `InMemoryStore` (a B+ tree; inner nodes
/// hold keys and child pointers only, values live in the leaves).
#[derive(Clone)]
pub struct BPlusTree<K, V> {
    root: Option<Root<K, V>>,
    len: usize,
}

impl<K, V> Default for BPlusTree<K, V> {
    fn default() -> Self {
        BPlusTree { root: None, len: 0 }
    }
}

impl<K: Ord + Clone + fmt::Debug, V: fmt::Debug> fmt::Debug for BPlusTree<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A slot found by [`BPlusTree::entry`].
pub(crate) enum Entry<'a, K, V> {
    /// The key is present.
    Occupied(&'a mut V),
    /// The key is absent; its leaf has room for it.
    Vacant(VacantEntry<'a, K, V>),
}

/// Where an absent key goes: a leaf with room, and the position in it.
pub(crate) struct VacantEntry<'a, K, V> {
    leaf: &'a mut Leaf<K, V>,
    pos: usize,
    key: K,
    len: &'a mut usize,
}

impl<'a, K, V> VacantEntry<'a, K, V> {
    /// Inserts the value and returns it.
    pub(crate) fn insert(self, v: V) -> &'a mut V {
        // `entry` split every full node on the way down, so the leaf has room
        // and `pos <= len`.
        self.leaf.keys.insert(self.pos, self.key);
        self.leaf.vals.insert(self.pos, v);
        *self.len += 1;
        &mut self.leaf.vals[self.pos]
    }
}

fn leaf_entry<'a, K: Ord, V>(
    leaf: &'a mut Leaf<K, V>,
    key: K,
    len: &'a mut usize,
) -> Entry<'a, K, V> {
    match leaf.find(&key) {
        Ok(pos) => Entry::Occupied(&mut leaf.vals[pos]),
        Err(pos) => Entry::Vacant(VacantEntry {
            leaf,
            pos,
            key,
            len,
        }),
    }
}

impl<K: Ord + Clone, V> BPlusTree<K, V> {
    /// Number of entries.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Removes every entry.
    #[cfg_attr(not(feature = "btree"), allow(dead_code))] // used by the typed `BTree` backend
    pub(crate) fn clear(&mut self) {
        self.root = None;
        self.len = 0;
    }

    /// The value of `k`.
    #[inline]
    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        let mut n = match self.root.as_ref()? {
            Root::Leaf(l) => return l.get(k),
            Root::Inner(n) => n,
        };
        loop {
            prefetch::<K, _>(&n.keys);
            match &n.children {
                Children::Leaves(c) => prefetch::<K, _>(c),
                Children::Inners(c) => prefetch::<K, _>(c),
            }
            let i = child_index(&n.keys, k);
            match &n.children {
                Children::Leaves(c) => return c.get(i)?.get(k),
                Children::Inners(c) => n = c.get(i)?,
            }
        }
    }

    /// The value of `k`, mutably.
    #[inline]
    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let mut n = match self.root.as_mut()? {
            Root::Leaf(l) => return l.get_mut(k),
            Root::Inner(n) => n,
        };
        loop {
            let i = child_index(&n.keys, k);
            match &mut n.children {
                Children::Leaves(c) => return c.get_mut(i)?.get_mut(k),
                Children::Inners(c) => n = c.get_mut(i)?,
            }
        }
    }

    /// Inserts or replaces; returns the previous value.
    pub(crate) fn insert(&mut self, k: K, v: V) -> Option<V> {
        // Replacing is the common case in operator state: try it without
        // the splitting descent of `entry`.
        if let Some(slot) = self.get_mut(&k) {
            return Some(std::mem::replace(slot, v));
        }
        match self.entry(k) {
            Entry::Occupied(slot) => Some(std::mem::replace(slot, v)),
            Entry::Vacant(e) => {
                e.insert(v);
                None
            }
        }
    }

    /// The value of `k`, inserting `make()` first if absent.
    #[cfg_attr(not(feature = "btree"), allow(dead_code))] // used by the typed `BTree` backend
    ///
    /// An existing key (the common case: an update) is found by a plain
    /// lookup, without the splitting descent of [`entry`](Self::entry).
    /// `None` never happens; the `Option` only spares the caller a borrow
    /// that the compiler cannot yet see end.
    pub(crate) fn get_or_insert_with(&mut self, k: K, make: impl FnOnce() -> V) -> Option<&mut V> {
        if self.get(&k).is_some() {
            return self.get_mut(&k);
        }
        Some(match self.entry(k) {
            Entry::Occupied(slot) => slot,
            Entry::Vacant(e) => e.insert(make()),
        })
    }

    /// The slot of `k`: its value, or a leaf with room for it.
    ///
    /// Splits on the way down (top-down insertion) every full node the new
    /// key would have to pass, so an insert never propagates back up and the
    /// returned slot stays valid. A full leaf that already holds `k` is not
    /// split.
    pub(crate) fn entry(&mut self, k: K) -> Entry<'_, K, V> {
        let BPlusTree { root, len } = self;
        let root = root.get_or_insert_with(|| Root::Leaf(NodeBox::new(Leaf::new())));
        let grow = match root {
            Root::Leaf(l) => l.needs_split(&k),
            Root::Inner(n) => n.children.len() == CAP,
        };
        if grow {
            // The tree grows at the top: a new root whose only child is the
            // old root, which is then split like any full child.
            let placeholder = Root::Leaf(NodeBox::new(Leaf::new()));
            let children = match std::mem::replace(root, placeholder) {
                Root::Leaf(l) => Children::Leaves(std::iter::once(l).collect()),
                Root::Inner(n) => Children::Inners(std::iter::once(n).collect()),
            };
            let mut n = NodeBox::new(Inner {
                keys: ArrayVec::new(),
                children,
            });
            split_child(&mut n, 0);
            *root = Root::Inner(n);
        }
        let mut n = match root {
            Root::Leaf(l) => return leaf_entry(l, k, len),
            Root::Inner(n) => n,
        };
        loop {
            let mut i = child_index(&n.keys, &k);
            let full = match &n.children {
                Children::Leaves(c) => c.get(i).is_some_and(|l| l.needs_split(&k)),
                Children::Inners(c) => c.get(i).is_some_and(|c| c.children.len() == CAP),
            };
            if full {
                // `n` is not full (it was split on the way down if it was),
                // so it has room for the new sibling.
                split_child(n, i);
                if n.keys.get(i).is_some_and(|sep| *sep <= k) {
                    i += 1;
                }
            }
            // `i <= n.keys.len() == n.children.len() - 1`.
            match &mut n.children {
                Children::Leaves(c) => return leaf_entry(&mut c[i], k, len),
                Children::Inners(c) => n = &mut c[i],
            }
        }
    }

    /// Removes `k`; returns its value.
    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        let v = match self.root.as_mut()? {
            Root::Leaf(l) => l.remove(k)?,
            Root::Inner(n) => remove_from(n, k)?,
        };
        self.len -= 1;
        // Shrink at the top: an inner root left with one child hands over to
        // it, and an empty leaf root goes away.
        let new_root = match self.root.as_mut() {
            Some(Root::Leaf(l)) if l.keys.is_empty() => Some(None),
            Some(Root::Inner(n)) if n.children.len() == 1 => Some(match &mut n.children {
                Children::Leaves(c) => c.pop().map(Root::Leaf),
                Children::Inners(c) => c.pop().map(Root::Inner),
            }),
            _ => None,
        };
        if let Some(r) = new_root {
            self.root = r;
        }
        Some(v)
    }

    /// Removes and returns the smallest entry.
    pub(crate) fn pop_first(&mut self) -> Option<(K, V)> {
        let k = self.iter().next()?.0.clone();
        let v = self.remove(&k)?;
        Some((k, v))
    }

    /// Entries in ascending key order.
    pub(crate) fn iter(&self) -> Iter<'_, K, V> {
        self.range_from(Bound::Unbounded)
    }

    /// Entries from `lower` on, in ascending key order.
    pub(crate) fn range_from(&self, lower: Bound<&K>) -> Iter<'_, K, V> {
        let mut it = Iter {
            stack: Vec::new(),
            leaf: None,
            pos: 0,
        };
        let start_in = |l: &Leaf<K, V>| match lower {
            Bound::Included(k) => lower_bound(&l.keys, k),
            Bound::Excluded(k) => child_index(&l.keys, k),
            Bound::Unbounded => 0,
        };
        let mut n = match self.root.as_ref() {
            None => return it,
            Some(Root::Leaf(l)) => {
                it.pos = start_in(l);
                it.leaf = Some(l);
                return it;
            }
            Some(Root::Inner(n)) => n,
        };
        loop {
            let i = match lower {
                Bound::Included(k) | Bound::Excluded(k) => child_index(&n.keys, k),
                Bound::Unbounded => 0,
            };
            it.stack.push((n, i + 1));
            match &n.children {
                Children::Leaves(c) => {
                    if let Some(l) = c.get(i) {
                        it.pos = start_in(l);
                        it.leaf = Some(l);
                    }
                    return it;
                }
                Children::Inners(c) => match c.get(i) {
                    Some(child) => n = child,
                    None => return it,
                },
            }
        }
    }

    /// Calls `f` on every value, in key order.
    pub(crate) fn for_each_value_mut<'a>(&'a mut self, mut f: impl FnMut(&'a mut V)) {
        fn walk<'a, K, V>(n: &'a mut Inner<K, V>, f: &mut impl FnMut(&'a mut V)) {
            match &mut n.children {
                Children::Leaves(c) => c
                    .iter_mut()
                    .for_each(|l| l.vals.iter_mut().for_each(&mut *f)),
                Children::Inners(c) => c.iter_mut().for_each(|n| walk(n, f)),
            }
        }
        match self.root.as_mut() {
            None => {}
            Some(Root::Leaf(l)) => l.vals.iter_mut().for_each(f),
            Some(Root::Inner(n)) => walk(n, &mut f),
        }
    }

    /// Keeps only the entries for which `keep` returns `true`.
    #[cfg_attr(not(feature = "btree"), allow(dead_code))] // used by the typed `BTree` backend
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        fn in_leaf<K: Clone, V>(
            l: &mut Leaf<K, V>,
            keep: &mut impl FnMut(&K, &mut V) -> bool,
            gone: &mut Vec<K>,
        ) {
            for (k, v) in l.keys.iter().zip(l.vals.iter_mut()) {
                if !keep(k, v) {
                    gone.push(k.clone());
                }
            }
        }
        fn walk<K: Clone, V>(
            n: &mut Inner<K, V>,
            keep: &mut impl FnMut(&K, &mut V) -> bool,
            gone: &mut Vec<K>,
        ) {
            match &mut n.children {
                Children::Leaves(c) => c.iter_mut().for_each(|l| in_leaf(l, keep, gone)),
                Children::Inners(c) => c.iter_mut().for_each(|n| walk(n, keep, gone)),
            }
        }
        let mut gone = Vec::new();
        match self.root.as_mut() {
            None => {}
            Some(Root::Leaf(l)) => in_leaf(l, &mut keep, &mut gone),
            Some(Root::Inner(n)) => walk(n, &mut keep, &mut gone),
        }
        for k in &gone {
            self.remove(k);
        }
    }
}

/// Splits the full child `i` of `n` (which has room for one more child).
fn split_child<K: Clone, V>(n: &mut Inner<K, V>, i: usize) {
    let sep = match &mut n.children {
        Children::Leaves(c) => {
            let Some((sep, right)) = c.get_mut(i).and_then(|l| l.split()) else {
                return;
            };
            c.insert(i + 1, NodeBox::new(right));
            sep
        }
        Children::Inners(c) => {
            let Some((sep, right)) = c.get_mut(i).and_then(|n| n.split()) else {
                return;
            };
            c.insert(i + 1, NodeBox::new(right));
            sep
        }
    };
    n.keys.insert(i, sep);
}

fn remove_from<K: Ord + Clone, V>(n: &mut Inner<K, V>, k: &K) -> Option<V> {
    let i = child_index(&n.keys, k);
    let (v, underfull) = match &mut n.children {
        Children::Leaves(c) => {
            let l = c.get_mut(i)?;
            let v = l.remove(k)?;
            (v, l.keys.len() < MIN)
        }
        Children::Inners(c) => {
            let child = c.get_mut(i)?;
            let v = remove_from(child, k)?;
            (v, child.children.len() < MIN)
        }
    };
    if underfull {
        rebalance(n, i);
    }
    Some(v)
}

/// Makes `l` hold the first `keep` items of `l` followed by `r`, and `r` the
/// rest (`keep <= CAP` and the rest `<= CAP`).
fn shift<T>(l: &mut ArrayVec<T, CAP>, r: &mut ArrayVec<T, CAP>, keep: usize) {
    let mut all: ArrayVec<T, { 2 * CAP }> = l.drain(..).chain(r.drain(..)).collect();
    l.extend(all.drain(..keep));
    r.extend(all);
}

/// Refills the underfull child `i` of `n` (which has at least two children)
/// from a sibling: merges the two if they fit in one node, or else splits
/// their entries evenly.
fn rebalance<K: Clone, V>(n: &mut Inner<K, V>, i: usize) {
    let li = i.saturating_sub(1);
    if li + 1 >= n.children.len() {
        return;
    }
    // Take the right sibling and the separator out; put them back unless the
    // two merge.
    let sep = n.keys.remove(li);
    let sep = match &mut n.children {
        Children::Leaves(c) => {
            let mut r = c.remove(li + 1);
            let l = &mut c[li];
            let total = l.keys.len() + r.keys.len();
            if total <= CAP {
                shift(&mut l.keys, &mut r.keys, total);
                shift(&mut l.vals, &mut r.vals, total);
                return;
            }
            shift(&mut l.keys, &mut r.keys, total / 2);
            shift(&mut l.vals, &mut r.vals, total / 2);
            let sep = r.keys.first().cloned().unwrap_or(sep);
            c.insert(li + 1, r);
            sep
        }
        Children::Inners(c) => {
            let mut r = c.remove(li + 1);
            let l = &mut c[li];
            let total = l.children.len() + r.children.len();
            let keep = if total <= CAP { total } else { total / 2 };
            match (&mut l.children, &mut r.children) {
                (Children::Leaves(a), Children::Leaves(b)) => shift(a, b, keep),
                (Children::Inners(a), Children::Inners(b)) => shift(a, b, keep),
                // Siblings are at the same depth, so their children are of
                // the same kind.
                _ => {}
            }
            // Keys: the left's, the separator between the two, the right's;
            // the one after the left's `keep - 1` keys moves up.
            let mut keys: ArrayVec<K, { 2 * CAP }> = l.keys.drain(..).collect();
            keys.push(sep);
            keys.extend(r.keys.drain(..));
            l.keys.extend(keys.drain(..keep - 1));
            let mut rest = keys.into_iter();
            let Some(up) = rest.next() else {
                // Everything fit in the left node: merged.
                return;
            };
            r.keys.extend(rest);
            c.insert(li + 1, r);
            up
        }
    };
    n.keys.insert(li, sep);
}

/// In-order iterator from a lower bound (see [`BPlusTree::range_from`]).
pub(crate) struct Iter<'a, K, V> {
    /// Inner nodes on the path to the current leaf, each with the index of
    /// the next child to visit.
    stack: Vec<(&'a Inner<K, V>, usize)>,
    leaf: Option<&'a Leaf<K, V>>,
    pos: usize,
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(l) = self.leaf {
                if let (Some(k), Some(v)) = (l.keys.get(self.pos), l.vals.get(self.pos)) {
                    self.pos += 1;
                    return Some((k, v));
                }
                self.leaf = None;
            }
            // Climb to the nearest ancestor with a child left, then take the
            // leftmost path below that child.
            let (n, next) = self.stack.last_mut()?;
            let (mut n, mut i): (&'a Inner<K, V>, usize) = (*n, *next);
            if i >= n.children.len() {
                self.stack.pop();
                continue;
            }
            *next += 1;
            loop {
                match &n.children {
                    Children::Leaves(c) => {
                        self.leaf = c.get(i).map(|l| &**l);
                        self.pos = 0;
                        break;
                    }
                    Children::Inners(c) => {
                        let Some(child) = c.get(i) else {
                            break;
                        };
                        self.stack.push((child, 1));
                        n = child;
                        i = 0;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Checks every structural invariant of the module docs.
    fn check<K: Ord + Clone + fmt::Debug, V>(t: &BPlusTree<K, V>) {
        fn leaf<K: Ord + fmt::Debug, V>(
            l: &Leaf<K, V>,
            lo: Option<&K>,
            hi: Option<&K>,
            is_root: bool,
        ) -> usize {
            assert_eq!(l.keys.len(), l.vals.len());
            assert!(is_root || l.keys.len() >= MIN, "underfull leaf");
            assert!(l.keys.windows(2).all(|w| w[0] < w[1]), "leaf unsorted");
            let in_bounds = |k: &K| lo.is_none_or(|lo| lo <= k) && hi.is_none_or(|hi| k < hi);
            assert!(l.keys.iter().all(in_bounds), "leaf key out of bounds");
            l.keys.len()
        }
        /// Returns (height, entries).
        fn inner<K: Ord + fmt::Debug, V>(
            n: &Inner<K, V>,
            lo: Option<&K>,
            hi: Option<&K>,
            is_root: bool,
        ) -> (usize, usize) {
            assert_eq!(n.keys.len() + 1, n.children.len());
            assert!(
                n.children.len() >= if is_root { 2 } else { MIN },
                "underfull inner"
            );
            assert!(n.keys.windows(2).all(|w| w[0] < w[1]), "inner unsorted");
            let in_bounds = |k: &K| lo.is_none_or(|lo| lo <= k) && hi.is_none_or(|hi| k < hi);
            assert!(n.keys.iter().all(in_bounds), "separator out of bounds");
            let bounds = |i: usize| {
                let clo = if i == 0 { lo } else { n.keys.get(i - 1) };
                (clo, n.keys.get(i).or(hi))
            };
            match &n.children {
                Children::Leaves(c) => {
                    let count = c
                        .iter()
                        .enumerate()
                        .map(|(i, l)| {
                            let (a, b) = bounds(i);
                            leaf(l, a, b, false)
                        })
                        .sum();
                    (1, count)
                }
                Children::Inners(c) => {
                    let mut height = None;
                    let mut count = 0;
                    for (i, child) in c.iter().enumerate() {
                        let (a, b) = bounds(i);
                        let (h, n) = inner(child, a, b, false);
                        assert!(height.is_none_or(|x| x == h), "leaves at different depths");
                        height = Some(h);
                        count += n;
                    }
                    (height.unwrap_or(0) + 1, count)
                }
            }
        }
        let count = match t.root.as_ref() {
            None => 0,
            Some(Root::Leaf(l)) => leaf(l, None, None, true),
            Some(Root::Inner(n)) => inner(n, None, None, true).1,
        };
        assert_eq!(count, t.len());
    }

    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn random_operations_match_btreemap() {
        for (space, ops) in [(50u64, 5_000), (3_000, 60_000), (200_000, 300_000)] {
            let mut seed = 0x9E37_79B9_7F4A_7C15 ^ space;
            let mut t = BPlusTree::<u64, u64>::default();
            let mut m = BTreeMap::new();
            for step in 0..ops {
                let k = rng(&mut seed) % space;
                // Phases of mostly inserts, then mostly deletes, so the tree
                // grows deep and shrinks back through every merge path.
                let insert_bias = if (step / (ops / 6)) % 2 == 0 { 7 } else { 3 };
                match rng(&mut seed) % 10 {
                    r if r < insert_bias => assert_eq!(t.insert(k, step), m.insert(k, step)),
                    _ => assert_eq!(t.remove(&k), m.remove(&k)),
                }
                assert_eq!(t.get(&k), m.get(&k));
                if step % 997 == 0 {
                    check(&t);
                    let lo = rng(&mut seed) % space;
                    let got: Vec<_> = t.range_from(Bound::Included(&lo)).take(40).collect();
                    let want: Vec<_> = m.range(lo..).take(40).collect();
                    assert_eq!(got, want);
                    let got: Vec<_> = t.range_from(Bound::Excluded(&lo)).take(40).collect();
                    let want: Vec<_> = m
                        .range((Bound::Excluded(lo), Bound::Unbounded))
                        .take(40)
                        .collect();
                    assert_eq!(got, want);
                }
            }
            check(&t);
            assert_eq!(t.len(), m.len());
            assert!(t.iter().eq(m.iter()));
            while let Some((k, v)) = t.pop_first() {
                assert_eq!(m.pop_first(), Some((k, v)));
            }
            assert!(m.is_empty());
            assert!(t.root.is_none());
        }
    }

    #[test]
    fn entry_inserts_once_and_finds_existing() {
        let mut t = BPlusTree::<u64, String>::default();
        for k in (0..5_000).rev() {
            t.get_or_insert_with(k, || k.to_string())
                .expect("a slot")
                .push('!');
        }
        for k in 0..5_000 {
            t.get_or_insert_with(k, String::new)
                .expect("a slot")
                .push('?');
        }
        check(&t);
        assert_eq!(t.len(), 5_000);
        assert!(t.iter().all(|(k, v)| *v == format!("{k}!?")));
    }

    #[test]
    fn retain_and_drop_values() {
        let mut t = BPlusTree::<u64, Box<u64>>::default();
        for k in 0..10_000 {
            t.insert(k, Box::new(k));
        }
        t.retain(|k, v| {
            **v += 1;
            k % 3 == 0
        });
        check(&t);
        assert_eq!(t.len(), 3_334);
        assert!(t.iter().all(|(k, v)| k % 3 == 0 && **v == k + 1));
        let mut sum = 0u64;
        t.for_each_value_mut(|v| sum += **v);
        assert_eq!(
            sum,
            (0..10_000u64)
                .filter(|k| k % 3 == 0)
                .map(|k| k + 1)
                .sum::<u64>()
        );
    }

    #[test]
    fn grouped_count_equals_linear_count() {
        for len in 0..=CAP {
            let keys: Vec<u64> = (0..len as u64).map(|i| i * 2 + 1).collect();
            for k in 0..=(2 * len as u64 + 2) {
                assert_eq!(
                    lower_bound(&keys, &k),
                    keys.iter().filter(|x| **x < k).count()
                );
                assert_eq!(
                    child_index(&keys, &k),
                    keys.iter().filter(|x| **x <= k).count()
                );
            }
        }
    }

    #[test]
    fn empty_and_vacant_entry_not_inserted() {
        let mut t = BPlusTree::<u64, u64>::default();
        assert!(t.iter().next().is_none());
        assert_eq!(t.remove(&1), None);
        assert!(matches!(t.entry(5), Entry::Vacant(_)));
        assert_eq!(t.len(), 0);
        assert_eq!(t.get(&5), None);
        assert!(t.iter().next().is_none());
        assert_eq!(t.remove(&5), None);
    }
}
