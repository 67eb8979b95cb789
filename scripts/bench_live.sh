#!/usr/bin/env bash
# Live facts benchmarks (bench/bench_live.cpp) on a synthetic 4me world: write throughput in
# batches of 1, 100 and 10,000 upserts (durable and in memory), decision p50/p99 idle and under
# 10,000 upserts/s in the same run, acknowledgement to visible, and resident memory after
# UPDATES updates of the same 100,000 persons. Prints JSON lines and appends them to
# bench/results-live.jsonl. Usage: scripts/bench_live.sh [S|M|L] [UPDATES]  (default L, 10000000)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-L}
updates=${2:-10000000}
dir=build-bench
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTREATY_BUILD_BENCH=ON -DTREATY_BUILD_TESTS=OFF >/dev/null
cmake --build "$dir" -j2 --target bench_live gen_world >/dev/null
case $size in S) n=100 ;; M) n=2000 ;; L) n=25000 ;; *) echo "bench_live: unknown size $size" >&2; exit 2 ;; esac
data=$dir/worlds
mkdir -p "$data"
if [ ! -s "$data/$size.json" ]; then
  "$dir/bench/gen_world" --accounts "$n" --seed 42 --facts "$data/$size.json" --requests "$data/$size.jsonl" --count 20000
fi
state=$(mktemp -d "${TMPDIR:-/tmp}/treaty_bench_live.XXXXXX")
trap 'rm -rf "$state"' EXIT
"$dir/bench/bench_live" "$data/$size.json" "$data/$size.jsonl" "$state/s" "$updates" | tee /dev/stderr |
  sed "s/^{/{\"size\":\"$size\",\"commit\":\"$(git rev-parse --short HEAD)\",/" >>bench/results-live.jsonl
