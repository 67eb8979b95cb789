#!/usr/bin/env bash
# A/B of two builds of the decision benchmarks in one interleaved run. BASE and NEW are build
# directories configured as bench.sh does (Release, -DTREATY_BUILD_BENCH=ON) with bench_decide and
# gen_world built, e.g. build-bench/ of this checkout and of a checkout of the commit a change is
# based on. Both decide on the same worlds; their runs alternate (A B, B A, A B, ...), so a busy
# stretch of the shared host hits both alike. Prints, for each, the median over the rounds of
# each figure (p50, p99, time per decision, throughput, and the in-process compile and load of
# each world), and NEW/BASE.
# Usage: scripts/bench_ab.sh BASE_BUILD_DIR NEW_BUILD_DIR [ROUNDS (default 3)] [SIZES (default S,M)]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bench_ab.sh BASE_BUILD_DIR NEW_BUILD_DIR [ROUNDS] [SIZES]}
new=${2:?usage: bench_ab.sh BASE_BUILD_DIR NEW_BUILD_DIR [ROUNDS] [SIZES]}
rounds=${3:-3}
sizes=${4:-S,M}
worlds=$new/worlds
out=$new/ab
mkdir -p "$worlds" "$out"
rm -f "$out"/*.json
spec=
for s in ${sizes//,/ }; do
  case $s in S) n=100 ;; M) n=2000 ;; L) n=25000 ;; *) echo "bench_ab: unknown size $s" >&2; exit 2 ;; esac
  [ -s "$worlds/$s.json" ] ||
    "$new/bench/gen_world" --accounts "$n" --seed 42 --facts "$worlds/$s.json" --requests "$worlds/$s.jsonl" --count 20000
  spec="${spec:+$spec,}$s=$worlds/$s.json:$worlds/$s.jsonl"
done
filter='^(CompileAndLoad|HashProbeBaseline|Decide|DecideInlineEntity|FieldMask|DecideAll)/'
run() {  # run LABEL DIR ROUND
  TREATY_BENCH_WORLDS=$spec "$2/bench/bench_decide" --benchmark_min_time=0.5 --benchmark_filter="$filter" \
    --benchmark_out="$out/$1.$3.json" --benchmark_out_format=json >/dev/null 2>&1
}
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then run base "$base" "$r"; run new "$new" "$r"; else run new "$new" "$r"; run base "$base" "$r"; fi
done
python3 - "$out" "$rounds" <<'EOF'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rows = {}
for label in ('base', 'new'):
    for r in range(1, rounds + 1):
        for b in json.load(open(f'{out}/{label}.{r}.json'))['benchmarks']:
            for k in ('p50_ns', 'p99_ns', 'real_time', 'items_per_second', 'compile_s', 'load_s', 'peak_MB'):
                if k in b and not (k == 'real_time' and b['name'].startswith('CompileAndLoad')):
                    rows.setdefault((b['name'], k), {}).setdefault(label, []).append(float(b[k]))
print(f'{"benchmark figure":52} {"base":>11} {"new":>11} {"new/base":>9}')
for (name, k), v in rows.items():
    b, n = statistics.median(v.get('base', [float('nan')])), statistics.median(v.get('new', [float('nan')]))
    print(f'{name + " " + k:52} {b:11.4g} {n:11.4g} {n / b if b else float("nan"):9.3f}')
EOF
