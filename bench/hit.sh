#!/usr/bin/env bash
# `shakedown hit` against wrk and oha, and `shakedown run` of a one-step plan against `hit`, all
# on the same nginx (Debian package, loopback, one worker, a tiny static response) in the same
# invocation, alternately, PAIRS pairs each (default 5), DURATION each (default 10s), 50
# connections. Prints one JSON line per comparison with both medians and the median of the
# per-pair ratios (shakedown / peer). Release build. nginx and wrk are installed with apt-get and
# oha with `cargo install oha` if missing; nginx is started here on a free port and stopped at the
# end.
#
# Every tool runs at its default, except that wrk is asked for one thread (`-t1`): `hit` and `run`
# send from half the cores when the target is on this machine (one thread on 2 cores), oha from one
# worker per core. Beside them, `hit --threads N` against `wrk -tN` with N the core count: both
# tools on every core, competing with nginx for them.
#
#   bash bench/hit.sh
#   PAIRS=3 DURATION=5s bash bench/hit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-5}
DURATION=${DURATION:-10s}
CONNS=50

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  apt-get install -y -q nginx wrk >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if ! command -v oha >/dev/null; then
  cargo install -q --locked oha
fi
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q -p shakedown
BIN=target/release/shakedown

# shellcheck source=bench/nginx.sh
source bench/nginx.sh
start_nginx 4096

secs=${DURATION%s}
cat >"$WORK/plan.toml" <<PLAN
[plan]
name = "bench-one-step"
limits = { duration = "$((secs + 120))s", requests = 1000000000000 }

[targets.nginx]
url = "http://127.0.0.1:$PORT"

[scenarios.get]
steps = [{ name = "get", request = "GET nginx:/" }]

[[load]]
id = "L1"
scenario = "get"
executor = { vus = { count = $CONNS, duration = "$DURATION" } }
PLAN

hit_rps() { "$BIN" hit "$URL" -c "$CONNS" -d "$DURATION" --json | jq '.requests_per_second'; }
CORES=$(nproc)
hit_all_rps() { "$BIN" hit "$URL" -c "$CONNS" -d "$DURATION" --threads "$CORES" --json | jq '.requests_per_second'; }
wrk_rps() { wrk -t1 -c"$CONNS" -d"$DURATION" "$URL" | awk '/Requests\/sec/ {print $2}'; }
wrk_all_rps() { wrk -t"$CORES" -c"$CONNS" -d"$DURATION" "$URL" | awk '/Requests\/sec/ {print $2}'; }
oha_rps() { oha -z "$DURATION" -c "$CONNS" --no-tui --output-format json "$URL" 2>/dev/null | jq '.summary.requestsPerSec' \
  || oha -z "$DURATION" -c "$CONNS" --no-tui -j "$URL" | jq '.summary.requestsPerSec'; }
run_rps() {
  rm -rf "$WORK/run"
  "$BIN" run "$WORK/plan.toml" --out "$WORK/run" --no-progress -q >/dev/null || true
  jq '.checks[0].metrics.requests_per_second' "$WORK/run/report.json"
}

# compare NAME OURS PEER: PAIRS alternating pairs, one JSON line.
compare() {
  local name=$1 ours=$2 peer=$3 a b
  local -a as=() bs=()
  for _ in $(seq "$PAIRS"); do
    a=$($ours); b=$($peer)
    as+=("$a"); bs+=("$b")
  done
  python3 - "$name" "$PAIRS" "$DURATION" "${as[*]}" "${bs[*]}" <<'PY'
import json, statistics, sys
name, pairs, duration, a, b = sys.argv[1:]
a = [float(x) for x in a.split()]; b = [float(x) for x in b.split()]
print(json.dumps({"comparison": name, "pairs": int(pairs), "duration": duration,
  "connections": 50, "shakedown_rps": a, "peer_rps": b,
  "median_shakedown_rps": statistics.median(a), "median_peer_rps": statistics.median(b),
  "median_ratio": round(statistics.median(x / y for x, y in zip(a, b)), 3)}))
PY
}

compare "hit_vs_wrk_t1" hit_rps wrk_rps
compare "hit_vs_oha" hit_rps oha_rps
compare "run_one_step_vs_hit" run_rps hit_rps
compare "hit_all_cores_vs_wrk_all_cores" hit_all_rps wrk_all_rps
