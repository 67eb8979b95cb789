#!/usr/bin/env bash
# Benchmarks `treaty diff` (issue 25's target: a change to one rule or to one trust option on the
# L world reports in under 10 s), on the 4me world SIZE of bench/gen_world (default L), Release:
#   - one rule: the forbid ci_financials_stay_with_the_owner made `unless p.account == c.owner`
#     (from `unless has_any_role(p, c.owner)`);
#   - one trust option: the trust a0-a8 also gets approval_tasks_to_anyone (OLD and NEW data).
# Each run is bounded by TIMEOUT seconds (default 300; a run past it is recorded as such). Every
# figure is the command's own: wall and user seconds and peak memory from /usr/bin/time, and its
# -v stage times (load, diff). Appends one JSON line a change to bench/results-diff.jsonl.
# Usage: scripts/bench_diff.sh [SIZE] [TIMEOUT]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-L}
limit=${2:-300}
source scripts/bench_lib.sh
bench_build treaty gen_world
bench_world "$size"
out=bench/results-diff.jsonl
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

# One rule.
mkdir -p "$work/new"
cp -r policies/4me/lib "$work/new/lib"
python3 - "$work/new/lib/cis.treaty" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
old = "  unless has_any_role(p, c.owner)\n  when p.account != c.owner;"
assert old in s, "bench_diff: the rule to change is not in cis.treaty any more"
open(p, "w").write(s.replace(old, "  unless p.account == c.owner\n  when p.account != c.owner;"))
PY
# One trust option.
python3 - "$data/$size.json" "$work/trust.json" <<'PY'
import sys
src, dst = sys.argv[1:3]
s = open(src).read()
old = '{"type":"Trust","id":"a0-a8","attrs":{"grantor":"a0","grantee":"a8","accepted":true,"options":["register_requests_for_specialists"]'
assert s.count(old) == 1, "bench_diff: the trust a0-a8 is not as expected in the world"
open(dst, "w").write(s.replace(old, old.replace('["register_requests_for_specialists"]',
                                                '["approval_tasks_to_anyone","register_requests_for_specialists"]')))
PY

run() {  # NAME ARGS...: one timed `treaty -v diff`
  local name=$1
  shift
  local rc=0
  /usr/bin/time -o "$work/time" -f '%e %U %M' timeout "$limit" "$dir/treaty" -v diff "$@" --format json \
    >"$work/out.json" 2>"$work/err" || rc=$?
  read -r wall user kb < <(tail -1 "$work/time") || true  # after "Command exited with non-zero status N"
  local load diff changed
  load=$(grep -o 'load: done in [0-9.]* ms' "$work/err" | grep -o '[0-9.]*' || echo null)
  diff=$(grep -o 'diff: [0-9]* decisions differ in [0-9.]* ms' "$work/err" | grep -o '[0-9.]* ms' | grep -o '[0-9.]*' || echo null)
  changed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["changed"])' "$work/out.json" 2>/dev/null || echo null)
  # diff's exit status: 0 no change, 1 changes found; timeout's 124: past the limit.
  local status=done
  [ "$rc" = 124 ] && status="timed out after $limit s"
  [ "$rc" != 0 ] && [ "$rc" != 1 ] && [ "$rc" != 124 ] && { cat "$work/err" >&2; status="failed ($rc)"; }
  echo "{\"commit\": \"$commit\", \"size\": \"$size\", \"change\": \"$name\", \"status\": \"$status\"," \
    "\"wall_s\": ${wall:-null}, \"user_s\": ${user:-null}, \"peak_kb\": ${kb:-null}, \"load_ms\": ${load:-null}," \
    "\"diff_ms\": ${diff:-null}, \"changed\": ${changed:-null}}" | tee -a "$out"
}

run "one rule (ci_financials_stay_with_the_owner)" policies/4me/lib "$work/new/lib" --data "$data/$size.json"
run "one trust option (a0-a8 approval_tasks_to_anyone)" policies/4me/lib policies/4me/lib \
  --old-data "$data/$size.json" --new-data "$work/trust.json"
echo "bench_diff: appended to $out" >&2
