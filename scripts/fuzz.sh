#!/usr/bin/env bash
# Runs one cargo-fuzz target (or all of them, one after another) for a number of seconds each.
#   scripts/fuzz.sh TARGET SECONDS     (targets: request_head, chunked_body, resolve_path, range_header,
#                                       connection)
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
  connection)
    # Four control bytes (see ringbolt::fuzzing::Script::from_fuzz), then what the client sends.
    # The harness's own tests run first: the in-memory socket and virtual clock must hold.
    RUSTFLAGS="--cfg fuzzing" cargo test -q --lib --target-dir target/fuzzing server::fuzz
    printf '\x00\x00\x00\x00GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /users/7 HTTP/1.1\r\nHost: a\r\n\r\n' > "fuzz/corpus/$target/seed-pipelined"
    printf '\x21\x07\x00\x00POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /stream HTTP/1.1\r\nHost: a\r\n\r\n' > "fuzz/corpus/$target/seed-chunked"
    printf '\x18\x03\x10\x40GET /files/big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=0-9,100-\r\n\r\nGET /sse HTTP/1.1\r\nHost: a\r\n\r\n' > "fuzz/corpus/$target/seed-window"
    printf '\x05\x00\x00\x00POST /json HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 9\r\nExpect: 100-continue\r\n\r\n{"a": 1}\n' > "fuzz/corpus/$target/seed-expect"
    printf '\x20\x05\x00\x00POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 135\r\n\r\n--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name="f"; filename="f"\r\n\r\n-\r\n--XyZ--\r\n' > "fuzz/corpus/$target/seed-upload"
    printf '\x20\x03\x00\x00POST /chunks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n' > "fuzz/corpus/$target/seed-chunks"
    printf '\x02\x09\x00\x00GET /files/small.txt HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nIf-None-Match: *\r\n\r\nPOST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n' > "fuzz/corpus/$target/seed-reset"
    ;;
  chunked_body)
    printf '\x405\r\nhello\r\n1;a=b\r\n \r\n0\r\nX-T: 1\r\n\r\n' > "fuzz/corpus/$target/seed-chunks"
    ;;
esac
# Connections get inputs long enough to reach the read buffer's cap (about 18 KiB), which
# every read of a fuzzing build asserts, from the start (libFuzzer otherwise grows the length
# slowly: 7.6 KB after 5 minutes).
extra=()
[[ $target == connection ]] && extra=(-max_len=40000 -len_control=0)
cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- \
  -max_total_time="$seconds" -print_final_stats=1 "${extra[@]}"
