#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests and scripts (tests/server/pg_cluster.hpp does the same for
# the gtests): initdb in DIR (as the `postgres` user when run as root), `trust` authentication,
# listening on 127.0.0.1 on a free port and on a unix socket in DIR, fsync off.
#   scripts/pg.sh start DIR   prints the connection URL on stdout (also in DIR/url)
#   scripts/pg.sh stop DIR    stops the server by its PID (fast shutdown) and removes DIR
# A missing PostgreSQL is an error: scripts/setup.sh installs postgresql-15.
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pg.sh start|stop DIR" >&2; exit 2; }

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case $cmd in
  start)
    for b in initdb postgres pg_ctl; do
      [ -x "$bin/$b" ] || { echo "pg.sh: $bin/$b is missing: run scripts/setup.sh (postgresql-15)" >&2; exit 1; }
    done
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    for attempt in 1 2 3 4 5; do
      port=$((20000 + RANDOM % 40000))
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue  # taken
      if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 -s \
          -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
          start >/dev/null 2>&1; then
        url="postgresql://postgres@127.0.0.1:$port/postgres"
        echo "$url" >"$dir/url"
        echo "$url"
        exit 0
      fi
    done
    echo "pg.sh: PostgreSQL did not start:" >&2
    cat "$dir/postgres.log" >&2 || true
    exit 1
    ;;
  stop)
    if [ -s "$dir/data/postmaster.pid" ]; then
      pid=$(head -1 "$dir/data/postmaster.pid")
      kill -INT "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
    ;;
  *) echo "usage: pg.sh start|stop DIR" >&2; exit 2 ;;
esac
