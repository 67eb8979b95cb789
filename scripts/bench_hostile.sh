#!/usr/bin/env bash
# Other clients' latency while hostile clients attack `treaty serve` (the reliability issue): the
# AuthZEN evaluation latency at 8 connections on the 4me M world, quiet and then while
# bench/attack runs 50 clients sending a byte a second, 2,000 idle connections and a client
# sending JSON nested a million deep, pipelined garbage and batches it vanishes in the middle of
# (tests/server/attacks.hpp; tests/server/hostile_test.cpp checks what each is answered). Both
# runs in one process of the server, alternated ROUNDS times; the figure is the ratio of the
# medians of p50 and p99 under attack to quiet. Also the server's peak memory.
# Writes bench/results-hostile.jsonl. Usage: scripts/bench_hostile.sh [SECONDS] [ROUNDS]
# Set TREATY_BUILD_DIR to reuse a build (default build-bench, Release).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-3}
source scripts/bench_lib.sh
bench_build treaty gen_world loadgen attack
out=bench/results-hostile.jsonl
ulimit -n "$(ulimit -Hn)"
bench_world M
sed -e 's/"principal":/"subject":/' -e 's/"args":/"properties":/' "$data/M.jsonl" >"$work/authzen.jsonl"

start "$dir/treaty" serve --bundle "$data/M.bundle" --listen 127.0.0.1:0 --threads 2 --watch-interval-ms 0 \
  --request-timeout-ms 2000 --max-connections 1024
server=${pids[-1]}

load() { "$dir/bench/loadgen" --port "$port" --path /access/v1/evaluation --bodies "$work/authzen.jsonl" --connections 8 --seconds "$secs"; }
: >"$work/runs.jsonl"
for r in $(seq 1 "$rounds"); do
  echo "{\"round\": $r, \"under\": \"quiet\", \"result\": $(load)}" >>"$work/runs.jsonl"
  "$dir/bench/attack" --port "$port" --seconds "$((secs + 2))" --slow 50 --idle 2000 --malformed 1 \
    --request "$(head -1 "$data/M.jsonl")" >"$work/attack.json" &
  attacker=$!
  pids+=($attacker)
  sleep 1.5  # the idle connections are open and the slow ones have begun
  echo "{\"round\": $r, \"under\": \"attack\", \"result\": $(load)}" >>"$work/runs.jsonl"
  wait "$attacker"
  unset 'pids[-1]'
done
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
python3 - "$work/runs.jsonl" "$hwm" "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def med(under, key):
    return statistics.median(r["result"][key] for r in runs if r["under"] == under)
failed = sum(r["result"]["failed"] for r in runs)
summary = {"what": "authzen evaluation c=8 under hostile clients (M world)",
           "quiet_p50_us": med("quiet", "p50_us"), "quiet_p99_us": med("quiet", "p99_us"),
           "attack_p50_us": med("attack", "p50_us"), "attack_p99_us": med("attack", "p99_us"),
           "quiet_requests_per_s": med("quiet", "requests_per_s"), "attack_requests_per_s": med("attack", "requests_per_s"),
           "failed": failed, "server_peak_rss_mb": round(int(sys.argv[2]) / 1024, 1)}
summary["p50_ratio"] = round(summary["attack_p50_us"] / summary["quiet_p50_us"], 2)
summary["p99_ratio"] = round(summary["attack_p99_us"] / summary["quiet_p99_us"], 2)
with open(sys.argv[3], "w") as f:
    for r in runs:
        f.write(json.dumps(r) + "\n")
    f.write(json.dumps(summary) + "\n")
print(json.dumps(summary))
PY
echo "bench_hostile: wrote $out" >&2
