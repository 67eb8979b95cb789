#!/usr/bin/env bash
# Runs every input of a harness's regressions and committed corpus through it once (no fuzzing):
# fails on any crash, sanitizer report or broken invariant. Usage: replay.sh HARNESS_BINARY NAME FUZZ_DIR
set -euo pipefail
bin=$1 name=$2 dir=$3
files=()
[ -d "$dir/regressions/$name" ] && while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$dir/regressions/$name" -type f -print0)
[ -d "$dir/corpus/$name" ] && while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$dir/corpus/$name" -type f -print0)
case $name in
  fuzz_parse | fuzz_check)
    while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$dir/regressions" -maxdepth 1 -name '*.treaty' -print0) ;;
esac
if [ ${#files[@]} -eq 0 ]; then
  echo "replay: $name: no inputs" >&2
  exit 0
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# In groups, so that a command line stays short; libFuzzer runs each file given once.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for ((i = 0; i < ${#files[@]}; i += 200)); do
  if ! "$bin" -timeout=10 -rss_limit_mb=2048 "${files[@]:i:200}" >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "replay: $name FAILED" >&2
    exit 1
  fi
done
echo "replay: $name: ${#files[@]} inputs pass" >&2
