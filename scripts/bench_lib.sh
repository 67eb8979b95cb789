# Shared by the server benchmarks (bench_server.sh, bench_hostile.sh, soak.sh); sourced, not run.
#   bench_build TARGET...    configure and build $dir (TREATY_BUILD_DIR, or build-bench in Release)
#   bench_world SIZE         the 4me world SIZE (S, M, L) of bench/gen_world and its bundle, in
#                            $data/SIZE.{json,jsonl,bundle}
#   start CMD...             runs a server whose stderr names its port: sets $port, adds the
#                            PID to $pids (stopped by the EXIT trap, with $work removed)
dir=${TREATY_BUILD_DIR:-build-bench}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
data=$dir/worlds

bench_build() {
  if [ -z "${TREATY_BUILD_DIR:-}" ]; then
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTREATY_BUILD_BENCH=ON -DTREATY_BUILD_TESTS=OFF >/dev/null
  else
    cmake -S . -B "$dir" -DTREATY_BUILD_BENCH=ON >/dev/null
  fi
  cmake --build "$dir" -j2 --target "$@" >/dev/null
}

bench_world() {
  local s=$1 n
  case $s in M) n=2000 ;; L) n=25000 ;; S) n=100 ;; *) echo "$(basename "$0"): unknown size $s" >&2; exit 2 ;; esac
  mkdir -p "$data"
  if [ ! -s "$data/$s.json" ]; then
    "$dir/bench/gen_world" --accounts "$n" --seed 42 --facts "$data/$s.json" --requests "$data/$s.jsonl" --count 20000
  fi
  [ -s "$data/$s.bundle" ] || "$dir/treaty" compile policies/4me/lib --data "$data/$s.json" -o "$data/$s.bundle" 2>/dev/null
}

start() {
  local log=$work/server.$RANDOM.log
  "$@" 2>"$log" &
  pids+=($!)
  for _ in $(seq 1 600); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "$(basename "$0"): the server did not start: $(cat "$log")" >&2
  exit 1
}
