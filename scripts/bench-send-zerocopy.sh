#!/usr/bin/env bash
# What MSG_ZEROCOPY (the kernel path behind io_uring's SEND_ZC) does for bodies of 4-64 KiB over
# loopback: benches/probes/send_zerocopy.c streams TOTAL MiB in sends of each size, plainly and
# with MSG_ZEROCOPY, sender on CPU 0 and receiver on CPU 1, REPEAT times each.
#
#   scripts/bench-send-zerocopy.sh
#   SIZES="4096 65536" TOTAL=1024 REPEAT=3 scripts/bench-send-zerocopy.sh
#
# Needs: cc. The kernel reports each zero-copy send it had to copy (on loopback it copies them
# all, later than a plain send does); the line says so.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-4096 16384 65536}
TOTAL=${TOTAL:-2048}
REPEAT=${REPEAT:-2}
command -v cc >/dev/null || { echo "missing cc (apt-get install gcc)" >&2; exit 1; }
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
cc -O2 -o "$work/send_zerocopy" benches/probes/send_zerocopy.c
for _ in $(seq "$REPEAT"); do
  for size in $SIZES; do
    for zc in 0 1; do "$work/send_zerocopy" "$size" "$zc" "$TOTAL"; done
  done
done
