#!/usr/bin/env bash
# The whole test suite: the g++ build with its end-to-end ctests, the whole ctest suite under
# AddressSanitizer and UndefinedBehaviorSanitizer, and a short run of four fuzz harnesses (a daily rotation). Exits
# non-zero on any failure.
# - The g++ build (build-ci/) is the one users run; its ctests are every end-to-end test (the
#   `treaty` command, the policies, the allocation counts, which need the plain allocator, and the
#   100,000-rule limits at full size). The two GoogleTest suites (treaty_tests, server_tests) are
#   built and run once, under the sanitizers, which is where they find the most.
# - The sanitizer suite and the fuzz harnesses share one clang build (build-san/, see
#   scripts/sanitize-build.sh), optimized, so the scale tests run at full size there too. Its
#   libraries are unity-built and its test drivers mostly unoptimized, which takes a third less
#   CPU to build; the g++ build compiles one file a unit, as users build.
# - Debug information is reduced to what a backtrace needs (-g1, -gline-tables-only): full -g
#   costs a sixth of the build time and nothing here reads it.
# Usage: scripts/test.sh [FUZZ_SECONDS_PER_HARNESS]   (default 20; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_secs=${1:-20}
phase() { echo "test: $* ($(date +%T), ${SECONDS}s so far)" >&2; }
phase "g++ build and end-to-end ctest"
TREATY_BUILD_DIR=build-ci bash scripts/build.sh -DTREATY_BUILD_UNIT_TESTS=OFF \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
ctest --test-dir build-ci --output-on-failure -j2
phase "ASan + UBSan build (clang) and ctest"
bash scripts/sanitize-build.sh
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir build-san --output-on-failure -j2
if [ "$fuzz_secs" -gt 0 ]; then
  # Twelve harnesses at 20 s would add four minutes: CI fuzzes four a run, in a daily rotation over
  # all of them (FUZZ_ROTATE in scripts/fuzz.sh); every harness's regressions and minimized corpus
  # are replayed on every run by the sanitizer ctest (fuzz.replay.*). FUZZ_ROTATE= runs them all.
  phase "fuzz ${FUZZ_ROTATE-4} harnesses (today's rotation) for ${fuzz_secs}s each"
  FUZZ_ROTATE=${FUZZ_ROTATE-4} bash scripts/fuzz.sh "$fuzz_secs"
fi
phase "all passed"
