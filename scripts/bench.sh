#!/usr/bin/env bash
# Builds the benchmarks (Release) into build-bench/, generates the synthetic 4me worlds and runs
# every suite, writing bench/results.json (Google Benchmark's JSON) for later comparison.
# Usage: scripts/bench.sh [SIZES]   SIZES: a comma list of S, M, L (default S,M; L is 25,000
# accounts, about a million persons, and needs several GB of memory and minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-S,M}
dir=build-bench
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTREATY_BUILD_BENCH=ON -DTREATY_BUILD_TESTS=OFF >/dev/null
cmake --build "$dir" -j2 >/dev/null
data=$dir/worlds
mkdir -p "$data"
rm -f "$data/compile_load.jsonl"
spec=
for s in ${sizes//,/ }; do
  case $s in S) n=100 ;; M) n=2000 ;; L) n=25000 ;; *) echo "bench: unknown size $s" >&2; exit 2 ;; esac
  if [ ! -s "$data/$s.json" ]; then
    echo "bench: generating $s ($n accounts)" >&2
    "$dir/bench/gen_world" --accounts "$n" --seed 42 --facts "$data/$s.json" --requests "$data/$s.jsonl" --count 20000
  fi
  spec="${spec:+$spec,}$s=$data/$s.json:$data/$s.jsonl"
  # Compile and load as separate processes: wall time and peak resident memory of each.
  /usr/bin/time -f "%e %M" -o "$data/$s.compile.time" "$dir/treaty" compile policies/4me/lib --data "$data/$s.json" -o "$data/$s.bundle" 2>/dev/null
  head -1 "$data/$s.jsonl" >"$data/$s.one.jsonl"
  /usr/bin/time -f "%e %M" -o "$data/$s.load.time" "$dir/treaty" eval --bundle "$data/$s.bundle" --requests "$data/$s.one.jsonl" >/dev/null
  /usr/bin/time -f "%e %M" -o "$data/$s.empty.time" "$dir/treaty" --version >/dev/null
  facts=$(grep -o '"type":' "$data/$s.json" | wc -l)
  read -r ct cm <"$data/$s.compile.time"
  read -r lt lm <"$data/$s.load.time"
  read -r _ em <"$data/$s.empty.time"
  echo "{\"size\": \"$s\", \"facts\": $facts, \"compile_s\": $ct, \"compile_peak_kb\": $cm, \"load_s\": $lt, \"load_peak_kb\": $lm, \"resident_bytes_per_fact\": $(( (lm - em) * 1024 / facts ))}" >>"$data/compile_load.jsonl"
done
# The default sizes write bench/results.json and bench/results-compile-load.jsonl; other size
# lists write bench/results-<sizes>.json and bench/results-compile-load-<sizes>.jsonl.
suffix=
[ "$sizes" = "S,M" ] || suffix="-${sizes//,/}"
cp "$data/compile_load.jsonl" "bench/results-compile-load$suffix.jsonl"
# Three repetitions of every benchmark in random order: the hash-probe baseline and the
# decisions are measured in alternating slices, so the ratio holds even when the shared host's
# caches are busier in one slice than another. Read the *_median rows.
shift || true
TREATY_BENCH_WORLDS=$spec "$dir/bench/bench_decide" --benchmark_min_time=0.5 \
  --benchmark_repetitions=3 --benchmark_enable_random_interleaving=true \
  --benchmark_out="bench/results$suffix.json" --benchmark_out_format=json "$@"
