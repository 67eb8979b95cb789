#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan + UBSan) into build-san/ and runs each for
# SECONDS (default 45) on a copy of its seed corpus (fuzz/corpus/HARNESS/, the campaign's
# minimized corpus, plus the policies for the parser and checker and compiled bundles for the
# bundle loader). Fails on any crash, leak, timeout, out-of-memory, broken invariant or sanitizer
# report. Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]
# FUZZ_ROTATE=K (CI): run only K of the harnesses, the ones due this day (a rotation over the
# whole list, K a day), instead of all of them. FUZZ_JOBS=N: harnesses run N at a time (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-45}
shift || true
harnesses=("$@")
all=(fuzz_parse fuzz_check fuzz_facts fuzz_request fuzz_bundle fuzz_authzen fuzz_native fuzz_search
  fuzz_facts_write fuzz_wal fuzz_differential fuzz_lsp)
if [ ${#harnesses[@]} -eq 0 ]; then
  harnesses=("${all[@]}")
  if [ -n "${FUZZ_ROTATE:-}" ] && [ "$FUZZ_ROTATE" -lt ${#all[@]} ]; then
    day=$(($(date +%s) / 86400))
    harnesses=()
    for ((i = 0; i < FUZZ_ROTATE; i++)); do harnesses+=("${all[$(((day * FUZZ_ROTATE + i) % ${#all[@]}))]}"); done
  fi
fi
dir=build-san
bash scripts/sanitize-build.sh --target "${harnesses[@]}" treaty >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# seed_corpus HARNESS DIR: fills DIR with the harness's seeds.
seed_corpus() {
  local h=$1 out=$2
  mkdir -p "$out"
  [ -d "fuzz/corpus/$h" ] && cp fuzz/corpus/"$h"/* "$out/" 2>/dev/null || true
  case $h in
    fuzz_parse | fuzz_check)
      find policies docs/examples tests/golden fuzz/regressions -name '*.treaty' -exec cp {} "$out/" \; 2>/dev/null || true ;;
    fuzz_bundle)
      "$dir/treaty" compile policies/4me -o "$out/4me.bundle" 2>/dev/null
      "$dir/treaty" compile policies/bm365 -o "$out/bm365.bundle" 2>/dev/null
      "$dir/treaty" compile docs/examples/quickstart.treaty -o "$out/quickstart.bundle" 2>/dev/null ;;
  esac
}
# dict_of HARNESS: its dictionary, or nothing.
dict_of() {
  case $1 in
    fuzz_parse | fuzz_check) echo fuzz/treaty.dict ;;
    fuzz_facts | fuzz_request | fuzz_native) echo fuzz/json.dict ;;
    fuzz_authzen | fuzz_search) echo fuzz/authzen.dict ;;
    fuzz_facts_write) echo fuzz/facts.dict ;;
    fuzz_lsp) echo fuzz/lsp.dict ;;
    *) echo "" ;;
  esac
}
# run_one HARNESS: fuzzes it on a copy of its seeds; its output goes to $work/HARNESS.log.
run_one() {
  local h=$1 corpus=$work/$1 dict
  seed_corpus "$h" "$corpus"
  dict=$(dict_of "$h")
  local args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1)
  [ -n "$dict" ] && args+=(-dict="$dict")
  "$dir/fuzz/$h" "${args[@]}" "$corpus" 2>"$work/$h.log"
}
# Each harness is one process on one core: FUZZ_JOBS (default 2, the cores here) run at once.
jobs=${FUZZ_JOBS:-2}
failed=0
for ((i = 0; i < ${#harnesses[@]}; i += jobs)); do
  batch=("${harnesses[@]:i:jobs}")
  pids=()
  for h in "${batch[@]}"; do
    echo "fuzz: $h for ${secs}s" >&2
    run_one "$h" &
    pids+=($!)
  done
  for k in "${!batch[@]}"; do
    h=${batch[$k]}
    if wait "${pids[$k]}"; then
      grep -E "stat::number_of_executed_units|stat::new_units_added|decisions compared" "$work/$h.log" | sed "s/^/fuzz: $h: /" >&2
    else
      tail -50 "$work/$h.log" >&2
      echo "fuzz: $h FAILED (the reproducer, crash-*, leak-*, timeout-* or oom-*, is in the current directory)" >&2
      failed=1
    fi
  done
  [ "$failed" = 0 ] || exit 1
done
echo "fuzz: all harnesses clean" >&2
