#!/usr/bin/env bash
# End-to-end tests of `treaty diff OLD NEW`: the decisions that differ between two versions, as
# text, JSON and markdown, the `--expect` gate, bundles, and bad inputs.
# Usage: TREATY=path/to/treaty diff.sh SOURCE_DIR
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
# expect_not_in FILE TEXT DESCRIPTION
expect_not_in() {
  if grep -qF -- "$2" "$1"; then bad "$3: \`$2\` in output"; sed 's/^/  | /' "$1"; else ok; fi
}
# expect_json FILE PYTHON-ASSERTION DESCRIPTION: `j` is the parsed file
expect_json() {
  if python3 -c "import json, sys; j = json.load(open(sys.argv[1])); assert $2, j" "$1" 2>"$work/pyerr"; then ok; else
    bad "$3"; sed 's/^/  | /' "$work/pyerr" | tail -3
  fi
}

# OLD: the quickstart. RULE: one rule mutated (sam, a service desk analyst of the provider,
# loses r1). TRUST: one trust option changed (the trust is no longer accepted: the same loss).
# MORE: a rule added (eve gains r1).
q="$src/docs/examples/quickstart.treaty"
sed 's/  when service_desk_analyst in p.roles/  when specialist in p.roles/' "$q" >"$work/rule.treaty"
sed 's/  accepted: true,/  accepted: false,/' "$q" >"$work/trust.treaty"
cp "$q" "$work/more.treaty"
printf '\npermit everyone_at_msp principal p: Person action view resource r: Request when p.account == Account::"msp";\n' >>"$work/more.treaty"
cmp -s "$q" "$work/rule.treaty" && bad "the rule mutation changed nothing" || ok
cmp -s "$q" "$work/trust.treaty" && bad "the trust mutation changed nothing" || ok

# --- text ---
expect_rc 0 "the same version: nothing differs" -- "$T" diff "$q" "$q"
expect_in "$work/out" "0 decisions differ" "the same version's headline"
expect_rc 1 "a mutated rule: exit 1" -- "$T" diff "$q" "$work/rule.treaty"
expect_in "$work/out" "1 decision differs (0 now allowed, 1 now denied)" "the headline counts"
expect_in "$work/out" "rules changed: \`view_over_trust\` (modified permit)" "the changed rule is named"
expect_in "$work/out" "before: allow by \`view_over_trust\`" "who allowed before"
expect_in "$work/out" "after:  deny (no permit applies)" "why it is denied after"
expect_in "$work/out" 'e.g. Person::"sam" on Request::"r1"' "the request that differs"
expect_rc 1 "a changed trust: exit 1" -- "$T" diff "$q" "$work/trust.treaty"
expect_in "$work/out" "facts changed: 0 added, 0 removed, 1 modified" "the changed fact is counted"
expect_in "$work/out" "rules changed: none" "no rule changed"
expect_in "$work/out" 'e.g. Person::"sam" on Request::"r1"' "the trust's request"
expect_in "$work/out" "\`view_over_trust\` reads changed facts: principals by the changed fact" "seeded from the changed fact"
expect_rc 1 "an added rule" -- "$T" diff "$q" "$work/more.treaty"
expect_in "$work/out" "1 decision differs (1 now allowed, 0 now denied)" "eve gains"
expect_in "$work/out" "\`everyone_at_msp\` (added permit)" "the added rule"
expect_in "$work/out" "after:  allow by \`everyone_at_msp\`" "allowed by the new rule"
expect_rc 1 "--brute-force agrees" -- "$T" diff "$q" "$work/rule.treaty" --brute-force
expect_in "$work/out" "1 decision differs (0 now allowed, 1 now denied)" "brute force's headline"
expect_in "$work/out" "every request decided in both versions (brute force)" "brute force says so"

# --- json ---
expect_rc 1 "json" -- "$T" diff "$q" "$work/rule.treaty" --format json
cp "$work/out" "$work/rule.json"
expect_json "$work/rule.json" 'j["changed"] == 1 and j["gained"] == 0 and j["lost"] == 1' "json: changed is the number of differing decisions"
expect_json "$work/rule.json" 'j["rules"] == [{"rule": "view_over_trust", "change": "modified", "kind": "permit"}]' "json: the changed rule"
expect_json "$work/rule.json" 'len(j["groups"]) == 1 and j["groups"][0]["count"] == 1 and j["groups"][0]["before"] == {"decision": "allow", "rules": ["view_over_trust"]} and j["groups"][0]["examples"][0]["principal"] == {"type": "Person", "id": "sam"}' "json: the group"
expect_json "$work/rule.json" 'len(j["groups"][0]["digest"]) == 16' "json: the group's digest"
expect_rc 0 "json, nothing differs" -- "$T" diff "$q" "$q" --format json
expect_json "$work/out" 'j["changed"] == 0 and j["groups"] == [] and j["actions"] == []' "json: nothing looked at"

# --- markdown ---
expect_rc 1 "markdown" -- "$T" diff "$q" "$work/rule.treaty" --format markdown
expect_in "$work/out" "### Policy impact: 1 decision differs (0 now allowed, 1 now denied)" "markdown heading"
expect_in "$work/out" "| action | before | after | decisions | examples (principal → resource) |" "markdown table head"
expect_in "$work/out" "| \`view\` | allow by \`view_over_trust\` | deny (no permit applies) | 1 | \`Person::\"sam\"\` → \`Request::\"r1\"\` |" "markdown table row"
expect_in "$work/out" "- **Rules changed:** \`view_over_trust\` (modified permit)" "markdown rules"
expect_rc 0 "markdown, nothing differs" -- "$T" diff "$q" "$q" --format markdown
expect_in "$work/out" "No decision changes." "markdown without changes"

# --- --expect ---
expect_rc 0 "--expect the approved impact: exit 0" -- "$T" diff "$q" "$work/rule.treaty" --expect "$work/rule.json"
expect_in "$work/err" "the impact is the approved one" "approved message"
expect_rc 1 "--expect another impact: exit 1" -- "$T" diff "$q" "$work/more.treaty" --expect "$work/rule.json"
expect_in "$work/err" "the impact differs from the approved one" "gate message"
expect_in "$work/err" "approved group no longer differs" "what the approved impact had"
expect_in "$work/err" "new group" "what is new"
expect_in "$work/err" "--format json > $work/rule.json" "how to approve the new impact"
# The same counts over other people: the digest tells them apart.
sed 's/"id": "sam"/"id": "eve"/; s/"digest": "[0-9a-f]*"/"digest": "0000000000000000"/' "$work/rule.json" >"$work/other.json"
expect_rc 1 "--expect with the same count but other requests" -- "$T" diff "$q" "$work/rule.treaty" --expect "$work/other.json"
expect_in "$work/err" "other requests: the digests differ" "digest mismatch named"
expect_rc 1 "--expect an empty impact when something differs" -- "$T" diff "$q" "$work/trust.treaty" --expect <(printf '{"changed": 0, "groups": []}')
expect_in "$work/err" "changed decisions: 0 approved, 1 now" "count mismatch named"
printf '{"changed": 1' >"$work/cut.json"
expect_rc 2 "--expect a file that is not JSON" -- "$T" diff "$q" "$work/rule.treaty" --expect "$work/cut.json"
expect_in "$work/err" "cut.json: not JSON" "not JSON message"
printf '[1, 2]' >"$work/array.json"
expect_rc 2 "--expect JSON that is not an impact" -- "$T" diff "$q" "$work/rule.treaty" --expect "$work/array.json"
expect_in "$work/err" "not an impact report (an object with \`changed\` and \`groups\`)" "not an impact message"
expect_rc 2 "--expect a missing file" -- "$T" diff "$q" "$work/rule.treaty" --expect "$work/nope.json"
expect_in "$work/err" "cannot read the approved impact" "missing approved impact"

# --- bundles, and the facts of each version ---
expect_rc 0 "compile the old version" -- "$T" compile "$q" -o "$work/old.bundle"
expect_rc 0 "compile the new version" -- "$T" compile "$work/trust.treaty" -o "$work/new.bundle"
expect_rc 1 "bundles" -- "$T" diff "$work/old.bundle" "$work/new.bundle" --format json
expect_json "$work/out" 'j["changed"] == 1 and j["facts"]["modified"] == 1' "bundles: the changed trust"
expect_rc 1 "a package against a bundle" -- "$T" diff "$q" "$work/new.bundle"
expect_rc 2 "--data with a bundle" -- "$T" diff "$work/old.bundle" "$work/new.bundle" --data "$work/rule.json"
expect_in "$work/err" "carries its own" "--data with a bundle is refused"
printf '{"entities": [{"type": "Person", "id": "pat", "attrs": {"account": "msp", "roles": ["service_desk_analyst"]}}]}' >"$work/pat.json"
expect_rc 1 "--new-data: a person added to the new version only" -- "$T" diff "$q" "$q" --new-data "$work/pat.json"
expect_in "$work/out" "facts changed: 1 added, 0 removed, 0 modified" "the added person"
expect_in "$work/out" 'e.g. Person::"pat" on Request::"r1"' "the added person's new access"
expect_in "$work/out" "cannot be asked (not in this version): deny" "the old version cannot ask it"
expect_rc 0 "--data: the same person in both" -- "$T" diff "$q" "$q" --data "$work/pat.json"

# --- bad inputs ---
expect_rc 2 "a missing old package" -- "$T" diff "$work/nope" "$q"
expect_in "$work/err" "cannot read \`$work/nope\`: no such file or directory" "missing package message"
expect_rc 2 "a missing new package" -- "$T" diff "$q" "$work/nope.treaty"
expect_rc 2 "one argument" -- "$T" diff "$q"
printf '{"entities": [{"type": "Person", "id": "x", "attrs": {"account": "nowhere", "roles": []}}]}' >"$work/bad.json"
expect_rc 2 "a bad --data" -- "$T" diff "$q" "$work/rule.treaty" --data "$work/bad.json"
cat "$work/out" "$work/err" >"$work/both"
expect_in "$work/both" "bad.json:1:66: error[E0402]" "the bad --data is located"
expect_in "$work/both" "the old version \`$q\` does not load" "which version does not load"
expect_rc 2 "a missing --data file" -- "$T" diff "$q" "$q" --data "$work/none.json"
cat "$work/out" "$work/err" >"$work/both"
expect_in "$work/both" "none.json" "the missing --data file is named"
printf 'permit broken when\n' >"$work/broken.treaty"
expect_rc 2 "a new version with a syntax error" -- "$T" diff "$q" "$work/broken.treaty"
cat "$work/out" "$work/err" >"$work/both"
expect_in "$work/both" "broken.treaty:" "the syntax error is located"
expect_in "$work/both" "the new version \`$work/broken.treaty\` does not load" "the new version is named"
expect_not_in "$work/out" "decisions differ" "nothing is reported on a load error"
expect_rc 2 "a bad --format" -- "$T" diff "$q" "$q" --format html

echo "diff: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
