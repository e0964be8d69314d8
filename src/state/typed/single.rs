//! Single-value fields of `#[state_store]` structs: their keys in a
//! snapshot (and in the values file of an `Mmap` struct), written and read
//! back by the generated `snapshot` and `restore`.

use super::table::layout;
use super::Value;
use crate::state::error::{Result, StateError};
use crate::state::snapshot::{SnapshotSink, SnapshotSource};

/// The key of single-value field `name`.
pub(crate) fn single_key(name: &str) -> Vec<u8> {
    layout::header(name, layout::SINGLE)
}

/// Appends single-value field `name` to a snapshot's entries.
pub fn write_single<V: Value>(
    value: &V,
    name: &str,
    out: &mut (impl SnapshotSink + ?Sized),
) -> Result<()> {
    let key = single_key(name);
    out.push_entry(
        |k| k.extend_from_slice(&key),
        |v| value.write_snapshot_value(v),
    )
}

/// Reads single-value field `name` from a snapshot's sorted entries.
pub fn read_single<V: Value>(name: &str, entries: &(impl SnapshotSource + ?Sized)) -> Result<V> {
    let key = single_key(name);
    match entries.entry_at(entries.lower_bound(&key)) {
        Some((k, v)) if k == key.as_slice() => V::from_snapshot_bytes(v)
            .map_err(|e| e.within(|| format!("snapshot single value `{name}`"))),
        _ => Err(missing(name)),
    }
}

fn missing(name: &str) -> StateError {
    StateError::corruption(format!("snapshot field `{name}`"), "value missing")
}

/// Fails if a snapshot holds entries that belong to no field.
pub fn check_consumed(used: usize, total: usize) -> Result<()> {
    if used == total {
        Ok(())
    } else {
        Err(StateError::corruption(
            "snapshot",
            format!(
                "{} of {total} entries belong to no field of this state struct",
                total.saturating_sub(used)
            ),
        ))
    }
}
