#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan + UBSan) into build-san/ and runs each for
# SECONDS (default 45) on a copy of its seed corpus. Fails on any crash, leak, timeout or
# sanitizer report. Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-45}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=(fuzz_parse fuzz_check fuzz_facts fuzz_request fuzz_bundle)
dir=build-san
bash scripts/sanitize-build.sh --target "${harnesses[@]}" treaty >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Seed corpora: the policies and golden inputs, JSON facts and requests, and compiled bundles.
mkdir -p "$work/treaty" "$work/json" "$work/request" "$work/bundle"
find policies docs/examples tests/golden fuzz/corpus fuzz/regressions -name '*.treaty' -exec cp {} "$work/treaty/" \; 2>/dev/null || true
cp fuzz/corpus/json/* "$work/json/" 2>/dev/null || true
cp fuzz/corpus/request/* "$work/request/" 2>/dev/null || true
"$dir/treaty" compile policies/4me -o "$work/bundle/4me.bundle" 2>/dev/null
"$dir/treaty" compile policies/bm365 -o "$work/bundle/bm365.bundle" 2>/dev/null
"$dir/treaty" compile docs/examples/quickstart.treaty -o "$work/bundle/quickstart.bundle" 2>/dev/null
for h in "${harnesses[@]}"; do
  case $h in
    fuzz_parse | fuzz_check) corpus=$work/treaty dict=fuzz/treaty.dict ;;
    fuzz_facts) corpus=$work/json dict=fuzz/json.dict ;;
    fuzz_request) corpus=$work/request dict=fuzz/json.dict ;;
    fuzz_bundle) corpus=$work/bundle dict= ;;
  esac
  echo "fuzz: $h for ${secs}s" >&2
  args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1)
  [ -n "$dict" ] && args+=(-dict="$dict")
  "$dir/fuzz/$h" "${args[@]}" "$corpus" 2>"$work/$h.log" || { tail -50 "$work/$h.log" >&2; echo "fuzz: $h FAILED" >&2; exit 1; }
  grep -E "stat::number_of_executed_units|stat::new_units_added" "$work/$h.log" | sed "s/^/fuzz: $h: /" >&2
done
echo "fuzz: all harnesses clean" >&2
