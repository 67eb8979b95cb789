#!/usr/bin/env bash
# ThreadSanitizer over the concurrent parts: live facts (decisions while batches commit), the
# write-ahead log's group commit, and `treaty serve` deciding while it takes writes and reloads.
# Builds build-tsan/ (g++, -DTREATY_SANITIZE=thread, the server and the test binaries only) and
# runs those tests; every TSan report, in a test or in a server process a test started, fails
# the run. Not part of scripts/test.sh (the CI budget): run it after a change to threads, locks,
# snapshots or the server. Usage: scripts/tsan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTREATY_SANITIZE=thread -DTREATY_BUILD_TESTS=ON \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" >/dev/null
cmake --build build-tsan -j2 --target treaty treaty_tests facts_tests server_tests
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
# log_path: each process (the tests and every server they start) writes its reports to a file.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 log_path=$reports/tsan"
status=0
build-tsan/tests/treaty_tests --gtest_filter='Live*:Wal*' || status=1
build-tsan/tests/facts_tests || status=1
build-tsan/tests/server_tests --gtest_filter='Streaming.ABatchKeeps*:Reload.*:Lifecycle.*:Native.*:Certification.Batch*' || status=1
if compgen -G "$reports/tsan*" >/dev/null; then
  echo "tsan: ThreadSanitizer reported:" >&2
  cat "$reports"/tsan* >&2
  status=1
fi
[ "$status" -eq 0 ] && echo "tsan: clean" >&2
exit "$status"
