#!/usr/bin/env bash
# The whole test suite: the build's ctest suite, the same suite under AddressSanitizer and
# UndefinedBehaviorSanitizer, and a short run of every fuzz harness. Exits non-zero on any failure.
# Usage: scripts/test.sh [FUZZ_SECONDS_PER_HARNESS]   (default 30; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_secs=${1:-30}
echo "test: build and ctest" >&2
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j2
echo "test: ASan + UBSan build and ctest" >&2
TREATY_BUILD_DIR=build-asan TREATY_BUILD_TYPE=Debug bash scripts/build.sh -DTREATY_SANITIZE=address,undefined
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j2
if [ "$fuzz_secs" -gt 0 ]; then
  echo "test: fuzz every harness for ${fuzz_secs}s" >&2
  bash scripts/fuzz.sh "$fuzz_secs"
fi
echo "test: all passed" >&2
