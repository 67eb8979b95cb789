#!/usr/bin/env bash
# `treaty eval --requests`: the hot path (plain requests read with simdjson) and the engine's own
# reader (taken by any line with "entities") give the same answers, byte for byte, on a batch of
# many shapes: arguments or none, allows, forbids, default denies, unknown ids, bad arguments,
# bad JSON, blank lines.
# Usage: TREATY=path/to/treaty eval_fast.sh SOURCE_DIR
set -uo pipefail
T=${TREATY:?set TREATY to the treaty binary}
T=$(cd "$(dirname "$T")" && pwd)/$(basename "$T")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/fast" "$work/slow"  # one file name in both, so the messages name the same path
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

cat >"$work/p.treaty" <<'TREATY'
enum Kind { approval, project }
enum Role { admin, staff }
entity Account {}
entity Person { account: Account, roles: Set<Role> }
inline entity Doc { account: Account, secret: Bool }
action view principal Person resource Doc;
action act(kind: Kind, urgent: Bool, level: Int?, note: String?) principal Person resource Doc;
Account::"a" {}
Account::"b" {}
Person::"ann" { account: "a", roles: {admin} }
Person::"bob" { account: "b", roles: {staff} }
Person::"q\"uote" { account: "a", roles: {staff} }
Doc::"d1" { account: "a", secret: false }
Doc::"d2" { account: "a", secret: true }
/// Same account.
permit same_account principal p: Person action view resource d: Doc when p.account == d.account;
forbid secrets principal p: Person action view resource d: Doc when d.secret unless admin in p.roles;
permit act_urgent principal p: Person action act(kind == approval) resource d: Doc
  when urgent and level > 2
  when p.account == d.account;
permit act_admin principal p: Person action act resource d: Doc when admin in p.roles;
TREATY

# req PRINCIPAL ACTION RESOURCE: one request line to each file; the second also carries an
# empty "entities", which sends it through the engine's reader.
req() {
  printf '{"principal":{"type":"Person","id":"%s"},"action":%s,"resource":{"type":"Doc","id":"%s"}}\n' "$1" "$2" "$3" >>"$work/fast/r.jsonl"
  printf '{"principal":{"type":"Person","id":"%s"},"action":%s,"resource":{"type":"Doc","id":"%s"},"entities":[]}\n' "$1" "$2" "$3" >>"$work/slow/r.jsonl"
}
# same LINE: a line written as is to both files.
same() { printf '%s\n' "$1" | tee -a "$work/fast/r.jsonl" >>"$work/slow/r.jsonl"; }

for p in ann bob 'q\"uote' nobody; do
  for d in d1 d2 d9; do
    req "$p" '{"name":"view"}' "$d"
    req "$p" '{"name":"view","args":{}}' "$d"
    req "$p" '{"name":"act","args":{"kind":"approval","urgent":true,"level":3}}' "$d"
    req "$p" '{"args":{"urgent":false,"kind":"project"},"name":"act"}' "$d"
    req "$p" '{"name":"act","args":{"kind":"approval","urgent":true,"level":2,"note":"a \"note\""}}' "$d"
    req "$p" '{"name":"act","args":{"kind":"approval"}}' "$d"
    req "$p" '{"name":"act","args":{"kind":"nope","urgent":true}}' "$d"
    req "$p" '{"name":"act","args":{"kind":"approval","urgent":"yes"}}' "$d"
    req "$p" '{"name":"act","args":{"kind":"approval","urgent":true,"level":null}}' "$d"
    req "$p" '{"name":"act","args":{"kind":"approval","urgent":true,"extra":1}}' "$d"
    req "$p" '{"name":"edit"}' "$d"
    req "$p" '{"name":"view","argz":{}}' "$d"
  done
done
same ''
same '   '
same '{"principal": tru}'
same '{"principal":{"type":"Person","id":"ann"},"action":{"name":"view"},"resource":{"type":"Doc","id":"d1"},"x":1}'
same '{"principal":{"type":"Persona","id":"ann"},"action":{"name":"view"},"resource":{"type":"Doc","id":"d1"}}'
same '{"principal":{"type":"Person","id":"ann","role":"admin"},"action":{"name":"view"},"resource":{"type":"Doc","id":"d1"}}'
same '[1,2]'
req ann '{"name":"view"}' d1

lines=$(wc -l <"$work/fast/r.jsonl")
for format in json text; do
  for explain in "" --explain; do
    (cd "$work/fast" && "$T" eval ../p.treaty --requests r.jsonl --format $format $explain) >"$work/fast.out" 2>"$work/fast.err"
    rc_fast=$?
    (cd "$work/slow" && "$T" eval ../p.treaty --requests r.jsonl --format $format $explain) >"$work/slow.out" 2>"$work/slow.err"
    rc_slow=$?
    what="--format $format ${explain:-(no explain)}"
    [ "$rc_fast" -eq 2 ] && [ "$rc_slow" -eq 2 ] && ok || bad "$what: exit $rc_fast and $rc_slow, wanted 2 (the batch has bad requests)"
    if cmp -s "$work/fast.out" "$work/slow.out"; then ok; else bad "$what: the answers differ"; diff "$work/fast.out" "$work/slow.out" | head -20; fi
    grep -v '^treaty: \(info\|debug\)' "$work/fast.err" >"$work/fast.err2"
    grep -v '^treaty: \(info\|debug\)' "$work/slow.err" >"$work/slow.err2"
    if cmp -s "$work/fast.err2" "$work/slow.err2"; then ok; else bad "$what: the messages differ"; diff "$work/fast.err2" "$work/slow.err2" | head -20; fi
    # One answer per non-blank line, in order, and never an allow for a bad request.
    [ "$(wc -l <"$work/fast.out")" -ge $((lines - 2)) ] && ok || bad "$what: an answer per request"
  done
done

"$T" eval "$work/p.treaty" --requests "$work/fast/r.jsonl" --format json >"$work/out" 2>/dev/null
[ "$(grep -c '"decision":"allow"' "$work/out")" -gt 0 ] && [ "$(grep -c '"decision":"deny"' "$work/out")" -gt 0 ] &&
  [ "$(grep -c '"decision":"error"' "$work/out")" -gt 0 ] && ok || bad "the batch has allows, denies and errors"
grep -v '"decision":"error"' "$work/out" | grep -qv '"misses":\[\]' && bad "misses without --explain" || ok
"$T" eval "$work/p.treaty" --requests "$work/fast/r.jsonl" --format json --explain >"$work/out" 2>/dev/null
grep -q '"misses":\[{"condition":"when p.account == d.account"' "$work/out" && ok || bad "--explain lists the misses"
grep -q '"determining":\[{"file":"[^"]*p.treaty","line":16,"rule":"same_account"}\]' "$work/out" && ok || bad "determining names file, line and rule"
# An unknown principal is an error at its line, never an answer of the hot path.
"$T" eval "$work/p.treaty" --requests "$work/fast/r.jsonl" --format json >/dev/null 2>"$work/err"
grep -q 'r.jsonl:[0-9]*: bad request: unknown principal `Person::"nobody"`' "$work/err" && ok || bad "unknown principal message"
grep -q 'r.jsonl:[0-9]*:18: bad request: invalid JSON' "$work/err" && ok || bad "bad JSON at its line and column"

# --requests reads its file through a buffer of 1 MiB, not whole: lines cut by the buffer's
# refills, a line longer than the buffer (a 3 MB note) and a last line without a newline are each
# answered as when given alone.
printf '%s\n' '{"principal":{"type":"Person","id":"ann"},"action":{"name":"view"},"resource":{"type":"Doc","id":"d1"}}' \
  '{"principal":{"type":"Person","id":"bob"},"action":{"name":"view"},"resource":{"type":"Doc","id":"d1"}}' \
  '{"principal":{"type":"Person","id":"ann"},"action":{"name":"act","args":{"kind":"project","urgent":true}},"resource":{"type":"Doc","id":"d2"}}' \
  >"$work/block.jsonl"
"$T" eval "$work/p.treaty" --requests "$work/block.jsonl" --format json >"$work/block.out" 2>/dev/null
note=$(head -c 3000000 /dev/zero | tr '\0' 'n')
long='{"principal":{"type":"Person","id":"ann"},"action":{"name":"act","args":{"kind":"approval","urgent":true,"level":3,"note":"'$note'"}},"resource":{"type":"Doc","id":"d1"}}'
printf '%s\n' "$long" >"$work/long.jsonl"
"$T" eval "$work/p.treaty" --requests "$work/long.jsonl" --format json >"$work/long.out" 2>/dev/null
grep -q '"decision":"allow"' "$work/long.out" && ok || bad "a 3 MB request is answered"
times() { awk -v n="$1" '{ a[NR] = $0 } END { for (i = 0; i < n; i++) for (j = 1; j <= NR; j++) print a[j] }' "$2"; }
{
  times 12000 "$work/block.jsonl"
  printf '%s\n' "$long"
  times 3000 "$work/block.jsonl"
  printf '%s' "$(head -n1 "$work/block.jsonl")"
} >"$work/big.jsonl"
{
  times 12000 "$work/block.out"
  cat "$work/long.out"
  times 3000 "$work/block.out"
  head -n1 "$work/block.out"
} >"$work/big.want"
"$T" eval "$work/p.treaty" --requests "$work/big.jsonl" --format json >"$work/big.out" 2>"$work/big.err"
rc=$?
[ $rc -eq 0 ] && ok || bad "a 7 MB batch exits $rc: $(head -3 "$work/big.err")"
cmp -s "$work/big.out" "$work/big.want" && ok || bad "a batch read in pieces: the answers differ from each line's alone"
"$T" eval "$work/p.treaty" --requests "$work" >/dev/null 2>"$work/err"
[ $? -eq 2 ] && grep -q "cannot read $work: is a directory" "$work/err" && ok || bad "--requests DIRECTORY: $(cat "$work/err")"
"$T" eval "$work/p.treaty" --requests "$work/none.jsonl" >/dev/null 2>"$work/err"
[ $? -eq 2 ] && grep -q "cannot read $work/none.jsonl: No such file or directory" "$work/err" && ok || bad "--requests MISSING: $(cat "$work/err")"

echo "eval_fast: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
