#!/usr/bin/env bash
# Rate accuracy of the open model: `shakedown hit --rate R` for DURATION (default 10s) against
# nginx on loopback (Debian package, one worker, a tiny static response), for each R in RATES
# (default 5000 10000 20000). Prints one JSON line per rate: the target, the achieved rate
# (requests over the measured elapsed time), its error, and `dropped` (sends that could not start on time). The
# goal: within 1% of the target with nothing dropped, up to 20,000 requests/s. Release build.
#
#   bash bench/rate.sh
#   RATES="1000 20000" DURATION=5s bash bench/rate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=${RATES:-"5000 10000 20000"}
DURATION=${DURATION:-10s}

if ! command -v nginx >/dev/null; then
  apt-get install -y -q nginx >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release -q -p shakedown
BIN=target/release/shakedown

# shellcheck source=bench/nginx.sh
source bench/nginx.sh
start_nginx 4096

for rate in $RATES; do
  # In-flight bound: a tenth of a second's worth of requests, at least 100.
  conns=$(( rate / 10 > 100 ? rate / 10 : 100 ))
  "$BIN" hit "$URL" --rate "$rate" -d "$DURATION" -c "$conns" --json >"$WORK/out.json"
  python3 - "$rate" "$DURATION" "$WORK/out.json" <<'PY'
import json, sys
rate, path = int(sys.argv[1]), sys.argv[3]
out = json.load(open(path))
# The measured rate: requests over the run's own elapsed time, not the schedule.
achieved = out["requests_per_second"]
error = (achieved - rate) / rate
dropped = out.get("dropped") or 0
print(json.dumps({"bench": "rate_accuracy", "target_rps": rate, "requests": out["requests"],
                  "achieved_rps": round(achieved, 1), "error": round(error, 5),
                  "dropped": dropped, "pass": abs(error) <= 0.01 and dropped == 0}))
PY
done
