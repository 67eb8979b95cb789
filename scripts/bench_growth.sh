#!/usr/bin/env bash
# Growth benchmark (issue 20): generates each hostile input at 1x, 10x and 100x and runs a verb
# on it as a separate process, reading wall time and peak resident memory with /usr/bin/time
# (GNU time, installed by scripts/setup.sh). Linear growth shows as a factor of about 10 per
# row step. Prints a Markdown table and writes it to bench/results-growth.md.
# Usage: scripts/bench_growth.sh [TREATY_BINARY]   (default: builds build-bench/ in Release)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ge 1 ]; then
  T=$1
else
  cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DTREATY_BUILD_BENCH=ON -DTREATY_BUILD_TESTS=OFF >/dev/null
  cmake --build build-bench -j2 --target treaty >/dev/null
  T=build-bench/treaty
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# gen KIND N DIR: one hostile input of size N.
gen() {
  local kind=$1 n=$2 dir=$3
  mkdir -p "$dir"
  case $kind in
    enum)  # N unused values on one line: N warnings
      awk -v n="$n" 'BEGIN { printf "enum E { v0"; for (i = 1; i < n; i++) printf ", v%d", i; print " }" }' >"$dir/p.treaty" ;;
    line)  # one line of N bytes of facts, each ill-typed: an error every 17 bytes
      awk -v n="$n" 'BEGIN { print "entity A { s: String }"; l = 0; i = 0
        while (l < n) { s = sprintf("A::\"x%d\" { s: %d } ", i, i); printf "%s", s; l += length(s); i++ }; print "" }' >"$dir/p.treaty" ;;
    string)  # one string literal of N bytes, with an error after it
      awk -v n="$n" 'BEGIN { print "entity A { s: String }"; printf "A::\"x\" { s: \""
        for (i = 0; i < n; i++) printf "a"; print "\", t: 1 }" }' >"$dir/p.treaty" ;;
    rules)  # N permits of one action and one scope (the redundant-permit lint's worst case)
      awk -v n="$n" 'BEGIN { print "entity P { level: Int }\naction view principal P resource P;"
        for (i = 0; i < n; i++) printf "permit r%d principal p: P action view resource q: P when p.level == %d;\n", i, i
        print "test \"t\" {\n  given { P::\"a\" { level: 1 } P::\"b\" { level: 0 } }"
        print "  expect allow principal P::\"a\" action view resource P::\"b\";\n}" }' >"$dir/p.treaty" ;;
    facts)  # N facts in source, each referring to the next
      awk -v n="$n" 'BEGIN { print "entity P { level: Int, boss: P? }\naction view principal P resource P;"
        print "permit r principal p: P action view resource q: P when p.boss == q;"
        for (i = 0; i < n; i++) printf "P::\"p%d\" { level: %d, boss: \"p%d\" }\n", i, i, (i + 1) % n }' >"$dir/p.treaty" ;;
    json)  # N entities in a JSON facts file, the last one with an error
      awk 'BEGIN { print "entity P { level: Int, boss: P? }\naction view principal P resource P;"
        print "permit r principal p: P action view resource q: P when p.boss == q;" }' >"$dir/p.treaty"
      awk -v n="$n" 'BEGIN { print "{\"entities\": ["
        for (i = 0; i < n; i++) printf "%s{\"type\": \"P\", \"id\": \"p%d\", \"attrs\": {\"level\": %d, \"boss\": \"p%d\"}}\n", (i ? "," : ""), i, i, (i + 1) % n
        print ",{\"type\": \"P\", \"id\": \"bad\", \"attrs\": {\"level\": \"x\"}}]}" }' >"$dir/d.json" ;;
    exists)  # a chain of N nested exists (the nesting limit, 128, stops deeper ones)
      awk -v n="$n" 'BEGIN { print "entity P { level: Int }\naction view principal P resource P;"
        printf "permit r principal p: P action view resource q: P when"
        for (i = 0; i < n; i++) printf "\n  exists x%d: P where x%d.level == %d and", i, i, i; print " true;" }' >"$dir/p.treaty" ;;
    files)  # N files of one fact each
      awk -v n="$n" -v d="$dir" 'BEGIN { print "entity P { level: Int }\naction view principal P resource P;" > (d "/a.treaty")
        print "permit r principal p: P action view resource q: P when p.level == q.level;" > (d "/a.treaty")
        for (i = 0; i < n; i++) printf "P::\"p%d\" { level: %d }\n", i, i > (d "/f" i ".treaty") }' ;;
  esac
}

# row KIND VERB SIZE...: one table row, a cell per size.
row() {
  local kind=$1 verb=$2
  shift 2
  local line="| $kind | \`$verb\` |"
  for n in "$@"; do
    local dir=$work/$kind-$n
    [ -d "$dir" ] || gen "$kind" "$n" "$dir"
    local args=("$dir/p.treaty")
    [ "$kind" = files ] && args=("$dir")
    [ "$kind" = json ] && args+=(--data "$dir/d.json")
    local flags=()
    [ "$verb" = "fmt" ] && flags=(--check)
    /usr/bin/time -f "%e %M" -o "$work/time" "$T" "$verb" "${flags[@]}" "${args[@]}" >"$work/out" 2>/dev/null || true
    read -r secs kb < <(tail -1 "$work/time")
    line+=" $n: $secs s, $((kb / 1024)) MB, $(wc -c <"$work/out") B out |"
  done
  echo "$line"
}

{
  echo "| input | verb | 1x | 10x | 100x |"
  echo "|---|---|---|---|---|"
  row enum check 3000 30000 300000
  row line check 10000 100000 1000000
  row string check 10000 100000 1000000
  row rules check 1000 10000 100000
  row rules test 1000 10000 100000
  row rules fmt 1000 10000 100000
  row facts check 1000 10000 100000
  row json check 1000 10000 100000
  row exists check 1 10 100
  row files check 100 1000 10000
} | tee bench/results-growth.md
