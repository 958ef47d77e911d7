#!/usr/bin/env bash
# Faults: client resets mid-file, mid-stream and mid-SSE; a file deleted or truncated while it
# is sent; handler panics under load; blocking-pool saturation. The server must keep
# answering, free what each connection held, and never crash.
#   scripts/stress/faults.sh      DRIVER=uring
set -euo pipefail
cd "$(dirname "$0")/../.."
DRIVER=${DRIVER:-uring}
PORT=${PORT:-18210}
for tool in wrk python3; do command -v "$tool" >/dev/null || { echo "FAIL faults: missing $tool"; exit 1; }; done
cargo build --release --example stress_app >&2
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
head -c $((64 << 20)) /dev/urandom > "$work/64m.bin"
RINGBOLT_DRIVER=$DRIVER target/release/examples/stress_app --bind "127.0.0.1:$PORT" --workers 1 \
  --files "$work" --blocking-threads 4 >/dev/null 2>"$work/server.log" &
pids+=("$!")
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
status=0
timeout 180 python3 scripts/stress/faults.py "$PORT" "${pids[0]}" "$work" || status=1
# Handler panics under load, next to normal traffic.
out=$(wrk -t1 -c32 -d3s "http://127.0.0.1:$PORT/panic")
panics=$(awk '/requests in/ {print $1}' <<<"$out")
non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
ok=$(curl -s "http://127.0.0.1:$PORT/plaintext" || true)
echo "panics under load: $panics requests, $non2xx answered 500; /plaintext afterwards: $ok"
[[ $panics == "$non2xx" && $ok == "Hello, World!" ]] || status=1
kill -0 "${pids[0]}" || { echo "server died"; status=1; }
if [[ $status == 0 ]]; then echo "PASS faults"; else echo "FAIL faults"; fi
exit $status
