#!/usr/bin/env bash
# The whole test suite under AddressSanitizer (nightly, std rebuilt with ASan): use-after-free,
# out-of-bounds and leaks in ringbolt and its dependencies, including the io_uring and syscall
# code the tests drive over real sockets. Needs `rustup component add --toolchain nightly rust-src`.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
# Leaks outside ringbolt that are known and bounded, each with its reason.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=1}
# Panics on purpose (tests of panicking handlers) are slow enough under ASan without
# capturing backtraces; timing-sensitive tests keep their margins.
export RUST_BACKTRACE=0
# Arguments choose the targets (`--lib --test suite -- files::`); none: every test target.
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(--tests)
cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu --target-dir target/asan --no-fail-fast "${targets[@]}"
