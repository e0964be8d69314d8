//! The one benchmark workload definition shared by every benchmark of this
//! repository (criterion suites in `benches/` and the peer comparison in
//! `benches/peers/`), so that every system sees the same keys in the same order.
//!
//! Everything is deterministic from [`Workload::seed`].
#![allow(dead_code)]

/// SplitMix64: a tiny, well-mixed, seedable generator (no dependency needed).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift (bias below 2^-32 for our n).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// The SplitMix64 finalizer: a bijection on `u64`.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How lookups pick keys.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dist {
    /// Keys in insertion-index order `0, 1, 2, ...` (wrapping).
    Sequential,
    /// Every key equally likely.
    Uniform,
    /// Zipf-distributed ranks (exponent [`ZIPF_EXPONENT`]): index `r` is the
    /// `r`-th most popular key. Keys are spread over the key space by
    /// [`Workload::key`], so popular keys are not neighbours in key order.
    Zipf,
}

impl Dist {
    /// Every distribution, in report order.
    pub const ALL: [Dist; 3] = [Dist::Uniform, Dist::Zipf, Dist::Sequential];

    /// Lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Dist::Sequential => "sequential",
            Dist::Uniform => "uniform",
            Dist::Zipf => "zipf",
        }
    }
}

/// Exponent of [`Dist::Zipf`] (YCSB's default skew).
pub const ZIPF_EXPONENT: f64 = 0.99;

/// Draws Zipf ranks in `0..n` by inverting the continuous (bounded Pareto)
/// approximation of the Zipf CDF: O(1) per draw, no table, so it works at 10M keys.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: f64,
    one_minus_s: f64,
    span: f64,
}

impl Zipf {
    /// A sampler over ranks `0..n` with exponent `s` (`s != 1`, `n > 0`).
    pub fn new(n: u64, s: f64) -> Self {
        let one_minus_s = 1.0 - s;
        let n = n.max(1) as f64;
        Zipf {
            n,
            one_minus_s,
            span: (n + 1.0).powf(one_minus_s) - 1.0,
        }
    }

    /// One rank; rank 0 is the most frequent.
    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        // Uniform in [0, 1) from the top 53 bits.
        let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let x = (u * self.span + 1.0).powf(1.0 / self.one_minus_s) - 1.0;
        (x as u64).min(self.n as u64 - 1)
    }
}

/// A benchmark workload: key count, sizes, distribution and seed.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Number of live keys loaded before measuring.
    pub keys: u64,
    /// Key length in bytes (at least 16).
    pub key_len: usize,
    /// Value length in bytes.
    pub value_len: usize,
    /// Lookup distribution.
    pub dist: Dist,
    /// Seed for every random choice.
    pub seed: u64,
}

impl Workload {
    /// The standard workload of the issues: 16-byte keys, 64-byte values, uniform random.
    pub fn standard(keys: u64) -> Self {
        Workload {
            keys,
            key_len: 16,
            value_len: 64,
            dist: Dist::Uniform,
            seed: 0x5EED_1A31_0000_0001,
        }
    }

    /// Key of logical index `i`: 8 bytes of `mix(i ^ seed)` (so keys are spread
    /// uniformly over the key space and inserted in random order), then `i`
    /// big-endian, zero-padded to `key_len`. Indices `>= keys` are misses.
    /// The first byte is uniform, so a one-byte prefix selects about 1/256 of the keys.
    #[inline]
    pub fn key(&self, i: u64) -> Vec<u8> {
        let mut k = vec![0u8; self.key_len.max(16)];
        self.write_key(i, &mut k);
        k
    }

    /// Writes the key of index `i` into `out` (`out.len() >= 16`) without allocating.
    #[inline]
    pub fn write_key(&self, i: u64, out: &mut [u8]) {
        out[..8].copy_from_slice(&mix(i ^ self.seed).to_be_bytes());
        out[8..16].copy_from_slice(&i.to_be_bytes());
    }

    /// Value of index `i` (`value_len` bytes; the first 8 are `i` little-endian,
    /// so dependent-lookup chains can derive the next key from the value).
    pub fn value(&self, i: u64) -> Vec<u8> {
        let mut v = vec![0xA5u8; self.value_len.max(8)];
        v[..8].copy_from_slice(&i.to_le_bytes());
        v.truncate(self.value_len.max(8));
        v
    }

    /// Load order: a permutation of `0..keys` (Fisher-Yates, seeded).
    pub fn insert_order(&self) -> Vec<u64> {
        let mut order: Vec<u64> = (0..self.keys).collect();
        let mut rng = Rng::new(self.seed ^ 0x1);
        for i in (1..order.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        order
    }

    /// `n` lookup indices of present keys, drawn from [`Workload::dist`].
    pub fn hit_indices(&self, n: usize) -> Vec<u64> {
        let mut rng = Rng::new(self.seed ^ 0x2);
        let zipf = Zipf::new(self.keys, ZIPF_EXPONENT);
        (0..n as u64)
            .map(|j| match self.dist {
                Dist::Sequential => j % self.keys.max(1),
                Dist::Uniform => rng.below(self.keys.max(1)),
                Dist::Zipf => zipf.sample(&mut rng),
            })
            .collect()
    }

    /// `n` lookup indices of absent keys (indices past `keys`).
    pub fn miss_indices(&self, n: usize) -> Vec<u64> {
        let mut rng = Rng::new(self.seed ^ 0x3);
        (0..n as u64)
            .map(|_| self.keys + rng.below(self.keys.max(1)))
            .collect()
    }
}

impl Workload {
    /// The same workload with lookups drawn from `dist`.
    pub fn with_dist(&self, dist: Dist) -> Self {
        Workload {
            dist,
            ..self.clone()
        }
    }

    /// Value of index `i` with its first eight bytes (the index) kept and the
    /// rest changed by `version`, for update benchmarks (same length).
    pub fn value_version(&self, i: u64, version: u8) -> Vec<u8> {
        let mut v = self.value(i);
        for b in &mut v[8..] {
            *b = version;
        }
        v
    }

    /// Reads back the index stored in the first eight bytes of a value.
    #[inline]
    pub fn value_index(value: &[u8]) -> u64 {
        let mut b = [0u8; 8];
        let n = value.len().min(8);
        b[..n].copy_from_slice(&value[..n]);
        u64::from_le_bytes(b)
    }

    /// A one-byte prefix (`[byte]`): it selects the keys whose first byte is
    /// `byte`, about 1/256 of them. The exact count is [`Workload::count_prefix`].
    pub fn prefix(byte: u8) -> Vec<u8> {
        vec![byte]
    }

    /// Number of loaded keys (`0..keys`) starting with `prefix` (exact, O(keys)).
    pub fn count_prefix(&self, prefix: &[u8]) -> u64 {
        let mut k = vec![0u8; self.key_len.max(16)];
        (0..self.keys)
            .filter(|&i| {
                self.write_key(i, &mut k);
                k.starts_with(prefix)
            })
            .count() as u64
    }

    /// A key range covering the fraction `[from, from + width)` of the key
    /// space (16-byte bounds, start inclusive, end exclusive). Keys are uniform
    /// over the space, so it selects about `width` of the loaded keys; the
    /// exact count is [`Workload::count_range`].
    pub fn range_bounds(from: f64, width: f64) -> (Vec<u8>, Vec<u8>) {
        let at = |f: f64| -> Vec<u8> {
            let x = (f.clamp(0.0, 1.0) * u64::MAX as f64) as u64;
            let mut b = x.to_be_bytes().to_vec();
            b.resize(16, 0);
            b
        };
        (at(from), at(from + width))
    }

    /// Number of loaded keys in `start..end` (byte order, exact, O(keys)).
    pub fn count_range(&self, start: &[u8], end: &[u8]) -> u64 {
        let mut k = vec![0u8; self.key_len.max(16)];
        (0..self.keys)
            .filter(|&i| {
                self.write_key(i, &mut k);
                k.as_slice() >= start && k.as_slice() < end
            })
            .count() as u64
    }
}
