#!/usr/bin/env bash
# Where copying stops paying: one file size at a time (1 KiB to 256 KiB), each sent three
# ways by bench_app side by side in one run, pinned (server CPU 0, wrk CPU 1), rounds
# alternating between them, medians shown:
#   sendfile  every body with sendfile (--zero-copy-from 1)
#   memory    bodies up to 64 KiB from the open-file cache's bytes, with their head in one
#             vectored write; larger ones with sendfile (--zero-copy-from past every size)
#   copy      larger bodies read into a buffer and written (--file-send copy); up to 64 KiB
#             as memory
#   default   the server's own line (Config::zero_copy_from)
#
#   scripts/bench-sizes.sh
#   SIZES="4 16 32 48" CONNS=64 DURATION=5 REPEAT=3 scripts/bench-sizes.sh   # sizes in KiB
#   DRIVER=epoll scripts/bench-sizes.sh
#   SKIP_BUILD=1 BIN=DIR/bench_app scripts/bench-sizes.sh
#
# Prints, per size, each way's requests/s and server CPU time per response (utime+stime from
# /proc/PID/stat over the run, divided by the responses wrk counted). Needs wrk and taskset.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-1 4 16 24 32 48 64 128 256}
CONNS=${CONNS:-64}
DURATION=${DURATION:-5}
REPEAT=${REPEAT:-3}
DRIVER=${DRIVER:-uring}
PROFILE=${PROFILE:-max}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18280}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/$PROFILE/examples/bench_app}
for tool in wrk taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk util-linux)" >&2; exit 1; }
done

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

[[ ${SKIP_BUILD:-0} == 1 ]] || cargo build --profile "$PROFILE" --example bench_app >&2

mkdir -p "$work/files"
for k in $SIZES; do head -c $((k * 1024)) /dev/urandom >"$work/files/$k.bin"; done


ways=(sendfile memory copy default)
declare -A args=(
  [sendfile]="--zero-copy-from 1"
  [memory]="--zero-copy-from 1000000000"
  [copy]="--file-send copy"
  [default]=""
)
declare -A pid_of port_of
i=0
for way in "${ways[@]}"; do
  port=$((PORT + i))
  # shellcheck disable=SC2086
  RINGBOLT_DRIVER=$DRIVER taskset -c "$SERVER_CPU" "$BIN" --static "$work/files" \
    --bind "127.0.0.1:$port" --workers 1 ${args[$way]} >"$work/$way.log" 2>&1 &
  pids+=("$!"); pid_of[$way]=$! port_of[$way]=$port
  wait_port "$port"
  i=$((i + 1))
done

hz=$(getconf CLK_TCK)
results=$work/results.txt
for round in $(seq "$REPEAT"); do
  for k in $SIZES; do
    for way in "${ways[@]}"; do
      url="http://127.0.0.1:${port_of[$way]}/static/$k.bin"
      taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d1s "$url" >/dev/null
      before=$(ticks "${pid_of[$way]}")
      out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$url")
      after=$(ticks "${pid_of[$way]}")
      reqs=$(awk '/requests in/ {print $1}' <<<"$out")
      rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
      us=$(awk -v d="$((after - before))" -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.2f", d * 1e6 / hz / n}')
      printf '%s|%s|%s|%s|%s\n' "$k" "$way" "$rps" "$us" "$round" >>"$results"
    done
  done
done

echo
echo "file sizes, wrk -t1 -c$CONNS -d${DURATION}s on CPU $CLIENT_CPU; bench_app (1 worker, driver $DRIVER) on CPU $SERVER_CPU; median of $REPEAT rounds"
printf '%8s' "KiB"
for way in "${ways[@]}"; do printf ' %20s' "$way req/s, us/resp"; done
echo
awk -F'|' -v ways="${ways[*]}" '
  { key = $1 "|" $2; n[key]++; rps[key, n[key]] = $3; us[key, n[key]] = $4; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
  function median(arr, key, cnt,   i, j, t, v) {
    for (i = 1; i <= cnt; i++) v[i] = arr[key, i] + 0
    for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return v[int((cnt + 1) / 2)]
  }
  END {
    split(ways, w, " ")
    for (i = 1; i <= k; i++) {
      printf "%8s", order[i]
      for (j = 1; j in w; j++) { key = order[i] "|" w[j]; printf " %12d %7.2f", median(rps, key, n[key]), median(us, key, n[key]) }
      printf "\n"
    }
  }' "$results"
