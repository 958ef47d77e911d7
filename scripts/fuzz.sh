#!/usr/bin/env bash
# Runs one cargo-fuzz target (or all of them, one after another) for a number of seconds each.
#   scripts/fuzz.sh TARGET SECONDS     (targets: request_head, chunked_body, resolve_path, range_header)
#   scripts/fuzz.sh all SECONDS
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). A crash leaves its
# input under fuzz/artifacts/TARGET/; add it as a regression test in src/http/.
set -euo pipefail
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS}
seconds=${2:-600}
cd "$(dirname "$0")/.."
if [[ $target == all ]]; then
  for t in $(cargo +nightly fuzz list); do
    echo "== $t ($seconds s)"
    "$0" "$t" "$seconds"
  done
  exit 0
fi
mkdir -p "fuzz/corpus/$target"
# Seed the corpus with a few well-formed inputs so the fuzzer starts from real requests.
case "$target" in
  request_head)
    printf 'GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n' > "fuzz/corpus/$target/seed-get"
    printf 'POST /echo?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n' > "fuzz/corpus/$target/seed-post"
    printf 'PUT http://a/b HTTP/1.0\r\nTransfer-Encoding: gzip, chunked\r\nConnection: keep-alive\r\n\r\n' > "fuzz/corpus/$target/seed-te"
    ;;
  chunked_body)
    printf '\x405\r\nhello\r\n1;a=b\r\n \r\n0\r\nX-T: 1\r\n\r\n' > "fuzz/corpus/$target/seed-chunks"
    ;;
esac
cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- \
  -max_total_time="$seconds" -print_final_stats=1
