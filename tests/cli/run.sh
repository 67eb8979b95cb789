#!/usr/bin/env bash
# End-to-end tests of the `treaty` command: exit codes, messages, and that nothing is half-written.
# Usage: TREATY=path/to/treaty run.sh SOURCE_DIR
set -uo pipefail
src=$1
T=${TREATY:?set TREATY to the treaty binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect_rc CODE DESCRIPTION -- COMMAND...
expect_rc() {
  local want=$1 what=$2
  shift 3
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  if [ "$got" -eq "$want" ]; then ok; else bad "$what: exit $got, wanted $want"; sed 's/^/  | /' "$work/out" "$work/err"; fi
}
# expect_in FILE TEXT DESCRIPTION
expect_in() {
  if grep -qF -- "$2" "$1"; then ok; else bad "$3: \`$2\` not in output"; sed 's/^/  | /' "$1"; fi
}

# --- flags and verbs ---
expect_rc 0 "--version" -- "$T" --version
expect_in "$work/out" "treaty 0." "--version prints the version"
expect_rc 0 "--help" -- "$T" --help
expect_in "$work/out" "check" "--help lists check"
expect_in "$work/out" "fmt" "--help lists fmt"
expect_rc 2 "unknown verb" -- "$T" chekc policies
expect_in "$work/err" "unknown verb \`chekc\`; did you mean \`check\`?" "unknown verb message"
expect_rc 2 "unknown flag" -- "$T" check --bogus "$src/policies"
expect_in "$work/err" "bogus" "unknown flag is named"
expect_rc 2 "no verb" -- "$T"
expect_rc 2 "bad --format" -- "$T" check --format xml "$src/policies"
expect_rc 2 "bad --log-level" -- "$T" --log-level loud check "$src/policies"

# --- check ---
expect_rc 0 "check on the bundled policies" -- "$T" check "$src/policies"
expect_rc 2 "check on a missing path" -- "$T" check "$work/nope"
expect_in "$work/out" "error[E0001]: cannot read" "missing path message"
mkdir -p "$work/empty"
expect_rc 2 "check on a directory without policies" -- "$T" check "$work/empty"
expect_in "$work/out" "error[E0005]" "empty directory message"

cat >"$work/bad.treaty" <<'TREATY'
enum Role { a, b }
permit broken
  when true
forbid fine when false;
entity E { x Int }
TREATY
expect_rc 1 "check reports syntax errors" -- "$T" check "$work/bad.treaty"
expect_in "$work/out" "bad.treaty:4:1: error[E0136]: expected \`;\` after the rule, found \`forbid\`" "first error"
expect_in "$work/out" "bad.treaty:5:14: error[E0116]" "second error after recovery"
expect_in "$work/err" "checked 1 file: 2 errors, 0 warnings" "summary line"
expect_rc 1 "check --format json" -- "$T" check --format json "$work/bad.treaty"
expect_in "$work/out" '"code": "E0136"' "json has the code"
expect_rc 1 "check --format sarif" -- "$T" check --format sarif "$work/bad.treaty"
expect_in "$work/out" '"version": "2.1.0"' "sarif version"
expect_in "$work/out" '"ruleId": "E0116"' "sarif rule id"
expect_rc 1 "-v logs stages to stderr" -- "$T" -v check "$work/bad.treaty"
expect_in "$work/err" "parse: 1 files, 2 declarations in" "stage log"

# --- check --dump ---
# Run from the source directory, as the goldens are made, so that the paths in the dump are the
# relative ones given; the command must print exactly the goldens GoldenDump pins.
Tabs=$(cd "$(dirname "$T")" && pwd)/$(basename "$T")
for stage in ir indexes; do
  (cd "$src" && "$Tabs" check --dump=$stage policies/4me/lib) >"$work/out" 2>"$work/err"
  rc=$?
  [ "$rc" -eq 0 ] && ok || bad "check --dump=$stage policies/4me/lib: exit $rc"
  if cmp -s "$work/out" "$src/tests/golden/dump/4me_$stage.expected"; then ok; else
    bad "check --dump=$stage differs from tests/golden/dump/4me_$stage.expected"
    diff "$src/tests/golden/dump/4me_$stage.expected" "$work/out" | head -20 | sed 's/^/  | /'
  fi
  expect_in "$work/err" "checked 8 files: 0 errors" "--dump keeps the summary on stderr ($stage)"
done
for stage in syntax checked ir indexes; do
  (cd "$src" && "$Tabs" check --dump=$stage tests/golden/dump/small.treaty) >"$work/out" 2>/dev/null
  cmp -s "$work/out" "$src/tests/golden/dump/small_$stage.expected" && ok ||
    bad "check --dump=$stage differs from tests/golden/dump/small_$stage.expected"
done
expect_rc 2 "--dump of an unknown stage" -- "$T" check --dump=lowered "$src/policies/4me/lib"
expect_in "$work/err" "lowered" "the unknown stage is named"
expect_rc 0 "check --help describes --dump" -- "$T" check --help
expect_in "$work/out" "--dump" "--help names --dump"
expect_in "$work/out" "indexes: the hash indexes chosen" "--help lists the stages"
# With problems: diagnostics still go out (to stderr), the exit status is unchanged, and every
# stage after `syntax` is refused because there is no checked program.
expect_rc 1 "--dump=syntax of a file with syntax errors" -- "$T" check --dump=syntax "$work/bad.treaty"
expect_in "$work/out" "bad.treaty:1:1: enum Role" "the syntax dump has what parsed"
expect_in "$work/err" "error[E0136]" "the diagnostics go to stderr"
[ ! -s "$work/out" ] || ! grep -q "error\[" "$work/out" && ok || bad "diagnostics leaked into the dump"
expect_rc 1 "--dump=ir of a file with errors" -- "$T" check --dump=ir "$work/bad.treaty"
expect_in "$work/err" "cannot produce --dump=ir because the package has errors" "the refusal says why"
[ ! -s "$work/out" ] && ok || bad "a refused dump printed something"
printf 'entity E { x: Int }\naction a principal E resource E;\npermit r principal p: E action a resource q: E when p.y == 1;\n' >"$work/typo.treaty"
expect_rc 1 "--dump=indexes of a file with a type error" -- "$T" check --dump=indexes "$work/typo.treaty"
expect_in "$work/err" "cannot produce --dump=indexes" "refused after a check error"
expect_rc 1 "--dump=checked with --format json" -- "$T" check --dump=checked --format json "$work/typo.treaty"
expect_in "$work/err" '"code": "E0' "json diagnostics go to stderr with --dump"
expect_rc 0 "--dump=checked of a relative path" -- bash -c "cd '$src' && '$Tabs' check --dump=checked docs/examples/quickstart.treaty"
expect_in "$work/out" "entity Trust (docs/examples/quickstart.treaty:" "paths in the dump are as given"

# --- fmt ---
printf 'enum   Role {a,b,}\npermit r  principal p:Person action view when p.x==1;\n' >"$work/ugly.treaty"
cp "$work/ugly.treaty" "$work/ugly.orig"
expect_rc 1 "fmt --check lists unformatted files" -- "$T" fmt --check "$work/ugly.treaty"
expect_in "$work/out" "ugly.treaty" "fmt --check names the file"
cmp -s "$work/ugly.treaty" "$work/ugly.orig" && ok || bad "fmt --check must not write"
expect_rc 0 "fmt rewrites" -- "$T" fmt "$work/ugly.treaty"
expect_in "$work/ugly.treaty" "enum Role { a, b }" "fmt output"
expect_rc 0 "fmt --check passes after fmt" -- "$T" fmt --check "$work/ugly.treaty"
[ -z "$(find "$work" -name '.*treaty-fmt-*')" ] && ok || bad "fmt left a temporary file"
cp "$work/bad.treaty" "$work/bad.orig"
expect_rc 1 "fmt refuses a file with syntax errors" -- "$T" fmt "$work/bad.treaty"
cmp -s "$work/bad.treaty" "$work/bad.orig" && ok || bad "fmt must leave a broken file untouched"
expect_rc 0 "fmt --check on the bundled policies" -- "$T" fmt --check "$src/policies"

# --- check with data, requirements ---
q="$src/docs/examples/quickstart.treaty"
printf '{"entities": [ {"type": "Person", "id": "zed", "attrs": {"account": "widget", "roles": []}} ]' >"$work/broken.json"
expect_rc 1 "check --data with invalid JSON" -- "$T" check "$q" --data "$work/broken.json"
expect_in "$work/out" "error[E0405]: invalid JSON" "invalid JSON is located"
printf '{"entities": [ {"type": "Person", "id": "zed", "attrs": {"account": "nowhere", "roles": []}} ]}' >"$work/dangling.json"
expect_rc 1 "check --data with a dangling reference" -- "$T" check "$q" --data "$work/dangling.json"
expect_in "$work/out" "at entities[0].attrs.account: no \`Account\` with id \"nowhere\"" "dangling reference has its JSON path"
printf '{"entities": [ {"type": "Person", "id": "zed", "attrs": {"account": "msp", "roles": ["service_desk_analyst"]}} ]}' >"$work/zed.json"
expect_rc 0 "check --data with good data" -- "$T" check "$q" --data "$work/zed.json"
expect_rc 2 "check --data with a missing file" -- "$T" check "$q" --data "$work/none.json"

# --- test ---
expect_rc 0 "test on the quickstart" -- "$T" test "$q"
expect_in "$work/out" "3 passed, 0 failed" "test summary"
sed 's/expect deny principal Person::"eve"/expect allow principal Person::"eve"/' "$q" >"$work/failing.treaty"
expect_rc 1 "a failing test exits 1" -- "$T" test "$work/failing.treaty"
expect_in "$work/out" "expected allow, got deny" "failure names both decisions"
expect_in "$work/out" "closest misses" "failure explains the deny"
expect_in "$work/out" "2 passed, 1 failed" "failing summary"
expect_rc 1 "test --format junit" -- "$T" test --format junit "$work/failing.treaty"
expect_in "$work/out" '<testsuites tests="3" failures="1">' "junit header"
expect_rc 0 "test --format json" -- "$T" test --format json "$q"
expect_in "$work/out" '"passed": 3' "json summary"
expect_rc 1 "test --filter matching nothing fails" -- "$T" test --filter nothing-matches "$q"
expect_in "$work/err" "--filter \`nothing-matches\` matches no test" "filter matching nothing is said"
expect_rc 0 "test --filter" -- "$T" test --filter "$(sed -n 's/^test "\([^"]*\)".*/\1/p' "$q" | head -1)" "$q"
expect_rc 1 "verify --filter matching nothing fails" -- "$T" verify --filter nothing-matches "$src/policies/4me" --runs 1
expect_in "$work/err" "--filter \`nothing-matches\` matches no property" "verify filter matching nothing is said"
expect_rc 2 "verify refuses a negative seed" -- "$T" verify --seed -3 "$src/policies/4me" --runs 1
expect_in "$work/err" "the seed is a whole number >= 0" "negative seed message"
expect_rc 2 "eval refuses --explain with --mask" -- "$T" eval "$src/policies/bm365" --principal 'Employee::"b_tech"' --action view_ticket_field --resource 'Ticket::"b_acme_1"' --mask field --explain
expect_in "$work/err" "--mask lists the allowed values" "explain with mask message"
expect_rc 1 "-v after the verb" -- "$T" check -v "$work/bad.treaty"
expect_in "$work/err" "parse: 1 files" "-v after the verb logs stages"
expect_rc 1 "--log-level after the verb" -- "$T" check "$work/bad.treaty" --log-level info
expect_in "$work/err" "parse: 1 files" "--log-level after the verb logs stages"

# --- eval ---
expect_rc 0 "eval flags" -- "$T" eval "$q" --principal 'Person::"sam"' --action view --resource 'Request::"r1"' --explain
expect_in "$work/out" "allowed by permit \`view_over_trust\`" "eval explains an allow"
expect_rc 0 "eval deny" -- "$T" eval "$q" --principal 'Person::"eve"' --action view --resource 'Request::"r1"' --explain
expect_in "$work/out" "\`service_desk_analyst in p.roles\` is false" "eval quotes the failing condition"
expect_rc 2 "eval unknown entity is an error, not a deny" -- "$T" eval "$q" --principal 'Person::"nobody"' --action view --resource 'Request::"r1"'
expect_in "$work/err" "unknown principal" "unknown entity message"
expect_rc 2 "eval without a request" -- "$T" eval "$q"
printf '{"principal": {"type": "Person", "id": "sam"}, "action": {"name": "view"}, "resource": {"type": "Request", "id": "r1"}}\n{"principal": {"type": "Person", "id": "eve"}, "action": {"name": "view"}, "resource": {"type": "Request", "id": "r1"}}\n' >"$work/reqs.jsonl"
expect_rc 0 "eval --requests" -- "$T" eval "$q" --requests "$work/reqs.jsonl" --format json
[ "$(grep -c '"decision"' "$work/out")" -eq 2 ] && ok || bad "one answer per request"
[ "$(sed -n 1p "$work/out" | grep -c allow)" -eq 1 ] && [ "$(sed -n 2p "$work/out" | grep -c deny)" -eq 1 ] && ok || bad "answers in order"
printf '{"principal": {"type": "Person", "id": "sam"}, "action": {"name": "view"}, "resource": {"type": "Request", "id": "new"}, "entities": [{"type": "Request", "id": "new", "attrs": {"account": "widget", "requested_for": "alice"}}]}' >"$work/inline.json"
expect_rc 0 "eval with an inline entity" -- "$T" eval "$q" --request "$work/inline.json" --format json
expect_in "$work/out" '"decision":"allow"' "inline entity is visible to the rules"
# A request may bring inline only the types its policy declares `inline entity`: never its own trust.
printf '{"principal": {"type": "Person", "id": "eve"}, "action": {"name": "view"}, "resource": {"type": "Request", "id": "r1"}, "entities": [{"type": "Trust", "id": "mine", "attrs": {"grantor": "widget", "grantee": "msp", "accepted": true, "shared_roles": ["service_desk_analyst"]}}]}' >"$work/owntrust.json"
expect_rc 2 "a request cannot bring its own trust" -- "$T" eval "$q" --request "$work/owntrust.json" --format json
expect_in "$work/err" 'a request may not bring a `Trust` inline; only types declared `inline entity` may be' "inline type message"
expect_in "$work/out" '"decision":"error"' "the answer is an error, not an allow"
printf '{"principal": {"type": "Person", "id": "sam", "role": "admin"}, "action": {"name": "view"}, "resource": {"type": "Request", "id": "r1"}}' >"$work/unknownkey1.json"
printf '{"principal": {"type": "Person", "id": "sam"}, "action": {"name": "view", "argz": {}}, "resource": {"type": "Request", "id": "r1"}}' >"$work/unknownkey2.json"
for f in unknownkey1 unknownkey2; do
  expect_rc 2 "a request with an unknown nested key ($f)" -- "$T" eval "$q" --request "$work/$f.json"
  expect_in "$work/err" "unknown field" "unknown nested key is named ($f)"
done
printf '{"principal": {"type": "Person", "id": "sam"}, "action": {"name": "view"}, "resource": {"type": "Request", "id": "new"}, "entities": [{"type": "Request", "id": "new", "attrs": {"account": "widget", "requested_for": "alice"}, "extra": 1}]}' >"$work/inline_extra.json"
expect_rc 2 "an inline entity with an unknown key" -- "$T" eval "$q" --request "$work/inline_extra.json"
expect_in "$work/err" 'unknown field "extra" in an entity' "unknown entity key is named"
printf '{"principal": {"type": "Person", "id": "sam"}, "action": {"name": "edit"}, "resource": {"type": "Request", "id": "r1"}}' >"$work/badreq.json"
expect_rc 2 "eval with an unknown action" -- "$T" eval "$q" --request "$work/badreq.json"
expect_in "$work/err" "unknown action \`edit\`" "unknown action message"
# "did you mean" for actions, entity types and entity ids, from JSON and from the flags.
printf '{"principal": {"type": "Person", "id": "samm"}, "action": {"name": "veiw"}, "resource": {"type": "Request", "id": "r1"}}' >"$work/typo_action.json"
expect_rc 2 "eval with a misspelt action" -- "$T" eval "$q" --request "$work/typo_action.json"
expect_in "$work/err" "unknown action \`veiw\`; did you mean \`view\`?" "misspelt action: did you mean"
printf '{"principal": {"type": "Person", "id": "samm"}, "action": {"name": "view"}, "resource": {"type": "Request", "id": "r1"}}' >"$work/typo_id.json"
expect_rc 2 "eval with a misspelt principal id" -- "$T" eval "$q" --request "$work/typo_id.json"
expect_in "$work/err" 'unknown principal `Person::"samm"`; did you mean `Person::"sam"`?' "misspelt id: did you mean"
printf '{"principal": {"type": "Persn", "id": "sam"}, "action": {"name": "view"}, "resource": {"type": "Request", "id": "r1"}}' >"$work/typo_type.json"
expect_rc 2 "eval with a misspelt entity type" -- "$T" eval "$q" --request "$work/typo_type.json"
expect_in "$work/err" 'unknown entity type `Persn`; did you mean `Person`?' "misspelt type: did you mean"
expect_rc 2 "eval --action misspelt" -- "$T" eval "$q" --principal 'Person::"sam"' --action veiw --resource 'Request::"r1"'
expect_in "$work/err" "unknown action \`veiw\`; did you mean \`view\`?" "misspelt --action: did you mean"
expect_rc 2 "eval --resource id misspelt" -- "$T" eval "$q" --principal 'Person::"sam"' --action view --resource 'Request::"r2"'
expect_in "$work/err" 'unknown resource `Request::"r2"`; did you mean `Request::"r1"`?' "misspelt --resource id: did you mean"
# The flags are read by the expression parser and the request converter, not as a synthetic test.
expect_rc 2 "a malformed --action" -- "$T" eval "$q" --principal 'Person::"sam"' --action 'view(kind approval)' --resource 'Request::"r1"'
expect_in "$work/err" "cannot read the request flags: each argument of --action is \`parameter: value\`" "malformed --action is named"
expect_rc 2 "--principal that is not an entity" -- "$T" eval "$q" --principal '"sam"' --action view --resource 'Request::"r1"'
expect_in "$work/err" "--principal and --resource are entities" "non-entity --principal is named"
expect_rc 2 "an --action argument with a syntax error" -- "$T" eval "$q" --principal 'Person::"sam"' --action 'view(kind: {a,)' --resource 'Request::"r1"'
expect_in "$work/err" "cannot read the request flags" "argument syntax error is reported"
# A request that is not JSON is an error at its line and column, with the parser's reason;
# the good requests around it are still answered.
printf '{"principal": {"type": "Person", "id": "sam"}, "action": {"name": "view"}, "resource": {"type": "Request", "id": "r1"}}\n{"principal": {"type": "Person", "id": "sam"}, "action": {"name": "view", "args": {"x": 1e999}}}\n\n{"principal": tru}\n' >"$work/badjson.jsonl"
expect_rc 2 "eval --requests with bad JSON lines" -- "$T" eval "$q" --requests "$work/badjson.jsonl"
expect_in "$work/err" "badjson.jsonl:2:89: bad request: invalid JSON: number overflow parsing '1e999'" "overflow located at the number"
expect_in "$work/err" "badjson.jsonl:4:18: bad request: invalid JSON: syntax error while parsing value - invalid literal" "syntax error located in its line"
[ "$(sed -n 1p "$work/out" | grep -c '^allow')" -eq 1 ] && ok || bad "the good request before the bad ones is answered"
printf '{"principal":\n  {"type": "Person",\n   "id": }}' >"$work/badjson.json"
expect_rc 2 "eval --request with bad JSON" -- "$T" eval "$q" --request "$work/badjson.json"
expect_in "$work/err" "badjson.json:3:10: bad request: invalid JSON: syntax error while parsing value - unexpected '}'" "line and column in a multi-line request"

# Keys and requirements hold for the world a decision sees: inline entities and `given` facts too.
cat >"$work/keys.treaty" <<'TREATY'
entity Account {}
inline entity Trust { grantor: Account, grantee: Account, accepted: Bool, key (grantor, grantee) }
entity Doc { account: Account }
action read principal Account resource Doc;
permit over_trust principal a: Account action read resource d: Doc
  when exists t: Trust where t.grantor == d.account and t.grantee == a and t.accepted;
require no_self_trust forall t: Trust ensure t.grantor != t.grantee message "{t.grantor} trusts itself";
Account::"c" {}
Account::"p" {}
Trust::"c_p" { grantor: "c", grantee: "p", accepted: false }
Doc::"d" { account: "c" }
test "a given trust duplicating a key" {
  given { Trust::"again" { grantor: "c", grantee: "p", accepted: true } }
  expect allow principal Account::"p" action read resource Doc::"d";
}
test "a given trust breaking a requirement" {
  given { Trust::"self" { grantor: "p", grantee: "p", accepted: true } }
  expect deny principal Account::"p" action read resource Doc::"d";
}
TREATY
expect_rc 1 "given facts that break a key or a requirement fail their test" -- "$T" test "$work/keys.treaty"
expect_in "$work/out" 'the same key (grantor, grantee) as `Trust::"c_p"`' "key violation in given facts"
expect_in "$work/out" 'p trusts itself (requirement `no_self_trust`' "requirement violation in given facts"
expect_in "$work/out" "0 passed, 2 failed" "neither test passes on a broken world"
printf '{"principal": {"type": "Account", "id": "p"}, "action": {"name": "read"}, "resource": {"type": "Doc", "id": "d"}, "entities": [{"type": "Trust", "id": "again", "attrs": {"grantor": "c", "grantee": "p", "accepted": true}}]}\n{"principal": {"type": "Account", "id": "p"}, "action": {"name": "read"}, "resource": {"type": "Doc", "id": "d"}, "entities": [{"type": "Trust", "id": "self", "attrs": {"grantor": "p", "grantee": "p", "accepted": true}}]}\n' >"$work/keys.jsonl"
expect_rc 2 "inline entities that break a key or a requirement are request errors" -- "$T" eval "$work/keys.treaty" --requests "$work/keys.jsonl" --format json
[ "$(grep -c '"decision":"error"' "$work/out")" -eq 2 ] && ok || bad "both requests are errors, never allows"
expect_in "$work/err" 'keys.jsonl:1: bad request: the request'"'"'s entities break the policy: `Trust::"again"` has the same key' "inline key violation"
expect_in "$work/err" 'keys.jsonl:2: bad request: the request'"'"'s entities break the policy: p trusts itself' "inline requirement violation"
expect_rc 0 "compile a policy with an inline type" -- "$T" compile "$work/keys.treaty" -o "$work/keys.bundle"
expect_rc 2 "the bundle keeps the key check" -- "$T" eval --bundle "$work/keys.bundle" --requests "$work/keys.jsonl" --format json
[ "$(grep -c '"decision":"error"' "$work/out")" -eq 2 ] && ok || bad "both requests are errors through the bundle too"

# Duplicates are errors, never "last one wins": JSON keys in a request, arguments in flags and tests.
printf '{"principal": {"type": "Person", "id": "t_cm"}, "action": {"name": "assign_task", "args": {"kind": "project", "kind": "approval"}}, "resource": {"type": "Person", "id": "t_kim"}}\n' >"$work/dupkey.jsonl"
expect_rc 2 "a request with a key given twice" -- "$T" eval "$src/policies/4me" --requests "$work/dupkey.jsonl"
expect_in "$work/err" 'dupkey.jsonl:1:111: bad request: invalid JSON: the key "kind" is given twice in one object' "duplicate key located"
printf '{"principal": {"type": "Person", "id": "t_cm", "id": "t_wadmin"}, "action": {"name": "view"}, "resource": {"type": "Request", "id": "x"}}' >"$work/dupkey.json"
expect_rc 2 "a nested key given twice" -- "$T" eval "$src/policies/4me" --request "$work/dupkey.json"
expect_in "$work/err" 'the key "id" is given twice' "nested duplicate key"
expect_rc 2 "an argument given twice in flags" -- "$T" eval "$src/policies/4me" --principal 'Person::"t_cm"' --action 'assign_task(kind: approval, kind: project)' --resource 'Person::"t_kim"'
expect_in "$work/err" "argument \`kind\` is given twice" "duplicate flag argument"
printf 'entity P {}\naction act(kind: Int) principal P resource P;\nP::"x" {}\ntest "t" { expect deny principal P::"x" action act(kind: 1, kind: 2) resource P::"x"; }\n' >"$work/duparg.treaty"
expect_rc 1 "an argument given twice in a test" -- "$T" check "$work/duparg.treaty"
expect_in "$work/out" "duparg.treaty:4:61: error[E0406]: argument \`kind\` is given twice" "duplicate test argument located"

# --- the bundled libraries ---
printf '{"entities": [{"type": "Account", "id": "x_std", "attrs": {"kind": "standard", "plan": "essential", "modules": [], "directory": null}},
 {"type": "Trust", "id": "x_dir_std", "attrs": {"grantor": "t_widget_dir", "grantee": "x_std", "accepted": true, "options": [], "shared_roles": ["specialist"]}}]}' >"$work/t10.json"
expect_rc 1 "T10: a directory account sharing roles with a non-Premium account" -- "$T" check "$src/policies/4me" --data "$work/t10.json"
expect_in "$work/out" "directory account t_widget_dir shares roles with account x_std, which is on the essential pricing plan; a directory account may share roles only with an account on Premium or Enterprise" "T10 message"
sed 's/"essential"/"enterprise"/' "$work/t10.json" >"$work/t10e.json"
expect_rc 0 "T10: Enterprise includes Premium" -- "$T" check "$src/policies/4me" --data "$work/t10e.json"
# T1: the records a withdrawal leaves behind are valid data that grant nothing.
printf '{"entities": [{"type": "Account", "id": "x_cust", "attrs": {"kind": "standard", "plan": "premium", "modules": [], "directory": null}},
 {"type": "Trust", "id": "x_unshared", "attrs": {"grantor": "x_cust", "grantee": "t_msp", "accepted": true, "options": [], "shared_roles": []}},
 {"type": "RoleAssignment", "id": "x_stale", "attrs": {"person": "t_cm", "role": "account_administrator", "account": "x_cust"}}]}' >"$work/t1.json"
expect_rc 0 "T1: a stale role assignment is valid data" -- "$T" check "$src/policies/4me" --data "$work/t1.json"
expect_rc 0 "T1: a stale role assignment compiles" -- "$T" compile "$src/policies/4me" --data "$work/t1.json" -o "$work/t1.bundle"
expect_rc 0 "T1: a stale role assignment grants nothing" -- "$T" eval --bundle "$work/t1.bundle" --principal 'Person::"t_cm"' --action switch_to --resource 'Account::"x_cust"'
expect_in "$work/out" "deny" "T1: the stale assignment is denied"
expect_rc 0 "bm365 field mask" -- "$T" eval "$src/policies/bm365" --principal 'Employee::"b_tech"' --action view_ticket_field --resource 'Ticket::"b_acme_1"' --mask field
expect_in "$work/out" "field: summary, status, internal_notes" "field mask lists the visible fields"
expect_rc 2 "--mask on a non-enum parameter" -- "$T" eval "$src/policies/bm365" --principal 'Employee::"b_tech"' --action assign_ticket --resource 'Ticket::"b_acme_1"' --mask to
expect_in "$work/err" "--mask needs an enum parameter" "mask type message"

# --- compile and bundles ---
expect_rc 0 "compile the 4me library" -- "$T" compile "$src/policies/4me" -o "$work/4me.bundle"
expect_in "$work/err" "compiled " "compile summary"
[ "$(stat -c %a "$work/4me.bundle")" = "$(printf '%o' $((0666 & ~0$(umask))))" ] && ok || bad "a new bundle gets 0666 less the umask"
expect_rc 0 "eval from a bundle" -- "$T" eval --bundle "$work/4me.bundle" --principal 'Person::"t_cm2"' --action 'assign_task(kind: approval)' --resource 'Person::"t_dirperson"' --explain
expect_in "$work/out" "allowed by permit \`approval_tasks_to_anyone\`" "bundle decision explained from the bundled source"
head -c 300 "$work/4me.bundle" >"$work/cut.bundle"
expect_rc 2 "a truncated bundle is refused" -- "$T" eval --bundle "$work/cut.bundle" --principal 'Person::"t_cm2"' --action 'assign_task(kind: approval)' --resource 'Person::"t_dirperson"'
expect_in "$work/err" "truncated" "truncation message"
expect_rc 2 "a foreign file is refused" -- "$T" eval --bundle "$src/README.md" --principal 'Person::"a"' --action x --resource 'Person::"b"'
expect_in "$work/err" "not a Treaty bundle" "foreign file message"
expect_rc 1 "compile refuses a broken policy and writes nothing" -- "$T" compile "$work/bad.treaty" -o "$work/never.bundle"
[ ! -e "$work/never.bundle" ] && ok || bad "compile must not write a bundle for a broken policy"
expect_rc 2 "eval with both paths and --bundle" -- "$T" eval "$src/policies/4me" --bundle "$work/4me.bundle" --principal 'Person::"a"' --action x --resource 'Person::"b"'

# --- verify ---
expect_rc 0 "verify the 4me library" -- "$T" verify "$src/policies/4me" --seed 3 --runs 100
expect_in "$work/out" "10 passed, 0 failed (seed 3" "verify summary names the seed"
mkdir -p "$work/mutant"
cp -r "$src/policies/bm365/lib" "$work/mutant/"
sed -i 's/not (p in e.revokes) and //' "$work/mutant/lib/permissions.treaty"
expect_rc 1 "verify finds a planted bug" -- "$T" verify "$work/mutant" --seed 3 --runs 500 --filter revocation
expect_in "$work/out" 'test "counterexample to revocation_always_wins"' "a ready-to-paste test"
expect_in "$work/out" "the wrong decision:" "with its explanation"
expect_rc 1 "verify --format json" -- "$T" verify "$work/mutant" --seed 3 --runs 500 --filter revocation --format json
expect_in "$work/out" '"counterexample"' "json counterexample"
cp -r "$src/policies/bm365/tests" "$work/mutant/"
expect_rc 1 "verify --facts finds the planted bug in the package's own facts" -- "$T" verify "$work/mutant" --facts --filter revocation
expect_in "$work/out" 'expect deny principal Employee::"b_revoked" action perform(permission: ticket_open) resource Client::"b_acme";' "the counterexample is a request over the real facts"
expect_in "$work/out" "0 passed, 1 failed (over the package's facts)" "verify --facts summary"
expect_rc 0 "verify --facts on the correct library" -- "$T" verify "$src/policies/bm365" --facts --format json
expect_in "$work/out" '"over": "facts"' "verify --facts json"
expect_rc 2 "verify --max-requests 0" -- "$T" verify "$src/policies/bm365" --facts --max-requests 0

# --- test --coverage ---
mkdir -p "$work/cov"
cat >"$work/cov/doc.treaty" <<'TREATY'
entity Account { name: String }
entity Person { account: Account }
entity Doc { owner: Account }
action view principal Person resource Doc;
permit own principal p: Person action view resource d: Doc
  when p.account == d.owner;
permit nobody principal p: Person action view resource d: Doc
  when p.account.name == "nobody";
Account::"a" { name: "A" }
Account::"c" { name: "C" }
Person::"pa" { account: "a" }
Person::"pc" { account: "c" }
Doc::"d" { owner: "a" }
test "own" {
  expect allow principal Person::"pa" action view resource Doc::"d";
  expect deny principal Person::"pc" action view resource Doc::"d";
}
TREATY
expect_rc 0 "test --coverage (text, to stderr)" -- "$T" test "$work/cov" --coverage
expect_in "$work/out" "2 passed, 0 failed" "the test results stay on stdout"
expect_in "$work/err" "coverage: 5 of 6 (83.3%)" "the coverage summary on stderr"
expect_in "$work/err" "doc.treaty:7:8: rule \`nobody\` never decided an expectation" "what no test covers, with its place"
expect_rc 0 "test --coverage=FILE --coverage-format lcov" -- "$T" test "$work/cov" --coverage="$work/cov.info" --coverage-format lcov
expect_in "$work/cov.info" "FN:7,nobody" "lcov names rules as functions"
expect_in "$work/cov.info" "FNDA:0,nobody" "lcov: the untested rule has no hits"
expect_in "$work/cov.info" "DA:7,0" "lcov: its line is uncovered"
expect_in "$work/cov.info" "DA:6,1" "lcov: a covered condition's line"
expect_in "$work/cov.info" "end_of_record" "lcov record ends"
expect_rc 0 "test --format junit with cobertura coverage" -- "$T" test "$work/cov" --format junit --coverage "$work/cov.xml" --coverage-format cobertura
expect_in "$work/out" "<testsuites" "junit on stdout"
if python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); assert r.tag == "coverage" and r.get("lines-valid") == "4" and r.get("lines-covered") == "3", r.attrib' "$work/cov.xml"; then ok; else bad "cobertura XML parses with 3 of 4 lines covered"; fi
expect_rc 0 "coverage json" -- "$T" test "$work/cov" --coverage="$work/cov.json" --coverage-format json
if python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); assert j["covered"] == 5 and j["total"] == 6 and j["by_kind"]["rule decides"] == {"covered": 1, "total": 2}, j' "$work/cov.json"; then ok; else bad "coverage json counts"; fi
expect_rc 1 "--min-coverage fails below the threshold" -- "$T" test "$work/cov" --min-coverage 90
expect_in "$work/err" "coverage 5 of 6 is below --min-coverage 90%" "the threshold message"
expect_rc 0 "--min-coverage passes at the threshold" -- "$T" test "$work/cov" --min-coverage 80
expect_rc 2 "--min-coverage out of range" -- "$T" test "$work/cov" --min-coverage 101
expect_rc 2 "a bad --coverage-format" -- "$T" test "$work/cov" --coverage --coverage-format html
expect_rc 2 "an unwritable coverage file" -- "$T" test "$work/cov" --coverage="$work/no/such/dir/cov.info"
expect_in "$work/err" "cannot write the coverage report" "unwritable file message"
[ ! -e "$work/no/such/dir/cov.info.tmp" ] && ok || bad "no half-written coverage file"

# --- query ---
expect_rc 0 "query subjects" -- "$T" query subjects "$q" --type Person --action view --resource 'Request::"r1"'
expect_in "$work/out" 'Person::"alice"' "query subjects finds the account's own person"
expect_in "$work/out" 'Person::"sam"' "query subjects finds the analyst over the trust"
if grep -qF 'Person::"eve"' "$work/out"; then bad "query subjects lists a person who is denied"; else ok; fi
expect_rc 0 "query subjects --explain" -- "$T" query subjects "$q" --type Person --action view --resource 'Request::"r1"' --explain
expect_in "$work/out" 'Person::"sam"  (view_over_trust)' "--explain names the deciding rule"
expect_in "$work/out" "permit \`view_own_account\`: index Person.account" "--explain says the index that drove a permit"
expect_in "$work/out" "no scan" "--explain says no permit scanned"
expect_rc 0 "query subjects --format json --limit 1" -- "$T" query subjects "$q" --type Person --action view --resource 'Request::"r1"' --format json --limit 1
if python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); assert j["subjects"] == [{"type": "Person", "id": "alice"}] and j["cursor"], j' "$work/out"; then ok; else bad "query json: one page and a cursor"; fi
cursor=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["cursor"])' "$work/out")
first_cursor=$cursor
expect_rc 0 "query subjects --cursor" -- "$T" query subjects "$q" --type Person --action view --resource 'Request::"r1"' --format jsonl --limit 1 --cursor "$cursor"
# The second page: sam, and nothing after (eve, the last candidate, is denied): no cursor line.
if python3 -c 'import json, sys; ls = [json.loads(l) for l in open(sys.argv[1])]; assert ls == [{"type": "Person", "id": "sam"}], ls' "$work/out"; then ok; else bad "query jsonl: the second page is the last, without a cursor"; fi
expect_rc 2 "query with a stale cursor" -- "$T" query subjects "$q" --type Person --action view --resource 'Request::"r1"' --cursor "${first_cursor/q1.0./q1.7.}"
expect_in "$work/err" "belongs to revision 7" "a stale cursor is refused, naming its revision"
expect_rc 2 "query with another query's cursor" -- "$T" query resources "$q" --principal 'Person::"sam"' --action view --type Request --cursor "$first_cursor"
expect_in "$work/err" "belongs to another query" "another query's cursor is refused"
expect_rc 2 "query with a malformed cursor" -- "$T" query subjects "$q" --type Person --action view --resource 'Request::"r1"' --cursor q1.0
expect_in "$work/err" "is not one a search gave out" "a malformed cursor is refused"
expect_rc 0 "query resources" -- "$T" query resources "$q" --principal 'Person::"sam"' --action view --type Request
expect_in "$work/out" 'Request::"r1"' "query resources"
expect_rc 0 "query resources for a person with none" -- "$T" query resources "$q" --principal 'Person::"eve"' --action view --type Request --format json
expect_in "$work/out" '{"resources":[]}' "an empty answer is an empty list"
expect_rc 0 "query actions" -- "$T" query actions "$q" --principal 'Person::"sam"' --resource 'Request::"r1"' --explain
expect_in "$work/out" "view  (view_over_trust)" "query actions lists the allowed action and its rule"
expect_rc 0 "query actions with an enum parameter" -- "$T" query actions "$src/policies/4me/lib" "$src/policies/examples/4me_enterprise_msp" --principal 'Person::"ivan"' --resource 'Person::"gina"' --format jsonl
if python3 -c 'import json, sys; [json.loads(l)["action"] for l in open(sys.argv[1])]' "$work/out"; then ok; else bad "query actions jsonl parses"; fi
expect_rc 0 "compile the quickstart for query --bundle" -- "$T" compile "$q" -o "$work/qs.bundle"
expect_rc 0 "query subjects --bundle" -- "$T" query subjects --bundle "$work/qs.bundle" --type Person --action view --resource 'Request::"r1"' --format jsonl
if python3 -c 'import json, sys; ls = [json.loads(l)["id"] for l in open(sys.argv[1])]; assert ls == ["alice", "sam"], ls' "$work/out"; then ok; else bad "query --bundle answers as from source"; fi
expect_rc 2 "query subjects without --type" -- "$T" query subjects "$q" --action view --resource 'Request::"r1"'
expect_in "$work/err" "needs --type" "the missing flag is named"
expect_rc 2 "query subjects with a principal" -- "$T" query subjects "$q" --type Person --principal 'Person::"sam"' --action view --resource 'Request::"r1"'
expect_rc 2 "query with a type the action does not take" -- "$T" query subjects "$q" --type Request --action view --resource 'Request::"r1"'
expect_in "$work/err" "does not accept" "the refused type is explained"
expect_rc 2 "query with an unknown resource" -- "$T" query subjects "$q" --type Person --action view --resource 'Request::"r9"'
expect_rc 2 "query with an unknown question" -- "$T" query who "$q"
expect_rc 0 "--help lists query" -- "$T" --help
expect_in "$work/out" "query" "--help lists query"

# --- graph and pictures ---
four=("$src/policies/4me/lib" "$src/policies/examples/4me_enterprise_msp")
expect_rc 0 "--help lists graph" -- "$T" --help
expect_in "$work/out" "graph" "--help lists graph"
expect_rc 0 "graph of the trusts" -- "$T" graph "${four[@]}" --types Account,Trust
expect_in "$work/out" 'digraph "world" {' "graph writes DOT"
expect_in "$work/out" '"Account::\"globex_it\"" -> "Account::\"initrode\"" [label="Trust::\"globex_it_initrode\"\naccepted: true\noptions: {change_tasks_to_key_contacts_and_specialists, approval_tasks_to_anyone}\nshared_roles: {service_desk_analyst}"' "a trust is an edge grantor -> grantee with its options and shared roles"
if grep -q 'Person::' "$work/out"; then bad "--types Account,Trust draws no person"; else ok; fi
expect_rc 0 "graph of the library's trusts" -- "$T" graph "$src/policies/4me" --types Trust
expect_in "$work/out" '"Account::\"t_other\"" -> "Account::\"t_msp\"" [label="Trust::\"t_other_msp\"\naccepted: false' "the unaccepted trust is drawn"
if grep -F '"Account::\"t_other\"" -> "Account::\"t_msp\""' "$work/out" | grep -q 'style=dashed'; then ok; else bad "the unaccepted trust is dashed"; fi
if grep -F '"Account::\"t_widget\"" -> "Account::\"t_msp\""' "$work/out" | grep -q 'style=dashed'; then bad "an accepted trust is not dashed"; else ok; fi
expect_rc 0 "graph --around" -- "$T" graph "${four[@]}" --around 'Person::"ivan"'
expect_in "$work/out" '"Person::\"ivan\"" -> "Account::\"initrode\"" [label="account"' "the neighbourhood's edge"
if grep -q 'globex' "$work/out"; then bad "--around depth 1 stays one step from ivan"; else ok; fi
expect_rc 0 "graph --around --depth 2" -- "$T" graph "${four[@]}" --around 'Person::"ivan"' --depth 2
expect_in "$work/out" 'Account::\"globex_it\"' "depth 2 reaches the trusting account"
expect_rc 0 "graph --format mermaid" -- "$T" graph "${four[@]}" --types Account,Trust --format mermaid
expect_in "$work/out" "flowchart LR" "mermaid flowchart"
expect_in "$work/out" '-->|"Trust::#quot;globex_it_initrode#quot;<br/>accepted: true' "mermaid escapes quotes and breaks lines"
expect_rc 0 "graph --format json" -- "$T" graph "${four[@]}" --types Account,Trust --format json
if python3 -c 'import json, sys; g = json.load(open(sys.argv[1])); assert len(g["nodes"]) == 5 and len(g["edges"]) == 4, (len(g["nodes"]), len(g["edges"]))' "$work/out"; then ok; else bad "graph json: 5 accounts, 2 trusts and 2 directory edges"; fi
expect_rc 0 "graph --format svg" -- "$T" graph "${four[@]}" --types Account,Trust --format svg -o "$work/trusts.svg"
expect_in "$work/trusts.svg" "<svg" "svg through Graphviz"
expect_in "$work/trusts.svg" "globex_it_initrode" "the svg draws the trust"
expect_rc 0 "graph DOT renders with dot" -- bash -c "'$T' graph '$src/policies/4me' --max-nodes 0 | dot -Tsvg >/dev/null"
printf 'stale\n' >"$work/kept.svg"
expect_rc 2 "graph --format svg without dot" -- env PATH=/nonexistent "$T" graph "${four[@]}" --types Trust --format svg -o "$work/kept.svg"
expect_in "$work/err" "Graphviz's \`dot\` is not on PATH" "a missing dot is explained"
expect_in "$work/err" "apt-get install graphviz" "with how to install it"
expect_in "$work/kept.svg" "stale" "nothing is half-written when dot is missing"
expect_rc 2 "graph with an unknown type" -- "$T" graph "${four[@]}" --types Acount,Trust
expect_in "$work/err" "--types: unknown entity type \`Acount\`; did you mean \`Account\`?" "unknown type named, with a suggestion"
expect_rc 2 "graph --around an unknown entity" -- "$T" graph "${four[@]}" --around 'Person::"nobody"'
expect_in "$work/err" '--around: no entity Person::"nobody" in the facts' "unknown entity named"
expect_rc 2 "graph --around an unknown type" -- "$T" graph "${four[@]}" --around 'Persn::"ivan"'
expect_in "$work/err" "did you mean \`Person\`?" "unknown --around type"
expect_rc 2 "graph --around not an entity" -- "$T" graph "${four[@]}" --around 'ivan'
expect_in "$work/err" "--around takes an entity" "a bare name is refused"
expect_rc 2 "graph --depth without --around" -- "$T" graph "${four[@]}" --depth 2
expect_in "$work/err" "--depth goes with --around" "--depth alone is refused"
expect_rc 2 "graph with too many nodes" -- "$T" graph "$src/policies/4me" --max-nodes 100
expect_in "$work/err" "more than the limit of 100: narrow it with --types" "too many nodes says how to narrow"
expect_in "$work/err" "--around TYPE::" "the message names --around"
expect_in "$work/err" "--max-nodes" "and --max-nodes"
expect_rc 2 "graph --max-nodes 3" -- "$T" graph "${four[@]}" --types Account --max-nodes 3
expect_in "$work/err" "the graph has 5 nodes (Account 5), more than the limit of 3" "the count by type"
expect_rc 2 "graph with a bad format" -- "$T" graph "${four[@]}" --format png
expect_in "$work/err" "png" "the bad format is named"
expect_rc 2 "graph of a missing path" -- "$T" graph "$work/nope"

# eval --explain as a picture
expect_rc 0 "eval --explain --format dot (allow)" -- "$T" eval "${four[@]}" --explain --format dot --principal 'Person::"ivan"' --action 'assign_task(kind: approval)' --resource 'Person::"ceo"'
expect_in "$work/out" '"decision" [label="ALLOW\nPerson::\"ivan\" assign_task(kind: approval) Person::\"ceo\"\l"' "the decision node"
expect_in "$work/out" '"Account::\"globex_it\"" -> "Account::\"initrode\"" [label="Trust::\"globex_it_initrode\"' "the trust the exists found"
expect_in "$work/out" 'approval_tasks_to_anyone' "the option read"
expect_rc 0 "eval --explain --format dot (deny)" -- "$T" eval "$src/policies/4me" --explain --format dot --principal 'Person::"t_outsourced"' --action register_request --resource 'Person::"t_ospec"'
expect_in "$work/out" 'DENY' "a deny"
expect_in "$work/out" 'closest miss' "its closest misses"
expect_in "$work/out" '✗ when has_role(analyst, service_desk_analyst, customer_person.acco... is false' "the failed condition on the rule (shortened)"
if grep -F '"Account::\"t_other\"" -> "Account::\"t_msp\""' "$work/out" | grep -q 'color="#c62828"'; then ok; else bad "the unaccepted trust is red where the condition failed"; fi
expect_rc 0 "eval --explain --format mermaid" -- "$T" eval "${four[@]}" --explain --format mermaid --principal 'Person::"ivan"' --action 'assign_task(kind: approval)' --resource 'Person::"hal"'
expect_in "$work/out" 'DENY' "mermaid deny"
expect_rc 0 "eval --explain --format svg" -- "$T" eval "${four[@]}" --explain --format svg -o "$work/deny.svg" --principal 'Person::"ivan"' --action 'assign_task(kind: approval)' --resource 'Person::"hal"'
expect_in "$work/deny.svg" "<svg" "eval svg"
printf '{"principal": {"type": "Person", "id": "ivan"}, "action": {"name": "assign_task", "args": {"kind": "approval"}}, "resource": {"type": "Person", "id": "ceo"}}' >"$work/req.json"
expect_rc 0 "eval --request --explain --format dot" -- "$T" eval "${four[@]}" --request "$work/req.json" --explain --format dot
expect_in "$work/out" "ALLOW" "a JSON request drawn"
expect_rc 2 "eval --format dot without --explain" -- "$T" eval "${four[@]}" --format dot --principal 'Person::"ivan"' --action 'assign_task(kind: approval)' --resource 'Person::"ceo"'
expect_in "$work/err" "add --explain" "a picture needs --explain"
expect_rc 2 "eval --requests --format dot" -- "$T" eval "${four[@]}" --requests "$work/req.json" --explain --format dot
expect_in "$work/err" "draws one decision" "a batch is not drawn"
expect_rc 2 "eval --output without a picture" -- "$T" eval "${four[@]}" --output "$work/x" --principal 'Person::"ivan"' --action 'assign_task(kind: approval)' --resource 'Person::"ceo"'

# a failed test, drawn
expect_rc 1 "test --pictures" -- "$T" test "$work/failing.treaty" --pictures "$work/pics"
expect_in "$work/err" "drew a failed expectation: $work/pics/" "the picture's file is named"
pic=$(ls "$work/pics"/*.dot 2>/dev/null | head -1)
[ -n "$pic" ] && [ "$(ls "$work/pics" | wc -l)" -eq 1 ] && ok || bad "one picture for the one failed expectation"
[ -n "$pic" ] && expect_in "$pic" 'label="test ' "the picture is titled with the test"
[ -n "$pic" ] && expect_in "$pic" 'expected allow, got deny' "and its failure"
[ -n "$pic" ] && expect_rc 0 "the test picture renders" -- dot -Tsvg "$pic" -o "$work/pic.svg"
expect_rc 0 "test --pictures with nothing failing" -- "$T" test "$q" --pictures "$work/nopics"
[ -z "$(ls -A "$work/nopics" 2>/dev/null)" ] && ok || bad "no failure, no picture"
expect_rc 1 "test --pictures --picture-format mermaid" -- "$T" test "$work/failing.treaty" --pictures "$work/pics_mm" --picture-format mermaid
[ "$(ls "$work/pics_mm"/*.mmd 2>/dev/null | wc -l)" -eq 1 ] && ok || bad "a mermaid picture"

# a verify counterexample, drawn over its shrunk world
expect_rc 1 "verify --pictures" -- "$T" verify "$work/mutant/lib" --seed 3 --runs 500 --filter revocation --pictures "$work/cx" --picture-format svg
expect_in "$work/err" "drew a counterexample: $work/cx/revocation_always_wins.svg" "the counterexample's picture"
expect_in "$work/cx/revocation_always_wins.svg" "expected deny, got allow" "titled with the wrong decision"
expect_rc 1 "verify --pictures (dot)" -- "$T" verify "$work/mutant/lib" --seed 3 --runs 500 --filter revocation --pictures "$work/cxd"
expect_in "$work/cxd/revocation_always_wins.dot" 'revokes' "the shrunk world's revocation is drawn"
expect_in "$work/cxd/revocation_always_wins.dot" 'ALLOW' "the wrong allow"

# --- schema sql (the DDL for serve --facts; loaded into PostgreSQL by tests/server/pg_test.cpp) ---
expect_rc 0 "--help lists schema" -- "$T" --help
expect_in "$work/out" "schema" "--help lists schema"
expect_rc 0 "schema sql of the 4me library" -- "$T" schema sql "$src/policies/4me/lib"
expect_in "$work/out" 'CREATE TABLE "Trust" (' "a table per entity type"
expect_in "$work/out" 'UNIQUE ("grantor", "grantee")' "a key is a unique constraint"
expect_in "$work/out" 'CREATE TABLE "Person.teams" (' "a set of entities is a link table"
expect_in "$work/out" 'CREATE FUNCTION treaty_position()' "the writer's position"
printf 'entity A { id: String }\n' >"$work/idattr.treaty"
expect_rc 1 "schema sql refuses an attribute named id" -- "$T" schema sql "$work/idattr.treaty"
expect_in "$work/err" "has an attribute named \`id\`" "the refusal names the attribute"
expect_rc 2 "schema sql needs its subcommand" -- "$T" schema "$src/policies/4me/lib"

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
