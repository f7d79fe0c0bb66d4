#!/usr/bin/env bash
# Peak memory of `shakedown hit` (maximum resident set size, from `/usr/bin/time -v`) against
# nginx on loopback (Debian package, one worker, a tiny static response), release build:
#
#   1. SMALL (default 200,000) and LARGE (default 2,000,000) requests at full speed, 50
#      connections: the peak must not grow with the number of requests (goal: within 10 MB);
#   2. CONNS (default 10,000) concurrent keep-alive connections for HOLD (default 10s), one
#      virtual user each (goal: under 150 MB).
#
# Prints one JSON line per measurement. nginx and GNU time are installed with apt-get if
# missing; nginx is started here on a free port and stopped at the end. The open-file limit is
# raised to what the connections need (both processes hold one descriptor per connection).
#
#   bash bench/memory.sh
#   SMALL=100000 LARGE=1000000 CONNS=5000 bash bench/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=${SMALL:-200000}
LARGE=${LARGE:-2000000}
CONNS=${CONNS:-10000}
HOLD=${HOLD:-10s}

if ! command -v nginx >/dev/null || [ ! -x /usr/bin/time ]; then
  apt-get install -y -q nginx time >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
FILES=$((CONNS * 2 + 1024))
ulimit -n "$FILES" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((CONNS + 256)) ]; then
  echo "the open-file limit ($(ulimit -n)) is too low for $CONNS connections" >&2
  exit 1
fi
cargo build --release -q -p shakedown
BIN=target/release/shakedown

# shellcheck source=bench/nginx.sh
source bench/nginx.sh
# Twice the connections: an nginx at its worker_connections limit closes idle keep-alive
# connections to reuse their slots, and the clients that lose them reconnect and keep it there
# (10,512 slots for 10,000 connections: 72k connects and thousands of resets in 10 s; 20,512:
# exactly 10,000 connects). That would measure nginx's limit, not the client.
start_nginx $((CONNS * 2))

# measure NAME ARGS...: run `hit ARGS --json` under GNU time; one JSON line with the peak RSS.
measure() {
  local name=$1
  shift
  /usr/bin/time -v -o "$WORK/time.txt" "$BIN" hit "$URL" "$@" --json >"$WORK/hit.json"
  python3 - "$name" "$WORK/time.txt" "$WORK/hit.json" "$*" <<'PY'
import json, re, sys
name, time_file, hit_file, args = sys.argv[1:]
rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(time_file).read()).group(1))
hit = json.load(open(hit_file))
print(json.dumps({"measurement": name, "args": args, "peak_rss_mb": round(rss_kb / 1024, 1),
  "requests": hit["requests"], "failures": hit["failures"], "errors": hit["errors"],
  "requests_per_second": round(hit["requests_per_second"], 1)}))
PY
}

measure "requests_$SMALL" -c 50 -n "$SMALL" | tee "$WORK/small.json"
measure "requests_$LARGE" -c 50 -n "$LARGE" | tee "$WORK/large.json"
python3 - "$WORK/small.json" "$WORK/large.json" <<'PY'
import json, sys
small, large = (json.load(open(p)) for p in sys.argv[1:])
growth = round(large["peak_rss_mb"] - small["peak_rss_mb"], 1)
print(json.dumps({"comparison": "peak_rss_growth", "small_requests": small["requests"],
  "large_requests": large["requests"], "growth_mb": growth, "pass": growth <= 10.0}))
PY
measure "keepalive_connections_$CONNS" -c "$CONNS" -d "$HOLD" --timeout 60s | tee "$WORK/conns.json"
python3 - "$WORK/conns.json" "$CONNS" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(json.dumps({"comparison": "keepalive_connections", "connections": int(sys.argv[2]),
  "peak_rss_mb": m["peak_rss_mb"], "errors": m["errors"],
  "pass": m["peak_rss_mb"] < 150.0 and m["errors"] == 0}))
PY
