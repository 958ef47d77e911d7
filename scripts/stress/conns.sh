#!/usr/bin/env bash
# 10,000 concurrent keep-alive connections on one worker: all served (twice), RSS per idle
# connection (target <= 8 KiB), no CPU while idle. Then the fd limit: the server runs with
# RLIMIT_NOFILE 1024 and gets 2,000 connections; accept errors (EMFILE) must back off without
# a busy loop, and the server must serve again once connections close.
#   scripts/stress/conns.sh            N=10000 DRIVER=uring
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-10000}
DRIVER=${DRIVER:-uring}
PORT=${PORT:-18180}
cargo build --release --example bench_app >&2
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "FAIL conns: server did not start"; exit 1; }

ulimit -n "$(ulimit -Hn)"
RINGBOLT_DRIVER=$DRIVER target/release/examples/bench_app --bind "127.0.0.1:$PORT" --workers 1 >/tmp/ringbolt-conns.log 2>&1 &
pids+=("$!"); wait_port "$PORT"
status=0
timeout 300 python3 scripts/stress/conns.py "$PORT" "${pids[0]}" "$N" || status=1
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

# The fd limit.
PORT=$((PORT + 1))
(ulimit -n 1024; exec env RINGBOLT_DRIVER=$DRIVER target/release/examples/bench_app --bind "127.0.0.1:$PORT" --workers 1) >/tmp/ringbolt-emfile.log 2>&1 &
pids+=("$!"); wait_port "$PORT"
timeout 120 python3 - "$PORT" "${pids[0]}" <<'PY' || status=1
import socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
def ticks():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
socks = []
for _ in range(2000):
    s = socket.socket(); s.setblocking(True); s.connect(("127.0.0.1", port)); socks.append(s)
time.sleep(0.5)
t0 = ticks(); time.sleep(2); busy = ticks() - t0
for s in socks: s.close()
time.sleep(0.5)
ok_after = False
for _ in range(50):
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=2)
        c.sendall(b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = c.recv(4096)
            if not d: break
            data += d
        ok_after = data.startswith(b"HTTP/1.1 200") and data.endswith(b"Hello, World!")
        if ok_after: break
    except OSError:
        time.sleep(0.1)
accept_errors = open("/tmp/ringbolt-emfile.log").read().count("accept failed")
ok = busy <= 20 and ok_after and accept_errors > 0
print(f"emfile: 2000 connections against RLIMIT_NOFILE 1024: server CPU {busy} ticks in 2 s (100 = a busy core), "
      f"accept errors logged {accept_errors}, serving again after close: {ok_after}")
print(("PASS" if ok else "FAIL") + " emfile: backs off without spinning and recovers")
sys.exit(0 if ok else 1)
PY
exit $status
