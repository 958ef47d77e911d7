#!/usr/bin/env bash
# The most server memory one hostile connection can pin (scripts/stress/pin.py has the
# inputs): empty-line floods, a head at its limit, an echoed body never read, pipelining
# without reading. One worker, the demo app with its defaults.
#   scripts/stress/pin.sh            DRIVER=uring PORT=18190 LIMIT_KIB=4096
set -euo pipefail
cd "$(dirname "$0")/../.."
DRIVER=${DRIVER:-uring}
PORT=${PORT:-18190}
cargo build --release --bin ringbolt >&2
media=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; rm -rf "$media"; }
trap cleanup EXIT
RINGBOLT_DRIVER=$DRIVER target/release/ringbolt --bind "127.0.0.1:$PORT" --workers 1 \
  --media-dir "$media" >/tmp/ringbolt-pin.log 2>&1 &
pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
echo "driver $DRIVER"
timeout 120 python3 scripts/stress/pin.py "$PORT" "$pid"
