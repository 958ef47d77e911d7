#!/usr/bin/env bash
# The admin listener under slow clients: N (default 10) clients trickle a request head to the
# admin port, one byte a second, reconnecting whenever they are cut, while /healthz is asked
# every 100 ms for DURATION (default 15). Target: every probe answered 200 within 100 ms.
#   scripts/stress/admin.sh        N=10 DURATION=15 PROFILE=debug (or release) DRIVER=uring
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
N=${N:-10}
DURATION=${DURATION:-15}
PROFILE=${PROFILE:-debug}
DRIVER=${DRIVER:-uring}
PORT=${PORT:-18200}
if [[ $PROFILE == debug ]]; then cargo build --bin ringbolt >&2; bin=target/debug/ringbolt
else cargo build --profile "$PROFILE" --bin ringbolt >&2; bin=target/$PROFILE/ringbolt; fi
RINGBOLT_DRIVER=$DRIVER "$bin" --bind "127.0.0.1:$PORT" --workers 1 --admin "127.0.0.1:$((PORT + 1))" \
  --media-dir "$work" >"$work/server.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$((PORT + 1))") 2>/dev/null && break; sleep 0.05; done
echo "$bin ($PROFILE), driver $DRIVER, admin 127.0.0.1:$((PORT + 1))"
timeout $((DURATION + 30)) python3 - "$((PORT + 1))" "$N" "$DURATION" "${pids[0]}" <<'PY'
import glob, os, socket, sys, threading, time
port, n, seconds, pid = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
# The admin thread's CPU time, in clock ticks.
task = next(t for t in glob.glob(f"/proc/{pid}/task/*") if open(f"{t}/comm").read().strip() == "ringbolt-admin")
def ticks():
    f = open(f"{task}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
TARGET = 0.100
end = time.monotonic() + seconds + 2
cuts = []  # (how long the connection lasted, what the server sent)
lock = threading.Lock()

def trickle():
    while time.monotonic() < end:
        s = socket.create_connection(("127.0.0.1", port))
        s.settimeout(1.0)
        start, got = time.monotonic(), b""
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Pad: ")
            while time.monotonic() < end:
                try:
                    d = s.recv(4096)
                    if not d:
                        break
                    got += d
                except socket.timeout:
                    if not got:
                        s.sendall(b"a")  # one byte a second
        except OSError:
            pass
        if time.monotonic() < end:
            with lock:
                cuts.append((time.monotonic() - start, got))
        s.close()

for _ in range(n):
    threading.Thread(target=trickle, daemon=True).start()
time.sleep(2)  # every trickler connected and trickling

lat, bad, failures = [], 0, []
began, cpu0 = time.monotonic(), ticks()
stop = time.monotonic() + seconds
while time.monotonic() < stop:
    t0 = time.monotonic()
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=3)
        c.settimeout(3)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        data = b""
        while True:
            d = c.recv(4096)
            if not d:
                break
            data += d
        c.close()
        ok = data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"ok\n")
        why = f"answer {data[:40]!r}"
    except OSError as e:
        ok, why = False, repr(e)
    if not ok:
        failures.append(why)
    took = time.monotonic() - t0
    lat.append(took)
    bad += not ok
    time.sleep(max(0.0, 0.1 - took))

cpu = (ticks() - cpu0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - began)
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
with lock:
    timed_out = [d for d, g in cuts if g.startswith(b"HTTP/1.1 408 ")]
    closed = [d for d, g in cuts if not g]
print(f"{n} tricklers at 1 B/s for {seconds:.0f} s: {len(cuts)} trickling connections ended, "
      f"{len(timed_out)} with a 408 (lasted {min(timed_out, default=0):.2f}-{max(timed_out, default=0):.2f} s), "
      f"{len(closed)} closed unanswered to make room; admin thread CPU {cpu * 100:.1f} % of a core")
print(f"/healthz x{len(lat)}: p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {lat[-1] * 1000:.1f} ms, "
      f"not 200: {bad} (target: all 200 within {TARGET * 1000:.0f} ms)")
if failures:
    print("failed probes:", "; ".join(sorted(set(failures))))
ok = bad == 0 and lat[-1] < TARGET
print(("PASS" if ok else "FAIL") + f" admin: /healthz max {lat[-1] * 1000:.1f} ms with {n} tricklers")
sys.exit(0 if ok else 1)
PY
