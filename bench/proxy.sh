#!/usr/bin/env bash
# Throughput through the fault proxy with no toxic, against a direct loopback connection, measured
# in the same invocation (release build): a sender streams MIB mebibytes to a sink, ROUNDS times on
# each path, and the best round of each is compared. Prints one JSON line with both rates and
# their ratio; the target is ratio >= 0.7. Exits 1 if the ratio misses the target.
#
#   bash bench/proxy.sh                 # 2048 MiB, 3 rounds per path
#   MIB=512 ROUNDS=5 bash bench/proxy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p shakedown --example proxy_throughput
line=$(target/release/examples/proxy_throughput)
echo "$line"
case "$line" in *'"pass":true'*) ;; *) exit 1 ;; esac
