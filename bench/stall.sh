#!/usr/bin/env bash
# The latency ground truth: `shakedown testbed stall` answers at once but stalls exactly once for
# 1 s. A 10 s open-model run at RATE requests/s (default 1000) must report p99 = 900 ms and
# p99.9 = 990 ms within 5% (the requests whose intended start falls in the stall are one in ten,
# their response times spread evenly from 1000 ms to 0); a closed-model run (50 connections) on
# a fresh stall server is shown beside it. Release build. Prints one JSON line; exits 1 if the
# open-model figures miss.
#
#   bash bench/stall.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-1000}
cargo build --release -q -p shakedown
BIN=target/release/shakedown

serve() {
  coproc STALL { "$BIN" testbed stall --after-ms 4000 --stall-ms 1000 --exit-with-parent 2>/dev/null; }
  read -r line <&"${STALL[0]}"
  URL="http://$(jq -r .listen <<<"$line")/"
}
serve
open=$("$BIN" hit "$URL" --rate "$RATE" -d 10s -c $((RATE * 2)) --json)
kill "$STALL_PID"; wait "$STALL_PID" 2>/dev/null || true
serve
closed=$("$BIN" hit "$URL" -d 10s -c 50 --json)
kill "$STALL_PID"; wait "$STALL_PID" 2>/dev/null || true

python3 - "$RATE" "$open" "$closed" <<'PY'
import json, sys
rate, o, c = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
ok = lambda m, e: abs(m - e) <= 0.05 * e
p99, p999 = o["latency_ms"]["p99"], o["latency_ms"]["p99_9"]
passed = ok(p99, 900.0) and ok(p999, 990.0) and o["dropped"] == 0
print(json.dumps({"comparison": "stall_ground_truth", "rate": rate, "analytic_p99_ms": 900.0,
  "analytic_p99_9_ms": 990.0, "open_p99_ms": p99, "open_p99_9_ms": p999,
  "open_requests": o["requests"], "open_dropped": o["dropped"],
  "open_p99_error": round(p99 / 900.0 - 1, 4), "open_p99_9_error": round(p999 / 990.0 - 1, 4),
  "closed_p99_ms": c["latency_ms"]["p99"], "closed_p99_9_ms": c["latency_ms"]["p99_9"],
  "closed_max_ms": c["latency_ms"]["max"], "closed_requests": c["requests"], "pass": passed}))
sys.exit(0 if passed else 1)
PY
