#!/usr/bin/env bash
# The blocking pool full of application jobs that sleep for seconds (N_BLOCK spawn_blocking
# jobs of 20 s, N_HANG iterators that sleep in `next`): a cold file and a 404 for a new name
# must each answer within 50 ms, and the jobs past the pool's bound must get 503 with
# Retry-After instead of waiting without end.
#   scripts/stress/pool.sh     N_BLOCK=320 N_HANG=100 DRIVER=uring
set -euo pipefail
cd "$(dirname "$0")/../.."
N_BLOCK=${N_BLOCK:-320}
N_HANG=${N_HANG:-100}
DRIVER=${DRIVER:-uring}
PORT=${PORT:-18195}
for tool in taskset python3; do command -v "$tool" >/dev/null || { echo "FAIL pool: missing $tool"; exit 1; }; done
cargo build --release --example stress_app >&2
work=$(mktemp -d -p "${TMPDIR:-/var/tmp}")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/files"
for i in 0 1 2 3 4; do head -c $((1 << 20)) /dev/urandom > "$work/files/cold$i.bin"; done
sync
ulimit -n "$(ulimit -Hn)"
taskset -c 0 target/release/examples/stress_app --bind "127.0.0.1:$PORT" --workers 1 --driver "$DRIVER" \
  --files "$work/files" >/dev/null 2>"$work/server.log" &
pids+=("$!")
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
echo "driver $DRIVER, 16 pool threads (4 kept for file work), queue 256"
taskset -c 1 python3 scripts/stress/pool.py "$PORT" "$work/files" "$N_BLOCK" "$N_HANG"
