#!/usr/bin/env bash
# Soak: DURATION seconds (default 600) of mixed traffic against one worker — JSON, files with
# and without ranges, chunked streams (wrk, Lua-scripted mix), SSE clients that disconnect at
# random and bad requests (Python) — then compares the server's open descriptors and RSS at
# one minute in and at the end of the load: RSS must be flat (within 10 % or 8 MiB), and once
# the load stops every descriptor but the cached files' must be closed.
#   scripts/stress/soak.sh       DURATION=600 DRIVER=uring
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-600}
DRIVER=${DRIVER:-uring}
PORT=${PORT:-18220}
for tool in wrk python3; do command -v "$tool" >/dev/null || { echo "FAIL soak: missing $tool"; exit 1; }; done
cargo build --release --example stress_app >&2
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
head -c 4096 /dev/urandom > "$work/4k.bin"
head -c $((1 << 20)) /dev/urandom > "$work/1m.bin"
RINGBOLT_DRIVER=$DRIVER target/release/examples/stress_app --bind "127.0.0.1:$PORT" --workers 1 \
  --files "$work" >/dev/null 2>"$work/server.log" &
server=$!; pids+=("$server")
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done

cat > "$work/mix.lua" <<'LUA'
-- Built in init: wrk knows the Host only from then on.
local reqs
init = function(args)
reqs = {
  wrk.format("GET", "/json"),
  wrk.format("GET", "/bigjson"),
  wrk.format("GET", "/files/4k.bin"),
  wrk.format("GET", "/files/1m.bin", {["Range"] = "bytes=1000-200000"}),
  wrk.format("GET", "/files/1m.bin", {["Range"] = "bytes=0-99,5000-5999"}),
  wrk.format("GET", "/files/1m.bin"),
  wrk.format("GET", "/stream-sync"),
  wrk.format("GET", "/data"),
}
end
local i = 0
request = function()
  i = i + 1
  return reqs[(i % #reqs) + 1]
end
LUA

cat > "$work/chaos.py" <<'PY'
import random, socket, struct, sys, time
port, until = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
counts = {"sse": 0, "404": 0, "400": 0, "other": 0}
while time.monotonic() < until:
    r = random.random()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if r < 0.5:
            s.sendall(b"GET /sse HTTP/1.1\r\nHost: a\r\n\r\n")
            want = random.randint(1, 5)
            got = b""
            while got.count(b"data:") < want:
                d = s.recv(4096)
                if not d: break
                got += d
            if random.random() < 0.5:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            counts["sse"] += 1
        else:
            bad = random.random() < 0.5
            s.sendall(b"GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" if not bad
                      else b"GET /x HTTP/1.1\r\nHost : a\r\n\r\n")
            data = s.recv(4096)
            key = "404" if data.startswith(b"HTTP/1.1 404") else "400" if data.startswith(b"HTTP/1.1 400") else "other"
            counts[key] += 1
        s.close()
    except OSError:
        counts["other"] += 1
print("chaos:", " ".join(f"{k}={v}" for k, v in counts.items()))
sys.exit(1 if counts["other"] else 0)
PY

sample() { echo "$(ls "/proc/$server/fd" | wc -l) $(awk '/VmRSS/ {print $2}' "/proc/$server/status")"; }
read -r fd0 rss0 <<<"$(sample)"
wrk -t1 -c32 -d"${DURATION}s" -s "$work/mix.lua" "http://127.0.0.1:$PORT" > "$work/wrk.out" 2>&1 &
w=$!
python3 "$work/chaos.py" "$PORT" "$DURATION" > "$work/chaos.out" 2>&1 &
c=$!
sleep 60
read -r fd1 rss1 <<<"$(sample)"
sleep $((DURATION - 65))
read -r fd2 rss2 <<<"$(sample)"
status=0
wait "$w" || status=1
wait "$c" || status=1
sleep 2
read -r fd3 rss3 <<<"$(sample)"
cat "$work/chaos.out"
grep -E "requests in|Non-2xx|Socket errors" "$work/wrk.out" || true
echo "server fds: ${fd0} idle before, ${fd1} at 60 s, ${fd2} at $((DURATION - 5)) s, ${fd3} idle after (+ up to 3 cached files)"
echo "server RSS: ${rss0} KiB idle before, ${rss1} KiB at 60 s, ${rss2} KiB at $((DURATION - 5)) s, ${rss3} KiB idle after"
grep -q "Non-2xx" "$work/wrk.out" && status=1
(( fd3 <= fd0 + 3 )) || status=1
awk -v a="$rss1" -v b="$rss2" 'BEGIN {exit !(b <= a * 1.10 || b <= a + 8192)}' || status=1
kill -0 "$server" || status=1
if [[ $status == 0 ]]; then echo "PASS soak: ${DURATION} s, flat fds and RSS, 0 unexpected errors"; else echo "FAIL soak"; fi
exit $status
