#!/usr/bin/env bash
# nginx (Debian) as the load balancer in front of two ringbolt instances, with wrk sending
# keep-alive traffic through nginx the whole time, while:
#   1. instance A is restarted (SIGTERM, wait for its exit, start it again, wait for /healthz),
#   2. then instance B the same way (a rolling restart),
#   3. instance A is upgraded in place (SIGUSR2: the binary restarts itself on the same sockets),
#   4. then instance B the same way.
# PASS: wrk saw 0 socket errors and 0 non-2xx responses. Loopback only, ~30 s.
#   scripts/ops/lb.sh        DURATION=28 DRIVER=auto
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-28}
DRIVER=${DRIVER:-auto}
LB=${LB:-18400}
A=${A:-18401}
B=${B:-18402}
for tool in nginx wrk curl taskset; do command -v "$tool" >/dev/null || { echo "FAIL lb: missing $tool"; exit 1; }; done
cargo build --release >&2
bin=$PWD/target/release/ringbolt
work=$(mktemp -d)
declare -A pid
nginx_pid=
cleanup() {
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  # Upgraded instances are children of init: found by their marker argument.
  for p in $(pgrep -f -- "--media-dir $work/" || true); do kill "$p" 2>/dev/null || true; done
  [[ -n $nginx_pid ]] && kill "$nginx_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start() {  # NAME PORT ADMIN
  mkdir -p "$work/$1"
  RINGBOLT_DRIVER=$DRIVER taskset -c 0 "$bin" --bind "127.0.0.1:$2" --workers 1 --admin "127.0.0.1:$3" \
    --drain-timeout 5s --media-dir "$work/$1/" >>"$work/$1.out" 2>>"$work/$1.log" &
  pid[$1]=$!
  healthy "$3" || { echo "FAIL lb: $1 did not come up"; cat "$work/$1.log"; exit 1; }
}
healthy() { for _ in $(seq 200); do [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/healthz") == 200 ]] && return 0; sleep 0.05; done; return 1; }
serving_pid() { pgrep -f -- "--media-dir $work/$1/" | head -1; }

start a "$A" $((A + 100))
start b "$B" $((B + 100))
cat > "$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream ringbolt {
    server 127.0.0.1:$A max_fails=0;
    server 127.0.0.1:$B max_fails=0;
    keepalive 64;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:$LB;
    location / {
      proxy_pass http://ringbolt;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout http_502 http_503;
      proxy_next_upstream_tries 2;
      proxy_connect_timeout 2s;
    }
  }
}
NGINX
taskset -c 1 nginx -p "$work" -c "$work/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$LB/plaintext" && break; sleep 0.05; done

nginx_errors() { grep -c "upstream" "$work/nginx.err" 2>/dev/null || true; }
taskset -c 1 wrk -t1 -c32 -d"${DURATION}s" "http://127.0.0.1:$LB/plaintext" > "$work/wrk.out" &
wrk_pid=$!
sleep 3
for name in a b; do
  port=$A; [[ $name == b ]] && port=$B
  t0=$(date +%s.%N)
  kill -TERM "${pid[$name]}"; wait "${pid[$name]}" || true
  start "$name" "$port" $((port + 100))
  took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
  sleep 3
  echo "restart $name: down and up again in $took s; nginx upstream errors so far: $(nginx_errors) (each retried on the other instance)"
done
for name in a b; do
  old=$(serving_pid "$name")
  before=$(nginx_errors)
  kill -USR2 "$old"
  for _ in $(seq 200); do kill -0 "$old" 2>/dev/null || break; sleep 0.05; done
  new=$(serving_pid "$name")
  [[ -n $new && $new != "$old" ]] || { echo "FAIL lb: $name was not upgraded"; cat "$work/$name.log"; exit 1; }
  sleep 3
  echo "upgrade $name: process $old handed over to $new; nginx upstream errors during and after it: $(( $(nginx_errors) - before ))"
done
wait "$wrk_pid"
cat "$work/wrk.out"
requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
errors=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$work/wrk.out")
non2xx=$(awk '/Non-2xx/ {print $5}' "$work/wrk.out")
errors=${errors:-0}; non2xx=${non2xx:-0}
echo "through nginx: $requests requests, $errors socket errors, $non2xx non-2xx"
echo "nginx upstream errors (each retried on the other instance), by kind:"
sed -n 's/.*\] [0-9#]*: \*[0-9]* \(.*\) while .*/\1/p' "$work/nginx.err" | sort | uniq -c | sort -rn | head -5
if [[ $errors == 0 && $non2xx == 0 && ${requests:-0} -gt 0 ]]; then
  echo "PASS lb: rolling restart and in-place upgrade of both instances, 0 failed requests"
else
  echo "FAIL lb"; exit 1
fi
