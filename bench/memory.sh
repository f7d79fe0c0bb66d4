#!/usr/bin/env bash
# Memory stays flat however long the run: peak RSS of a 200,000-request run against the
# testbed's health endpoint, next to a 20,000-request run, measured with /usr/bin/time -v in the
# same invocation. Prints one JSON line with both figures and their difference.
#
#   bash bench/memory.sh            # 20,000 vs 200,000 requests
#   SMALL=2000 LARGE=20000 bash bench/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=${SMALL:-20000}
LARGE=${LARGE:-200000}
VUS=${VUS:-32}

command -v /usr/bin/time >/dev/null || { echo "install GNU time: apt-get install -y time" >&2; exit 2; }
cargo build --release -q -p shakedown
bin=target/release/shakedown
work=$(mktemp -d)
trap 'exec 3>&-; wait 2>/dev/null; rm -rf "$work"' EXIT

# The testbed stack, kept alive by an open stdin; closing it stops the stack.
mkfifo "$work/stdin"
"$bin" testbed stack --workers 1 <"$work/stdin" >"$work/stack.out" &
exec 3>"$work/stdin"
for _ in $(seq 1 100); do [ -s "$work/stack.out" ] && break; sleep 0.1; done
api=$(head -n1 "$work/stack.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api"])')

plan() { # $1 = iterations
  cat <<TOML
[plan]
name = "memory-$1"
limits = { duration = "10m", requests = $(( $1 + 1000 )) }

[targets.api]
url = "$api"
health = "GET /health"

[scenarios.health]
steps = [{ name = "health", request = "GET api:/health" }]

[[load]]
id = "H"
scenario = "health"
executor = { vus = { count = $VUS, iterations = $1 } }
thresholds = ["count(requests) == $1"]
TOML
}

measure() { # $1 = iterations -> peak RSS in KiB
  plan "$1" >"$work/plan-$1.toml"
  /usr/bin/time -v "$bin" run "$work/plan-$1.toml" --out "$work/run-$1" --no-progress --quiet \
    >"$work/out-$1" 2>"$work/time-$1" || { cat "$work/out-$1" "$work/time-$1" >&2; exit 1; }
  awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time-$1"
}

small=$(measure "$SMALL")
large=$(measure "$LARGE")
python3 - "$SMALL" "$small" "$LARGE" "$large" <<'PY'
import json, sys
small_n, small_kib, large_n, large_kib = map(int, sys.argv[1:])
print(json.dumps({
    "bench": "memory",
    "small_requests": small_n, "small_peak_rss_mb": round(small_kib / 1024, 1),
    "large_requests": large_n, "large_peak_rss_mb": round(large_kib / 1024, 1),
    "difference_mb": round((large_kib - small_kib) / 1024, 1),
    "within_20_mb": (large_kib - small_kib) / 1024 <= 20,
}))
PY
