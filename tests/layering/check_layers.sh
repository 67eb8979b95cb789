#!/usr/bin/env bash
# The dependency direction, checked on the sources:
#   log < base < { dsl, data };  dsl, data < compiler;  data < runtime;
#   { compiler, runtime } < pipeline;  { runtime, pipeline } < server;  everything < cli
# base holds what every layer reports with: sources and spans, diagnostics and their registry.
# dsl (source text to syntax) and data (values, the world, the IR, the converter) are siblings over
# base: the data layer takes constants and facts written in source as its own Constant and
# FactSpec, which the compiler makes from the syntax tree, so neither data nor the runtime sees
# syntax. compiler and runtime are siblings over the data layer: neither includes the other (the
# runtime runs what data/ holds; the compiler makes it). pipeline (treaty/compile.hpp) runs both,
# source to engine to requirements; server uses the runtime (and may use the pipeline, never the
# dsl directly), cli everything.
# Every file of a library may include the public headers (include/treaty/*) of its own layer and
# of the layers it may use (`uses` below), never others; every public header belongs to exactly one
# layer (a new header must be placed here); a public header includes only headers its layer may.
# The build's link lines say the same (the ctest layering.links checks that neither treaty_data nor
# treaty_runtime links treaty_dsl or treaty_compiler), but a header-only use links fine and is
# caught here.
# Usage: check_layers.sh SOURCE_DIR        (exit 1 and one line per violation when an arrow points up)
#        check_layers.sh --self-test       (shows that a planted upward include is reported)
set -uo pipefail

declare -A layer_of_header=(
  [log.hpp]=log
  [source.hpp]=base [diagnostics.hpp]=base [diagnostic_codes.def]=base
  [syntax.hpp]=dsl [parse.hpp]=dsl [format.hpp]=dsl
  [package.hpp]=dsl
  [program.hpp]=data [convert.hpp]=data
  [data/world.hpp]=data [data/index.hpp]=data [data/delta.hpp]=data [data/wal.hpp]=data [data/search_plan.hpp]=data
  [check.hpp]=compiler [dump.hpp]=compiler
  [runtime.hpp]=runtime [test_runner.hpp]=runtime [coverage.hpp]=runtime [diff.hpp]=runtime [verify.hpp]=runtime [request_reader.hpp]=runtime [live.hpp]=runtime [graph.hpp]=runtime
  [compile.hpp]=pipeline
)
declare -A layer_of_dir=([base]=base [dsl]=dsl [data]=data [compiler]=compiler [runtime]=runtime [pipeline]=pipeline [server]=server
                         [cli]=cli)
# The layers each layer may include, itself included.
declare -A uses=(
  [log]="log"
  [base]="log base"
  [dsl]="log base dsl"
  [data]="log base data"
  [compiler]="log base dsl data compiler"
  [runtime]="log base data runtime"
  [pipeline]="log base dsl data compiler runtime pipeline"
  [server]="log base data runtime pipeline server"
  [cli]="log base dsl data compiler runtime pipeline server cli"
)

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
      include/treaty/*) want=${layer_of_header[$(basename "$rel")]:-none} ;;
      cli/log.cpp) want=log ;;
      *) want=${layer_of_dir[${rel%%/*}]} ;;
    esac
    while IFS= read -r inc; do
      h=${inc#treaty/}
      if [ "$inc" = server/server.hpp ]; then layer=server
      elif [ "$h" != "$inc" ] && [ -n "${layer_of_header[$h]+x}" ]; then layer=${layer_of_header[$h]}
      else continue
      fi
      if [[ $rel == include/treaty/* && $inc == treaty/data/* ]]; then
        echo "$rel: includes \"$inc\": the public API must not show the data layer's layout"
        bad=1
      fi
      if [[ " ${uses[$want]:-} " != *" $layer "* ]]; then
        echo "$rel: includes \"$inc\" ($layer) from $want: an arrow pointing up or sideways"
        bad=1
      fi
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
  done < <(find "$src/include/treaty" "$src/base" "$src/dsl" "$src/data" "$src/compiler" "$src/runtime" "$src/pipeline" "$src/server" \
             "$src/cli" -type f \
             \( -name '*.cpp' -o -name '*.hpp' -o -name '*.def' \) 2>/dev/null | sort)
  return $bad
}

if [ "${1:-}" = --self-test ]; then
  t=$(mktemp -d)
  trap 'rm -rf "$t"' EXIT
  mkdir -p "$t/include/treaty" "$t/base" "$t/dsl" "$t/data" "$t/compiler" "$t/runtime" "$t/pipeline" "$t/server" "$t/cli"
  mkdir -p "$t/data/include/treaty/data"
  for h in "${!layer_of_header[@]}"; do
    case $h in
      data/*) : >"$t/data/include/treaty/$h" ;;
      *) : >"$t/include/treaty/$h" ;;
    esac
  done
  printf '#include "treaty/data/world.hpp"\n' >"$t/compiler/ok.cpp"
  printf '#include "treaty/convert.hpp"\n' >"$t/runtime/ok.cpp"
  printf '#include "treaty/check.hpp"\n#include "treaty/runtime.hpp"\n' >"$t/cli/ok.cpp"
  printf '#include "treaty/check.hpp"\n#include "treaty/runtime.hpp"\n' >"$t/pipeline/ok.cpp"
  printf '#include "treaty/compile.hpp"\n' >"$t/server/ok.cpp"
  printf '#include "treaty/diagnostics.hpp"\n' >"$t/dsl/ok.cpp"
  printf '#include "treaty/diagnostics.hpp"\n#include "treaty/program.hpp"\n' >"$t/data/ok.cpp"
  out=$(check_tree "$t") || { echo "self-test: a clean tree was reported: $out"; exit 1; }
  printf '#include "treaty/runtime.hpp"\n' >"$t/compiler/up.cpp"
  printf '#include "treaty/check.hpp"\n' >"$t/runtime/sideways.cpp"
  printf '#include "treaty/program.hpp"\n' >"$t/dsl/up.cpp"
  printf '#include "treaty/syntax.hpp"\n' >"$t/base/up.cpp"
  printf '#include "treaty/parse.hpp"\n' >"$t/data/sideways.cpp"
  printf '#include "treaty/syntax.hpp"\n' >"$t/runtime/syntax.cpp"
  printf '#include "treaty/package.hpp"\n' >"$t/server/syntax.cpp"
  printf '#include "treaty/syntax.hpp"\n' >"$t/include/treaty/program.hpp"
  printf '#include "treaty/compile.hpp"\n' >"$t/runtime/up.cpp"
  printf '#include "treaty/program.hpp"\n' >"$t/include/treaty/syntax.hpp"
  printf '#include "treaty/data/world.hpp"\n' >"$t/include/treaty/convert.hpp"
  printf '#include "treaty/data/world.hpp"\n' >"$t/dsl/layout.cpp"
  : >"$t/include/treaty/stray.hpp"
  out=$(check_tree "$t") && { echo "self-test: planted violations were not reported"; exit 1; }
  for want in 'compiler/up.cpp: includes "treaty/runtime.hpp" (runtime) from compiler' \
              'runtime/sideways.cpp: includes "treaty/check.hpp" (compiler) from runtime' \
              'dsl/up.cpp: includes "treaty/program.hpp" (data) from dsl' \
              'base/up.cpp: includes "treaty/syntax.hpp" (dsl) from base' \
              'data/sideways.cpp: includes "treaty/parse.hpp" (dsl) from data' \
              'runtime/syntax.cpp: includes "treaty/syntax.hpp" (dsl) from runtime' \
              'server/syntax.cpp: includes "treaty/package.hpp" (dsl) from server' \
              'include/treaty/program.hpp: includes "treaty/syntax.hpp" (dsl) from data' \
              'runtime/up.cpp: includes "treaty/compile.hpp" (pipeline) from runtime' \
              'include/treaty/syntax.hpp: includes "treaty/program.hpp" (data) from dsl' \
              'include/treaty/convert.hpp: includes "treaty/data/world.hpp": the public API must not show' \
              'dsl/layout.cpp: includes "treaty/data/world.hpp" (data) from dsl' \
              'include/treaty/stray.hpp: a public header no layer owns'; do
    grep -qF "$want" <<<"$out" || { echo "self-test: missing: $want"; echo "$out"; exit 1; }
  done
  echo "layering self-test: 13 planted violations reported, the clean tree passed"
  exit 0
fi

src=${1:?usage: check_layers.sh SOURCE_DIR | --self-test}
if check_tree "$src"; then
  echo "layering: no include points up or sideways (log < base < {dsl, data}; data < {compiler, runtime} < pipeline < server < cli; dsl < compiler)"
else
  exit 1
fi
