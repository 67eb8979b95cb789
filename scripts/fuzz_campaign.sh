#!/usr/bin/env bash
# One turn of the fuzzing campaign (fuzz/README.md): runs HARNESS for SECONDS under `nice -n 19`
# (builds of others come first) from its committed corpus, minimizes what it found together with
# that corpus back into fuzz/corpus/HARNESS/ (libFuzzer -merge=1), and adds the turn to
# fuzz/ledger.tsv: cpu_seconds (user + system of the fuzzing run), executions (the inputs run;
# for fuzz_differential the decisions compared) and edges (the coverage, `cov:`, at the end: the
# latest figure, not a sum). A finding (crash, leak, timeout, out-of-memory, broken invariant)
# stops the turn: its input is kept in fuzz/findings/, the harness's findings_open goes up by one,
# and the script fails. Once the bug is fixed and the input is in fuzz/regressions/HARNESS/,
# `scripts/fuzz_campaign.sh --fixed HARNESS` moves one finding from open to fixed.
# Usage: [FUZZ_NO_BUILD=1] scripts/fuzz_campaign.sh HARNESS SECONDS | --fixed HARNESS | --table
set -euo pipefail
cd "$(dirname "$0")/.."
ledger=fuzz/ledger.tsv
header=$'harness\tcpu_seconds\texecutions\tedges\tfindings_fixed\tfindings_open'
[ -f "$ledger" ] || echo "$header" >"$ledger"

# ledger_add HARNESS CPU EXECUTIONS EDGES FIXED OPEN: adds (EDGES replaces when not empty).
ledger_add() {
  python3 - "$ledger" "$@" <<'PY'
import sys
path, h, cpu, ex, edges, fixed, open_ = sys.argv[1:8]
lines = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
head, rows = lines[0], {r[0]: r for r in lines[1:]}
r = rows.get(h, [h, "0", "0", "0", "0", "0"])
r[1] = "%.0f" % (float(r[1]) + float(cpu))
r[2] = str(int(r[2]) + int(ex))
if edges:
    r[3] = edges
r[4] = str(int(r[4]) + int(fixed))
r[5] = str(max(0, int(r[5]) + int(open_)))
rows[h] = r
with open(path, "w") as f:
    f.write("\t".join(head) + "\n")
    for k in sorted(rows):
        f.write("\t".join(rows[k]) + "\n")
PY
}

# --table: the ledger as the Markdown table of fuzz/README.md and docs/reliability.md, with totals.
if [ "${1:-}" = "--table" ]; then
  python3 - "$ledger" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
head, body = rows[0], rows[1:]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for r in body:
    print("| " + " | ".join(r) + " |")
cpu = [int(r[1]) for r in body]
print()
print("%d CPU seconds in all (%.1f CPU-hours); %d to %d a harness (target: 3,600 each); "
      "%d findings fixed, %d open." % (sum(cpu), sum(cpu) / 3600, min(cpu), max(cpu),
                                      sum(int(r[4]) for r in body), sum(int(r[5]) for r in body)))
PY
  exit 0
fi
if [ "${1:-}" = "--fixed" ]; then
  ledger_add "$2" 0 0 "" 1 -1
  exit 0
fi
h=${1:?usage: fuzz_campaign.sh HARNESS SECONDS}
secs=${2:?usage: fuzz_campaign.sh HARNESS SECONDS}
bin=build-san/fuzz/$h
# FUZZ_NO_BUILD=1: use the harness as built (while another build runs in build-san/).
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  if [ ! -d build-san ]; then bash scripts/sanitize-build.sh --target "$h" >/dev/null; fi
  nice -n 5 cmake --build build-san -j2 --target "$h" >/dev/null
fi
# A harness that is not built is a usage error, not a finding: the ledger is left alone.
[ -x "$bin" ] || { echo "campaign: $bin is not built (scripts/sanitize-build.sh --target $h)" >&2; exit 2; }
case $h in
  fuzz_parse | fuzz_check) dict=fuzz/treaty.dict ;;
  fuzz_facts | fuzz_request | fuzz_native) dict=fuzz/json.dict ;;
  fuzz_authzen | fuzz_search) dict=fuzz/authzen.dict ;;
  fuzz_facts_write) dict=fuzz/facts.dict ;;
  fuzz_lsp) dict=fuzz/lsp.dict ;;
  *) dict= ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/new" "$work/seeds" "$work/merged" fuzz/findings "fuzz/corpus/$h"
# Seeds that live elsewhere: the policies for the parser and the checker, bundles for the loader.
case $h in
  fuzz_parse | fuzz_check)
    find policies docs/examples tests/golden fuzz/regressions -name '*.treaty' -exec cp {} "$work/seeds/" \; ;;
  fuzz_bundle)
    "${TREATY:-build-san/treaty}" compile policies/4me -o "$work/seeds/4me.bundle" 2>/dev/null || true
    "${TREATY:-build-san/treaty}" compile policies/bm365 -o "$work/seeds/bm365.bundle" 2>/dev/null || true ;;
esac
args=(-timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="fuzz/findings/$h-")
[ -n "$dict" ] && args+=(-dict="$dict")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
echo "campaign: $h for ${secs}s" >&2
TIMEFORMAT='%U %S'
status=0
{ time nice -n 19 "$bin" "${args[@]}" -max_total_time="$secs" "$work/new" "fuzz/corpus/$h" "$work/seeds" 2>"$work/log" || status=$?; } 2>"$work/time"
read -r user sys <"$work/time"
cpu=$(python3 -c "print($user + $sys)")
execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$work/log" | grep -oE '[0-9]+$' | tail -1 || true)
if [ "$h" = fuzz_differential ]; then
  execs=$(grep -oE 'decisions compared: [0-9]+' "$work/log" | grep -oE '[0-9]+$' | tail -1 || true)
fi
edges=$(grep -oE 'cov: [0-9]+' "$work/log" | grep -oE '[0-9]+$' | tail -1 || true)
cp "$work/log" "fuzz/findings/$h-last.log"
if [ "$status" -ne 0 ]; then
  ledger_add "$h" "$cpu" "${execs:-0}" "${edges:-}" 0 1
  tail -60 "$work/log" >&2
  echo "campaign: $h FOUND something (status $status); input in fuzz/findings/$h-*, log in fuzz/findings/$h-last.log" >&2
  exit 1
fi
# Minimize the corpus and what this turn added into a fresh directory, then replace the corpus.
nice -n 19 "$bin" -merge=1 "${args[@]}" "$work/merged" "fuzz/corpus/$h" "$work/new" "$work/seeds" 2>"$work/merge.log" ||
  { tail -30 "$work/merge.log" >&2; echo "campaign: $h: the merge failed" >&2; exit 1; }
# A corpus is committed: past FUZZ_CORPUS_KB (default 384) KB, its largest inputs are dropped.
limit=${FUZZ_CORPUS_KB:-384}
while [ "$(du -sk --apparent-size "$work/merged" | cut -f1)" -gt "$limit" ]; do
  rm -f "$work/merged/$(ls -S "$work/merged" | head -1)"
done
rm -f fuzz/corpus/"$h"/*
cp "$work/merged"/* "fuzz/corpus/$h/" 2>/dev/null || true
ledger_add "$h" "$cpu" "${execs:-0}" "${edges:-}" 0 0
kb=$(du -sk --apparent-size "fuzz/corpus/$h" | cut -f1)
echo "campaign: $h: ${cpu}s CPU, ${execs:-0} executions, cov ${edges:-?}; corpus $(ls "fuzz/corpus/$h" | wc -l) inputs, ${kb} KB" >&2
grep -E "^$h"$'\t' "$ledger" >&2
