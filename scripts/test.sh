#!/usr/bin/env bash
# The whole test suite: the build's ctest suite (g++), the same suite under AddressSanitizer and
# UndefinedBehaviorSanitizer, and a short run of every fuzz harness. Exits non-zero on any failure.
# The sanitizer suite and the fuzz harnesses share one clang build (build-san/, see
# scripts/sanitize-build.sh): one build instead of two, and optimized, so the scale tests
# (100,000 rules, 1,200 accounts) run at full size under the sanitizers too.
# Usage: scripts/test.sh [FUZZ_SECONDS_PER_HARNESS]   (default 20; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_secs=${1:-20}
phase() { echo "test: $* ($(date +%T), ${SECONDS}s so far)" >&2; }
phase "build and ctest"
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j2
phase "ASan + UBSan build (clang) and ctest"
bash scripts/sanitize-build.sh
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir build-san --output-on-failure -j2
if [ "$fuzz_secs" -gt 0 ]; then
  phase "fuzz every harness for ${fuzz_secs}s"
  bash scripts/fuzz.sh "$fuzz_secs"
fi
phase "all passed"
