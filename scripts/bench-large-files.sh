#!/usr/bin/env bash
# Large files on one host: who pays for the bytes. bench_app serves files of 1, 8 and 64 MiB
# twice, with `sendfile` (--file-send zero-copy, the default) and by reading and writing
# (--file-send copy), actix-web with actix-files and axum with tower-http's ServeDir serve them
# too (benches/peers/{actix,axum}, both reading and writing); wrk downloads them over loopback. Server pinned to CPU 0, wrk to CPU 1,
# runs alternating, medians shown.
#
#   scripts/bench-large-files.sh
#   SIZES="64" CONNS=4 DURATION=5 REPEAT=3 scripts/bench-large-files.sh   # (the defaults: 1 8 64)
#   DRIVER=epoll scripts/bench-large-files.sh
#   SKIP_BUILD=1 BIN=PATH scripts/bench-large-files.sh                   # another bench_app
#   PEERS="actix" scripts/bench-large-files.sh # only these peers (default "actix axum", "" for none)
#   CEILING=BIN scripts/bench-large-files.sh   # also a responder started as `BIN PORT DIR`
#                                              # serving /files/huge.bin (the 64 MiB file)
#
# For each run: MB/s (wrk's Transfer/sec), the server's CPU per MiB (utime+stime from
# /proc/PID/stat), the receiver's CPU per MiB (how busy wrk's core was, from /proc/stat, over
# the MiB received: the kernel's receive work is done there too) and TCP segments per MiB
# (nstat). On one host the receiver's core is part of the result: when it is at 100 % it,
# not the server, sets the MB/s.
#
# Needs: wrk, taskset, nstat (iproute2), cargo (a peer's first build fetches its crates).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-1 8 64}
CONNS=${CONNS:-4}
DURATION=${DURATION:-5}
REPEAT=${REPEAT:-3}
DRIVER=${DRIVER:-uring}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18190}
PROFILE=${PROFILE:-max}
target_dir=${CARGO_TARGET_DIR:-target}
BIN=${BIN:-$target_dir/$PROFILE/examples/bench_app}
PEERS=${PEERS-actix axum}

for tool in wrk taskset nstat; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk util-linux iproute2)" >&2; exit 1; }
done

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  cargo build --profile "$PROFILE" --example bench_app >&2
  for peer in $PEERS; do build_peer "$peer"; done
fi
[[ -x $BIN ]] || { echo "$BIN is not built (run without SKIP_BUILD=1)" >&2; exit 1; }
for peer in $PEERS; do
  [[ -x $(peer_bin "$peer") ]] || { echo "the $peer peer is not built (run without SKIP_BUILD=1)" >&2; exit 1; }
done

mkdir -p "$work/files"
for s in $SIZES; do head -c $((s << 20)) /dev/urandom >"$work/files/$s.bin"; done
# A responder made for bench.sh opens these at start; huge.bin is its 64 MiB file.
head -c 4096 /dev/urandom >"$work/files/small.bin"
cp "$work/files/small.bin" "$work/files/large.bin"
[[ -f $work/files/64.bin ]] && ln "$work/files/64.bin" "$work/files/huge.bin" || cp "$work/files/small.bin" "$work/files/huge.bin"

names=() ports=() spids=()
i=0
for mode in zero-copy copy; do
  port=$((PORT + i))
  RINGBOLT_DRIVER=$DRIVER taskset -c "$SERVER_CPU" "$BIN" --bind "127.0.0.1:$port" --workers 1 \
    --files "$work/files" --file-send "$mode" >"$work/$mode.log" 2>&1 &
  pids+=("$!"); names+=("$mode"); ports+=("$port"); spids+=("$!")
  wait_port "$port"
  i=$((i + 1))
done
for peer in $PEERS; do
  port=$((PORT + i))
  taskset -c "$SERVER_CPU" "$(peer_bin "$peer")" --bind "127.0.0.1:$port" \
    --files "$work/files" >"$work/$peer.log" 2>&1 &
  pids+=("$!"); names+=("$peer"); ports+=("$port"); spids+=("$!")
  wait_port "$port"
  i=$((i + 1))
done
if [[ -n ${CEILING:-} ]]; then
  port=$((PORT + i))
  taskset -c "$SERVER_CPU" "$CEILING" "$port" "$work/files" >"$work/ceiling.log" 2>&1 &
  pids+=("$!"); names+=(ceiling); ports+=("$port"); spids+=("$!")
  wait_port "$port"
fi

hz=$(getconf CLK_TCK)
results=$work/results.txt
# run NAME PORT PID PATH SIZE
run() {
  local name=$1 port=$2 pid=$3 url="http://127.0.0.1:$2$4" size=$5 out t0 t1 c0 c1 mb segs
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d1s "$url" >/dev/null
  nstat -n >/dev/null
  t0=$(ticks "$pid") c0=$(cpu_jiffies "$CLIENT_CPU")
  out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$url")
  t1=$(ticks "$pid") c1=$(cpu_jiffies "$CLIENT_CPU")
  segs=$(nstat 2>/dev/null | awk '$1 == "TcpOutSegs" { print $2 }')
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "warning: $name $4: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ')" >&2
  fi
  mb=$(awk '/^Transfer\/sec/ { v = $2 + 0; u = $2; sub(/^[0-9.]+/, "", u);
         f = (u == "GB") ? 1024 : (u == "MB") ? 1 : (u == "KB") ? 1 / 1024 : 1 / 1048576; printf "%.0f", v * f }' <<<"$out")
  awk -v n="$name" -v s="$size" -v mb="$mb" -v d="$((t1 - t0))" -v hz="$hz" -v t="$DURATION" \
    -v busy="$(busy_pct "$c0" "$c1")" -v segs="${segs:-0}" 'BEGIN {
      mib = (mb > 0) ? mb * t : 1
      printf "%s|%s|%s|%.0f|%.0f|%.1f\n", n, s, mb, d * 1e6 / hz / mib, busy * 1e4 / (mb > 0 ? mb : 1), segs / mib
    }' >>"$results"
}

for round in $(seq "$REPEAT"); do
  for s in $SIZES; do
    order=("${!names[@]}")
    ((round % 2 == 0)) && order=($(printf '%s\n' "${order[@]}" | tac))
    for j in "${order[@]}"; do
      path=/files/$s.bin
      if [[ ${names[$j]} == ceiling ]]; then
        [[ $s == 64 ]] || continue
        path=/files/huge.bin
      fi
      run "${names[$j]}" "${ports[$j]}" "${spids[$j]}" "$path" "$s"
    done
  done
done

echo
echo "files over loopback, wrk -t1 -c$CONNS -d${DURATION}s on CPU $CLIENT_CPU; server (1 worker) on CPU $SERVER_CPU; ringbolt driver $DRIVER; bench_app $BIN${PEERS:+; peers: $PEERS}${CEILING:+; ceiling $CEILING}"
echo "median of $REPEAT rounds; us/MiB: CPU time per MiB sent, the server's (its process) and the receiver's (wrk's core, kernel receive work included)"
printf '%-10s %5s %8s %15s %17s %9s\n' server MiB "MB/s" "server us/MiB" "receiver us/MiB" "segs/MiB"
awk -F'|' '
  { key = $1 "|" $2; if (!(key in n)) order[++k] = key; n[key]++
    for (f = 3; f <= 6; f++) v[key, f, n[key]] = $f }
  function median(key, f,   i, j, t, a, c) {
    c = n[key]; for (i = 1; i <= c; i++) a[i] = v[key, f, i] + 0
    for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return a[int((c + 1) / 2)]
  }
  END {
    for (i = 1; i <= k; i++) {
      key = order[i]; split(key, p, "|")
      printf "%-10s %5s %8d %15d %17d %9.1f\n", p[1], p[2], median(key, 3), median(key, 4), median(key, 5), median(key, 6)
    }
  }' "$results"
