#!/usr/bin/env bash
# Server memory per open SSE stream, with and without compression: for each Accept-Encoding
# (none, zstd, gzip, br) a fresh stress_app (compression on, one worker, pinned to core 0)
# gets N (default 1000) streams of /sse-hold (three events at once, then quiet); the client
# (core 1) reads each stream's first events, and the server's RSS growth / N is the cost of
# one open stream. Every encoding must stay within 4x the uncompressed figure (zstd is asked
# for, and streams are sent as they are: a zstd context per open stream costs too much).
#   scripts/stress/sse_mem.sh       N=1000 DRIVER=uring
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-1000}
DRIVER=${DRIVER:-uring}
PORT=${PORT:-18240}
for tool in taskset python3; do command -v "$tool" >/dev/null || { echo "FAIL sse_mem: missing $tool"; exit 1; }; done
cargo build --release --example stress_app >&2
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
status=0
declare -A per
for enc in none zstd gzip br; do
  PORT=$((PORT + 1))
  RINGBOLT_DRIVER=$DRIVER taskset -c 0 target/release/examples/stress_app --bind "127.0.0.1:$PORT" \
    --workers 1 --compression >/dev/null 2>"$work/server-$enc.log" &
  server=$!; pids=("$server")
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
  if ! out=$(timeout 120 taskset -c 1 python3 scripts/stress/sse_mem.py "$PORT" "$server" "$N" "$enc"); then
    echo "$out"; echo "FAIL sse_mem: $enc streams"; status=1
  fi
  echo "$out" | grep -v '^RESULT'
  per[$enc]=$(echo "$out" | awk '/^RESULT/ {print $3}')
  kill "$server"; wait "$server" 2>/dev/null || true; pids=()
done
[[ $status == 0 ]] || exit 1
for enc in zstd gzip br; do
  ratio=$(awk -v a="${per[$enc]}" -v b="${per[none]}" 'BEGIN {printf "%.1f", a / b}')
  echo "$enc: ${per[$enc]} KiB per stream, ${ratio}x the uncompressed ${per[none]} KiB"
  awk -v a="${per[$enc]}" -v b="${per[none]}" 'BEGIN {exit !(a <= 4 * b)}' || status=1
done
if [[ $status == 0 ]]; then echo "PASS sse_mem: every encoding within 4x the uncompressed stream"; else echo "FAIL sse_mem: an encoding costs more than 4x the uncompressed stream"; fi
exit $status
