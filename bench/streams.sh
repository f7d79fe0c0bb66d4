#!/usr/bin/env bash
# 2,000 concurrent SSE streams against the testbed for 30 s, with the stream check on: 4 runs of
# 50 steps x 600 ms, each followed by 500 readers. Prints one JSON line with the streams checked,
# completed, failed and in violation, and shakedown's peak RSS (from /usr/bin/time -v). The goal
# is no false failure and a peak RSS under 60 MB.
#
#   bash bench/streams.sh
#   RUNS=2 READERS=100 STEP_MS=100 bash bench/streams.sh    # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-4}
READERS=${READERS:-500}
STEPS=${STEPS:-50}
STEP_MS=${STEP_MS:-600}

command -v /usr/bin/time >/dev/null || { echo "install GNU time: apt-get install -y time" >&2; exit 2; }
# Every stream is a socket in shakedown and one in the testbed (each process has its own limit):
# raise the soft limit on open files to the hard one.
ulimit -n "$(ulimit -Hn)"
need=$(( RUNS * READERS + 512 ))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  echo "the open-file limit $(ulimit -n) is below the $need this needs; raise the hard limit" >&2
  exit 2
fi

cargo build --release -q -p shakedown
bin=target/release/shakedown
work=$(mktemp -d)
trap 'exec 3>&-; wait 2>/dev/null; rm -rf "$work"' EXIT

# The testbed stack, kept alive by an open stdin; closing it stops the stack. One worker per run,
# so that every run is in flight (and every stream is open) at the same time.
export TESTBED_PASSWORD="bench-$$"
mkfifo "$work/stdin"
"$bin" testbed stack --workers "$RUNS" --step-ms "$STEP_MS" <"$work/stdin" >"$work/stack.out" &
exec 3>"$work/stdin"
for _ in $(seq 1 100); do [ -s "$work/stack.out" ] && break; sleep 0.1; done
api=$(head -n1 "$work/stack.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api"])')

cat >"$work/plan.toml" <<TOML
[plan]
name = "streams-$((RUNS * READERS))"
limits = { duration = "5m", requests = $(( RUNS * READERS * 4 + 1000 )) }

[secrets]
password = { env = "TESTBED_PASSWORD" }

[targets.api]
url = "$api"
health = "GET /health"
timeout = "2m"

[scenarios.follow]
steps = [
  { name = "login", request = "POST api:/api/v1/auth/login", json = { username = "bench", password = "{{ secrets.password }}" }, capture = { token = "\$.access_token" } },
  { name = "create", request = "POST api:/api/v1/runs", headers = { Authorization = "Bearer {{ token }}" }, json = { kind = "simulate", params = { steps = $STEPS } }, capture = { run_id = "\$.id" }, expect = { status = [201] }, track = { key = "{{ uuid() }}", read = "GET api:/api/v1/runs?key={{ key }}", headers = { Authorization = "Bearer {{ token }}" }, items = "\$.runs[*]", state = "\$.status", terminal = ["completed", "failed"], success = ["completed"] } },
  { name = "events", sse = { request = "GET api:/api/v1/runs/{{ run_id }}/events", headers = { Authorization = "Bearer {{ token }}" }, events = [{ type = "run_started", timeout = "60s" }], terminal = { run_completed = "completed", run_failed = "failed" }, job = "{{ run_id }}", readers = $READERS, idle = "10s", deadline = "3m" } },
]

[[load]]
id = "S"
scenario = "follow"
executor = { rounds = { concurrency = $RUNS, rounds = 1 } }
thresholds = ["count(failures) == 0", "lost == 0", "stuck == 0"]
TOML

set +e
/usr/bin/time -v "$bin" run "$work/plan.toml" --out "$work/run" --no-progress --quiet \
  2>"$work/time.txt"
code=$?
set -e
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
python3 - "$work/run/report.json" "$rss_kb" "$wall" "$code" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
check = report["checks"][0]
streams = check.get("streams") or {}
sse = next((s for s in (check.get("metrics") or {}).get("streams", []) if s["step"] == "events"), {})
print(json.dumps({
    "bench": "sse-streams",
    "streams": streams.get("streams"),
    "completed": streams.get("completed"),
    "failed": streams.get("failed"),
    "violations": sum((streams.get("violations") or {}).values()),
    "step_failures": check["metrics"]["failures"] if check.get("metrics") else None,
    "time_to_final_event_p50_ms": (sse.get("time_to_final_event_ms") or {}).get("p50"),
    "status": check["status"],
    "exit_code": int(sys.argv[4]),
    "wall_clock": sys.argv[3],
    "peak_rss_mb": round(int(sys.argv[2]) / 1024, 1),
    "goal_rss_mb": 60,
}))
PY
