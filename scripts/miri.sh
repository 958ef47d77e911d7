#!/usr/bin/env bash
# The pure parts of ringbolt under Miri (undefined behaviour, out-of-bounds, leaks): the HTTP
# codec, the router, Range and conditional-request logic. Needs the nightly toolchain with
# the miri component (`rustup component add --toolchain nightly miri rust-src`). ~10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
# Isolation off: the multipart boundary reads the clock.
MIRIFLAGS=${MIRIFLAGS:--Zmiri-disable-isolation} cargo +nightly miri test --lib -- http:: router:: fs::range fs::meta
