#!/usr/bin/env bash
# What a cold download does to the other requests of its worker: ringbolt (io_uring and epoll)
# beside nginx (sendfile, the default) and nginx with `aio threads`, in one run. Each server
# runs one worker pinned to CPU 0. While four clients download four different files whose
# pages were evicted from the page cache first (POSIX_FADV_DONTNEED), each limited to RATE,
# one keep-alive client on CPU 1 sends `GET /plaintext` every 2 ms and times each answer.
# The same client, with no downloads, gives the unloaded figures. The downloads are checked for
# status and length (their bytes are checked by tests/cold_files.rs, not here: reading the
# files again to compare would warm them).
#
#   scripts/bench-cold.sh
#   SIZE_MB=128 RATE=100M scripts/bench-cold.sh
#   SERVERS="rb-uring nginx-aio" scripts/bench-cold.sh
#   SERVERS="floor ..." scripts/bench-cold.sh  # the measurement's floor: the load goes to one
#                                    # ringbolt (io_uring), the probe to a second one on the same
#                                    # core that does nothing else, so no disk wait can reach the
#                                    # probe's worker; what is left is what the machine gives an
#                                    # unblocked worker under this load (scheduling, the shared
#                                    # client core); a server's loaded figure is read against it.
#   SKIP_BUILD=1 scripts/bench-cold.sh
#   PROFILE=release scripts/bench-cold.sh     # bench_app of the release build (default: max, as bench.sh)
#   BASELINE=DIR/bench_app scripts/bench-cold.sh   # adds "rb-base" (another build, io_uring)
#   WORKLOAD=listing scripts/bench-cold.sh  # instead of downloads: a directory of ENTRIES
#                                    # (100,000) files listed LISTINGS (4) times, one after another,
#                                    # with Accept-Encoding: $ACCEPT_ENCODING (default br; ringbolt
#                                    # compresses, nginx's autoindex does not)
#   WORKLOAD=listing ACCEPT_ENCODING=identity scripts/bench-cold.sh   # the same, uncompressed
#   WORKLOAD=opens scripts/bench-cold.sh    # instead: OPENS (20,000) small files in 200
#                                    # directories, each fetched once by 4 keep-alive clients,
#                                    # after the kernel's dentry, inode and page caches were
#                                    # dropped (needs root: /proc/sys/vm/drop_caches)
#
# Needs: nginx (Debian nginx-light), curl, python3, taskset. The files are written to a temp
# directory on the disk that holds $TMPDIR (not tmpfs: eviction must reach the disk).
set -euo pipefail
cd "$(dirname "$0")/.."

WORKLOAD=${WORKLOAD:-downloads}
SIZE_MB=${SIZE_MB:-256}
ENTRIES=${ENTRIES:-100000}
LISTINGS=${LISTINGS:-4}
OPENS=${OPENS:-20000}
ACCEPT_ENCODING=${ACCEPT_ENCODING:-br}
RATE=${RATE:-200M}
UNLOADED_S=${UNLOADED_S:-3}
SERVERS=${SERVERS:-"floor rb-uring rb-epoll nginx nginx-aio"}
[[ -n ${BASELINE:-} ]] && SERVERS="$SERVERS rb-base"
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18180}

for tool in nginx curl python3 taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

PROFILE=${PROFILE:-max}
[[ ${SKIP_BUILD:-0} == 1 ]] || cargo build --profile "$PROFILE" --example bench_app >&2
bench_app=${CARGO_TARGET_DIR:-target}/$PROFILE/examples/bench_app

mkdir -p "$work/files" "$work/nginx"
case $WORKLOAD in
  downloads)
    for i in 1 2 3 4; do
      head -c $((SIZE_MB << 20)) /dev/urandom >"$work/files/cold$i.bin"
    done
    ;;
  listing)
    mkdir -p "$work/files/big"
    python3 - "$work/files/big" "$ENTRIES" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    open(os.path.join(d, f"entry-{i:07d}.txt"), "w").close()
PY
    ;;
  opens)
    python3 - "$work/files/many" "$OPENS" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
body = os.urandom(4096)
for i in range(n):
    sub = os.path.join(d, f"d{i % 200:03d}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"f{i:06d}.bin"), "wb") as f:
        f.write(body)
PY
    [[ -w /proc/sys/vm/drop_caches ]] || { echo "WORKLOAD=opens needs root (drop_caches)" >&2; exit 1; }
    ;;
  *) echo "WORKLOAD is downloads, listing or opens" >&2; exit 1 ;;
esac
sync

# Fetches every file of the opens workload once, on 4 keep-alive connections; prints
# "fetched failed".
cat >"$work/fetch.py" <<'PY'
import socket, sys, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
paths = [f"/files/many/d{i % 200:03d}/f{i:06d}.bin" for i in range(n)]
ok, bad = [0], [0]
def run(part):
    s = socket.create_connection(("127.0.0.1", port))
    buf = b""
    for p in part:
        s.sendall(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, _, buf = buf.partition(b"\r\n\r\n")
        cl = next(int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length"))
        while len(buf) < cl:
            buf += s.recv(65536)
        buf = buf[cl:]
        (ok if head.startswith(b"HTTP/1.1 200") and cl == 4096 else bad)[0] += 1
threads = [threading.Thread(target=run, args=(paths[k::4],)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(ok[0], bad[0])
PY

# Drops the files' pages from the page cache.
evict() {
  python3 - "$work"/files/cold*.bin <<'PY'
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    os.fdatasync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
PY
}

# The probe: GET /plaintext every 2 ms on one keep-alive connection, until the file named by
# its third argument exists (or for a fixed time); prints "count p50 p99 max" in ms.
cat >"$work/probe.py" <<'PY'
import socket, sys, time, os
port, seconds, stop = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
req = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
lat, buf = [], b""
end = time.monotonic() + seconds
next_at = time.monotonic()
while not lat or (time.monotonic() < end and not (stop != "-" and os.path.exists(stop))):
    t0 = time.perf_counter()
    s.sendall(req)
    while True:
        i = buf.find(b"\r\n\r\n")
        if i >= 0:
            cl = 0
            for line in buf[:i].split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    cl = int(v)
            if len(buf) >= i + 4 + cl:
                buf = buf[i + 4 + cl:]
                break
        buf += s.recv(65536)
    lat.append((time.perf_counter() - t0) * 1e3)
    next_at += 0.002
    pause = next_at - time.monotonic()
    if pause > 0:
        time.sleep(pause)
    else:
        next_at = time.monotonic()
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"{len(lat)} {q(0.5):.2f} {q(0.99):.2f} {lat[-1]:.2f}")
PY

nginx_conf() { # AIO(on|off)
  local aio=""
  [[ $1 == on ]] && aio="aio threads;"
  cat >"$work/nginx/nginx.conf" <<NGINX
daemon off;
master_process off;
worker_processes 1;
error_log $work/nginx/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$PORT reuseport;
    location = /plaintext { default_type "text/plain; charset=utf-8"; return 200 "Hello, World!"; }
    location /files/ {
      alias $work/files/;
      sendfile on;
      tcp_nopush on;
      $aio
    }
    location /dir/ {
      alias $work/files/;
      autoindex on;
    }
  }
}
NGINX
}

start() { # NAME -> sets $server_pid, $probe_port (and $floor_pid for floor)
  probe_port=$PORT floor_pid=
  case $1 in
    rb-uring | rb-epoll | rb-base | floor)
      local driver=${1#rb-} bin=$bench_app
      [[ $1 == rb-base || $1 == floor ]] && driver=uring
      [[ $1 == rb-base ]] && bin=$BASELINE
      local mount=()
      [[ $WORKLOAD == listing ]] && mount=(--mount "$work/files" --compress)
      taskset -c "$SERVER_CPU" "$bin" --bind "127.0.0.1:$PORT" \
        --workers 1 --driver "$driver" --files "$work/files" "${mount[@]}" >"$work/$1.log" 2>&1 &
      server_pid=$!
      if [[ $1 == floor ]]; then
        probe_port=$((PORT + 1))
        taskset -c "$SERVER_CPU" "$bin" --bind "127.0.0.1:$probe_port" --workers 1 --driver "$driver" \
          >"$work/floor-probe.log" 2>&1 &
        floor_pid=$!
        pids+=("$floor_pid")
      fi
      ;;
    nginx | nginx-aio)
      nginx_conf "$([[ $1 == nginx-aio ]] && echo on || echo off)"
      taskset -c "$SERVER_CPU" nginx -c "$work/nginx/nginx.conf" >"$work/$1.log" 2>&1 &
      server_pid=$!
      ;;
  esac
  pids+=("$server_pid")
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/plaintext" &&
      curl -sf -o /dev/null "http://127.0.0.1:$probe_port/plaintext" && return 0
    sleep 0.05
  done
  echo "$1 did not start" >&2
  exit 1
}

stop() {
  local p
  for p in "$server_pid" $floor_pid; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}

# The load, in the background; touches $work/done when it ends, and writes what it did to
# $work/load.out.
load() {
  case $WORKLOAD in
    downloads)
      for i in 1 2 3 4; do
        taskset -c "$CLIENT_CPU" curl -s -o /dev/null --limit-rate "$RATE" \
          -w '%{http_code} %{size_download}\n' "http://127.0.0.1:$PORT/files/cold$i.bin" >"$work/dl$i.out" &
      done
      wait
      local ok=0
      for i in 1 2 3 4; do
        [[ $(cat "$work/dl$i.out") == "200 $((SIZE_MB << 20))" ]] && ok=$((ok + 1))
      done
      echo "$ok/4 complete" >"$work/load.out"
      ;;
    listing)
      local ok=0 bytes=0
      for _ in $(seq "$LISTINGS"); do
        read -r code size < <(taskset -c "$CLIENT_CPU" curl -s -o /dev/null \
          -H "Accept-Encoding: $ACCEPT_ENCODING" \
          -w '%{http_code} %{size_download}\n' "http://127.0.0.1:$PORT/dir/big/")
        [[ $code == 200 ]] && ok=$((ok + 1))
        bytes=$size
      done
      echo "$ok/$LISTINGS listings of $bytes bytes" >"$work/load.out"
      ;;
    opens)
      read -r fetched failed < <(taskset -c "$CLIENT_CPU" python3 "$work/fetch.py" "$PORT" "$OPENS")
      echo "$fetched fetched, $failed failed" >"$work/load.out"
      ;;
  esac
  touch "$work/done"
}

# Makes the load's files cold: pages evicted; for opens, dentries and inodes dropped too.
chill() {
  case $WORKLOAD in
    downloads) evict ;;
    listing) ;;
    opens) sync; echo 3 >/proc/sys/vm/drop_caches ;;
  esac
}

case $WORKLOAD in
  downloads) what="4 x ${SIZE_MB} MiB at $RATE/s each" ;;
  listing) what="$ENTRIES entries listed $LISTINGS times, Accept-Encoding: $ACCEPT_ENCODING" ;;
  opens) what="$OPENS cold 4 KiB files, each fetched once" ;;
esac
printf '%-10s %-22s %-22s %s\n' server "unloaded p99 / max ms" "loaded p99 / max ms" "load ($what)"
for name in $SERVERS; do
  start "$name"
  read -r _ _ up99 umax < <(taskset -c "$CLIENT_CPU" python3 "$work/probe.py" "$probe_port" "$UNLOADED_S" -)
  chill
  rm -f "$work/done"
  t0=$(date +%s.%N)
  load &
  waiter=$!
  read -r _ _ cp99 cmax < <(taskset -c "$CLIENT_CPU" python3 "$work/probe.py" "$probe_port" 600 "$work/done")
  wait "$waiter"
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  printf '%-10s %-22s %-22s %s\n' "$name" "$up99 / $umax" "$cp99 / $cmax" "$(cat "$work/load.out") in $secs s"
  stop
done
