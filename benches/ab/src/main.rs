//! Same-process A/B: the same workload on this checkout (`new`) and on
//! another revision (`old`), in one process, alternating rounds, so that a
//! busy host slows both sides alike. Run through `benches/ab.sh`.
//!
//! ```text
//! laminar-ab typed KEYS        # Table<(Dict<String>, u64), u64, BTree>, dependent chase
//! laminar-ab typedhash KEYS    # the same table with AHash: independent gets by &str, and a chase;
//!                              # also the new side against a bare hashbrown HashMap<u64, u64>,
//!                              # by get and by get_each (the new side only)
//! laminar-ab hashorder KEYS    # this checkout only: a hashbrown HashTable of (code, id) hashed
//!                              # from the code (after the dictionary) or from the string itself
//! laminar-ab inmemory KEYS     # InMemoryStore: independent gets and a dependent chain
//! laminar-ab ahash KEYS        # AHashMapStore, same
//! laminar-ab mmap KEYS         # MmapStateStore::in_memory, same
//! ```
//!
//! Prints the median of the rounds for each side and their ratio (new/old).

use std::time::Instant;

use bytes::Bytes;

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// 16-byte key: eight well-mixed bytes, then the index big-endian.
fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&mix(i ^ 0xabc).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// A random order of `0..n` and the single cycle `next` that visits it.
fn cycle(n: u64) -> (Vec<u64>, Vec<u64>) {
    let mut order: Vec<u64> = (0..n).collect();
    let mut s = 12345u64;
    for i in (1..order.len()).rev() {
        s = mix(s.wrapping_add(i as u64));
        order.swap(i, (s % (i as u64 + 1)) as usize);
    }
    let mut next = vec![0u64; n as usize];
    for k in 0..order.len() {
        next[order[k] as usize] = order[(k + 1) % order.len()];
    }
    (order, next)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn report(what: &str, new: Vec<f64>, old: Vec<f64>) {
    let (n, o) = (median(new), median(old));
    println!("{what}: new {n:.0} ns, old {o:.0} ns, ratio {:.2}", n / o);
}

const REGIONS: u64 = 64;
const STEPS: u64 = 200_000;
const ROUNDS: usize = 9;

macro_rules! typed_side {
    ($krate:ident, $marker:ident, $regions:expr, $order:expr, $next:expr) => {{
        let mut t: $krate::state::typed::Table<
            ($krate::state::key::Dict<String>, u64),
            u64,
            $krate::state::typed::$marker,
        > = Default::default();
        for &id in $order {
            t.put(
                ($regions[(mix(id) % REGIONS) as usize].as_str(), id),
                $next[id as usize],
            )
            .expect("dictionary has room");
        }
        t
    }};
}

macro_rules! chase {
    ($t:expr, $regions:expr, $id:expr) => {{
        let t0 = Instant::now();
        let mut id = $id;
        for _ in 0..STEPS {
            id = *$t
                .get(($regions[(mix(id) % REGIONS) as usize].as_str(), id))
                .unwrap_or(&0);
        }
        (t0.elapsed().as_nanos() as f64 / STEPS as f64, id)
    }};
}

fn typed(n: u64) {
    let regions: Vec<String> = (0..REGIONS).map(|r| format!("region-{r:02}")).collect();
    let (order, next) = cycle(n);
    let a = typed_side!(new, BTree, regions, &order, next);
    let b = typed_side!(old, BTree, regions, &order, next);
    let (mut ra, mut rb) = (vec![], vec![]);
    let (mut ia, mut ib) = (order[0], order[0]);
    for _ in 0..ROUNDS {
        let (x, i) = chase!(a, regions, ia);
        ia = i;
        ra.push(x);
        let (x, i) = chase!(b, regions, ib);
        ib = i;
        rb.push(x);
    }
    report(&format!("typed BTree chase, {n} keys"), ra, rb);
}

/// Independent lookups by `(&str, u64)`: nanoseconds per lookup.
macro_rules! typed_gets {
    ($t:expr, $probe:expr) => {{
        let t0 = Instant::now();
        let mut acc = 0u64;
        for &k in $probe.iter() {
            acc = acc.wrapping_add(*$t.get(std::hint::black_box(k)).unwrap_or(&0));
        }
        std::hint::black_box(acc);
        t0.elapsed().as_nanos() as f64 / $probe.len() as f64
    }};
}

fn typed_hash(n: u64) {
    let regions: Vec<String> = (0..REGIONS).map(|r| format!("region-{r:02}")).collect();
    let (order, next) = cycle(n);
    let a = typed_side!(new, AHash, regions, &order, next);
    let b = typed_side!(old, AHash, regions, &order, next);
    let probe: Vec<(&str, u64)> = (0..1_000_000u64)
        .map(|j| {
            let id = mix(j ^ 0x77) % n;
            (regions[(mix(id) % REGIONS) as usize].as_str(), id)
        })
        .collect();
    // The bar of issue 4: a bare map keyed by the id alone.
    let mut bare: hashbrown::HashMap<u64, u64> = hashbrown::HashMap::with_capacity(order.len());
    for &id in &order {
        bare.insert(id, next[id as usize]);
    }
    let (mut ga, mut gb, mut ca, mut cb, mut gh) = (vec![], vec![], vec![], vec![], vec![]);
    let mut ge = vec![];
    let (mut ia, mut ib) = (order[0], order[0]);
    // Short rounds and a noisy host: more of them than the other modes.
    for _ in 0..4 * ROUNDS {
        ga.push(typed_gets!(a, probe));
        gb.push(typed_gets!(b, probe));
        // This checkout's pipelined lookups (`get_each`), same keys; before the
        // bare map, whose sweep of its own 34 MB leaves the tables that the
        // chases below read as cold as they were before it. The gets above
        // pass each key through `black_box`; this passes the whole probe
        // array once (a key is pulled 16 keys before its value is read).
        let t0 = Instant::now();
        let acc = a
            .get_each(std::hint::black_box(&probe).iter().copied())
            .map(|v| *v.unwrap_or(&0))
            .fold(0u64, u64::wrapping_add);
        std::hint::black_box(acc);
        ge.push(t0.elapsed().as_nanos() as f64 / probe.len() as f64);
        let t0 = Instant::now();
        let mut acc = 0u64;
        for &(_, id) in &probe {
            acc = acc.wrapping_add(*bare.get(&std::hint::black_box(id)).unwrap_or(&0));
        }
        std::hint::black_box(acc);
        gh.push(t0.elapsed().as_nanos() as f64 / probe.len() as f64);
        let (x, i) = chase!(a, regions, ia);
        ia = i;
        ca.push(x);
        let (x, i) = chase!(b, regions, ib);
        ib = i;
        cb.push(x);
    }
    let (new_get, bare_get, new_each) = (median(ga.clone()), median(gh), median(ge));
    println!(
        "typed AHash get by (&str, u64) against bare hashbrown HashMap<u64, u64> by id, {n} keys: new {new_get:.0} ns, bare {bare_get:.0} ns, ratio {:.2}",
        new_get / bare_get
    );
    println!(
        "typed AHash get_each by (&str, u64) against the same bare gets, {n} keys: new {new_each:.0} ns, bare {bare_get:.0} ns, ratio {:.2}",
        new_each / bare_get
    );
    report(&format!("typed AHash get, {n} keys"), ga, gb);
    report(&format!("typed AHash chase, {n} keys"), ca, cb);
}

#[inline]
fn folded(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Table hash of a (region, id) key from a region word: the code or a hash of the string.
#[inline]
fn key_hash(region: u64, id: u64) -> u64 {
    folded(region ^ 0x243f_6a88_85a3_08d3, id ^ 0x1319_8a2e_0370_7344)
}

/// A hash of the string's bytes alone, computable before the dictionary answers.
#[inline]
fn string_hash(s: &[u8]) -> u64 {
    let (h, t) = match (s.first_chunk::<8>(), s.last_chunk::<8>()) {
        (Some(h), Some(t)) => (u64::from_le_bytes(*h), u64::from_le_bytes(*t)),
        _ => (s.len() as u64, 0),
    };
    folded(h ^ 0xa409_3822_299f_31d0, t ^ 0x082e_fa98_ec4e_6c89 ^ (s.len() as u64) << 56)
}

/// Does a dictionary lookup delay a hash table's miss? The same lookups by
/// `(&str, id)` in two `hashbrown::HashTable`s of `(code, id, value)`: one
/// hashed from the dictionary code (the miss waits for the dictionary), one
/// from the string's own hash (the miss can start alongside it).
fn hash_order(n: u64) {
    use hashbrown::HashTable;
    let regions: Vec<String> = (0..REGIONS).map(|r| format!("region-{r:02}")).collect();
    let mut dict = new::state::DictionaryKeyEncoder::new();
    for r in &regions {
        dict.encode_or_insert(r.as_bytes()).expect("dictionary has room");
    }
    let code_of = |s: &str| dict.encode(s.as_bytes()).unwrap_or(u32::MAX);
    let (order, _) = cycle(n);
    let mut by_code: HashTable<(u32, u64, u64)> = HashTable::with_capacity(order.len());
    let mut by_string: HashTable<(u32, u64, u64)> = HashTable::with_capacity(order.len());
    for &id in &order {
        let s = &regions[(mix(id) % REGIONS) as usize];
        let code = code_of(s);
        by_code.insert_unique(key_hash(u64::from(code), id), (code, id, id ^ 5), |e| {
            key_hash(u64::from(e.0), e.1)
        });
        by_string.insert_unique(key_hash(string_hash(s.as_bytes()), id), (code, id, id ^ 5), |e| {
            let s = regions.get(e.0 as usize).map_or(&[][..], |s| s.as_bytes());
            key_hash(string_hash(s), e.1)
        });
    }
    let probe: Vec<(&str, u64)> = (0..1_000_000u64)
        .map(|j| {
            let id = mix(j ^ 0x77) % n;
            (regions[(mix(id) % REGIONS) as usize].as_str(), id)
        })
        .collect();
    let (mut ra, mut rb) = (vec![], vec![]);
    let mut acc = 0u64;
    for _ in 0..4 * ROUNDS {
        let t0 = Instant::now();
        for &k in &probe {
            let (s, id) = std::hint::black_box(k);
            if let Some(code) = dict.encode(s.as_bytes()) {
                let h = key_hash(u64::from(code), id);
                if let Some(e) = by_code.find(h, |e| e.0 == code && e.1 == id) {
                    acc = acc.wrapping_add(e.2);
                }
            }
        }
        ra.push(t0.elapsed().as_nanos() as f64 / probe.len() as f64);
        let t0 = Instant::now();
        for &k in &probe {
            let (s, id) = std::hint::black_box(k);
            let h = key_hash(string_hash(s.as_bytes()), id);
            if let Some(code) = dict.encode(s.as_bytes()) {
                if let Some(e) = by_string.find(h, |e| e.0 == code && e.1 == id) {
                    acc = acc.wrapping_add(e.2);
                }
            }
        }
        rb.push(t0.elapsed().as_nanos() as f64 / probe.len() as f64);
    }
    std::hint::black_box(acc);
    let (a, b) = (median(ra), median(rb));
    println!(
        "hash from the string / hash from the code, {n} keys: {b:.0} ns / {a:.0} ns, ratio {:.2}",
        b / a
    );
}

macro_rules! store_rounds {
    ($s:expr, $probe:expr, $keys:expr) => {{
        let t0 = Instant::now();
        let mut acc = 0u64;
        for k in $probe.iter() {
            if let Some(v) = $s.get(k) {
                acc = acc.wrapping_add(v.first_chunk::<8>().map_or(0, |b| u64::from_le_bytes(*b)));
            }
        }
        let get = t0.elapsed().as_nanos() as f64 / $probe.len() as f64;
        // `get` alone: the value handle, its bytes not read.
        let t0 = Instant::now();
        let mut held = 0usize;
        for k in $probe.iter() {
            held += usize::from(std::hint::black_box($s.get(k)).is_some());
        }
        let get_handle = t0.elapsed().as_nanos() as f64 / $probe.len() as f64;
        std::hint::black_box(held);
        // Lookups that do not read the value: `get_ref` returns a slice.
        let t0 = Instant::now();
        let mut found = 0usize;
        for k in $probe.iter() {
            found += usize::from(std::hint::black_box($s.get_ref(k)).is_some());
        }
        let get_ref = t0.elapsed().as_nanos() as f64 / $probe.len() as f64;
        std::hint::black_box(found);
        // Dependent chain: each value holds the index of the next key.
        let t0 = Instant::now();
        let mut j = 0usize;
        for _ in 0..STEPS {
            let v = $s.get(&$keys[j]).unwrap_or_default();
            j = v.first_chunk::<8>().map_or(0, |b| u64::from_le_bytes(*b)) as usize;
        }
        let chain = t0.elapsed().as_nanos() as f64 / STEPS as f64;
        std::hint::black_box((acc, j));
        (get, get_handle, get_ref, chain)
    }};
}

fn store(which: &str, n: u64) {
    let (mut a, mut b): (
        Box<dyn new::state::StateStore>,
        Box<dyn old::state::StateStore>,
    ) = match which {
        "ahash" => (
            Box::new(new::state::AHashMapStore::new()),
            Box::new(old::state::AHashMapStore::new()),
        ),
        "mmap" => (
            Box::new(new::state::MmapStateStore::in_memory(1 << 20)),
            Box::new(old::state::MmapStateStore::in_memory(1 << 20)),
        ),
        _ => (
            Box::new(new::state::InMemoryStore::new()),
            Box::new(old::state::InMemoryStore::new()),
        ),
    };
    let (order, next) = cycle(n);
    for &i in &order {
        let mut v = vec![7u8; 64];
        v[..8].copy_from_slice(&next[i as usize].to_le_bytes());
        a.put(&key(i), Bytes::copy_from_slice(&v)).expect("put");
        b.put(&key(i), Bytes::copy_from_slice(&v)).expect("put");
    }
    let keys: Vec<[u8; 16]> = (0..n).map(key).collect();
    let probe: Vec<[u8; 16]> = (0..1_000_000u64).map(|j| key(mix(j) % n)).collect();
    let (mut ga, mut gb, mut ca, mut cb) = (vec![], vec![], vec![], vec![]);
    let (mut ra, mut rb, mut ha, mut hb) = (vec![], vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        let (g, h, r, c) = store_rounds!(a, probe, keys);
        ga.push(g);
        ha.push(h);
        ra.push(r);
        ca.push(c);
        let (g, h, r, c) = store_rounds!(b, probe, keys);
        gb.push(g);
        hb.push(h);
        rb.push(r);
        cb.push(c);
    }
    report(&format!("{which} get and read the value, {n} keys"), ga, gb);
    report(&format!("{which} get (value not read), {n} keys"), ha, hb);
    report(&format!("{which} get_ref (value not read), {n} keys"), ra, rb);
    report(&format!("{which} dependent chain, {n} keys"), ca, cb);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "typed".into());
    let n: u64 = args
        .next()
        .and_then(|s| s.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    match mode.as_str() {
        "typed" => typed(n),
        "typedhash" => typed_hash(n),
        "hashorder" => hash_order(n),
        "inmemory" | "ahash" | "mmap" => store(&mode, n),
        other => {
            eprintln!("unknown mode {other}: typed, typedhash, hashorder, inmemory, ahash or mmap");
            std::process::exit(2);
        }
    }
}
