#!/usr/bin/env bash
# The cluster's figures (docs/performance.md, "Scale-out"): a gen_world world of SIZE in
# PostgreSQL, 3 replicas and HAProxy (scripts/cluster.sh), then: the initial load of each replica
# (from its log), write-to-visible latency on every replica and the feed's changes/s
# (bench/bench_cluster), and decisions/s through the proxy (bench/loadgen, /v1/decide/batch and
# AuthZEN evaluations). Prints JSON lines and appends them to bench/results-cluster.jsonl.
#   scripts/bench_cluster.sh [S|M|L] [BUILD_DIR]   (default M, build-bench: Release)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-M}
bdir=${2:-build-bench}
if [ ! -f "$bdir/build.ninja" ]; then
  cmake -S . -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTREATY_BUILD_BENCH=ON -DTREATY_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$bdir" -j2 --target treaty bench_cluster loadgen gen_world >/dev/null
case $size in S) n=100 ;; M) n=2000 ;; L) n=25000 ;; *) echo "bench_cluster: unknown size $size" >&2; exit 2 ;; esac
worlds=$bdir/worlds
mkdir -p "$worlds"
if [ ! -s "$worlds/$size.json" ]; then
  "$bdir/bench/gen_world" --accounts "$n" --seed 42 --facts "$worlds/$size.json" --requests "$worlds/$size.jsonl" --count 20000
fi
commit=$(git rev-parse --short HEAD)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() {
  local load ports first
  # Initial load of each replica, as it logged it.
  for f in "$TREATY_CLUSTER_DIR"/replica-*.log; do
    load=$(sed -n 's/.*loaded \([0-9]*\) entities of \([0-9]*\) tables from PostgreSQL in \([0-9]*\) ms.*/\1 \3/p' "$f")
    first=$(sed -n 's/.*the facts from PostgreSQL are served: \([0-9]*\) ms.*/\1/p' "$f")
    echo "{\"bench\":\"initial_load\",\"entities\":${load% *},\"read_ms\":${load#* },\"served_after_ms\":$first}"
  done
  "$bdir/bench/bench_cluster" --pg "$TREATY_PG_URL" --replicas "$TREATY_REPLICAS" --writes 200 --batches 20 --rows 1000
  local port=${TREATY_PROXY##*:}
  # Decisions through the proxy: streamed batches of 20,000, and single /v1/decide requests.
  "$bdir/bench/loadgen" --port "$port" --path /v1/decide/batch --bodies "$worlds/$size.jsonl" --whole-file \
    --content-type application/x-ndjson --decisions-per-request 20000 --connections 3 --seconds 5 |
    sed 's/^{/{"bench":"proxy_decide_batch",/'
  head -2000 "$worlds/$size.jsonl" >"$TREATY_CLUSTER_DIR/one.jsonl"
  "$bdir/bench/loadgen" --port "$port" --path /v1/decide --bodies "$TREATY_CLUSTER_DIR/one.jsonl" --connections 8 --seconds 5 |
    sed 's/^{/{"bench":"proxy_decide",/'
}
export -f run
export bdir worlds size
bash scripts/cluster.sh --treaty "$bdir/treaty" --data "$worlds/$size.json" --replicas 3 -- bash -c run | tee "$out"
sed "s/^{/{\"size\":\"$size\",\"commit\":\"$commit\",/" "$out" >>bench/results-cluster.jsonl
