#!/usr/bin/env bash
# Slow request bodies: N (default 100) connections each send a head and the first 1 MiB - 4 KiB
# of a body at once, then one byte every 10 s, at the defaults (--min-receive-rate 4096/10s,
# body timeout 30 s). Two servers side by side, one worker each: the stress app's multipart
# `/upload` (files saved as they arrive) and the demo binary's `/echo` (a body read whole).
# Target: every connection cut within 30 s of its start. Prints when they were cut and the
# server RSS and descriptors they held while they lasted.
#   scripts/stress/slow_uploads.sh     N=100 DRIVER=uring PORT=18192 (and PORT+1)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-100}
DRIVER=${DRIVER:-uring}
PORT=${PORT:-18192}
DURATION=45
command -v python3 >/dev/null || { echo "FAIL slow_uploads: missing python3"; exit 1; }
cargo build --release --bin ringbolt --example stress_app >&2
. scripts/lib.sh
mkdir -p "$work/uploads" "$work/media"
ulimit -n "$(ulimit -Hn)"
RINGBOLT_DRIVER=$DRIVER target/release/examples/stress_app --bind "127.0.0.1:$PORT" --workers 1 \
  --uploads "$work/uploads" >/dev/null 2>"$work/stress_app.log" &
pids+=("$!")
RINGBOLT_DRIVER=$DRIVER target/release/ringbolt --bind "127.0.0.1:$((PORT + 1))" --workers 1 \
  --media-dir "$work/media" >/dev/null 2>"$work/ringbolt.log" &
pids+=("$!")
for p in "$PORT" "$((PORT + 1))"; do
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.05; done
done
sleep 1
status=0
python3 scripts/stress/slow_uploads.py "$PORT" "${pids[0]}" "$N" multipart /upload "$DURATION" \
  > "$work/upload.out" 2>&1 &
up=$!
python3 scripts/stress/slow_uploads.py "$((PORT + 1))" "${pids[1]}" "$N" length /echo "$DURATION" \
  > "$work/echo.out" 2>&1 &
echo_=$!
wait "$up" || status=1
wait "$echo_" || status=1
cat "$work/upload.out" "$work/echo.out"
left=$(find "$work/uploads" -type f | wc -l)
echo "partial upload files left in the upload directory: $left"
if [[ $status == 0 ]]; then
  echo "PASS slow_uploads: all $N uploads and $N whole bodies cut within 30 s"
else
  echo "FAIL slow_uploads"
fi
exit $status
