#!/usr/bin/env bash
# HttpArena's "static" profile: 20 site files of 3-300 KB (CSS, JS, HTML, SVG, JSON, woff2,
# webp) with .br and .gz siblings, requested in rotation by wrk with
# `Accept-Encoding: br;q=1, gzip;q=0.8`. ringbolt both ways a user runs it, `ringbolt serve
# DIR` and an app's `Api::mount("/static", StaticDir::new(DIR))` (bench_app --static), each
# with its default settings, against nginx with gzip_static, brotli_static, sendfile,
# tcp_nopush and open_file_cache, side by side in one run: servers (one worker each) pinned
# to CPU 0, wrk to CPU 1, runs alternating between the servers, medians shown.
#
#   scripts/bench-static-site.sh
#   CONNS="1024 4096" DURATION=5 REPEAT=3 scripts/bench-static-site.sh   # the defaults
#   DRIVER=epoll scripts/bench-static-site.sh      # ringbolt on epoll instead of io_uring
#   SERVERS="nginx rb-serve" scripts/bench-static-site.sh   # only these (of nginx rb-serve rb-mount)
#   BASELINE=DIR scripts/bench-static-site.sh      # adds base-serve and base-mount: the ringbolt
#                                                  # and bench_app binaries in DIR (another build)
#   SKIP_BUILD=1 scripts/bench-static-site.sh      # runs the binaries already built
#   BIN_DIR=DIR SKIP_BUILD=1 scripts/bench-static-site.sh   # the ringbolt and bench_app binaries in DIR
#   PROFILE=release scripts/bench-static-site.sh   # binaries of another cargo profile (default max)
#   PERF=rb-serve scripts/bench-static-site.sh     # also records a perf profile of that server
#                                                  # in the last round (perf report top printed)
#
# The files are generated (scripts/static_site_data.py): the profile's names, types and
# sizes, text compressible about as much as the profile's own. Before measuring, every server
# is checked by the profile's rules (its validate.sh): each file's size without
# Accept-Encoding, the Content-Type of each type, every compressed body decompressing to the
# original, and 404 for a missing file. A server that fails is not measured.
#
# Needs: wrk, nginx (Debian nginx-light) with libnginx-mod-http-brotli-static, brotli, curl,
# taskset. Prints requests/s, p99 latency and the server's CPU time per response
# (utime+stime from /proc/PID/stat over the run, divided by the responses wrk counted).
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-1024 4096}
DURATION=${DURATION:-5}
REPEAT=${REPEAT:-3}
DRIVER=${DRIVER:-uring}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18180}
PROFILE=${PROFILE:-max}
SERVERS=${SERVERS:-nginx rb-serve rb-mount}
target_dir=${CARGO_TARGET_DIR:-target}
bin_dir=${BIN_DIR:-$target_dir/$PROFILE}
[[ $PROFILE == dev ]] && bin_dir=$target_dir/debug
BROTLI_MODULE=${BROTLI_MODULE:-/usr/lib/nginx/modules/ngx_http_brotli_static_module.so}

for tool in wrk nginx taskset curl brotli python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx-light brotli curl)" >&2; exit 1; }
done
[[ -f $BROTLI_MODULE ]] || { echo "missing $BROTLI_MODULE (apt-get install libnginx-mod-http-brotli-static)" >&2; exit 1; }
# wrk and the servers each hold one descriptor per connection.
max_conns=0
for c in $CONNS; do ((c > max_conns)) && max_conns=$c; done
ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) > max_conns + 256)) || { echo "ulimit -n $(ulimit -n) is too low for $max_conns connections" >&2; exit 1; }

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

[[ ${SKIP_BUILD:-0} == 1 ]] || cargo build --profile "$PROFILE" --bin ringbolt --example bench_app >&2

site=$work/site
python3 scripts/static_site_data.py "$site"

mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX
load_module $BROTLI_MODULE;
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile $(ulimit -n);
error_log $work/nginx/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections $((max_conns + 256)); }
http {
  include /etc/nginx/mime.types;
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:PORT reuseport backlog=4096;
    root $site;
    location /static/ {
      gzip_static on;
      brotli_static on;
      sendfile on;
      tcp_nopush on;
      open_file_cache max=1000 inactive=60s;
      open_file_cache_valid 1s;
      open_file_cache_errors on;
    }
  }
}
NGINX

cat >"$work/rotate.lua" <<'LUA'
local paths = {
  "/static/reset.css", "/static/layout.css", "/static/theme.css", "/static/components.css",
  "/static/utilities.css", "/static/analytics.js", "/static/helpers.js", "/static/app.js",
  "/static/vendor.js", "/static/router.js", "/static/header.html", "/static/footer.html",
  "/static/regular.woff2", "/static/bold.woff2", "/static/logo.svg", "/static/icon-sprite.svg",
  "/static/hero.webp", "/static/thumb1.webp", "/static/thumb2.webp", "/static/manifest.json",
}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[((counter - 1) % 20) + 1], {["Accept-Encoding"] = "br;q=1, gzip;q=0.8"})
end
LUA


# start NAME PORT: starts that server pinned to SERVER_CPU; sets $started to its PID.
start() {
  local name=$1 port=$2 dir=$bin_dir
  case $name in base-*) dir=$BASELINE ;; esac
  case $name in
    nginx)
      sed "s/PORT/$port/" "$work/nginx/nginx.conf" >"$work/nginx/nginx-$port.conf"
      taskset -c "$SERVER_CPU" nginx -c "$work/nginx/nginx-$port.conf" -p "$work/nginx" >"$work/$name.log" 2>&1 &
      ;;
    *-serve)
      RINGBOLT_DRIVER=$DRIVER taskset -c "$SERVER_CPU" "$dir/ringbolt" serve "$site" \
        --bind "127.0.0.1:$port" --workers 1 >"$work/$name.log" 2>&1 &
      ;;
    *-mount)
      RINGBOLT_DRIVER=$DRIVER taskset -c "$SERVER_CPU" "$dir/examples/bench_app" --static "$site/static" \
        --bind "127.0.0.1:$port" --workers 1 >"$work/$name.log" 2>&1 &
      ;;
    *) echo "unknown server $name" >&2; exit 1 ;;
  esac
  started=$!
  pids+=("$started")
  wait_port "$port"
}

# validate NAME PORT: HttpArena's checks for the static profile; prints what fails.
validate() {
  local name=$1 port=$2 url="http://127.0.0.1:$2/static" bad=0 f got want type enc
  codings=
  for f in "$site"/static/*; do
    f=${f##*/}
    case $f in *.br | *.gz) continue ;; esac
    want=$(stat -c %s "$site/static/$f")
    got=$(curl -s -o "$work/body" -w '%{size_download}' "$url/$f")
    cmp -s "$work/body" "$site/static/$f" || { echo "$name: /static/$f without Accept-Encoding: $got bytes, not the file's $want" >&2; bad=1; }
    curl -s -D "$work/head" -o "$work/body" -H 'Accept-Encoding: br;q=1, gzip;q=0.8' "$url/$f"
    enc=$(awk -F': *' 'tolower($1) == "content-encoding" { sub(/\r$/, "", $2); print $2 }' "$work/head")
    codings+=" ${enc:-identity}"
    case $enc in
      br) brotli -d -c "$work/body" >"$work/plain" 2>/dev/null || : >"$work/plain" ;;
      gzip) gzip -d -c "$work/body" >"$work/plain" 2>/dev/null || : >"$work/plain" ;;
      "") cp "$work/body" "$work/plain" ;;
      *) echo "$name: /static/$f: Content-Encoding $enc" >&2; bad=1 ;;
    esac
    cmp -s "$work/plain" "$site/static/$f" || { echo "$name: /static/$f with Accept-Encoding ($enc) does not decode to the file" >&2; bad=1; }
    type=$(awk -F': *' 'tolower($1) == "content-type" { sub(/\r$/, "", $2); print $2 }' "$work/head")
    case $f in
      *.css) want=text/css ;;
      *.js) want='(application|text)/javascript' ;;
      *.json) want=application/json ;;
      *.html) want=text/html ;;
      *.svg) want=image/svg\\+xml ;;
      *.woff2) want=font/woff2 ;;
      *.webp) want=image/webp ;;
    esac
    [[ $type =~ ^$want(;.*)?$ ]] || { echo "$name: /static/$f: Content-Type '$type', not $want" >&2; bad=1; }
  done
  got=$(curl -s -o /dev/null -w '%{http_code}' "$url/nonexistent.txt")
  [[ $got == 404 ]] || { echo "$name: /static/nonexistent.txt: $got, not 404" >&2; bad=1; }
  return $bad
}

hz=$(getconf CLK_TCK)

names=()
for s in $SERVERS; do names+=("$s"); done
if [[ -n ${BASELINE:-} ]]; then
  [[ " $SERVERS " == *" rb-serve "* ]] && names+=(base-serve)
  [[ " $SERVERS " == *" rb-mount "* ]] && names+=(base-mount)
fi
declare -A pid_of port_of
i=0
for name in "${names[@]}"; do
  port=$((PORT + i))
  start "$name" "$port"
  pid_of[$name]=$started port_of[$name]=$port
  if validate "$name" "$port"; then
    echo "$name: the profile's checks pass (20 sizes, types, decoded bodies, 404); sent as:$(tr ' ' '\n' <<<"$codings" | grep . | sort | uniq -c | awk 'NF { printf " %s %s", $1, $2 }')" >&2
  else
    echo "$name: fails the profile's checks; not measured" >&2
    unset "pid_of[$name]"
  fi
  i=$((i + 1))
done

results=$work/results.txt
# run NAME CONNS ROUND
run() {
  local name=$1 conns=$2 pid=${pid_of[$1]} port=${port_of[$1]} out before after cbefore cafter reqs rps p99 us
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$conns" -d1s -s "$work/rotate.lua" "http://127.0.0.1:$port" >/dev/null
  local record=()
  if [[ ${PERF:-} == "$name" && $3 == "$REPEAT" ]]; then
    perf record -g -p "$pid" -o "$work/perf-$name-$conns.data" -- sleep "$DURATION" >/dev/null 2>&1 &
    record=("$!")
  fi
  before=$(ticks "$pid") cbefore=$(cpu_jiffies "$CLIENT_CPU")
  out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$conns" -d"${DURATION}s" --latency -s "$work/rotate.lua" "http://127.0.0.1:$port")
  after=$(ticks "$pid") cafter=$(cpu_jiffies "$CLIENT_CPU")
  [[ ${#record[@]} -gt 0 ]] && wait "${record[0]}"
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {s = $2; printf "%.0f", (s ~ /ms$/) ? s * 1000 : (s ~ /us$/) ? s + 0 : s * 1000000}' <<<"$out")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "warning: $name -c$conns: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ')" >&2
  fi
  us=$(awk -v d="$((after - before))" -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.2f", d * 1e6 / hz / n}')
  printf '%s|%s|%s|%s|%s|%s\n' "$name" "$conns" "$rps" "$p99" "$us" "$(busy_pct "$cbefore" "$cafter")" >>"$results"
}

for round in $(seq "$REPEAT"); do
  for conns in $CONNS; do
    for name in "${names[@]}"; do
      [[ -v pid_of[$name] ]] && run "$name" "$conns" "$round"
    done
  done
done

echo
echo "HttpArena static profile (generated files), wrk -t1 -d${DURATION}s on CPU $CLIENT_CPU; servers (1 worker) on CPU $SERVER_CPU; ringbolt driver $DRIVER; binaries: $bin_dir${BASELINE:+, base: $BASELINE}"
echo "median of $REPEAT rounds (alternating servers); CPU us/resp = server utime+stime / responses; x nginx = req/s ratio; wrk core = how busy CPU $CLIENT_CPU was"
printf '%-11s %6s %10s %10s %12s %9s %9s\n' server conns "req/s" "p99 us" "CPU us/resp" "x nginx" "wrk core"
awk -F'|' '
  { key = $1 "|" $2; if (!(key in n)) order[++k] = key; n[key]++; rps[key, n[key]] = $3; p99[key, n[key]] = $4; us[key, n[key]] = $5; cl[key, n[key]] = $6 }
  function median(arr, key, cnt,   i, j, t, v) {
    for (i = 1; i <= cnt; i++) v[i] = arr[key, i] + 0
    for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return v[int((cnt + 1) / 2)]
  }
  END {
    for (i = 1; i <= k; i++) { key = order[i]; m[key] = median(rps, key, n[key]) }
    for (i = 1; i <= k; i++) {
      key = order[i]; split(key, p, "|"); ng = "nginx|" p[2]
      ratio = (ng in m && m[ng] > 0) ? sprintf("%.2f", m[key] / m[ng]) : "-"
      printf "%-11s %6s %10s %10s %12s %9s %8s%%\n", p[1], p[2], m[key], median(p99, key, n[key]), median(us, key, n[key]), ratio, median(cl, key, n[key])
    }
  }' "$results"

if [[ -n ${PERF:-} ]]; then
  for data in "$work"/perf-*.data; do
    [[ -f $data ]] || continue
    echo
    echo "perf profile of ${data##*/perf-} (self, top 25):"
    perf report -i "$data" --no-children --stdio --percent-limit 0.8 2>/dev/null | grep -E '^ +[0-9]' | head -25
  done
fi
