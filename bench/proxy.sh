#!/usr/bin/env bash
# Throughput through the fault proxy with no toxic, against a direct loopback connection, measured
# in the same invocation (release build). One server uploads to and downloads from the same client
# code over both paths, MIB mebibytes per transfer, ROUNDS times per path and direction, in
# alternating order; each rate is the median of its rounds. Prints one JSON line with the rates,
# every round, the CPU time per GiB of each path, and the ratio (the lower of the two directions'
# proxy/direct ratios); the target is ratio >= 0.7. Exits 1 if the ratio misses the target.
#
#   bash bench/proxy.sh                     # 512 MiB per transfer, 9 rounds
#   MIB=1024 ROUNDS=5 bash bench/proxy.sh
#   SOCKET_BUFFER=0 bash bench/proxy.sh     # the proxy with the kernel's autotuned buffers
#
# The client, the server and the proxy share the machine's cores: on a machine busy with other
# work the rates move from run to run, and the CPU time per GiB is the steadier figure.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p shakedown-proxy --example proxy_throughput
line=$(target/release/examples/proxy_throughput)
echo "$line"
case "$line" in *'"pass":true'*) ;; *) exit 1 ;; esac
