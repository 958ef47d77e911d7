# shellcheck shell=bash
# What the bench and check scripts share; sourced by them, not run.
#
#   cd "$(dirname "$0")/.." && . scripts/lib.sh
#
# Sourcing it makes $work (a temp directory) and $pids (the processes the script starts; add
# each with pids+=("$!")); at exit every one of them is killed and waited for, and $work
# removed. wait_port PORT waits for a server to accept on 127.0.0.1:PORT (5 s, then the
# script exits); ticks PID is a process's CPU time so far (utime + stime of all its
# threads, in clock ticks); cpu_jiffies CPU and busy_pct BEFORE AFTER give how busy a core
# was between two points (the load generator's, to see whether it was the limit).
# draw_chart TSV SVG draws a bench's raw results with scripts/chart.py.

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_port() { # PORT
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "server on port $1 did not start" >&2
  exit 1
}

ticks() { # PID
  awk '{print $14 + $15}' "/proc/$1/stat"
}

cpu_jiffies() { # CPU: that core's busy and total jiffies so far ("busy total")
  awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6 - $9, t }' /proc/stat
}

busy_pct() { # "busy total" BEFORE, "busy total" AFTER: the core's busy share between them, in %
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; printf "%.0f", (d > 0 ? (y[1] - x[1]) * 100 / d : 0) }'
}

# The peers in benches/peers/NAME: each a project of its own, built into
# ${CARGO_TARGET_DIR:-target}/peers/NAME (its first build fetches its crates).
peer_bin() { # NAME: the peer's binary
  echo "${CARGO_TARGET_DIR:-target}/peers/$1/release/$1-peer"
}
build_peer() { # NAME
  CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}/peers/$1 cargo build --release --locked \
    --manifest-path "benches/peers/$1/Cargo.toml" >&2
}

# A python3 with matplotlib: CHART_PYTHON, the venv in ${CARGO_TARGET_DIR:-target}/bench,
# python3; else installs matplotlib into that venv (once).
chart_python() {
  local venv=${CARGO_TARGET_DIR:-target}/bench/venv py
  local pys=("$venv/bin/python" python3)
  [[ -n ${CHART_PYTHON:-} ]] && pys=("$CHART_PYTHON")
  for py in "${pys[@]}"; do
    if "$py" -c 'import matplotlib' 2>/dev/null; then echo "$py"; return 0; fi
  done
  [[ -z ${CHART_PYTHON:-} ]] || return 1
  echo "chart: installing matplotlib into $venv (once)" >&2
  { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check matplotlib; } \
    >"$work/pip.log" 2>&1 || return 1
  echo "$venv/bin/python"
}

# Draws TSV (bench.sh's raw results) as SVG (or .png) with scripts/chart.py, unless CHART=0;
# a chart that cannot be drawn is skipped with a line saying why, never an error. Returns 0
# only when it drew one.
draw_chart() { # TSV SVG
  local tsv=$1 svg=$2 py venv=${CARGO_TARGET_DIR:-target}/bench/venv
  [[ ${CHART:-} != 0 ]] || return 1
  if ! py=$(chart_python); then
    echo "chart skipped: no matplotlib (python3 -m venv $venv && $venv/bin/pip install matplotlib)" >&2
    return 1
  fi
  if ! "$py" scripts/chart.py "$tsv" -o "$svg" 2>"$work/chart.log"; then
    echo "chart skipped: scripts/chart.py failed: $(tail -n 1 "$work/chart.log")" >&2
    return 1
  fi
}
