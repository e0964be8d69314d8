//! Stream-stream interval join with `#[state_store]`:
//! `orders JOIN payments ON order_id WHERE |order.ts - payment.ts| <= 5s`.
//!
//! Each side buffers its events by order id (`order id -> (event time,
//! event)`), and registers one event-time timer per buffered event at the
//! time it can no longer join (`event time + 5 s + 1 ms`) in a
//! [`TimerQueue`] field, which is part of the snapshot like any value. When
//! the watermark advances, the due timers name the events to drop: the work
//! is proportional to what expires, never a scan of the buffers.
//!
//! The run is checked: a second run takes a snapshot halfway, round-trips it
//! through bytes, restores it into a fresh state and continues; its output
//! must equal the uninterrupted run's (the process exits non-zero otherwise).

use laminar_core::state::time::TimerQueue;
use laminar_core::state::{state_store, Result, StateSnapshot};

const BOUND: i64 = 5_000;
const EVENTS: u64 = 30_000;

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, Debug, Default, PartialEq)]
struct Order {
    customer: String,
    amount: u64,
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, Debug, Default, PartialEq)]
struct Payment {
    method: String,
}

#[state_store(backend = BTree)]
struct JoinState {
    /// Buffered orders: `order id -> (event time, order)`.
    #[state(key = u64)]
    orders: (i64, Order),
    /// Buffered payments: `order id -> (event time, payment)`.
    #[state(key = u64)]
    payments: (i64, Payment),
    /// When each buffered event expires, keyed `(side, order id)`.
    expiries: TimerQueue<(Side, u64)>,
    watermark: i64,
}

/// Which buffer a timer belongs to.
#[derive(
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
)]
enum Side {
    Order,
    Payment,
}

/// One join result: `(order id, customer, amount, payment method)`.
type Row = (u64, String, u64, String);

enum Event {
    Order { id: u64, ts: i64, order: Order },
    Payment { id: u64, ts: i64, payment: Payment },
}

fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Deterministic event `i`: order `i/2` and its payment, the payment 0-8 s
/// later (so some fall outside the join bound) and slightly out of order.
fn event(i: u64) -> Event {
    let id = i / 2;
    let z = mix(id);
    let base = id as i64 * 40;
    if i.is_multiple_of(2) {
        Event::Order {
            id,
            ts: base,
            order: Order {
                customer: format!("c{}", z % 97),
                amount: z % 500,
            },
        }
    } else {
        Event::Payment {
            id,
            ts: base + ((z >> 16) % 8_000) as i64,
            payment: Payment {
                method: ["card", "iban", "wallet"][((z >> 32) % 3) as usize].into(),
            },
        }
    }
}

impl JoinState {
    fn on_event(&mut self, e: Event, out: &mut Vec<Row>) -> Result<()> {
        let ts = match e {
            Event::Order { id, ts, order } => {
                if let Some((pts, p)) = self.payments().get(id) {
                    if (pts - ts).abs() <= BOUND {
                        out.push((id, order.customer.clone(), order.amount, p.method.clone()));
                    }
                }
                self.orders_mut().put(id, (ts, order))?;
                self.expiries
                    .register_after(ts, BOUND + 1, (Side::Order, id))?;
                ts
            }
            Event::Payment { id, ts, payment } => {
                if let Some((ots, o)) = self.orders().get(id) {
                    if (ts - ots).abs() <= BOUND {
                        out.push((id, o.customer.clone(), o.amount, payment.method.clone()));
                    }
                }
                self.payments_mut().put(id, (ts, payment))?;
                self.expiries
                    .register_after(ts, BOUND + 1, (Side::Payment, id))?;
                ts
            }
        };
        // Payments arrive up to 8 s after their order: hold back the watermark.
        let wm = ts - 10_000;
        if wm > self.watermark {
            self.watermark = wm;
            self.expire()?;
        }
        Ok(())
    }

    /// Drops every buffered event that can no longer join (event time
    /// before `watermark - BOUND`): exactly the timers that are due.
    fn expire(&mut self) -> Result<()> {
        for (_, (side, id)) in self.expiries.advance_to(self.watermark)? {
            match side {
                Side::Order => self.orders_mut().delete(id).map(drop),
                Side::Payment => self.payments_mut().delete(id).map(drop),
            };
        }
        Ok(())
    }
}

fn run(interrupt_at: Option<u64>) -> Result<(Vec<Row>, usize)> {
    let mut state = JoinState::new();
    let mut out = Vec::new();
    let mut peak = 0;
    for i in 0..EVENTS {
        if Some(i) == interrupt_at {
            let bytes = state.snapshot()?.to_bytes()?;
            drop(state);
            state = JoinState::from_snapshot(&StateSnapshot::from_bytes(&bytes)?)?;
        }
        state.on_event(event(i), &mut out)?;
        peak = peak.max(state.orders().len() + state.payments().len());
    }
    Ok((out, peak))
}

fn main() {
    let ((plain, peak), (restored, _)) = match (run(None), run(Some(EVENTS / 2 + 1))) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("stream_join failed: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "{} joined pairs out of {} orders; at most {peak} events buffered (expiry by event-time timers)",
        plain.len(),
        EVENTS / 2
    );
    for row in plain.iter().take(3) {
        println!(
            "  order {:>5} {:<4} {:>4} paid by {}",
            row.0, row.1, row.2, row.3
        );
    }
    let expired_ok = peak < (EVENTS as usize) / 4;
    if plain != restored || plain.is_empty() || !expired_ok {
        eprintln!("MISMATCH: output after snapshot/restore differs from the uninterrupted run (or state was not expired)");
        std::process::exit(1);
    }
    println!("snapshot/restore mid-stream: output identical to the uninterrupted run");
}
