#!/usr/bin/env bash
# The dependency direction, checked on the sources: log < dsl < compiler < runtime < server < cli.
# Every file of a library may include the public headers (include/treaty/*) of its own layer and
# of the layers below, never above; every public header belongs to exactly one layer (a new header
# must be placed here); a public header includes only headers of its layer or below. The build's
# link order says the same, but a header-only use of a higher layer links fine and is caught here.
# Usage: check_layers.sh SOURCE_DIR        (exit 1 and one line per violation when an arrow points up)
#        check_layers.sh --self-test       (shows that a planted upward include is reported)
set -uo pipefail

declare -A layer_of_header=(
  [log.hpp]=0
  [source.hpp]=1 [diagnostics.hpp]=1 [diagnostic_codes.def]=1 [syntax.hpp]=1 [parse.hpp]=1 [format.hpp]=1
  [package.hpp]=1
  [check.hpp]=2 [program.hpp]=2 [dump.hpp]=2
  [runtime.hpp]=3 [test_runner.hpp]=3 [verify.hpp]=3 [request_reader.hpp]=3
)
declare -A layer_of_dir=([dsl]=1 [compiler]=2 [runtime]=3 [server]=4 [cli]=5)
names=(log dsl compiler runtime server cli)

check_tree() {
  local src=$1 bad=0 f h inc layer want
  for f in "$src"/include/treaty/*; do
    h=$(basename "$f")
    if [ -z "${layer_of_header[$h]+x}" ]; then
      echo "include/treaty/$h: a public header no layer owns; add it to tests/layering/check_layers.sh"
      bad=1
    fi
  done
  # Library sources, and the public headers themselves.
  while IFS= read -r f; do
    local rel=${f#"$src"/}
    case $rel in
      include/treaty/*) want=${layer_of_header[$(basename "$rel")]:-9} ;;
      cli/log.cpp) want=0 ;;
      *) want=${layer_of_dir[${rel%%/*}]} ;;
    esac
    while IFS= read -r inc; do
      h=${inc#treaty/}
      if [ "$inc" = server/server.hpp ]; then layer=4
      elif [ "$h" != "$inc" ] && [ -n "${layer_of_header[$h]+x}" ]; then layer=${layer_of_header[$h]}
      else continue
      fi
      if [ "$layer" -gt "$want" ]; then
        echo "$rel: includes \"$inc\" (${names[$layer]}) from ${names[$want]}: an arrow pointing up"
        bad=1
      fi
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
  done < <(find "$src/include/treaty" "$src/dsl" "$src/compiler" "$src/runtime" "$src/server" "$src/cli" -type f \
             \( -name '*.cpp' -o -name '*.hpp' -o -name '*.def' \) 2>/dev/null | sort)
  return $bad
}

if [ "${1:-}" = --self-test ]; then
  t=$(mktemp -d)
  trap 'rm -rf "$t"' EXIT
  mkdir -p "$t/include/treaty" "$t/dsl" "$t/compiler" "$t/runtime" "$t/server" "$t/cli"
  for h in "${!layer_of_header[@]}"; do : >"$t/include/treaty/$h"; done
  printf '#include "treaty/check.hpp"\n' >"$t/runtime/ok.cpp"
  out=$(check_tree "$t") || { echo "self-test: a clean tree was reported: $out"; exit 1; }
  printf '#include "treaty/runtime.hpp"\n' >"$t/compiler/up.cpp"
  printf '#include "treaty/program.hpp"\n' >"$t/include/treaty/syntax.hpp"
  : >"$t/include/treaty/stray.hpp"
  out=$(check_tree "$t") && { echo "self-test: planted violations were not reported"; exit 1; }
  for want in 'compiler/up.cpp: includes "treaty/runtime.hpp" (runtime) from compiler' \
              'include/treaty/syntax.hpp: includes "treaty/program.hpp" (compiler) from dsl' \
              'include/treaty/stray.hpp: a public header no layer owns'; do
    grep -qF "$want" <<<"$out" || { echo "self-test: missing: $want"; echo "$out"; exit 1; }
  done
  echo "layering self-test: 3 planted violations reported, the clean tree passed"
  exit 0
fi

src=${1:?usage: check_layers.sh SOURCE_DIR | --self-test}
if check_tree "$src"; then echo "layering: no include points up (log < dsl < compiler < runtime < server < cli)"; else exit 1; fi
