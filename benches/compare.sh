#!/usr/bin/env sh
# Runs the peer comparison and regenerates BENCHMARKS.md and docs/lookup-latency.svg.
#
#   ./benches/compare.sh --quick      # 10K and 1M keys, under five minutes
#   ./benches/compare.sh --full       # adds 10M keys and more rounds
#   ./benches/compare.sh --list       # system ids, for --only a,b,c
#
# Builds the separate `benches/peers` crate (release) on first use; extra
# cargo features (e.g. CARGO_FEATURES=rocksdb, needs libclang) via the
# environment.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
features=${CARGO_FEATURES:-}
cargo build --release --manifest-path "$root/benches/peers/Cargo.toml" ${features:+--features "$features"}
exec "$root/benches/peers/target/release/laminar-peers" --out "$root" "$@"
