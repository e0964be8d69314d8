//! Stream-stream interval join with `#[state_store]`:
//! `orders JOIN payments ON order_id WHERE |order.ts - payment.ts| <= 5s`.
//!
//! Each side buffers its events under a time-ordered key `(event time, order
//! id)` in an ordered `BTree` table, plus an `order id -> event time` index
//! for the join probe. When the watermark advances, expired events are found
//! and removed with a range scan over the time-ordered keys.
//!
//! The run is checked: a second run takes a snapshot halfway, round-trips it
//! through bytes, restores it into a fresh state and continues; its output
//! must equal the uninterrupted run's (the process exits non-zero otherwise).

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
    /// Buffered orders by `(event time, order id)`.
    #[state(key = (i64, u64))]
    orders: Order,
    /// Buffered payments by `(event time, order id)`.
    #[state(key = (i64, u64))]
    payments: Payment,
    /// `order id -> event time` of buffered orders.
    #[state(key = u64)]
    order_time: i64,
    /// `order id -> event time` of buffered payments.
    #[state(key = u64)]
    payment_time: i64,
    watermark: i64,
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
                if let Some(&pts) = self.payment_time().get(id) {
                    if let Some(p) = self.payments().get((pts, id)) {
                        if (pts - ts).abs() <= BOUND {
                            out.push((id, order.customer.clone(), order.amount, p.method.clone()));
                        }
                    }
                }
                self.order_time_mut().put(id, ts)?;
                self.orders_mut().put((ts, id), order)?;
                ts
            }
            Event::Payment { id, ts, payment } => {
                if let Some(&ots) = self.order_time().get(id) {
                    if let Some(o) = self.orders().get((ots, id)) {
                        if (ts - ots).abs() <= BOUND {
                            out.push((id, o.customer.clone(), o.amount, payment.method.clone()));
                        }
                    }
                }
                self.payment_time_mut().put(id, ts)?;
                self.payments_mut().put((ts, id), payment)?;
                ts
            }
        };
        // Payments arrive up to 8 s after their order: hold back the watermark.
        let wm = ts - 10_000;
        if wm > self.watermark {
            self.watermark = wm;
            self.expire();
        }
        Ok(())
    }

    /// Drops every buffered event that can no longer join: time-ordered keys
    /// make that a range scan from the beginning up to `watermark - BOUND`.
    fn expire(&mut self) {
        let end = (self.watermark - BOUND, 0);
        let expired: Vec<u64> = self
            .orders()
            .range((i64::MIN, 0), end)
            .map(|((_, id), _)| id)
            .collect();
        for id in expired {
            self.order_time_mut().delete(id);
        }
        self.orders_mut().remove_range((i64::MIN, 0), end);
        let expired: Vec<u64> = self
            .payments()
            .range((i64::MIN, 0), end)
            .map(|((_, id), _)| id)
            .collect();
        for id in expired {
            self.payment_time_mut().delete(id);
        }
        self.payments_mut().remove_range((i64::MIN, 0), end);
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
        "{} joined pairs out of {} orders; at most {peak} events buffered (expiry by range scan)",
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
