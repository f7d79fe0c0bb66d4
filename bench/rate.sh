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

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/body;
  proxy_temp_path $WORK/proxy;
  fastcgi_temp_path $WORK/fastcgi;
  uwsgi_temp_path $WORK/uwsgi;
  scgi_temp_path $WORK/scgi;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$PORT;
    location / { return 200 "ok\n"; }
  }
}
CONF
"$NGINX" -c "$WORK/nginx.conf" -p "$WORK" &
NGINX_PID=$!
trap 'kill $NGINX_PID 2>/dev/null; wait $NGINX_PID 2>/dev/null; rm -rf "$WORK"' EXIT
URL="http://127.0.0.1:$PORT/"
for _ in $(seq 50); do curl -sf "$URL" >/dev/null 2>&1 && break; sleep 0.1; done

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
