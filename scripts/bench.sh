#!/usr/bin/env bash
# ringbolt vs nginx, side by side in one run: server pinned to CPU 0, wrk pinned to CPU 1.
#
#   scripts/bench.sh                 # 10 s per run
#   DURATION=30 CONNS=64 scripts/bench.sh
#   DRIVER=epoll scripts/bench.sh    # ringbolt on epoll instead of io_uring
#   ENDPOINTS="/plaintext" scripts/bench.sh
#   ENDPOINTS=none scripts/bench.sh  # static-file rows only
#   PIPELINE=0 scripts/bench.sh      # skips the pipelined /plaintext row (PIPELINE=N: N per write)
#   REPEAT=3 scripts/bench.sh        # each run REPEAT times, alternating servers; medians shown
#   FILES=0 scripts/bench.sh         # skip the static-file rows (4 KiB, 1 MiB, 64 MiB)
#   FILES="4k 1m" scripts/bench.sh   # only these static-file rows (of 4k, 1m, 64m)
#   FILE_CONNS=4096 scripts/bench.sh # the file rows at that many connections (default 64, 16, 4)
#   FILE_SEND="zero-copy copy" scripts/bench.sh   # one ringbolt per file sending mode, same run
#   OBSERVE=1 scripts/bench.sh       # adds "rb-observed": access log (combined, to a file) and
#                                    # metrics (admin listener) on, to measure what they cost
#   MIDDLEWARE=1 scripts/bench.sh    # adds "rb-noop-mw": one middleware that only passes requests on
#   SKIP_BUILD=1 scripts/bench.sh    # runs the bench_app already built
#   BASELINE=DIR/bench_app scripts/bench.sh   # adds "rb-base": another build of bench_app (an
#                                    # earlier commit), to measure a change in the same run
#   VARIANTS="thin=A/bench_app nolto=B/bench_app" scripts/bench.sh
#                                    # adds one ringbolt per NAME=PATH (other builds), same run
#   PROFILE=release scripts/bench.sh # builds and runs bench_app of another cargo profile
#                                    # (default: max, the fastest; binary in target/PROFILE/)
#   BIN=PATH RB_NAME=NAME scripts/bench.sh    # the first ringbolt: that binary, by that name
#   CHART=out/run.svg scripts/bench.sh        # where the chart goes, its TSV beside it
#                                    # (out/run.tsv; CHART=0: no chart, the TSV in target/bench)
#
# Beside the tables it writes the raw figures of every run, one line each, to
# target/bench/bench-YYYYmmdd-HHMMSS.tsv, and scripts/chart.py draws them (medians) into
# bench-YYYYmmdd-HHMMSS.svg beside it, also copied to target/bench/latest.{tsv,svg}. The chart
# needs matplotlib: a venv in target/bench/venv gets it on first use (CHART_PYTHON=python
# picks another); without it the chart is skipped with a hint, never the bench.
#
# Needs: wrk, nginx (Debian nginx-light), taskset. For every server and endpoint it prints
# requests/s, p99 latency, and the server's CPU time per response (utime+stime of the server
# process from /proc/PID/stat, before and after the run, divided by the responses wrk counted).
set -euo pipefail
cd "$(dirname "$0")/.."

# The command line, for the chart's title: the settings given in the environment, then the script.
quote() { if [[ $1 =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then printf '%s' "$1"; else printf "'%s'" "${1//\'/\'\\\'\'}"; fi; }
cmdline=
[[ $(nice) != 0 ]] && cmdline="nice -n $(nice) "
for v in DURATION CONNS DRIVER PIPELINE SERVER_CPU CLIENT_CPU RB_PORT NGX_PORT REPEAT ENDPOINTS FILES FILE_CONNS \
  FILE_SEND OBSERVE MIDDLEWARE SKIP_BUILD BASELINE VARIANTS PROFILE BIN RB_NAME CHART; do
  [[ -v $v ]] && cmdline+="$v=$(quote "${!v}") "
done
cmdline+=$0
for a in "$@"; do cmdline+=" $(quote "$a")"; done

# wrk and the servers hold one descriptor per connection.
ulimit -n "$(ulimit -Hn)"
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
RB_NAME=${RB_NAME:-ringbolt}
FILES=${FILES:-1}

for tool in wrk nginx taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx-light util-linux)" >&2; exit 1; }
done

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

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
worker_rlimit_nofile $(ulimit -Hn);
error_log $work/nginx/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections $((CONNS + 256 > 4096 ? CONNS + 256 : 4096)); }
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

hz=$(getconf CLK_TCK)
# Large files on loopback depend on it more than on the server (DESIGN.md): printed with the setup.
cc=$(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null || echo unknown)
REPEAT=${REPEAT:-3}
results=$work/results.txt
rep=0

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
  local kind=endpoint p99_us
  [[ $path == /files/* ]] && kind="file"
  p99_us=$(awk -v s="$p99" 'BEGIN { printf "%.0f", (s ~ /ms$/) ? s * 1000 : (s ~ /us$/) ? s + 0 : s * 1000000 }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$name" "$label" "$kind" "$conns" \
    "$rps" "$p99_us" "$us" "$mbps" "$cpu_mib" >>"$work/raw.tsv"
}

# ringbolt: one instance per file sending mode (the first is "ringbolt" or RB_NAME, others "rb-MODE")
FILE_SEND=${FILE_SEND:-zero-copy}
rb_names=(); rb_pids=(); rb_ports=()
i=0
for mode in $FILE_SEND; do
  port=$((RB_PORT + 2 * i))
  name=$RB_NAME; [[ $i -gt 0 ]] && name="rb-$mode"
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
k=0
for v in ${VARIANTS:-}; do
  vname=${v%%=*} vbin=${v#*=}
  [[ -n $vname && $vname != "$v" && -x $vbin ]] || { echo "VARIANTS: $v is not NAME=PATH of a binary" >&2; exit 1; }
  port=$((RB_PORT + 2 * i + 6 + 2 * k))
  RINGBOLT_DRIVER=$DRIVER taskset -c "$SERVER_CPU" "$vbin" \
    --bind "127.0.0.1:$port" --workers 1 --files "$work/files" >"$work/ringbolt-variant-$k.log" 2>&1 &
  pids+=("$!"); rb_pids+=("$!"); rb_names+=("$vname"); rb_ports+=("$port")
  wait_port "$port"
  k=$((k + 1))
done
# nginx
taskset -c "$SERVER_CPU" nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" >/dev/null 2>&1 &
ngx=$!; pids+=("$ngx")
wait_port "$NGX_PORT"

file_rows=()
for f in "4k 64" "1m 16" "64m 4"; do
  read -r size conns <<<"$f"
  conns=${FILE_CONNS:-$conns}
  [[ $FILES == 1 || " $FILES " == *" $size "* ]] && file_rows+=("/files/$size.bin $conns")
done

for rep in $(seq "$REPEAT"); do
  if [[ ${ENDPOINTS:-} != none ]]; then
    for path in ${ENDPOINTS:-/plaintext /json /data /bigjson}; do
      run nginx "$ngx" "$NGX_PORT" "$path"
      for j in "${!rb_pids[@]}"; do
        run "${rb_names[$j]}" "${rb_pids[$j]}" "${rb_ports[$j]}" "$path"
      done
    done
    if [[ $PIPELINE != 0 ]]; then
      run nginx "$ngx" "$NGX_PORT" /plaintext "$work/pipeline.lua"
      for j in "${!rb_pids[@]}"; do
        run "${rb_names[$j]}" "${rb_pids[$j]}" "${rb_ports[$j]}" /plaintext "$work/pipeline.lua"
      done
    fi
  fi
  if [[ ${#file_rows[@]} -gt 0 ]]; then
    for f in "${file_rows[@]}"; do
      read -r path conns <<<"$f"
      run nginx "$ngx" "$NGX_PORT" "$path" "" "$conns"
      for j in "${!rb_pids[@]}"; do
        run "${rb_names[$j]}" "${rb_pids[$j]}" "${rb_ports[$j]}" "$path" "" "$conns"
      done
    done
  fi
done

echo
echo "wrk -t1 -c$CONNS -d${DURATION}s on CPU $CLIENT_CPU; servers (1 worker) on CPU $SERVER_CPU; ringbolt driver: $(grep -o 'driver="[a-z_]*"' "$work/ringbolt-0.log" | head -1); file sending: $FILE_SEND; bench_app: $BIN; TCP congestion control: $cc"
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

if [[ ${#file_rows[@]} -gt 0 ]]; then
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

# The raw figures (one line per run) and the chart drawn from them.
stamp=$(date +%Y%m%d-%H%M%S)
svg=$target_dir/bench/bench-$stamp.svg
[[ ${CHART:-} != "" && ${CHART:-} != 0 ]] && svg=$CHART
tsv=${svg%.svg}.tsv
mkdir -p "$(dirname "$tsv")" "$target_dir/bench"
{
  echo "# ringbolt scripts/bench.sh raw results: one line per run; scripts/chart.py draws the medians"
  echo "# date: $(date '+%Y-%m-%d %H:%M:%S %Z')"
  echo "# machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), kernel $(uname -r)"
  echo "# command: $cmdline"
  echo "# setup: wrk -t1 -c$CONNS -d${DURATION}s on CPU $CLIENT_CPU, servers (1 worker) on CPU $SERVER_CPU; median of $REPEAT runs; ringbolt driver $DRIVER; bench_app $BIN; TCP congestion control $cc"
  echo "# servers: ${rb_names[*]} nginx"
  printf 'run\tserver\trow\tkind\tconns\treq_s\tp99_us\tcpu_us_per_resp\tmb_s\tcpu_us_per_mib\n'
  cat "$work/raw.tsv" 2>/dev/null || true
} >"$tsv"
cp "$tsv" "$target_dir/bench/latest.tsv" 2>/dev/null || true
echo
echo "raw results: $tsv"

if draw_chart "$tsv" "$svg"; then
  latest=$target_dir/bench/latest.${svg##*.}
  [[ $svg -ef $latest ]] || cp "$svg" "$latest"
  echo "chart: $svg"
fi
