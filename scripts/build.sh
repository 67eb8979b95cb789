#!/usr/bin/env bash
# Configures and builds Treaty into build/ (or $TREATY_BUILD_DIR) with two jobs.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${TREATY_BUILD_DIR:-build}
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=${TREATY_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$dir" -j2
