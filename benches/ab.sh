#!/usr/bin/env sh
# Same-process A/B of this checkout against another revision: both copies of
# laminar-core in one binary, alternating rounds (benches/ab/src/main.rs).
#
#   ./benches/ab.sh REV MODE [KEYS]
#   ./benches/ab.sh 28e0ddc typed 10000000   # typed BTree chase vs std BTreeMap
#   ./benches/ab.sh 124ead1 inmemory 1000000  # InMemoryStore before huge pages
#
# MODE: typed | typedhash | hashorder | inmemory | ahash | mmap (hashorder
# measures this checkout only). REV is checked out (detached) into
# target/ab-old, with its versions renamed so cargo can link both copies.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
rev=$1
mode=$2
keys=${3:-1000000}
old="$root/target/ab-old"
git -C "$root" worktree remove --force "$old" 2>/dev/null || rm -rf "$old"
mkdir -p "$root/target"
git -C "$root" worktree add --force --detach "$old" "$rev" >/dev/null
# Two packages named laminar-core (and laminar-core-macros) must differ in
# version to live in one build.
sed -i 's/^version = "[^"]*"/version = "0.0.0-ab"/' "$old/Cargo.toml" "$old/macros/Cargo.toml"
sed -i 's/^\(laminar-core-macros = { version = \)"[^"]*"/\1"0.0.0-ab"/' "$old/Cargo.toml"
cargo build --release --manifest-path "$root/benches/ab/Cargo.toml"
exec "$root/benches/ab/target/release/laminar-ab" "$mode" "$keys"
