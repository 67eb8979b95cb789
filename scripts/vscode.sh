#!/usr/bin/env bash
# The VS Code extension (editors/vscode): installs its npm dependencies exactly as locked
# (`npm ci`; the npm registry is the only network it needs), checks that the client parses and
# runs its commands as it should against fakes of VS Code (tests/extension.test.js), runs
# the grammar tests (vscode-tmgrammar-test on editors/vscode/tests/*.treaty: scope assertions on
# snippets of the bundled policies), checks that docs/editor-highlighting.svg is what the grammar
# renders of editors/vscode/sample.treaty, and packages the extension with @vscode/vsce 3.x (which needs
# node 20). Exits non-zero on any failure.
# Usage: scripts/vscode.sh [OUT.vsix]     (default editors/vscode/treaty.vsix)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/editors/vscode/treaty.vsix}
case $out in /*) ;; *) out=$PWD/$out ;; esac
cd "$root/editors/vscode"
command -v node >/dev/null || { echo "vscode.sh: node is not installed" >&2; exit 2; }
command -v npm >/dev/null || { echo "vscode.sh: npm is not installed" >&2; exit 2; }
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "vscode.sh: node $(node --version) is too old: @vscode/vsce 3.x needs node 20 or later" >&2
  exit 2
fi
echo "vscode.sh: npm ci" >&2
npm ci --no-audit --no-fund --loglevel=error
node --check extension.js
node tests/extension.test.js
echo "vscode.sh: grammar tests" >&2
npx --no-install vscode-tmgrammar-test -g syntaxes/treaty.tmLanguage.json 'tests/*.treaty'
# docs/editor-highlighting.svg is the grammar's rendering of sample.treaty: it must be current.
node render-highlighting.js sample.treaty "$out.svg.tmp"
if ! cmp -s "$out.svg.tmp" "$root/docs/editor-highlighting.svg"; then
  rm -f "$out.svg.tmp"
  echo "vscode.sh: docs/editor-highlighting.svg is not what the grammar renders now; regenerate it with" \
       "(cd editors/vscode && node render-highlighting.js sample.treaty ../../docs/editor-highlighting.svg)" >&2
  exit 1
fi
rm -f "$out.svg.tmp"
echo "vscode.sh: packaging $out" >&2
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$.vsix"
trap 'rm -f "$tmp"' EXIT
npx --no-install vsce package --out "$tmp"
# The package holds the client, its language client library, the grammar and the configuration.
listing=$(unzip -l "$tmp")
for f in extension/extension.js extension/package.json extension/syntaxes/treaty.tmLanguage.json \
         extension/language-configuration.json extension/node_modules/vscode-languageclient/node.js; do
  grep -q " $f\$" <<<"$listing" || { echo "vscode.sh: $f is missing from the package" >&2; exit 1; }
done
mv "$tmp" "$out"
trap - EXIT
echo "vscode.sh: built $out" >&2
