#!/usr/bin/env bash
# Kill-and-rescale check of examples/timely_keyed.rs:
#   1. an uninterrupted run with 1 worker (the reference output);
#   2. a run with 2 processes (-n 2, localhost hostfile) of which process 1
#      is SIGKILLed mid-stream (after at least 2 committed epochs);
#   3. a restart with 3 workers in 1 process from the latest committed epoch;
# then the committed output of (2)+(3) must equal (1) byte for byte.
# Usage: scripts/timely_kill_rescale.sh [EVENTS] [EPOCHS]  (default 200000 40)
# Env: PROFILE=release|debug (default release), KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."

events=${1:-200000}
epochs=${2:-40}
profile=${PROFILE:-release}
flag=(); [ "$profile" = release ] && flag=(--release)
cargo build "${flag[@]}" --example timely_keyed
bin="target/$profile/examples/timely_keyed"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  [ "${KEEP:-0}" = 1 ] && echo "work directory kept: $work" || rm -rf "$work"
}
trap cleanup EXIT

common=(--events "$events" --epochs "$epochs" --keys 5000)

echo "--- reference: 1 worker, uninterrupted"
"$bin" run --storage "$work/ref" --scratch "$work/scratch" --run 1 "${common[@]}" -- -w 1
"$bin" collect --storage "$work/ref" "${common[@]}" >"$work/ref.txt"

echo "--- 2 processes, process 1 killed mid-stream"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
port2=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
printf '127.0.0.1:%s\n127.0.0.1:%s\n' "$port" "$port2" >"$work/hosts"
delay=${DELAY_MS:-$((2000 / epochs + 1))}
for p in 0 1; do
  "$bin" run --storage "$work/job" --scratch "$work/scratch" --run 1 --delay-ms "$delay" "${common[@]}" \
    -- -n 2 -p "$p" -h "$work/hosts" >"$work/p$p.log" 2>&1 &
  pids+=($!)
done
committed() { ls "$work/job/commits" 2>/dev/null | wc -l; }
for _ in $(seq 1 600); do
  [ "$(committed)" -ge 2 ] && break
  sleep 0.05
done
kill -9 "${pids[1]}"
echo "killed process 1 after $(committed) committed epochs of $epochs"
sleep 0.5
kill -9 "${pids[0]}" 2>/dev/null || true
wait "${pids[0]}" 2>/dev/null || true
wait "${pids[1]}" 2>/dev/null || true
pids=()
before=$(committed)
[ "$before" -lt "$epochs" ] || { echo "FAIL: the job finished before the kill; use more events"; exit 1; }

echo "--- restart: 3 workers in 1 process, from epoch $((before - 1))"
"$bin" run --storage "$work/job" --scratch "$work/scratch" --run 2 "${common[@]}" -- -w 3
"$bin" collect --storage "$work/job" "${common[@]}" >"$work/job.txt"

if cmp -s "$work/ref.txt" "$work/job.txt"; then
  echo "OK: output after kill and rescale 2 processes -> 3 workers equals the 1-worker run ($(wc -l <"$work/ref.txt") lines, $events events)"
else
  echo "FAIL: outputs differ"; diff "$work/ref.txt" "$work/job.txt" | head -20; exit 1
fi
