#!/usr/bin/env bash
# Installs every build and test dependency of Treaty from Debian's packages.
# Idempotent: when everything is already present it installs nothing and prints nothing.
# Run as root (or through sudo) on Debian 12 or later.
set -euo pipefail

packages=(
  build-essential cmake ninja-build git
  tao-pegtl-dev            # PEGTL 3.x: the grammar (dsl/)
  libboost-container-dev   # flat_map / small_vector on the runtime's hot paths
  libspdlog-dev            # logging to stderr (-v, --log-level)
  nlohmann-json3-dev       # JSON diagnostics, facts, requests and decisions
  libsimdjson-dev          # the request hot path of `treaty serve` and `treaty eval --requests`
  libboost-dev             # Boost.Beast and Asio (header-only): the HTTP server of `treaty serve`
  libcli11-dev             # the command line of `treaty`
  libgtest-dev             # unit, golden and end-to-end tests
  librapidcheck-dev        # property tests
  libbenchmark-dev         # bench/
  clang libclang-rt-dev    # libFuzzer harnesses in fuzz/ (scripts/fuzz.sh)
  time                     # /usr/bin/time: compile and load measurements in scripts/bench.sh
  graphviz                 # `dot`: SVG pictures of `treaty graph` / `--explain --format svg`, docs/img/
  libpq-dev                # libpq: `treaty serve --facts postgresql://...` loads and follows the facts (server/pg_feed.cpp)
  postgresql-15            # initdb/postgres/psql: the PostgreSQL the pg and cluster tests and scripts/cluster.sh start
  haproxy                  # the load balancer in front of the replicas (scripts/cluster.sh, tests/server/cluster_test.cpp)
  curl jq                  # scripts/cluster.sh: waits for HAProxy (curl), splits a facts file into entities (jq)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "setup.sh: missing packages (${missing[*]}); run this script as root" >&2; exit 1
  fi
else
  SUDO=
fi
echo "setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
