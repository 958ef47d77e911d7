#!/usr/bin/env bash
# Candidate cargo profiles for [profile.release], side by side: how long each takes to build
# the binary from cold, and what its build of bench_app costs and serves, all in one bench run.
#
#   scripts/build-profiles.sh                          # the four profiles, bench.sh's 10 s runs
#   PROFILES="release max" DURATION=2 REPEAT=1 scripts/build-profiles.sh
#   SKIP_COLD=1 scripts/build-profiles.sh              # bench the builds of the last run again
#   KEEP=1 scripts/build-profiles.sh                   # keep each profile's target directory
#
# For every profile P (named profiles in Cargo.toml, all inheriting release): a fresh target
# directory, `cargo build --profile P --bin ringbolt` timed (wall, user and system CPU, offline
# when the registry already holds every crate), then bench_app built there too (untimed).
# Then one scripts/bench.sh run with every profile's bench_app as its own server (the first as
# the main one, the others through VARIANTS) beside nginx, alternating between them each
# repeat: /plaintext, /json and the 4 KiB file (ENDPOINTS, FILES and PIPELINE as in bench.sh
# change that). It prints the build times and, per profile, CPU per response and req/s (MB/s
# and CPU per MiB for the file), and keeps them in target/build-profiles/ (the bench's raw
# results and chart beside them).
#
# The cold builds compete with anything else the machine runs: time them on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILES=${PROFILES:-release release-thin release-fat max}
root=${BUILD_ROOT:-target/build-profiles}
read -r -a profiles <<<"$PROFILES"
[[ ${#profiles[@]} -gt 0 ]] || { echo "PROFILES is empty" >&2; exit 1; }
mkdir -p "$root/bin"
root=$(cd "$root" && pwd)
stamp=$(date +%Y%m%d-%H%M%S)
builds=$root/builds-$stamp.tsv

profile_dir() { if [[ $1 == dev ]]; then echo debug; else echo "$1"; fi; }

if [[ ${SKIP_COLD:-0} != 1 ]]; then
  offline=()
  if cargo fetch --offline --target "$(rustc -vV | sed -n 's/^host: //p')" >/dev/null 2>&1; then
    offline=(--offline)
  else
    cargo fetch >&2 # so that the timed builds download nothing
  fi
  printf 'profile\twall_s\tuser_s\tsys_s\tringbolt_bytes\n' >"$builds"
  for p in "${profiles[@]}"; do
    dir=$root/target-$p
    rm -rf "$dir"
    echo "cold build: cargo build ${offline[*]} --profile $p --bin ringbolt (CARGO_TARGET_DIR=$dir)" >&2
    TIMEFORMAT='%R %U %S'
    if ! { time CARGO_TARGET_DIR=$dir cargo build "${offline[@]}" --profile "$p" --bin ringbolt \
      >"$root/build-$p.log" 2>&1; } 2>"$root/time-$p.txt"; then
      echo "build of profile $p failed: see $root/build-$p.log" >&2; exit 1
    fi
    read -r wall user sys <"$root/time-$p.txt"
    rm -f "$root/time-$p.txt"
    size=$(stat -c %s "$dir/$(profile_dir "$p")/ringbolt")
    printf '%s\t%s\t%s\t%s\t%s\n' "$p" "$wall" "$user" "$sys" "$size" >>"$builds"
    CARGO_TARGET_DIR=$dir cargo build "${offline[@]}" --profile "$p" --example bench_app \
      >>"$root/build-$p.log" 2>&1 || { echo "bench_app, profile $p: see $root/build-$p.log" >&2; exit 1; }
    cp "$dir/$(profile_dir "$p")/examples/bench_app" "$root/bin/bench_app-$p"
    [[ ${KEEP:-0} == 1 ]] || rm -rf "$dir"
  done
  cp "$builds" "$root/builds-latest.tsv"
fi
for p in "${profiles[@]}"; do
  [[ -x $root/bin/bench_app-$p ]] || { echo "no build of profile $p in $root/bin (run without SKIP_COLD)" >&2; exit 1; }
done

variants=
for p in "${profiles[@]:1}"; do variants+="$p=$root/bin/bench_app-$p "; done
chart=$root/bench-$stamp.svg
SKIP_BUILD=1 BIN=$root/bin/bench_app-${profiles[0]} RB_NAME=${profiles[0]} VARIANTS=${variants% } \
  ENDPOINTS=${ENDPOINTS:-/plaintext /json} FILES=${FILES:-4k} PIPELINE=${PIPELINE:-0} CHART=$chart \
  scripts/bench.sh
tsv=${chart%.svg}.tsv

[[ ${SKIP_COLD:-0} == 1 ]] && builds=$root/builds-latest.tsv
if [[ -s $builds ]]; then
  echo
  echo "cold build of the ringbolt binary (cargo build --profile P --bin ringbolt, fresh target directory): $builds"
  printf '%-16s %10s %10s %10s %14s\n' profile "wall s" "user s" "sys s" "binary MiB"
  awk -F'\t' 'NR > 1 { printf "%-16s %10.1f %10.1f %10.1f %14.1f\n", $1, $2, $3, $4, $5 / 1048576 }' "$builds"
fi

echo
echo "per profile: medians of bench.sh (raw: $tsv); CPU per response, per MiB for files"
awk -F'\t' '
  /^# servers:/ { k = split(substr($0, 12), a, " "); for (i = 1; i <= k; i++) { seen_s[a[i]] = 1; servers[++ns] = a[i] } }
  /^#/ || $1 == "run" { next }
  { key = $2 SUBSEP $3
    if (!($2 in seen_s)) { seen_s[$2] = 1; servers[++ns] = $2 }
    if (!($3 in seen_r)) { seen_r[$3] = 1; rows[++nr] = $3; file[$3] = ($4 == "file") }
    c = ++n[key]
    thr[key, c] = file[$3] ? $9 : $6; cpu[key, c] = file[$3] ? $10 : $8 }
  function med(arr, key, cnt,   i, j, t, v) {
    for (i = 1; i <= cnt; i++) v[i] = arr[key, i] + 0
    for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return v[int((cnt + 1) / 2)] }
  END {
    printf "%-16s", "profile"
    for (r = 1; r <= nr; r++) printf " | %-27s", rows[r]
    printf "\n%-16s", ""
    for (r = 1; r <= nr; r++) printf " | %12s %14s", file[rows[r]] ? "MB/s" : "req/s", file[rows[r]] ? "CPU us/MiB" : "CPU us/resp"
    printf "\n"
    for (s = 1; s <= ns; s++) {
      printf "%-16s", servers[s]
      for (r = 1; r <= nr; r++) {
        key = servers[s] SUBSEP rows[r]
        if (!n[key]) printf " | %27s", "-"
        else printf(file[rows[r]] ? " | %12.0f %14.1f" : " | %12.0f %14.3f", med(thr, key, n[key]), med(cpu, key, n[key]))
      }
      printf "\n"
    }
  }' "$tsv"
