#!/usr/bin/env bash
# The soak test (docs/reliability.md; not in CI's default run): `treaty serve` on the 4me M world
# at 80% of the peak it reaches here, for MINUTES (default 10), with decisions, writes and reloads
# mixed:
#   - decisions: bench/loadgen, 8 connections, AuthZEN /access/v1/evaluation, paced to 80% of the
#     peak measured first, each answer checked against the reference run (`treaty eval` of the same
#     requests on the same world, before the server starts): 0 failed and 0 wrong;
#   - writes: batches of 100 upserts ten times a second (1,000 upserts/s) through POST /v1/facts,
#     each an entity of the world replaced by its own facts, so every decision keeps its reference
#     answer while indexes, revisions and old versions churn; every batch must be acknowledged;
#   - reloads: POST /v1/admin/reload every 30 s; each must succeed (the written facts are kept);
#   - memory: the server's resident memory sampled every 5 s; the median of the last minute over
#     the median of the first minute after the warm-up (the second minute) must be under 1.05
#     (a median, because a reload holds two engines for its second or two; the largest sample of
#     each of those minutes is reported beside it).
# Writes bench/results-soak.json and fails when any check fails. With SOAK_FROM=bundle the server
# loads the world's bundle instead (its writes stay a layer over the bundle's world, applied again
# as their net state at each reload; docs/server.md) and the results go to
# bench/results-soak-bundle.json.
# Usage: [SOAK_FROM=sources|bundle] scripts/soak.sh [MINUTES]. Set TREATY_BUILD_DIR to reuse a
# build (default build-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
source scripts/bench_lib.sh
bench_build treaty gen_world loadgen
from=${SOAK_FROM:-sources}
case $from in
  sources) out=bench/results-soak.json ;;
  bundle) out=bench/results-soak-bundle.json ;;
  *) echo "soak: SOAK_FROM is sources or bundle, not $from" >&2; exit 2 ;;
esac
bench_world M
sed -e 's/"principal":/"subject":/' -e 's/"args":/"properties":/' "$data/M.jsonl" >"$work/authzen.jsonl"
# The server loads the library and the world's facts, or the bundle of both (SOAK_FROM). The
# reference run: each request decided by `treaty eval` on the same package and facts, in process.
pkg=(policies/4me/lib --data "$data/M.json")
served=("${pkg[@]}")
[ "$from" = bundle ] && served=(--bundle "$data/M.bundle")
"$dir/treaty" eval "${pkg[@]}" --requests "$data/M.jsonl" --format json |
  sed -e 's/^{"decision":"allow".*/true/' -e 's/^{"decision":"deny".*/false/' >"$work/expect.txt"
[ "$(wc -l <"$work/expect.txt")" = "$(wc -l <"$data/M.jsonl")" ] || { echo "soak: the reference run failed" >&2; exit 1; }
! grep -qv '^true$\|^false$' "$work/expect.txt" || { echo "soak: the reference run has errors" >&2; exit 1; }

token=soak-token-0123456789abcdef
echo "$token decide,write,admin" >"$work/tokens"
start "$dir/treaty" serve "${served[@]}" --auth-tokens "$work/tokens" --listen 127.0.0.1:0 --threads 2 \
  --watch-interval-ms 0
server=${pids[-1]}

load=("$dir/bench/loadgen" --port "$port" --path /access/v1/evaluation --bodies "$work/authzen.jsonl"
  --header "Authorization: Bearer $token" --expect "$work/expect.txt" --connections 8)
load+=(--max-requests 1000000000)
peak=$("${load[@]}" --seconds 10)
rate=$(python3 -c "import json,sys; print(int(json.loads(sys.argv[1])['requests_per_s'] * 0.8))" "$peak")
echo "soak: peak $(python3 -c "import json,sys; print(json.loads(sys.argv[1])['requests_per_s'])" "$peak") requests/s; soaking at $rate for $minutes min" >&2

"${load[@]}" --seconds "$((minutes * 60))" --rate "$rate" >"$work/load.json" &
loader=$!
pids+=($loader)
python3 - "$port" "$token" "$data/M.json" "$server" "$((minutes * 60))" "$work/side.json" <<'PY'
import http.client, json, random, sys, time
port, token, world, pid, seconds, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
entities = json.load(open(world))["entities"]
rng = random.Random(7)
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
slowest = {"/v1/facts": 0.0, "/v1/admin/reload": 0.0}
def post(path, body):
    """(status, body); status 0 when the request failed (a timeout, a closed connection)."""
    global conn
    t = time.monotonic()
    try:
        conn.request("POST", path, body=body, headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        r = conn.getresponse()
        out = r.status, r.read()
    except (OSError, http.client.HTTPException) as e:
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        out = 0, repr(e).encode()
    slowest[path] = max(slowest[path], time.monotonic() - t)
    return out
def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
t0 = time.monotonic()
writes = write_errors = upserts = reloads = reload_errors = 0
last_revision = 0
samples, errors = [], []
next_write = next_reload = next_sample = t0
while time.monotonic() - t0 < seconds:
    now = time.monotonic()
    if now >= next_write:
        batch = {"upsert": rng.sample(entities, 100)}
        status, body = post("/v1/facts", json.dumps(batch))
        writes += 1
        upserts += 100
        if status != 200:
            write_errors += 1
            errors.append(f"write {writes}: {status} {body[:200]!r}")
        else:
            rev = json.loads(body)["revision"]
            if rev <= last_revision:
                write_errors += 1
                errors.append(f"write {writes}: revision {rev} after {last_revision}")
            last_revision = rev
        next_write += 0.1
    if now >= next_reload:
        if now > t0:
            status, body = post("/v1/admin/reload", "")
            reloads += 1
            if status != 200:
                reload_errors += 1
                errors.append(f"reload {reloads}: {status} {body[:200]!r}")
        next_reload += 30
    if now >= next_sample:
        samples.append((round(now - t0, 1), rss_kb()))
        next_sample += 5
    time.sleep(max(0.0, min(next_write, next_reload, next_sample) - time.monotonic()))
json.dump({"writes": writes, "write_errors": write_errors, "upserts": upserts, "last_revision": last_revision,
           "reloads": reloads, "reload_errors": reload_errors, "slowest_write_s": round(slowest["/v1/facts"], 3),
           "slowest_reload_s": round(slowest["/v1/admin/reload"], 3), "rss_kb": samples, "errors": errors[:20]},
          open(out, "w"))
PY
wait "$loader" || true
unset 'pids[-1]'
python3 - "$work/load.json" "$work/side.json" "$peak" "$rate" "$minutes" "$out" "$from" <<'PY'
import json, statistics, sys
load, side, peak = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), json.loads(sys.argv[3])
rate, minutes, out = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
rss = side.pop("rss_kb")
warm = [kb for t, kb in rss if 60 <= t < 120] or [kb for _, kb in rss[:2]]
last = [kb for t, kb in rss if t >= rss[-1][0] - 60]
growth = statistics.median(last) / statistics.median(warm)
result = {"served_from": sys.argv[7], "minutes": minutes, "peak_requests_per_s": peak["requests_per_s"], "paced_requests_per_s": rate,
          "decisions": load["requests"], "achieved_requests_per_s": load["requests_per_s"],
          "failed": load["failed"], "wrong": load["wrong"], "p50_us": load["p50_us"], "p99_us": load["p99_us"],
          **side, "rss_first_minute_mb": round(statistics.median(warm) / 1024, 1),
          "rss_last_minute_mb": round(statistics.median(last) / 1024, 1), "rss_growth": round(growth, 4),
          "rss_first_minute_max_mb": round(max(warm) / 1024, 1), "rss_last_minute_max_mb": round(max(last) / 1024, 1),
          "rss_samples_mb": [round(kb / 1024, 1) for _, kb in rss]}
ok = (load["failed"] == 0 and load["wrong"] == 0 and side["write_errors"] == 0 and side["reload_errors"] == 0
      and growth < 1.05 and load["requests"] > 0)
result["passed"] = ok
json.dump(result, open(out, "w"), indent=1)
print(json.dumps({k: v for k, v in result.items() if k != "rss_samples_mb"}))
sys.exit(0 if ok else 1)
PY
