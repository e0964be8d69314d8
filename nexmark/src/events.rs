//! The Nexmark event stream, generated once into memory in a compact form.
//!
//! Events come from the `nexmark` crate's generator (a Rust port of the
//! Nexmark generator by the RisingWave authors) with a fixed base time, so a
//! stream of `n` events is the same on every run and every machine. Only the
//! fields the queries read are kept; strings the queries output (a person's
//! name, city and state) are kept as strings.

use nexmark::config::NexmarkConfig;
use nexmark::event::Event;
use nexmark::EventGenerator;

/// Base time of every generated stream (ms since the epoch): fixed so that
/// streams are reproducible (the generator's default is the wall clock).
pub const BASE_TIME: u64 = 1_700_000_000_000;

/// A new person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// Person id.
    pub id: u64,
    /// Full name.
    pub name: String,
    /// City.
    pub city: String,
    /// US state, lower case (`"or"`, `"id"`, `"ca"`, ...).
    pub state: String,
    /// Event time, ms.
    pub ts: u64,
}

/// A new auction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Auction {
    /// Auction id.
    pub id: u64,
    /// Person id of the seller.
    pub seller: u64,
    /// Category id.
    pub category: u64,
    /// Event time, ms.
    pub ts: u64,
    /// Expiry time, ms.
    pub expires: u64,
}

/// A bid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bid {
    /// Auction id.
    pub auction: u64,
    /// Person id of the bidder.
    pub bidder: u64,
    /// Price in cents.
    pub price: u64,
    /// Event time, ms.
    pub ts: u64,
}

/// One Nexmark event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    /// A new person.
    Person(Person),
    /// A new auction.
    Auction(Auction),
    /// A bid.
    Bid(Bid),
}

impl Ev {
    /// The event time, ms.
    pub fn ts(&self) -> u64 {
        match self {
            Ev::Person(p) => p.ts,
            Ev::Auction(a) => a.ts,
            Ev::Bid(b) => b.ts,
        }
    }
}

/// The generator's configuration used everywhere: the crate's defaults
/// (10,000 events per second of event time, 1 person : 3 auctions : 46
/// bids, events in time order) with [`BASE_TIME`].
pub fn config() -> NexmarkConfig {
    NexmarkConfig {
        base_time: BASE_TIME,
        ..NexmarkConfig::default()
    }
}

/// Events per second of event time in [`config`].
pub const DEFAULT_RATE: usize = 10_000;

fn convert(e: Event) -> Ev {
    match e {
        Event::Person(p) => Ev::Person(Person {
            id: p.id as u64,
            name: p.name,
            city: p.city,
            state: p.state,
            ts: p.date_time,
        }),
        Event::Auction(a) => Ev::Auction(Auction {
            id: a.id as u64,
            seller: a.seller as u64,
            category: a.category as u64,
            ts: a.date_time,
            expires: a.expires,
        }),
        Event::Bid(b) => Ev::Bid(Bid {
            auction: b.auction as u64,
            bidder: b.bidder as u64,
            price: b.price as u64,
            ts: b.date_time,
        }),
    }
}

/// The first `n` events of the stream at `rate` events per second of event
/// time, calling `progress` with the number generated so far every 65,536
/// events. (A lower rate spreads the same events over more windows: the
/// tests use it to cross many window boundaries with few events.)
pub fn generate_with(n: usize, rate: usize, mut progress: impl FnMut(usize)) -> Vec<Ev> {
    let mut out = Vec::with_capacity(n);
    let cfg = NexmarkConfig {
        first_rate: rate.max(1),
        next_rate: rate.max(1),
        ..config()
    };
    for (i, e) in EventGenerator::new(cfg).take(n).enumerate() {
        out.push(convert(e));
        if i % 65_536 == 65_535 {
            progress(i + 1);
        }
    }
    out
}

/// The first `n` events of the stream.
pub fn generate(n: usize) -> Vec<Ev> {
    generate_with(n, DEFAULT_RATE, |_| {})
}

/// A stable 64-bit hash (FNV-1a) of a string, used to put strings into
/// fixed-width output rows.
pub fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
