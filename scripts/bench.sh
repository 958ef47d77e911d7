#!/usr/bin/env bash
# ringbolt vs nginx, side by side in one run: server pinned to CPU 0, wrk pinned to CPU 1.
#
#   scripts/bench.sh                 # 10 s per run
#   DURATION=30 CONNS=64 scripts/bench.sh
#   DRIVER=epoll scripts/bench.sh    # ringbolt on epoll instead of io_uring
#   ENDPOINTS="/plaintext" scripts/bench.sh
#   ENDPOINTS=none scripts/bench.sh  # static-file rows only
#   REPEAT=3 scripts/bench.sh        # each run REPEAT times, alternating servers; medians shown
#   FILES=0 scripts/bench.sh         # skip the static-file rows (4 KiB, 1 MiB, 64 MiB)
#   FILE_SEND="zero-copy copy" scripts/bench.sh   # one ringbolt per file sending mode, same run
#   OBSERVE=1 scripts/bench.sh       # adds "rb-observed": access log (combined, to a file) and
#                                    # metrics (admin listener) on, to measure what they cost
#   MIDDLEWARE=1 scripts/bench.sh    # adds "rb-noop-mw": one middleware that only passes requests on
#   SKIP_BUILD=1 scripts/bench.sh    # runs the bench_app already built
#   BASELINE=DIR/bench_app scripts/bench.sh   # adds "rb-base": another build of bench_app (an
#                                    # earlier commit), to measure a change in the same run
#   PROFILE=release scripts/bench.sh # builds and runs bench_app of another cargo profile
#                                    # (default: max, the fastest; binary in target/PROFILE/)
#   BIN=PATH scripts/bench.sh        # the first ringbolt runs that binary instead
#
# Needs: wrk, nginx (Debian nginx-light), taskset. For every server and endpoint it prints
# requests/s, p99 latency, and the server's CPU time per response (utime+stime of the server
# process from /proc/PID/stat, before and after the run, divided by the responses wrk counted).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
DRIVER=${DRIVER:-uring}
PIPELINE=${PIPELINE:-16}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RB_PORT=${RB_PORT:-18080}
NGX_PORT=${NGX_PORT:-18081}
PROFILE=${PROFILE:-max}
target_dir=${CARGO_TARGET_DIR:-target}
profile_dir=$PROFILE; [[ $PROFILE == dev ]] && profile_dir=debug
BIN=${BIN:-$target_dir/$profile_dir/examples/bench_app}

for tool in wrk nginx taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx-light util-linux)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

[[ ${SKIP_BUILD:-0} == 1 ]] || cargo build --profile "$PROFILE" --example bench_app >&2

# The 3.5 KiB JSON document bench_app encodes per request at /bigjson, for nginx to return.
big='{"items":['
for i in $(seq 0 59); do
  [[ $i -gt 0 ]] && big+=','
  big+="{\"id\":$i,\"name\":\"item-$i\",\"tags\":[\"alpha\",\"beta\",\"gamma\"]}"
done
big+=']}'

# Static files, served by both from the same directory.
mkdir -p "$work/files"
head -c 4096 /dev/urandom >"$work/files/4k.bin"
head -c $((1 << 20)) /dev/urandom >"$work/files/1m.bin"
head -c $((64 << 20)) /dev/urandom >"$work/files/64m.bin"

# nginx: one process (no master), no access log, everything kept alive; files with sendfile and
# an open-file cache, as a tuned nginx serves them.
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<NGINX
daemon off;
master_process off;
worker_processes 1;
error_log $work/nginx/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$NGX_PORT reuseport backlog=4096;
    location = /plaintext { default_type "text/plain; charset=utf-8"; return 200 "Hello, World!"; }
    location = /json { default_type application/json; return 200 '{"message":"Hello","count":42}'; }
    location = /data { default_type application/json; return 200 '{"message":"Hello","count":42}'; }
    location = /bigjson { default_type application/json; return 200 '$big'; }
    location /files/ {
      alias $work/files/;
      sendfile on;
      tcp_nopush on;
      open_file_cache max=1000 inactive=60s;
      open_file_cache_valid 1s;
    }
  }
}
NGINX

cat > "$work/pipeline.lua" <<LUA
init = function(args)
  local r = {}
  for i = 1, $PIPELINE do r[i] = wrk.format(nil) end
  req = table.concat(r)
end
request = function() return req end
LUA

wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "server on port $1 did not start" >&2; exit 1
}

ticks() { # utime + stime of a process, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}

hz=$(getconf CLK_TCK)
REPEAT=${REPEAT:-3}
results=$work/results.txt

# run NAME PID PORT PATH [LUA]
run() {
  local name=$1 pid=$2 port=$3 path=$4 lua=${5:-} conns=${6:-$CONNS}
  local args=(-t1 -c"$conns" -d"${DURATION}s" --latency)
  [[ -n $lua ]] && args+=(-s "$lua")
  # warm-up
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$port$path" >/dev/null
  local before after out reqs rps p99 us
  before=$(ticks "$pid")
  out=$(taskset -c "$CLIENT_CPU" wrk "${args[@]}" "http://127.0.0.1:$port$path")
  after=$(ticks "$pid")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "warning: $name $path: $(grep -E 'Non-2xx|Socket errors' <<<"$out")" >&2
  fi
  us=$(awk -v d="$((after - before))" -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.3f", d * 1e6 / hz / n}')
  # Transfer/sec in MB/s, and server CPU microseconds per MiB sent.
  local mbps cpu_mib
  mbps=$(awk '/^Transfer\/sec/ { v = $2 + 0; u = $2; sub(/^[0-9.]+/, "", u);
           f = (u == "GB") ? 1024 : (u == "MB") ? 1 : (u == "KB") ? 1 / 1024 : 1 / 1048576; printf "%.0f", v * f }' <<<"$out")
  cpu_mib=$(awk -v m="$mbps" -v d="$((after - before))" -v hz="$hz" -v t="$DURATION" \
    'BEGIN { printf "%.1f", (m > 0) ? d * 1e6 / hz / (m * t) : 0 }')
  printf '%s|%s|%s|%s\n' "$name" "$path" "$mbps" "$cpu_mib" >>"$work/transfer.txt"
  local label=$path
  [[ -n $lua ]] && label="$path (pipelined x$PIPELINE)"
  printf '%s|%s|%s|%s|%s\n' "$name" "$label" "$rps" "$p99" "$us" >>"$results"
}

# ringbolt: one instance per file sending mode (the first is "ringbolt", others "rb-MODE")
FILE_SEND=${FILE_SEND:-zero-copy}
rb_names=(); rb_pids=(); rb_ports=()
i=0
for mode in $FILE_SEND; do
  port=$((RB_PORT + 2 * i))
  name=ringbolt; [[ $i -gt 0 ]] && name="rb-$mode"
  RINGBOLT_DRIVER=$DRIVER taskset -c "$SERVER_CPU" "$BIN" \
    --bind "127.0.0.1:$port" --workers 1 --files "$work/files" --file-send "$mode" >"$work/ringbolt-$i.log" 2>&1 &
  pids+=("$!"); rb_pids+=("$!"); rb_names+=("$name"); rb_ports+=("$port")
  wait_port "$port"
  i=$((i + 1))
done
if [[ ${OBSERVE:-0} == 1 ]]; then
  port=$((RB_PORT + 2 * i))
  RINGBOLT_DRIVER=$DRIVER taskset -c "$SERVER_CPU" "$BIN" \
    --bind "127.0.0.1:$port" --workers 1 --files "$work/files" \
    --access-log "$work/access.log" --admin "127.0.0.1:$((port + 1))" >"$work/ringbolt-$i.log" 2>&1 &
  pids+=("$!"); rb_pids+=("$!"); rb_names+=("rb-observed"); rb_ports+=("$port")
  wait_port "$port"
fi
if [[ ${MIDDLEWARE:-0} == 1 ]]; then
  port=$((RB_PORT + 2 * i + 4))
  RINGBOLT_DRIVER=$DRIVER taskset -c "$SERVER_CPU" "$BIN" \
    --bind "127.0.0.1:$port" --workers 1 --files "$work/files" --noop-middleware >"$work/ringbolt-mw.log" 2>&1 &
  pids+=("$!"); rb_pids+=("$!"); rb_names+=("rb-noop-mw"); rb_ports+=("$port")
  wait_port "$port"
fi
if [[ -n ${BASELINE:-} ]]; then
  port=$((RB_PORT + 2 * i + 2))
  RINGBOLT_DRIVER=$DRIVER taskset -c "$SERVER_CPU" "$BASELINE" \
    --bind "127.0.0.1:$port" --workers 1 --files "$work/files" >"$work/ringbolt-base.log" 2>&1 &
  pids+=("$!"); rb_pids+=("$!"); rb_names+=("rb-base"); rb_ports+=("$port")
  wait_port "$port"
fi
# nginx
taskset -c "$SERVER_CPU" nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" >/dev/null 2>&1 &
ngx=$!; pids+=("$ngx")
wait_port "$NGX_PORT"

for _ in $(seq "$REPEAT"); do
  if [[ ${ENDPOINTS:-} != none ]]; then
    for path in ${ENDPOINTS:-/plaintext /json /data /bigjson}; do
      run nginx "$ngx" "$NGX_PORT" "$path"
      for j in "${!rb_pids[@]}"; do
        run "${rb_names[$j]}" "${rb_pids[$j]}" "${rb_ports[$j]}" "$path"
      done
    done
    run nginx "$ngx" "$NGX_PORT" /plaintext "$work/pipeline.lua"
    for j in "${!rb_pids[@]}"; do
      run "${rb_names[$j]}" "${rb_pids[$j]}" "${rb_ports[$j]}" /plaintext "$work/pipeline.lua"
    done
  fi
  if [[ ${FILES:-1} == 1 ]]; then
    for f in "/files/4k.bin 64" "/files/1m.bin 16" "/files/64m.bin 4"; do
      read -r path conns <<<"$f"
      run nginx "$ngx" "$NGX_PORT" "$path" "" "$conns"
      for j in "${!rb_pids[@]}"; do
        run "${rb_names[$j]}" "${rb_pids[$j]}" "${rb_ports[$j]}" "$path" "" "$conns"
      done
    done
  fi
done

echo
echo "wrk -t1 -c$CONNS -d${DURATION}s on CPU $CLIENT_CPU; servers (1 worker) on CPU $SERVER_CPU; ringbolt driver: $(grep -o 'driver="[a-z_]*"' "$work/ringbolt-0.log" | head -1); file sending: $FILE_SEND; bench_app: $BIN"
echo "median of $REPEAT runs (runs alternate between the servers); CPU us/resp = server utime+stime / responses"
printf '%-9s %-28s %12s %10s %14s\n' server endpoint "req/s" p99 "CPU us/resp"
# Median per (server, endpoint), in the order first run.
awk -F'|' '
  { key = $1 "|" $2; if (!(key in n)) order[++k] = key; n[key]++; rps[key, n[key]] = $3; p99[key, n[key]] = $4; us[key, n[key]] = $5 }
  function median(arr, key, cnt,   i, j, t, v) {
    for (i = 1; i <= cnt; i++) v[i] = arr[key, i]
    for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return v[int((cnt + 1) / 2)]
  }
  function median_lat(key, cnt,   i, j, t, v, s) {
    for (i = 1; i <= cnt; i++) { s = p99[key, i]; v[i] = (s ~ /ms$/) ? s * 1000 : (s ~ /us$/ ? s + 0 : s * 1000000) }
    for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return sprintf("%.0fus", v[int((cnt + 1) / 2)])
  }
  END {
    for (i = 1; i <= k; i++) {
      key = order[i]; split(key, parts, "|")
      printf "%-9s %-28s %12s %10s %14s\n", parts[1], parts[2], median(rps, key, n[key]), median_lat(key, n[key]), median(us, key, n[key])
    }
  }' "$results"

if [[ ${FILES:-1} == 1 ]]; then
  echo
  echo "static files: median MB/s (wrk Transfer/sec) and server CPU us per MiB sent"
  printf '%-16s %-28s %12s %14s\n' server file "MB/s" "CPU us/MiB"
  awk -F'|' '$2 ~ /^\/files\// {
      key = $1 "|" $2; if (!(key in n)) order[++k] = key; n[key]++; mb[key, n[key]] = $3; cpu[key, n[key]] = $4 }
    function med(arr, key, cnt,   i, j, t, v) {
      for (i = 1; i <= cnt; i++) v[i] = arr[key, i] + 0
      for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      return v[int((cnt + 1) / 2)] }
    END { for (i = 1; i <= k; i++) { key = order[i]; split(key, p, "|");
      printf "%-16s %-28s %12s %14s\n", p[1], p[2], med(mb, key, n[key]), med(cpu, key, n[key]) } }' "$work/transfer.txt"
fi
