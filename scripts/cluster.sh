#!/usr/bin/env bash
# A Treaty cluster on one machine, all on loopback (docs/scale.md): PostgreSQL in a temporary
# directory (scripts/pg.sh) with the schema of `treaty schema sql` and the facts of --data loaded,
# N `treaty serve --facts` replicas, and HAProxy in front of them (health checks on
# /health/ready, leastconn, retry on 503 and on a replica gone, elsewhere). Runs COMMAND with
#   TREATY_PG_URL       the database's URL
#   TREATY_PROXY        HOST:PORT of HAProxy
#   TREATY_REPLICAS     the replicas' ports, space-separated
#   TREATY_CLUSTER_DIR  the temporary directory (replica logs: replica-N.log)
# in its environment, or, without one, waits until interrupted. Everything it started is stopped
# by PID on exit (trap), whatever happens.
#   scripts/cluster.sh [--treaty BIN] [--policy PATH] [--data F.json] [--replicas N] [--] [COMMAND...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
treaty=$root/build/treaty
policy=$root/policies/4me/lib
data=
replicas=3
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --treaty) treaty=$2; shift 2 ;;
    --policy) policy=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --replicas) replicas=$2; shift 2 ;;
    --serve-arg) extra+=("$2"); shift 2 ;;
    --) shift; break ;;
    -*) echo "cluster.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || { echo "cluster.sh: haproxy is missing: run scripts/setup.sh" >&2; exit 1; }
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x "$treaty" ] || { echo "cluster.sh: $treaty is missing: build it (scripts/build.sh)" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/treaty_cluster.XXXXXX")
chmod 711 "$dir"  # the postgres user reaches its directory inside
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done  # an L replica takes seconds to exit
    kill -KILL "$p" 2>/dev/null || true
  done
  bash "$root/scripts/pg.sh" stop "$dir/pg" || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

url=$(bash "$root/scripts/pg.sh" start "$dir/pg")
"$treaty" schema sql "$policy" -o "$dir/schema.sql"
psql -X -q -v ON_ERROR_STOP=1 -d "$url" -f "$dir/schema.sql" >/dev/null
if [ -n "$data" ]; then
  # The facts document as one entity a line (jq), into a table, then treaty_load() over chunks of
  # it in one transaction (the foreign keys are checked at its commit), with the outbox triggers
  # off: the replicas start from the tables. CSV with quote and delimiter characters JSON never
  # holds reads each line whole.
  command -v jq >/dev/null || { echo "cluster.sh: jq is missing: run scripts/setup.sh" >&2; exit 1; }
  jq -c '.entities[]' "$data" >"$dir/entities.jsonl"
  psql -X -q -v ON_ERROR_STOP=1 -d "$url" >/dev/null <<SQL
BEGIN;
CREATE TEMP TABLE treaty_lines (n bigserial, line text);
\\copy treaty_lines (line) FROM '$dir/entities.jsonl' WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')
SELECT sum(treaty_load(doc, false)) FROM (
  SELECT jsonb_build_object('entities', jsonb_agg(line::jsonb ORDER BY n)) AS doc
  FROM treaty_lines GROUP BY n / 100000) chunks;
COMMIT;
SQL
  rm -f "$dir/entities.jsonl"
fi

ports=()
for i in $(seq "$replicas"); do
  log=$dir/replica-$i.log
  "$treaty" serve "$policy" --facts "$url" --listen 127.0.0.1:0 --watch-interval-ms 0 "${extra[@]}" 2>"$log" &
  pids+=($!)
done
for i in $(seq "$replicas"); do
  log=$dir/replica-$i.log
  for _ in $(seq 12000); do  # up to 10 minutes: an L world loads in minutes
    grep -q "listening on" "$log" 2>/dev/null && break
    kill -0 "${pids[$((i - 1))]}" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.05
  done
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
  [ -n "$port" ] || { echo "cluster.sh: replica $i did not start" >&2; cat "$log" >&2; exit 1; }
  ports+=("$port")
done

for _ in 1 2 3 4 5; do
  proxy_port=$((20000 + RANDOM % 40000))
  (exec 3<>"/dev/tcp/127.0.0.1/$proxy_port") 2>/dev/null || break
done
{
  cat <<CFG
global
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response 503
frontend treaty
  bind 127.0.0.1:$proxy_port
  default_backend replicas
backend replicas
  balance leastconn
  option httpchk GET /health/ready
  http-check expect status 200
  # A write is not replayed: it may have reached PostgreSQL.
  http-request disable-l7-retry if { path /v1/facts }
CFG
  for i in "${!ports[@]}"; do
    echo "  server r$((i + 1)) 127.0.0.1:${ports[$i]} check inter 200ms fall 2 rise 1"
  done
} >"$dir/haproxy.cfg"
"$haproxy" -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do
  curl -sf "http://127.0.0.1:$proxy_port/health/ready" >/dev/null 2>&1 && break
  sleep 0.05
done

export TREATY_PG_URL=$url TREATY_PROXY=127.0.0.1:$proxy_port TREATY_REPLICAS="${ports[*]}" TREATY_CLUSTER_DIR=$dir
echo "cluster.sh: PostgreSQL $url, replicas ${ports[*]}, HAProxy 127.0.0.1:$proxy_port" >&2
if [ $# -gt 0 ]; then
  "$@"
else
  echo "cluster.sh: Ctrl-C stops everything" >&2
  wait "${pids[0]}"
fi
