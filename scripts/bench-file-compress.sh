#!/usr/bin/env bash
# Small compressible files with compression on: server CPU per response when the encoded
# form comes from the file cache (one encode per file and coding) against encoding on every
# request (the open-file cache off, so nothing is kept), in one run; server pinned to CPU 0,
# wrk to CPU 1, medians of REPEAT alternating rounds.
#
#   scripts/bench-file-compress.sh
#   DURATION=10 REPEAT=5 scripts/bench-file-compress.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
REPEAT=${REPEAT:-3}
CONNS=${CONNS:-32}
command -v wrk >/dev/null || { echo "missing wrk (apt-get install wrk)" >&2; exit 1; }

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

cargo build --release --example bench_app >&2
mkdir -p "$work/files"
# A 2 KiB stylesheet and a 32 KiB script, both compressible text.
# (Written whole, then cut: `| head -c` would end the loop with SIGPIPE, which pipefail stops on.)
for i in $(seq 0 63); do echo ".c$i { color: #$(printf %06x $((i * 4099))); margin: 0 auto; }"; done >"$work/files/site.css"
for i in $(seq 0 999); do echo "function f$i(a, b) { return a * $i + b; }"; done >"$work/files/app.js"
truncate -s 2048 "$work/files/site.css"
truncate -s 32768 "$work/files/app.js"

started=
start() { # NAME PORT ARGS... (sets $started to the server's PID)
  local name=$1 port=$2; shift 2
  taskset -c 0 target/release/examples/bench_app --bind "127.0.0.1:$port" --workers 1 \
    --files "$work/files" --compress "$@" >"$work/$name.log" 2>&1 &
  pids+=("$!")
  started=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
}
start cached 18090
cached=$started
start on-the-fly 18092 --file-cache-entries 0
fly=$started
hz=$(getconf CLK_TCK)

run() { # NAME PID PORT PATH
  local before after out reqs
  taskset -c 1 wrk -t1 -c"$CONNS" -d1s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$3$4" >/dev/null
  before=$(ticks "$2")
  out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" -H 'Accept-Encoding: gzip' "http://127.0.0.1:$3$4")
  after=$(ticks "$2")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  printf '%s|%s|%s|%s\n' "$1" "$4" "$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")" \
    "$(awk -v d="$((after - before))" -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.2f", d * 1e6 / hz / n}')" >>"$work/results"
}

curl -s -H 'Accept-Encoding: gzip' -D - -o /dev/null http://127.0.0.1:18090/files/site.css | grep -i '^content-encoding' >&2
for _ in $(seq "$REPEAT"); do
  for path in /files/site.css /files/app.js; do
    run cached "$cached" 18090 "$path"
    run on-the-fly "$fly" 18092 "$path"
  done
done
echo "server|path|req/s (median)|server CPU µs/response (median)"
sort -t'|' -k1,1 -k2,2 "$work/results" | awk -F'|' '
  { key = $1 "|" $2; n[key]++; r[key, n[key]] = $3; c[key, n[key]] = $4; keys[key] = 1 }
  function median(arr, key, cnt,   i, j, t, v) {
    for (i = 1; i <= cnt; i++) v[i] = arr[key, i]
    for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return v[int((cnt + 1) / 2)]
  }
  END { for (k in keys) printf "%s|%s|%s\n", k, median(r, k, n[k]), median(c, k, n[k]) }' | sort
