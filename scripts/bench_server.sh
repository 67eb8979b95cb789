#!/usr/bin/env bash
# Benchmarks `treaty serve` against a Boost.Beast echo server (the transport baseline), all in one
# run on the same world and queries (the 4me worlds of bench/gen_world), over loopback:
#   - AuthZEN /access/v1/evaluation at 1, 8 and 64 connections, against echo of the same bodies;
#   - /access/v1/evaluations and /v1/decide/batch: decisions per second in large batches;
#   - `treaty eval --requests` JSON Lines (JSON output, no explain) on one core.
# Writes bench/results-server.jsonl (one JSON line per measurement).
# Usage: [ROUNDS=3] scripts/bench_server.sh [SIZES] [SECONDS]   SIZES: comma list of M, L (default M)
# (SECONDS of load a measurement; the AuthZEN measurements at 1, 8 and 64 connections alternate
# with the echo's ROUNDS times each, and a line "... against echo" gives the median ratios.)
# Set TREATY_BUILD_DIR to reuse a build (default build-bench, Release).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-M}
secs=${2:-3}
rounds=${ROUNDS:-3}
source scripts/bench_lib.sh
bench_build treaty gen_world loadgen echo_server
out=bench/results-server.jsonl
: >"$out"
stop_last() { local p=${pids[-1]}; kill "$p"; wait "$p" || true; unset 'pids[-1]'; }
record() { echo "{\"size\": \"$1\", \"what\": \"$2\", \"result\": $3}" | tee -a "$out"; }

for s in ${sizes//,/ }; do
  bench_world "$s"
  # The same queries as AuthZEN bodies: principal -> subject, args -> properties.
  sed -e 's/"principal":/"subject":/' -e 's/"args":/"properties":/' "$data/$s.jsonl" >"$work/authzen.jsonl"
  # Batches: 5,000 AuthZEN evaluations a request; the 20,000 native requests as one JSON Lines body.
  split -l 5000 "$work/authzen.jsonl" "$work/az."
  for f in "$work"/az.*; do echo "{\"evaluations\":[$(paste -sd, "$f")]}"; done >"$work/evaluations.jsonl"
  lines=$(wc -l <"$data/$s.jsonl")

  # Both servers run at once and are measured in turns, echo then treaty, ROUNDS times at each
  # connection count: the host's speed drifts (the echo itself moved from 62k to 76k requests/s
  # between two runs), so each ratio compares neighbours in time, and the summary line takes the
  # median of the rounds' ratios.
  start "$dir/bench/echo_server" --listen-port 0 --threads 2
  eport=$port
  start "$dir/treaty" serve --bundle "$data/$s.bundle" --listen 127.0.0.1:0 --threads 2 --watch-interval-ms 0
  tport=$port
  for c in 1 8 64; do
    ratios=()
    for r in $(seq "$rounds"); do
      e=$("$dir/bench/loadgen" --port "$eport" --path /echo --bodies "$work/authzen.jsonl" --connections $c --seconds "$secs")
      record "$s" "echo c=$c round $r" "$e"
      t=$("$dir/bench/loadgen" --port "$tport" --path /access/v1/evaluation --bodies "$work/authzen.jsonl" --connections $c --seconds "$secs")
      record "$s" "authzen evaluation c=$c round $r" "$t"
      ratios+=("$(python3 -c 'import json, sys; e, t = json.loads(sys.argv[1]), json.loads(sys.argv[2]); print(t["requests_per_s"] / e["requests_per_s"], t["p50_us"] / e["p50_us"])' "$e" "$t")")
    done
    record "$s" "authzen evaluation c=$c against echo" "$(printf '%s\n' "${ratios[@]}" | python3 -c '
import json, statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
print(json.dumps({"rounds": len(rows), "throughput_ratio_median": round(statistics.median(r[0] for r in rows), 3),
                  "p50_ratio_median": round(statistics.median(r[1] for r in rows), 3),
                  "throughput_ratios": [round(r[0], 3) for r in rows], "p50_ratios": [round(r[1], 3) for r in rows]}))')"
  done
  record "$s" "authzen evaluations (5000 a request) c=2" "$("$dir/bench/loadgen" --port "$tport" --path /access/v1/evaluations --bodies "$work/evaluations.jsonl" --connections 2 --seconds "$secs" --decisions-per-request 5000)"
  record "$s" "native decide/batch ($lines a request) c=2" "$("$dir/bench/loadgen" --port "$tport" --path /v1/decide/batch --bodies "$data/$s.jsonl" --whole-file --content-type application/x-ndjson --connections 2 --seconds "$secs" --decisions-per-request "$lines")"
  stop_last
  stop_last

  # treaty eval --requests, JSON out, no explain, on one core: a million requests (the queries
  # 50 times over), timed by treaty itself (-v: reading the file and answering every line, not
  # loading the bundle). Three runs; the record is the median.
  for _ in $(seq 50); do cat "$data/$s.jsonl"; done >"$work/many.jsonl"
  n=$(wc -l <"$work/many.jsonl")
  ms=$(for _ in 1 2 3; do
    "$dir/treaty" -v eval --bundle "$data/$s.bundle" --requests "$work/many.jsonl" --format json 2>&1 >/dev/null |
      sed -n 's/.*evaluate: [0-9]* requests in \([0-9.]*\) ms.*/\1/p'
  done | sort -n | sed -n 2p)
  record "$s" "eval --requests json" "{\"requests\": $n, \"milliseconds\": $ms, \"decisions_per_s\": $(awk -v n="$n" -v ms="$ms" 'BEGIN { printf "%.0f", n / (ms / 1000) }')}"
done
echo "bench_server: wrote $out" >&2
