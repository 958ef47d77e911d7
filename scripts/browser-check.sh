#!/usr/bin/env bash
# Loads the demo's front page in headless Chromium and checks its live panels against curl:
# each EventSource panel (/events, /sse, /sse-events) got every event of its route in order,
# and the fetch panel every byte of /async-stream; saves a screenshot of the page.
#
#   scripts/browser-check.sh                       # debug build; screenshot to target/browser-check.png
#   PROFILE=release scripts/browser-check.sh       # the release build
#   SHOT=/tmp/page.png scripts/browser-check.sh
#   SKIP_BUILD=1 scripts/browser-check.sh          # runs the binary already built
#
# Needs curl, python3 (its standard library) and chromium, which it installs with apt-get
# when missing (as root). It starts the demo on a free port of 127.0.0.1, kills only the
# processes it started (by PID), and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-dev}
target=${CARGO_TARGET_DIR:-target}
shot=$(realpath -m "${SHOT:-$target/browser-check.png}")
# Virtual time runs only while no request is pending, so this bounds the page's timers, not
# the streams (the longest, /events and /sse, take 10 s).
budget_ms=${BUDGET_MS:-30000}

for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
if ! command -v chromium >/dev/null; then
  [[ $EUID == 0 ]] || { echo "chromium is missing: apt-get install -y chromium (as root)" >&2; exit 1; }
  apt-get update && apt-get install -y chromium
fi

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

# Waits for a process this script started (its status is the function's); from then on it is
# no longer ours to kill.
reap() {
  local p=$1 q status=0 rest=()
  wait "$p" || status=$?
  for q in "${pids[@]}"; do [[ $q == "$p" ]] || rest+=("$q"); done
  pids=("${rest[@]}")
  return "$status"
}

# ---------------------------------------------------------------- the demo
if [[ $PROFILE == release ]]; then dir=release; else dir=debug; fi
[[ ${SKIP_BUILD:-0} == 1 ]] || cargo build --profile "$PROFILE" --bin ringbolt >&2
"$target/$dir/ringbolt" --bind 127.0.0.1:0 --workers 1 --drain-timeout 1s \
  >"$work/server.out" 2>"$work/server.log" &
server=$!
pids+=("$server")
url=
for _ in $(seq 100); do
  # The line it prints once it listens, read only when whole.
  if [[ -s $work/server.out && -z $(tail -c1 "$work/server.out") ]]; then
    url=$(sed -n 's|.* on \(http://127\.0\.0\.1:[0-9]*\)$|\1|p' "$work/server.out")
  fi
  [[ -n $url ]] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $url ]]; then
  echo "the demo did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
echo "demo on $url (pid $server)"

# ---------------------------------------------------------------- curl and the browser, side by side
routes=(events sse sse-events async-stream)
curls=()
for r in "${routes[@]}"; do
  curl -sS -N --max-time 60 "$url/$r" >"$work/$r.curl" &
  curls+=($!)
  pids+=($!)
done

sandbox=()
[[ $EUID == 0 ]] && sandbox=(--no-sandbox) # Chromium refuses to run as root with its sandbox
mkdir -p "$(dirname "$shot")"
timeout 120 chromium --headless "${sandbox[@]}" --disable-gpu --no-first-run \
  --user-data-dir="$work/profile" --window-size=1280,1600 --hide-scrollbars \
  --virtual-time-budget="$budget_ms" --screenshot="$shot" --dump-dom "$url/" \
  >"$work/dom.html" 2>"$work/chromium.log" &
browser=$!
pids+=("$browser")
if ! reap "$browser"; then
  echo "chromium failed:" >&2
  tail -20 "$work/chromium.log" >&2
  exit 1
fi
for i in "${!curls[@]}"; do
  reap "${curls[$i]}" || { echo "curl of /${routes[$i]} failed" >&2; exit 1; }
done

[[ -s $shot ]] || { echo "chromium wrote no screenshot" >&2; exit 1; }
echo "screenshot: $shot"

# ---------------------------------------------------------------- what the panels received
python3 - "$work" <<'EOF'
import html.parser
import json
import sys

work = sys.argv[1]


class Feeds(html.parser.HTMLParser):
    """The `.feed` panels of the dumped DOM: their attributes and their items."""

    def __init__(self):
        super().__init__()
        self.feeds, self.current, self.item = {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "feed" in (attrs.get("class") or "").split():
            self.current = self.feeds[attrs["id"]] = {"attrs": attrs, "items": []}
        elif tag == "li" and self.current is not None:
            self.item = {"attrs": attrs, "text": ""}
            self.current["items"].append(self.item)

    def handle_endtag(self, tag):
        if tag == "section":
            self.current = None
        elif tag == "li":
            self.item = None

    def handle_data(self, data):
        if self.item is not None:
            self.item["text"] += data


def sse_events(text):
    """(type, id, data) of each event of an event stream, as a browser dispatches them."""
    events, data, kind, last_id = [], [], "message", ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if data:
                events.append((kind, last_id, "\n".join(data)))
            data, kind = [], "message"
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            kind = value
        elif field == "id":
            last_id = value
    return events


def check_sse(feed, body):
    types = feed["attrs"]["data-types"].split()
    want = [e for e in sse_events(body) if e[0] in types]
    got = [(i["attrs"].get("data-type", "message"), i["attrs"].get("data-id", ""), i["text"])
           for i in feed["items"]]
    if not want:
        return "curl got no events"
    if got != want:
        return f"events differ from curl's:\n  page {got}\n  curl {want}"
    return None


def check_fetch(feed, body):
    pieces = [json.loads(i["text"]) for i in feed["items"]]
    if not body:
        return "curl got nothing"
    if "".join(pieces) != body:
        return f"chunks differ from curl's body:\n  page {pieces!r}\n  curl {body!r}"
    if int(feed["attrs"].get("data-bytes", -1)) != len(body.encode()):
        return f"data-bytes {feed['attrs'].get('data-bytes')} != {len(body.encode())}"
    return None


parser = Feeds()
with open(f"{work}/dom.html", encoding="utf-8") as f:
    parser.feed(f.read())
checks = {"feed-events": ("events", check_sse), "feed-sse": ("sse", check_sse),
          "feed-sse-events": ("sse-events", check_sse),
          "feed-async-stream": ("async-stream", check_fetch)}
failed = False
for feed_id, (route, check) in checks.items():
    feed = parser.feeds.get(feed_id)
    if feed is None:
        print(f"FAIL #{feed_id}: not on the page")
        failed = True
        continue
    with open(f"{work}/{route}.curl", encoding="utf-8") as f:
        body = f.read()
    state, count = feed["attrs"].get("data-state"), feed["attrs"].get("data-count")
    problem = None
    if state != "done":
        problem = f"state {state!r}, not 'done'"
    elif count != str(len(feed["items"])):
        problem = f"data-count {count} but {len(feed['items'])} items"
    else:
        problem = check(feed, body)
    if problem:
        print(f"FAIL #{feed_id} (/{route}): {problem}")
        failed = True
    else:
        print(f"ok   #{feed_id} (/{route}): {count} items, {state}, same as curl")
sys.exit(1 if failed else 0)
EOF
