//! [`ProbeMap`]: the hash map of typed keys behind the typed `AHash`
//! backend, on a [`ProbeTable`], with its hasher ([`KeyHasher`]) and the
//! batched lookup pipeline ([`Pipeline`]).

use crate::state::collections::probe_table::ProbeTable;
use crate::state::key::{folded_multiply, KeyRepr};

/// Keys a [`Pipeline`] hashes and requests ahead of the one it compares:
/// enough for one core's cache misses to overlap (16 lines in flight), few
/// enough that the first slots have not left the cache again when they are
/// compared.
const PIPELINE: usize = 16;

/// The iterator of [`ProbeMap::get_each`]: the value of each key in turn.
///
/// A pipeline: a key is hashed and its home slot requested from memory when
/// it enters, [`PIPELINE`] keys before its value is read, so that many cache
/// misses are in flight at every moment, whatever the caller does between
/// two values. The keys iterator is therefore always up to [`PIPELINE`] keys
/// ahead of the values handed out.
pub(crate) struct Pipeline<'m, K, V, I> {
    map: &'m ProbeMap<K, V>,
    keys: std::iter::Fuse<I>,
    /// Keys in flight, the oldest at `head`, `len` of them (wrapping
    /// around); `None` for a key known to be absent.
    ring: [Option<(K, u64)>; PIPELINE],
    head: usize,
    len: usize,
}

impl<'m, K: KeyRepr, V, I: Iterator<Item = Option<K>>> Iterator for Pipeline<'m, K, V, I> {
    type Item = Option<&'m V>;

    #[inline]
    fn next(&mut self) -> Option<Option<&'m V>> {
        while self.len < PIPELINE {
            let Some(k) = self.keys.next() else { break };
            let entry = k.map(|k| {
                let h = self.map.hash_ahead(&k);
                (k, h)
            });
            if let Some(place) = self.ring.get_mut((self.head + self.len) % PIPELINE) {
                *place = entry;
            }
            self.len += 1;
        }
        if self.len == 0 {
            return None;
        }
        let due = self.ring.get_mut(self.head).and_then(Option::take);
        self.head = (self.head + 1) % PIPELINE;
        self.len -= 1;
        let map = self.map;
        Some(due.and_then(|(k, h)| map.find_hashed(&k, h)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lo, hi) = self.keys.size_hint();
        (
            lo.saturating_add(self.len),
            hi.and_then(|h| h.checked_add(self.len)),
        )
    }
}

/// A hash map of typed keys to typed values on a [`ProbeTable`], hashed by
/// [`KeyHasher`]: the map behind the typed `AHash` backend.
///
/// Keys are inline fixed-width representations, so an entry is a few dozen
/// bytes and a hit usually costs one cache miss: no control-byte array is
/// read before the slot.
pub struct ProbeMap<K, V> {
    table: ProbeTable<(K, V)>,
    hasher: KeyHasher,
}

/// Hashes typed keys: keys of one or two words ([`KeyRepr::WORDS`]) with two
/// seeded multiplies, others with ahash.
///
/// A key whose first word is a dictionary code ([`KeyRepr::DENSE`]) has its
/// other word mixed first, in two rounds, and the code last, with one plain
/// multiply: the CPU computes the rounds while the dictionary lookup runs,
/// so the table's cache miss starts one multiply after the code is known,
/// where ahash (three dependent multiplies) and a two-round hash of both
/// words wait for two or three (measured against ahash: `BENCHMARKS.md`,
/// "Figures behind the source docs").
#[derive(Clone)]
struct KeyHasher {
    hasher: ahash::RandomState,
    seeds: [u64; 4],
}

impl KeyHasher {
    fn new() -> Self {
        let hasher = ahash::RandomState::new();
        let [s0, s1, s2, s3] = [1u64, 2, 3, 4].map(|i| hasher.hash_one(i));
        // Odd, so that multiplying by it permutes the low bits of codes.
        KeyHasher {
            hasher,
            seeds: [s0 | 1, s1, s2, s3],
        }
    }

    #[inline]
    fn hash<K: KeyRepr>(&self, k: &K) -> u64 {
        if K::WORDS == 0 {
            return self.hasher.hash_one(k);
        }
        let [a, b] = k.to_words();
        let [s0, s1, s2, s3] = self.seeds;
        if K::DENSE {
            // The other word gets two rounds while the dictionary runs; the
            // code then needs one plain multiply by an odd seed, which maps
            // consecutive codes to distinct low bits (the index). Folding
            // that product, as the rounds do, would make the low bits of
            // consecutive codes depend on the seed: some seeds put them two
            // slots from home on average.
            (folded_multiply(folded_multiply(b ^ s1, s2), s3) ^ a).wrapping_mul(s0)
        } else {
            // Two rounds: after one, keys that differ only in the high bits
            // of a word reach the low bits (those an index uses) only as a
            // linear function of the difference, and pile up.
            folded_multiply(folded_multiply(a ^ s0, b ^ s1), s2)
        }
    }
}

impl<K: Clone, V: Clone> Clone for ProbeMap<K, V> {
    fn clone(&self) -> Self {
        ProbeMap {
            table: self.table.clone(),
            hasher: self.hasher.clone(),
        }
    }
}

impl<K, V> Default for ProbeMap<K, V> {
    fn default() -> Self {
        ProbeMap {
            table: ProbeTable::default(),
            hasher: KeyHasher::new(),
        }
    }
}

impl<K: KeyRepr, V> ProbeMap<K, V> {
    /// Number of entries.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Removes every entry.
    pub(crate) fn clear(&mut self) {
        self.table.clear();
    }

    /// The value of `k`.
    #[inline]
    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.find_hashed(k, self.hasher.hash(k))
    }

    /// The values of `keys` (`None` for a `None` key), as [`get`](Self::get)
    /// of each would give them.
    ///
    /// Every key's home slot is hashed and requested from memory before the
    /// first is compared, so the `N` cache misses overlap however many
    /// instructions the caller spends per key.
    #[inline]
    pub(crate) fn get_many<const N: usize>(&self, keys: &[Option<K>; N]) -> [Option<&V>; N] {
        let hashes = keys
            .each_ref()
            .map(|k| k.as_ref().map(|k| self.hash_ahead(k)));
        let mut out = [None; N];
        for ((o, k), h) in out.iter_mut().zip(keys).zip(hashes) {
            if let (Some(k), Some(h)) = (k, h) {
                *o = self.find_hashed(k, h);
            }
        }
        out
    }

    /// The value of each key of `keys` in turn (`None` for a `None` key), as
    /// [`get`](Self::get) of each would give it: see [`Pipeline`].
    pub(crate) fn get_each<I: Iterator<Item = Option<K>>>(&self, keys: I) -> Pipeline<'_, K, V, I> {
        Pipeline {
            map: self,
            keys: keys.fuse(),
            ring: std::array::from_fn(|_| None),
            head: 0,
            len: 0,
        }
    }

    /// The hash of `k`, with its home slot requested from memory.
    #[inline]
    fn hash_ahead(&self, k: &K) -> u64 {
        let h = self.hasher.hash(k);
        self.table.prefetch(h);
        h
    }

    /// The value of `k`, whose hash is `h`.
    #[inline]
    fn find_hashed(&self, k: &K, h: u64) -> Option<&V> {
        self.table.find(h, |e| e.0 == *k).map(|e| &e.1)
    }

    /// The value of `k`, mutably.
    #[inline]
    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let h = self.hasher.hash(k);
        self.table.find_mut(h, |e| e.0 == *k).map(|e| &mut e.1)
    }

    /// Inserts or replaces; returns the previous value.
    pub(crate) fn insert(&mut self, k: K, v: V) -> Option<V> {
        let h = self.hasher.hash(&k);
        if let Some(e) = self.table.find_mut(h, |e| e.0 == k) {
            return Some(std::mem::replace(&mut e.1, v));
        }
        let hasher = &self.hasher;
        self.table.insert_new(h, (k, v), |e| hasher.hash(&e.0));
        None
    }

    /// Removes `k`; returns its value.
    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        let h = self.hasher.hash(k);
        let hasher = &self.hasher;
        self.table
            .remove(h, |e| e.0 == *k, |e| hasher.hash(&e.0))
            .map(|e| e.1)
    }

    /// The value of `k`, inserting `make()` first if absent; `None` only if
    /// the table's invariants are broken.
    pub(crate) fn get_or_insert_with(&mut self, k: K, make: impl FnOnce() -> V) -> Option<&mut V> {
        let h = self.hasher.hash(&k);
        let i = match self.table.position(h, |e| e.0 == k) {
            Some(i) => i,
            None => {
                let hasher = &self.hasher;
                self.table
                    .insert_new(h, (k, make()), |e| hasher.hash(&e.0))?
            }
        };
        self.table.slot_mut(i).map(|e| &mut e.1)
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.table.iter().map(|(k, v)| (k, v))
    }

    /// Keeps only the entries for which `keep` returns `true`.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let hasher = &self.hasher;
        self.table
            .retain(|e| keep(&e.0, &mut e.1), |e| hasher.hash(&e.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean distance of a map's entries from their home slots.
    fn mean_displacement<K: KeyRepr>(keys: impl Iterator<Item = K> + Clone) -> f64 {
        // The worst of several maps, each with seeds of its own: a hash whose
        // spread depends on the seed shows it on some of them.
        (0..6)
            .map(|_| displacement_in_one_map(keys.clone()))
            .fold(0.0, f64::max)
    }

    fn displacement_in_one_map<K: KeyRepr>(keys: impl Iterator<Item = K>) -> f64 {
        let mut m: ProbeMap<K, ()> = ProbeMap::default();
        for k in keys {
            m.insert(k, ());
        }
        let total = m.table.total_displacement(|e| m.hasher.hash(&e.0));
        total as f64 / m.len().max(1) as f64
    }

    /// [`KeyHasher`] spreads structured key families over the low bits an
    /// index uses: at this load, linear probing with a random hash averages
    /// about half a slot of displacement. The worst of six seeds measured
    /// 0.50-0.54 for every family here, and 0 for consecutive codes (which
    /// the odd multiplier maps to distinct slots). With a single multiply of
    /// both words some families averaged up to 15 slots, and with the code
    /// folded in by a multiply of the high and low halves, 2.3 for one
    /// seed: both depended on the seed, hence several maps per family.
    #[test]
    fn structured_keys_spread_over_the_table() {
        use crate::state::key::DictCode;
        let n: u32 = 1 << 16;
        let code = |i: u32| DictCode::new(i).unwrap_or(DictCode::minimum());
        let families = [
            ("sequential u64", mean_displacement((0..n).map(u64::from))),
            (
                "u64 differing in the high bits",
                mean_displacement((0..n).map(|i| u64::from(i) << 40)),
            ),
            (
                "(7 codes, sequential ids)",
                mean_displacement((0..n).map(|i| (code(i % 7), u64::from(i / 7)))),
            ),
            (
                "(7 codes, ids differing in the high bits)",
                mean_displacement((0..n).map(|i| (code(i % 7), u64::from(i / 7) << 44))),
            ),
            (
                "sequential codes alone",
                mean_displacement((0..n).map(code)),
            ),
            (
                "(sequential codes, one id)",
                mean_displacement((0..n).map(|i| (code(i), 5u64))),
            ),
            (
                "u128 differing in the high word",
                mean_displacement((0..n).map(|i| u128::from(i) << 64)),
            ),
            (
                "[u8; 16] differing in the last bytes",
                mean_displacement((0..n).map(|i| {
                    let mut k = [0u8; 16];
                    k[14..].copy_from_slice(&(i as u16).to_be_bytes());
                    k
                })),
            ),
        ];
        for (name, d) in families {
            assert!(d < 1.0, "{name}: mean displacement {d}");
        }
    }
}
