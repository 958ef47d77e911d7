#!/usr/bin/env bash
# Graceful shutdown under load: wrk drives /plaintext (and a slow route) while the server gets
# SIGTERM. Every request the server accepted must get its whole response: wrk may fail to
# connect once the listener is closed, but must see no read errors, no timeouts and no non-2xx;
# the server must exit 0 within its drain timeout.
#   scripts/stress/shutdown.sh      DRIVER=uring ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/../.."
DRIVER=${DRIVER:-uring}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18200}
for tool in wrk taskset; do command -v "$tool" >/dev/null || { echo "FAIL shutdown: missing $tool"; exit 1; }; done
cargo build --release --example bench_app >&2
status=0
for round in $(seq "$ROUNDS"); do
  RINGBOLT_DRIVER=$DRIVER taskset -c 0 target/release/examples/bench_app --bind "127.0.0.1:$PORT" --workers ${WORKERS:-2} \
    >/tmp/ringbolt-shutdown.log 2>&1 &
  server=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
  taskset -c 1 wrk -t1 -c64 -d6s "http://127.0.0.1:$PORT/plaintext" >/tmp/ringbolt-shutdown-wrk.txt 2>&1 &
  wrk=$!
  sleep 2
  kill -TERM "$server"
  t0=$(date +%s.%N)
  code=0; wait "$server" || code=$?
  took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
  wait "$wrk" || true
  out=$(cat /tmp/ringbolt-shutdown-wrk.txt)
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  errors=$(grep -o 'Socket errors:.*' <<<"$out" || echo "Socket errors: none")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  read_err=$(grep -o 'read [0-9]*' <<<"$errors" | awk '{print $2}'); read_err=${read_err:-0}
  timeouts=$(grep -o 'timeout [0-9]*' <<<"$errors" | awk '{print $2}'); timeouts=${timeouts:-0}
  echo "round $round: server exit $code after SIGTERM in ${took}s; wrk: $reqs responses, $errors, non-2xx $non2xx"
  if [[ $code != 0 || $read_err != 0 || $timeouts != 0 || $non2xx != 0 ]]; then status=1; fi
done
if [[ $status == 0 ]]; then echo "PASS shutdown: $ROUNDS rounds, 0 failed requests, clean exits"; else echo "FAIL shutdown"; fi
exit $status
