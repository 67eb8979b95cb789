#!/usr/bin/env bash
# End-to-end tests of `treaty explain`: declarations, docs and resolved uses.
# Usage: TREATY=path/to/treaty explain.sh SOURCE_DIR
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
# expect_eq GOT WANT DESCRIPTION
expect_eq() {
  if [ "$1" = "$2" ]; then ok; else bad "$3: got $1, wanted $2"; fi
}
# use_lines FILE: the number of use lines (`  path:line:column: what in ...`) of text output
use_lines() { grep -cE '^  [^ ].*\.treaty:[0-9]+:[0-9]+: ' "$1"; }

pol="$src/policies/4me"

# --- a predicate of the 4me library: doc, declaration and every call site ---
expect_rc 0 "explain has_role" -- "$T" explain "$pol" has_role
expect_in "$work/out" "predicate \`has_role\` at $pol/lib/predicates.treaty:28:11" "kind and location"
expect_in "$work/out" "/// T1, T8: \`p\` holds role \`r\` in account \`a\`" "doc comment"
expect_in "$work/out" "predicate has_role(p: Person, r: Role, a: Account) =" "declaration text"
calls=$(grep -rhoE '\bhas_role\(' "$pol" | wc -l)
calls=$((calls - 1))  # the declaration itself
expect_in "$work/out" "$calls uses:" "use count matches grep"
expect_eq "$(use_lines "$work/out")" "$calls" "one line per call site"
expect_eq "$(grep -c ': call in ' "$work/out")" "$calls" "every use is a call"
expect_in "$work/out" "$pol/lib/predicates.treaty:39:74: call in predicate \`has_any_role\`" "a call inside a predicate"
expect_in "$work/out" "$pol/lib/tasks.treaty:16:8: call in rule" "a call inside a rule"

# --- a qualified attribute of 4me, against the same name on another type ---
expect_rc 0 "explain Request.account" -- "$T" explain "$pol" Request.account
expect_in "$work/out" "attribute \`Request.account\` at $pol/lib/schema.treaty" "attribute location"
expect_not_in "$work/out" "attribute \`Person.account\`" "only the asked type"
expect_rc 0 "explain Person.account" -- "$T" explain "$pol" Person.account
expect_in "$work/out" "$pol/lib/predicates.treaty:21:52: read in predicate \`registered_in\`" "p.account read"
expect_rc 0 "explain bare account" -- "$T" explain "$pol" account
expect_in "$work/out" "attribute \`Person.account\`" "bare name lists Person.account"
expect_in "$work/out" "attribute \`Request.account\`" "bare name lists Request.account"
expect_in "$work/out" "attribute \`Task.account\`" "bare name lists Task.account"
# Every `.account` read of the sources (comments aside) is resolved to a type: as many distinct
# read locations as grep finds (a read on a union, `w: Task | Change | Project`, is a use of each).
reads=$(grep -rh -v '^\s*//' "$pol" | grep -oE '\.account\b' | wc -l)
expect_eq "$(grep ': read in ' "$work/out" | awk '{print $1}' | sort -u | wc -l)" "$reads" "account reads match grep"
expect_rc 0 "explain Request.account" -- "$T" explain "$pol" Request.account
# Each Request fact sets `account` once.
facts=$(grep -rhoE 'Request::"[^"]*" \{' "$pol" | wc -l)
expect_eq "$(grep -c ': set ' "$work/out")" "$facts" "Request.account: one set per Request fact"
expect_eq "$(grep -c ': read in rule .provider_specialists_view_related_requests' "$work/out")" 1 "one read in that rule"

# --- a name that is both an enum value and a rule: every match ---
expect_rc 0 "explain an ambiguous name" -- "$T" explain "$pol" register_requests_for_specialists
expect_in "$work/out" "\`register_requests_for_specialists\` names 2 declarations" "ambiguity is announced"
expect_in "$work/out" "enum value \`TrustOption.register_requests_for_specialists\`" "the enum value"
expect_in "$work/out" "rule (permit) \`register_requests_for_specialists\`" "the rule"
expect_in "$work/out" ": value in rule \`register_requests_for_specialists\`" "the value used in the rule"

# --- a small package with decoys, where every count is exact ---
mkdir -p "$work/pkg"
cat >"$work/pkg/p.treaty" <<'TREATY'
/// A person of an account.
entity Person { account: Account, roles: Set<Role> }
/// An account.
entity Account { name: String }
/// A request, stored in `account`.
entity Request {
  /// The account that stores the request.
  account: Account,
  requester: Person,
}
enum Role { admin, viewer }
action view(as: Role) principal Person resource Request;

/// `p` is an admin.
predicate is_admin(p: Person) = admin in p.roles;

/// Admins of the request's account see it.
permit admins_view
  principal p: Person
  action view
  resource r: Request
  when is_admin(p) and p.account == r.account;

permit own_view
  principal p: Person
  action view(as == viewer)
  resource r: Request
  when exists is_admin in p.roles where is_admin == viewer and r.requester == p;

Account::"a" { name: "A" }
Person::"alice" { account: "a", roles: {admin} }
Request::"r1" { account: "a", requester: "alice" }

test "admins see requests" {
  expect allow principal Person::"alice" action view(as: admin) resource Request::"r1" because admins_view;
}
TREATY
expect_rc 0 "the decoy package checks" -- "$T" check "$work/pkg"
expect_rc 0 "explain Person.account (decoy)" -- "$T" explain "$work/pkg" Person.account
expect_eq "$(use_lines "$work/out")" 2 "Person.account: one read, one fact"
expect_in "$work/out" "p.treaty:22:26: read in rule \`admins_view\`" "p.account"
expect_not_in "$work/out" "A person of an account" "the entity's doc is not the member's"
expect_in "$work/out" "  account: Account" "the member's declaration"
expect_in "$work/out" "p.treaty:31:19: set in Person::\"alice\"" "the fact's field"
expect_rc 0 "explain Request.account (decoy)" -- "$T" explain "$work/pkg" Request.account
expect_eq "$(use_lines "$work/out")" 2 "Request.account: one read, one fact"
expect_in "$work/out" "p.treaty:22:39: read in rule \`admins_view\`" "r.account"
expect_in "$work/out" "/// The account that stores the request." "a member's doc comment"
expect_in "$work/out" "p.treaty:32:17: set in Request::\"r1\"" "the fact that sets it"
expect_rc 0 "explain is_admin (a variable of that name is no call)" -- "$T" explain "$work/pkg" is_admin
expect_eq "$(use_lines "$work/out")" 1 "is_admin: one call"
expect_in "$work/out" "p.treaty:22:8: call in rule \`admins_view\`" "the call"
expect_rc 0 "explain admin" -- "$T" explain "$work/pkg" admin
expect_eq "$(use_lines "$work/out")" 3 "admin: predicate, fact, test argument"
expect_in "$work/out" "p.treaty:15:33: value in predicate \`is_admin\`" "bare value in a predicate"
expect_rc 0 "explain Role.viewer" -- "$T" explain "$work/pkg" Role.viewer
expect_eq "$(use_lines "$work/out")" 2 "viewer: an action constraint and a condition"
expect_rc 0 "explain view.as" -- "$T" explain "$work/pkg" view.as
expect_eq "$(use_lines "$work/out")" 2 "view.as: a constraint and a test argument"
expect_rc 0 "explain a rule" -- "$T" explain "$work/pkg" admins_view
expect_in "$work/out" "p.treaty:35:96: \`because\` in test \"admins see requests\"" "because"
expect_eq "$(use_lines "$work/out")" 1 "admins_view: one because"
expect_rc 0 "explain an entity type" -- "$T" explain "$work/pkg" Account
expect_eq "$(use_lines "$work/out")" 3 "Account: two attribute types and one fact"
expect_rc 0 "explain Person" -- "$T" explain "$work/pkg" Person
# attribute type, action principal, predicate parameter, 2 bindings, fact, request principal
expect_eq "$(use_lines "$work/out")" 7 "Person's uses"
expect_in "$work/out" ": binding in rule \`own_view\`" "a binding"

expect_rc 0 "explain a predicate parameter" -- "$T" explain "$work/pkg" is_admin.p
expect_eq "$(use_lines "$work/out")" 1 "is_admin.p: one read"
expect_in "$work/out" "p.treaty:15:42: read in predicate \`is_admin\`" "the parameter's read"

# --- unknown names ---
expect_rc 1 "unknown name" -- "$T" explain "$pol" has_rol
expect_in "$work/err" "nothing named \`has_rol\` is declared in the package; did you mean \`has_role\`?" "suggestion"
expect_rc 1 "unknown qualified name" -- "$T" explain "$pol" Person.acount
expect_in "$work/err" "did you mean \`Person.account\`?" "qualified suggestion"
expect_rc 2 "no name" -- "$T" explain "$pol"
expect_rc 2 "bad format" -- "$T" explain --format xml "$pol" has_role

printf 'entity E { x: Int }\npermit r principal p: E when p.y == 1;\n' >"$work/bad.treaty"
expect_rc 1 "a package with errors" -- "$T" explain "$work/bad.treaty" E
expect_in "$work/err" "error[E" "the package's errors are shown"
expect_in "$work/err" "explain needs a package without errors" "and why nothing is explained"
expect_rc 2 "a missing path" -- "$T" explain "$work/nope" E

# --- JSON ---
expect_rc 0 "explain --format json" -- "$T" explain --format json "$pol" has_role
expect_in "$work/out" '"kind": "predicate"' "json kind"
expect_in "$work/out" '"name": "has_role"' "json name"
expect_in "$work/out" '"doc": "T1, T8:' "json doc"
expect_in "$work/out" '"use": "call"' "json use"
expect_in "$work/out" '"declaration": "predicate has_role(' "json declaration"
if command -v python3 >/dev/null; then
  n=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["matches"][0]["uses"]))' "$work/out")
  expect_eq "$n" "$calls" "json use count"
  l=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["matches"][0]["location"]["line"])' "$work/out")
  expect_eq "$l" 28 "json location line"
fi
expect_rc 0 "json with two matches" -- "$T" explain --format json "$work/pkg" account
if command -v python3 >/dev/null; then
  n=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(m["name"] for m in d["matches"]))' "$work/out")
  expect_eq "$n" "Person.account Request.account" "json lists both matches"
fi

echo "explain: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
