#!/usr/bin/env bash
# ringbolt's streamed responses vs actix-web's (and, given one, a minimal C responder's), side
# by side in one run: server pinned to CPU 0, wrk pinned to CPU 1, as scripts/bench.sh does.
#
#   scripts/bench-streams.sh                  # /stream and /sse, 10 s per run, 3 rounds
#   REPEAT=5 DURATION=5 scripts/bench-streams.sh
#   DRIVER=epoll scripts/bench-streams.sh     # ringbolt on epoll instead of io_uring
#   ROUTES=/sse CONNS=256 scripts/bench-streams.sh
#   SKIP_BUILD=1 scripts/bench-streams.sh     # runs the bench_app and the peer already built
#   PROFILE=release scripts/bench-streams.sh  # bench_app of another cargo profile (default max)
#   BIN=PATH scripts/bench-streams.sh         # another bench_app binary
#   CHART=0 scripts/bench-streams.sh          # no chart
#   CEILING=BIN scripts/bench-streams.sh      # also a responder started as `BIN PORT DIR` that
#                                             # answers /plaintext, /stream and /sse with the
#                                             # same bodies (a C program that sends pre-built
#                                             # bytes shows the machine's ceiling)
#
# The peer is benches/peers/actix: actix-web 4, one worker, `HttpResponse::Ok().streaming(..)`
# of the same items as bench_app's `/stream` (100 chunks `chunk {i}\n`) and `/sse` (100 events
# `data: message-{i}\n\n`), fat LTO and one codegen unit like the `max` profile. It is a
# project of its own, built into target/peers/actix (its first build fetches actix-web from
# crates.io). Before measuring, both servers' bodies (chunk framing included) are compared and
# the bench stops if they differ.
#
# Two rows are ringbolt's: `ringbolt` runs bench_app's /stream and /sse, whose items the app
# formats (`format!` per item, as actix's peer does), and `rb-ready` the same bodies from
# /stream-ready and /sse-ready, whose items were made once: the server's own cost, as a
# responder of pre-built bytes has it.
#
# For each route and server it prints the median of REPEAT runs of requests/s, p99 latency and
# the server's CPU time per response (utime+stime of the process from /proc/PID/stat, before
# and after the run, divided by the responses wrk counted), then ringbolt's ratios to actix and
# to the ceiling. Rounds alternate between the servers, their order reversed every round. The raw
# figures of every run go to target/bench/streams-YYYYmmdd-HHMMSS.tsv (bench.sh's columns),
# drawn by scripts/chart.py into the .svg beside it when matplotlib can be had (a venv in
# target/bench/venv, as bench.sh; without it the chart is skipped, never the bench).
#
# Needs: wrk, curl, taskset, cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

# The command line, for the chart's title: the settings given in the environment, then the script.
quote() { if [[ $1 =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then printf '%s' "$1"; else printf "'%s'" "${1//\'/\'\\\'\'}"; fi; }
cmdline=
[[ $(nice) != 0 ]] && cmdline="nice -n $(nice) "
for v in DURATION CONNS DRIVER SERVER_CPU CLIENT_CPU RB_PORT ACTIX_PORT REPEAT ROUTES SKIP_BUILD \
  PROFILE BIN CHART; do
  [[ -v $v ]] && cmdline+="$v=$(quote "${!v}") "
done
cmdline+=$0
for a in "$@"; do cmdline+=" $(quote "$a")"; done

DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
DRIVER=${DRIVER:-uring}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RB_PORT=${RB_PORT:-18080}
ACTIX_PORT=${ACTIX_PORT:-18082}
CEILING_PORT=${CEILING_PORT:-18083}
REPEAT=${REPEAT:-3}
ROUTES=${ROUTES:-/stream /sse}
PROFILE=${PROFILE:-max}
target_dir=${CARGO_TARGET_DIR:-target}
profile_dir=$PROFILE; [[ $PROFILE == dev ]] && profile_dir=debug
BIN=${BIN:-$target_dir/$profile_dir/examples/bench_app}

for tool in wrk curl taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk curl util-linux)" >&2; exit 1; }
done

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

peer_bin=$(peer_bin actix)
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  cargo build --profile "$PROFILE" --example bench_app >&2
  build_peer actix
fi
for b in "$BIN" "$peer_bin"; do
  [[ -x $b ]] || { echo "$b is not built (run without SKIP_BUILD=1)" >&2; exit 1; }
done


# Started once the port accepts: /plaintext answers.
probe() {
  wait_port "$1"
  curl -sf -o /dev/null "http://127.0.0.1:$1/plaintext" || { echo "no /plaintext on port $1" >&2; exit 1; }
}

RINGBOLT_DRIVER=$DRIVER taskset -c "$SERVER_CPU" "$BIN" \
  --bind "127.0.0.1:$RB_PORT" --workers 1 >"$work/ringbolt.log" 2>&1 &
rb=$!; pids+=("$rb")
probe "$RB_PORT"
taskset -c "$SERVER_CPU" "$peer_bin" --bind "127.0.0.1:$ACTIX_PORT" >"$work/actix.log" 2>&1 &
ax=$!; pids+=("$ax")
probe "$ACTIX_PORT"

names=(ringbolt rb-ready actix); spids=("$rb" "$rb" "$ax"); ports=("$RB_PORT" "$RB_PORT" "$ACTIX_PORT")
suffixes=("" -ready "")
if [[ -n ${CEILING:-} ]]; then
  mkdir -p "$work/files"  # a responder made for bench.sh may want its file rows' files
  for f in small large huge; do head -c 4096 /dev/zero >"$work/files/$f.bin"; done
  taskset -c "$SERVER_CPU" "$CEILING" "$CEILING_PORT" "$work/files" >"$work/ceiling.log" 2>&1 &
  ce=$!; pids+=("$ce")
  probe "$CEILING_PORT"
  names+=(ceiling); spids+=("$ce"); ports+=("$CEILING_PORT"); suffixes+=("")
fi

# The same bytes from both: the body as sent (chunk sizes and the last chunk included), the
# Content-Type, chunked transfer coding and no Content-Encoding.
field() { # field FILE NAME: the value of a header field, lower-cased, without the CR
  awk -v n="$2" 'tolower($0) ~ "^" n ":" { sub(/^[^:]*:[ \t]*/, ""); sub(/\r$/, ""); print tolower($0) }' "$1"
}
for path in $ROUTES; do
  for j in "${!names[@]}"; do
    curl -sfN --raw -D "$work/head-$j" -o "$work/body-$j" "http://127.0.0.1:${ports[$j]}$path${suffixes[$j]}" \
      || { echo "FAIL: ${names[$j]} $path${suffixes[$j]} did not answer 200" >&2; exit 1; }
    [[ $(field "$work/head-$j" transfer-encoding) == chunked ]] \
      || { echo "FAIL: ${names[$j]} $path is not chunked:" >&2; cat "$work/head-$j" >&2; exit 1; }
    [[ -z $(field "$work/head-$j" content-encoding) ]] \
      || { echo "FAIL: ${names[$j]} $path is compressed:" >&2; cat "$work/head-$j" >&2; exit 1; }
  done
  ct0=$(field "$work/head-0" content-type) heads=
  for j in "${!names[@]}"; do
    if ! cmp -s "$work/body-0" "$work/body-$j"; then
      echo "FAIL: $path: ringbolt and ${names[$j]} send different bodies (chunk framing included):" >&2
      diff <(od -c "$work/body-0") <(od -c "$work/body-$j") | head -n 20 >&2 || true
      exit 1
    fi
    ct=$(field "$work/head-$j" content-type)
    [[ $ct0 == "$ct" ]] || { echo "FAIL: $path: Content-Type '$ct0' (ringbolt) vs '$ct' (${names[$j]})" >&2; exit 1; }
    heads+=" ${names[$j]} $(wc -c <"$work/head-$j")"
  done
  echo "$path: identical bodies, $(wc -c <"$work/body-0") bytes chunked ($(grep -cE $'^[0-9a-fA-F]+\r$' "$work/body-0") chunks" \
    "with the last), $ct0; head bytes:$heads" >&2
done


hz=$(getconf CLK_TCK)
results=$work/results.txt
rep=0

# run NAME PID PORT PATH SUFFIX
run() {
  local name=$1 pid=$2 port=$3 path=$4 url="http://127.0.0.1:$3$4$5"
  # warm-up
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d1s "$url" >/dev/null
  local before after out reqs rps p99 us mbps cpu_mib p99_us
  before=$(ticks "$pid")
  out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url")
  after=$(ticks "$pid")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "warning: $name $path: $(grep -E 'Non-2xx|Socket errors' <<<"$out")" >&2
  fi
  us=$(awk -v d="$((after - before))" -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.3f", d * 1e6 / hz / n}')
  # Transfer/sec in MB/s, and server CPU microseconds per MiB sent (bench.sh's last columns).
  mbps=$(awk '/^Transfer\/sec/ { v = $2 + 0; u = $2; sub(/^[0-9.]+/, "", u);
           f = (u == "GB") ? 1024 : (u == "MB") ? 1 : (u == "KB") ? 1 / 1024 : 1 / 1048576; printf "%.0f", v * f }' <<<"$out")
  cpu_mib=$(awk -v m="$mbps" -v d="$((after - before))" -v hz="$hz" -v t="$DURATION" \
    'BEGIN { printf "%.1f", (m > 0) ? d * 1e6 / hz / (m * t) : 0 }')
  printf '%s|%s|%s|%s|%s\n' "$name" "$path" "$rps" "$p99" "$us" >>"$results"
  p99_us=$(awk -v s="$p99" 'BEGIN { printf "%.0f", (s ~ /ms$/) ? s * 1000 : (s ~ /us$/) ? s + 0 : s * 1000000 }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$name" "$path" endpoint "$CONNS" \
    "$rps" "$p99_us" "$us" "$mbps" "$cpu_mib" >>"$work/raw.tsv"
}

# run's PATH is the route's row name; the server is asked for PATH plus its suffix.
for rep in $(seq "$REPEAT"); do
  order=("${!names[@]}")
  (( rep % 2 == 0 )) && order=($(printf '%s\n' "${order[@]}" | tac))
  for path in $ROUTES; do
    for j in "${order[@]}"; do
      run "${names[$j]}" "${spids[$j]}" "${ports[$j]}" "$path" "${suffixes[$j]}"
    done
  done
done

echo
echo "wrk -t1 -c$CONNS -d${DURATION}s on CPU $CLIENT_CPU; servers (1 worker) on CPU $SERVER_CPU; ringbolt driver: $(grep -o 'driver="[a-z_]*"' "$work/ringbolt.log" | head -1); bench_app: $BIN; actix: $peer_bin${CEILING:+; ceiling: $CEILING}"
echo "median of $REPEAT runs (rounds alternate between the servers); CPU us/resp = server utime+stime / responses"
printf '%-9s %-9s %12s %10s %14s\n' server route "req/s" p99 "CPU us/resp"
# Medians per (server, route), in route order; then ringbolt's rows over actix's and the ceiling's.
awk -F'|' -v routes="$ROUTES" -v servers="${names[*]}" '
  { key = $1 "|" $2; n[key]++; rps[key, n[key]] = $3; us[key, n[key]] = $5
    s = $4; lat[key, n[key]] = (s ~ /ms$/) ? s * 1000 : (s ~ /us$/ ? s + 0 : s * 1000000) }
  function median(arr, key, cnt,   i, j, t, v) {
    for (i = 1; i <= cnt; i++) v[i] = arr[key, i] + 0
    for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return v[int((cnt + 1) / 2)]
  }
  END {
    nr = split(routes, r, " "); ns = split(servers, sv, " ")
    for (i = 1; i <= nr; i++) for (s = 1; s <= ns; s++) {
      name = sv[s]; key = name "|" r[i]
      if (!(key in n)) continue
      m_rps[key] = median(rps, key, n[key]); m_us[key] = median(us, key, n[key])
      printf "%-9s %-9s %12d %10s %14.3f\n", name, r[i], m_rps[key], sprintf("%.0fus", median(lat, key, n[key])), m_us[key]
    }
    for (p = 1; p <= ns; p++) {
      peer = sv[p]
      if (peer != "actix" && peer != "ceiling") continue
      printf "\n%-9s %-9s %18s %22s\n", "server", "route", "req/s x " peer, "CPU us/resp x " peer
      for (i = 1; i <= nr; i++) for (s = 1; s <= ns; s++) {
        a = sv[s] "|" r[i]; b = peer "|" r[i]
        if (sv[s] !~ /^r/ || !(a in m_rps) || !(b in m_rps)) continue
        printf "%-9s %-9s %18.2f %22.2f\n", sv[s], r[i], (m_rps[b] > 0) ? m_rps[a] / m_rps[b] : 0, (m_us[b] > 0) ? m_us[a] / m_us[b] : 0
      }
    }
  }' "$results"

# The raw figures (one line per run) and the chart drawn from them.
stamp=$(date +%Y%m%d-%H%M%S)
svg=$target_dir/bench/streams-$stamp.svg
[[ ${CHART:-} != "" && ${CHART:-} != 0 ]] && svg=$CHART
tsv=${svg%.svg}.tsv
mkdir -p "$(dirname "$tsv")" "$target_dir/bench"
{
  echo "# ringbolt scripts/bench-streams.sh raw results: one line per run; scripts/chart.py draws the medians"
  echo "# date: $(date '+%Y-%m-%d %H:%M:%S %Z')"
  echo "# machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), kernel $(uname -r)"
  echo "# command: $cmdline"
  echo "# setup: wrk -t1 -c$CONNS -d${DURATION}s on CPU $CLIENT_CPU, servers (1 worker) on CPU $SERVER_CPU; median of $REPEAT runs; ringbolt driver $DRIVER; bench_app $BIN; actix-web peer $peer_bin"
  echo "# servers: ${names[*]}"
  printf 'run\tserver\trow\tkind\tconns\treq_s\tp99_us\tcpu_us_per_resp\tmb_s\tcpu_us_per_mib\n'
  cat "$work/raw.tsv" 2>/dev/null || true
} >"$tsv"
echo
echo "raw results: $tsv"

if draw_chart "$tsv" "$svg"; then
  echo "chart: $svg"
fi
