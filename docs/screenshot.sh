#!/usr/bin/env bash
# Render the report.html of a demo run to a PNG with headless Chromium, in a real browser, and
# check the DOM Chromium built: the verdict header and one section per check. Not part of CI (CI
# must not depend on a browser); the Rust tests check the same DOM by parsing the page.
#
#   bash docs/screenshot.sh                          # demo --defect stuck-on-restart
#   bash docs/screenshot.sh slow-under-load out.png  # another defect, another file
#   bash docs/screenshot.sh none                     # the clean demo
#
# Needs Chromium (Debian: apt-get install -y chromium). Prints the PNG's path and the verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
defect=${1:-stuck-on-restart}
out=${2:-target/screenshots/report-$defect.png}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "install Chromium first: apt-get install -y chromium" >&2; exit 2; }

cargo build -q -p shakedown
bin=target/debug/shakedown
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$(dirname "$out")"

args=(demo --out "$work/run" --no-progress)
[ "$defect" = none ] || args+=(--defect "$defect")
set +e
"$bin" "${args[@]}" >"$work/demo.out" 2>"$work/demo.err"
code=$?
set -e
echo "shakedown ${args[*]}: exit $code"
[ -f "$work/run/report.html" ] || { cat "$work/demo.err" >&2; exit 1; }

# A fresh profile, and nothing that would reach the network on its own.
chrome=("$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --user-data-dir="$work/profile" --hide-scrollbars)
"${chrome[@]}" --window-size=1280,2600 --screenshot="$out" "file://$work/run/report.html" \
  2>"$work/chrome.err" || { cat "$work/chrome.err" >&2; exit 1; }
"${chrome[@]}" --dump-dom "file://$work/run/report.html" >"$work/dom.html" 2>>"$work/chrome.err"

verdict=$(grep -o 'data-verdict="[^"]*"' "$work/dom.html" | head -n1 | cut -d'"' -f2)
[ -n "$verdict" ] || { echo "no verdict in the DOM Chromium built" >&2; exit 1; }
checks=$(python3 - "$work/run/report.json" "$work/dom.html" <<'PY'
import json, re, sys
report = json.load(open(sys.argv[1]))
dom = open(sys.argv[2]).read()
found = re.findall(r'<section class="check" id="[^"]*" data-check="([^"]*)" data-status="([^"]*)"', dom)
want = [(c["id"], c["status"]) for c in report["checks"]]
if found != want:
    sys.exit(f"sections {found} do not match the report's checks {want}")
print(" ".join(f"{i}={s}" for i, s in found))
PY
)
echo "verdict $verdict; checks $checks"
echo "screenshot: $out"
