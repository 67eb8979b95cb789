#!/usr/bin/env bash
# End-to-end tests of the 4me library through the `treaty` command: configuration errors
# (structural requirements and T10) with their exit codes and messages at the offending fact, a
# synthetic world of thousands of stale role assignments (T1) that checks, compiles, loads from
# source or bundle and denies, and the library's own fixture of stale assignments of every kind.
# Usage: TREATY=path/to/treaty 4me.sh SOURCE_DIR
set -uo pipefail
src=$1
T=${TREATY:?set TREATY to the treaty binary}
lib="$src/policies/4me/lib"
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
# expect_count FILE TEXT N DESCRIPTION: TEXT occurs on exactly N lines of FILE
expect_count() {
  local got
  got=$(grep -cF -- "$2" "$1")
  if [ "$got" -eq "$3" ]; then ok; else bad "$4: $got lines with \`$2\`, wanted $3"; fi
}

acct() { # id kind plan directory(id or null)
  local dir=null
  [ "$4" != null ] && dir="\"$4\""
  printf '{"type": "Account", "id": "%s", "attrs": {"kind": "%s", "plan": "%s", "modules": [], "directory": %s}}' "$1" "$2" "$3" "$dir"
}

# --- structural requirements: each one an error at the offending fact, with what to change ---
# An account's directory must be a directory account.
printf '{"entities": [%s, %s]}' "$(acct x_std standard premium null)" "$(acct x_dom support_domain premium x_std)" >"$work/dir.json"
expect_rc 1 "directory names a standard account" -- "$T" check "$lib" --data "$work/dir.json"
expect_in "$work/out" "account x_dom names x_std as its directory account, but x_std is a standard account: set the directory of x_dom to a directory account, or to none" "directory message"
expect_in "$work/out" "requirement \`directory_names_a_directory_account\`, Account::\"x_dom\"" "directory error names the fact"
printf '{"entities": [%s, %s]}' "$(acct x_std directory premium null)" "$(acct x_dom support_domain premium x_std)" >"$work/dir_ok.json"
expect_rc 0 "directory names a directory account" -- "$T" check "$lib" --data "$work/dir_ok.json"

# A support domain account always has a directory account.
printf '{"entities": [%s]}' "$(acct x_lost support_domain premium null)" >"$work/dom.json"
expect_rc 1 "support domain without a directory account" -- "$T" check "$lib" --data "$work/dom.json"
expect_in "$work/out" "support domain account x_lost has no directory account: set the directory of x_lost to the directory account it belongs to, or make it a standard account" "support domain message"
expect_in "$work/out" "Account::\"x_lost\"" "support domain error names the fact"
printf '{"entities": [%s]}' "$(acct x_lost standard premium null)" >"$work/dom_ok.json"
expect_rc 0 "a standard account needs no directory account" -- "$T" check "$lib" --data "$work/dom_ok.json"

# An SLA's service belongs to its provider.
sla() { # service-provider
  printf '{"entities": [%s, %s, {"type": "Service", "id": "x_svc", "attrs": {"provider": "%s"}},
 {"type": "Sla", "id": "x_sla", "attrs": {"provider": "x_prov", "customer": "x_cust", "service": "x_svc", "accepted": true, "active": true, "representatives": []}}]}' \
    "$(acct x_prov standard premium null)" "$(acct x_cust standard premium null)" "$1"
}
sla x_cust >"$work/sla.json"
expect_rc 1 "SLA for another account's service" -- "$T" check "$lib" --data "$work/sla.json"
expect_in "$work/out" "SLA x_sla of provider x_prov is for service x_svc, which account x_cust provides: give x_sla a service of x_prov, or register it in x_cust" "SLA message"
expect_in "$work/out" "Sla::\"x_sla\"" "SLA error names the fact"
sla x_prov >"$work/sla_ok.json"
expect_rc 0 "SLA for its provider's service" -- "$T" check "$lib" --data "$work/sla_ok.json"

# The same three errors from .treaty facts are located at the fact's line.
mkdir -p "$work/facts"
cat >"$work/facts/bad.treaty" <<'TREATY'
Account::"y_prov" { kind: standard, plan: premium, modules: {}, directory: none }
Account::"y_dom" { kind: support_domain, plan: premium, modules: {}, directory: "y_prov" }
Account::"y_lost" { kind: support_domain, plan: premium, modules: {}, directory: none }
Service::"y_svc" { provider: "y_dom" }
Sla::"y_sla" {
  provider: "y_prov",
  customer: "y_dom",
  service: "y_svc",
  accepted: true,
  active: true,
  representatives: {},
}
TREATY
expect_rc 1 "structural errors in .treaty facts" -- "$T" check "$lib" "$work/facts"
expect_in "$work/out" "bad.treaty:2:1: error[E0500]: account y_dom names y_prov as its directory account" "directory error at its fact"
expect_in "$work/out" "bad.treaty:3:1: error[E0500]: support domain account y_lost has no directory account" "support domain error at its fact"
expect_in "$work/out" "bad.treaty:5:1: error[E0500]: SLA y_sla of provider y_prov is for service y_svc" "SLA error at its fact"
expect_in "$work/err" "3 errors" "exactly the three structural errors"

# --- T10: Premium or Enterprise; the message for an Essential account says so ---
t10() { # plan
  printf '{"entities": [%s, {"type": "Trust", "id": "x_dir_std", "attrs": {"grantor": "t_widget_dir", "grantee": "x_std", "accepted": true, "options": [], "shared_roles": ["specialist"]}}]}' \
    "$(acct x_std standard "$1" null)"
}
t10 essential >"$work/t10.json"
expect_rc 1 "T10: sharing directory roles with an Essential account" -- "$T" check "$src/policies/4me" --data "$work/t10.json"
expect_in "$work/out" "which is on the essential pricing plan; a directory account may share roles only with an account on Premium or Enterprise" "T10 message names the plans"
for plan in premium enterprise; do
  t10 $plan >"$work/t10_$plan.json"
  expect_rc 0 "T10: sharing directory roles with a $plan account" -- "$T" check "$src/policies/4me" --data "$work/t10_$plan.json"
done

# --- T1: a synthetic world of stale role assignments checks, compiles and grants nothing ---
# Provider account s_pI (I = 1..N) holds six roles of person s_hI of s_home by assignment. For
# I mod 3 == 0 the trust from s_pI to s_home shares no role any more, for 1 it was never
# accepted, for 2 it was deleted. s_cust trusts every s_pI with every option. B backed accounts
# s_bJ, whose trust still shares the roles, are the controls: the same requests are allowed.
N=1200
B=12
awk -v n=$N -v b=$B '
function acct(id, kind) {
  printf "%s{\"type\": \"Account\", \"id\": \"%s\", \"attrs\": {\"kind\": \"%s\", \"plan\": \"premium\", \"modules\": [\"change_management\", \"project_management\"], \"directory\": null}}\n", sep, id, kind; sep = ","
}
function ent(type, id, attrs) { printf "%s{\"type\": \"%s\", \"id\": \"%s\", \"attrs\": {%s}}\n", sep, type, id, attrs; sep = "," }
function trust(id, grantor, grantee, accepted, options, shared) {
  ent("Trust", id, sprintf("\"grantor\": \"%s\", \"grantee\": \"%s\", \"accepted\": %s, \"options\": [%s], \"shared_roles\": [%s]", grantor, grantee, accepted, options, shared))
}
function group(p, h) {
  acct(p, "standard")
  ent("Person", h, "\"account\": \"s_home\", \"roles\": [], \"teams\": []")
  ent("Person", p "_person", "\"account\": \"" p "\", \"roles\": [], \"teams\": []")
  ent("Request", p "_req", "\"account\": \"" p "\", \"requested_for\": \"" p "_person\", \"service\": null")
  for (i = 1; i <= 6; i++)
    ent("RoleAssignment", p "_" role[i], "\"person\": \"" h "\", \"role\": \"" role[i] "\", \"account\": \"" p "\"")
  trust("s_cust_" p, "s_cust", p, "true", opts, "")
}
BEGIN {
  split("account_administrator directory_administrator service_desk_analyst specialist change_manager project_manager", role, " ")
  all = "\"account_administrator\", \"directory_administrator\", \"service_desk_analyst\", \"specialist\", \"change_manager\", \"project_manager\""
  opts = "\"change_tasks_to_key_contacts_and_specialists\", \"approval_tasks_to_anyone\", \"project_tasks_to_key_contacts_and_specialists\", \"register_requests_for_specialists\""
  sep = ""
  print "{\"entities\": ["
  acct("s_home", "standard"); acct("s_cust", "standard")
  ent("Team", "s_cust_team", "\"account\": \"s_cust\"")
  ent("Person", "s_cust_kc", "\"account\": \"s_cust\", \"roles\": [\"key_contact\"], \"teams\": []")
  ent("Person", "s_cust_spec", "\"account\": \"s_cust\", \"roles\": [\"specialist\"], \"teams\": [\"s_cust_team\"]")
  for (k = 1; k <= n; k++) {
    group("s_p" k, "s_h" k)
    if (k % 3 == 0) trust("s_p" k "_home", "s_p" k, "s_home", "true", "", "")
    else if (k % 3 == 1) trust("s_p" k "_home", "s_p" k, "s_home", "false", "", all)
  }
  for (k = 1; k <= b; k++) {
    group("s_b" k, "s_g" k)
    trust("s_b" k "_home", "s_b" k, "s_home", "true", "", all)
  }
  print "]}"
}' >"$work/stale.json"
# Seven requests per group, each allowed only through the group's assignments.
awk -v n=$N -v b=$B '
function req(h, action, args, rtype, rid) {
  printf "{\"principal\": {\"type\": \"Person\", \"id\": \"%s\"}, \"action\": {\"name\": \"%s\"%s}, \"resource\": {\"type\": \"%s\", \"id\": \"%s\"}}\n", h, action, args == "" ? "" : ", \"args\": {" args "}", rtype, rid
}
function group(p, h) {
  req(h, "switch_to", "", "Account", p)
  req(h, "register_request", "", "Person", p "_person")
  req(h, "view", "", "Request", p "_req")
  req(h, "assign_role", "\"role\": \"key_contact\", \"of\": \"" p "\"", "Person", p "_person")
  req(h, "assign_task", "\"kind\": \"implementation\"", "Person", "s_cust_spec")
  req(h, "assign_task", "\"kind\": \"project\"", "Person", "s_cust_kc")
  req(h, "register_request", "", "Person", "s_cust_spec")
}
BEGIN {
  for (k = 1; k <= n; k++) group("s_p" k, "s_h" k)
  for (k = 1; k <= b; k++) group("s_b" k, "s_g" k)
}' >"$work/stale.jsonl"
stale=$(grep -c '"RoleAssignment"' "$work/stale.json")
[ "$stale" -ge 6000 ] && ok || bad "the synthetic world holds $stale role assignments, wanted thousands"
expect_rc 0 "T1: a world of $stale stale role assignments checks" -- "$T" check "$lib" --data "$work/stale.json"
expect_rc 0 "T1: the world compiles" -- "$T" compile "$lib" --data "$work/stale.json" -o "$work/stale.bundle"
expect_rc 0 "T1: eval through the bundle" -- "$T" eval --bundle "$work/stale.bundle" --requests "$work/stale.jsonl" --format json
expect_count "$work/out" '"decision"' $((7 * (N + B))) "T1: one answer per request"
head -n $((7 * N)) "$work/out" >"$work/stale.out"
tail -n $((7 * B)) "$work/out" >"$work/backed.out"
expect_count "$work/stale.out" '"decision":"deny"' $((7 * N)) "T1: every stale assignment denies"
expect_count "$work/backed.out" '"decision":"allow"' $((7 * B)) "T8: the same assignments backed by a trust allow"
expect_count "$work/out" '"errors":[]' $((7 * (N + B))) "T1: no decision hit an error or a limit"
# The same world loads straight from source and data, without a bundle, and decides the same
# (on the first 30 stale groups, all three kinds, and the backed ones, to keep the test fast).
{ head -n 210 "$work/out"; tail -n $((7 * B)) "$work/out"; } >"$work/bundle.out"
{ head -n 210 "$work/stale.jsonl"; tail -n $((7 * B)) "$work/stale.jsonl"; } >"$work/sample.jsonl"
expect_rc 0 "T1: eval from source with the stale world as data" -- "$T" eval "$lib" --data "$work/stale.json" --requests "$work/sample.jsonl" --format json
if cmp -s "$work/out" "$work/bundle.out"; then ok; else bad "T1: eval from source and through the bundle differ"; fi

# --- T1, T8: the library's own fixture of stale assignments of every kind compiles and denies ---
# policies/4me/tests/world_shared_roles.treaty holds assignments whose role was unshared
# (t_s_unshared), whose trust was never accepted (t_s_unaccepted) and whose trust is gone
# (t_s_deleted), beside the same assignments still backed by a trust (t_s_backed).
expect_rc 0 "T1: the library with its fixtures compiles" -- "$T" compile "$src/policies/4me" -o "$work/fixture.bundle"
: >"$work/fixture.jsonl"
for kind in backed unshared unaccepted deleted; do
  h="t_s_${kind}_holder"
  for r in \
    "\"action\": {\"name\": \"switch_to\"}, \"resource\": {\"type\": \"Account\", \"id\": \"t_s_$kind\"}" \
    "\"action\": {\"name\": \"view\"}, \"resource\": {\"type\": \"Request\", \"id\": \"t_s_${kind}_req\"}" \
    "\"action\": {\"name\": \"assign_role\", \"args\": {\"role\": \"key_contact\", \"of\": \"t_s_$kind\"}}, \"resource\": {\"type\": \"Person\", \"id\": \"t_s_${kind}_person\"}" \
    "\"action\": {\"name\": \"assign_task\", \"args\": {\"kind\": \"implementation\"}}, \"resource\": {\"type\": \"Person\", \"id\": \"t_s_cust_spec\"}" \
    "\"action\": {\"name\": \"view_ci_field\", \"args\": {\"field\": \"financial\"}}, \"resource\": {\"type\": \"Ci\", \"id\": \"t_s_${kind}_ci\"}"; do
    printf '{"principal": {"type": "Person", "id": "%s"}, %s}\n' "$h" "$r" >>"$work/fixture.jsonl"
  done
done
expect_rc 0 "T1: eval of the fixture through its bundle" -- "$T" eval --bundle "$work/fixture.bundle" --requests "$work/fixture.jsonl" --format json
head -n 5 "$work/out" >"$work/fixture_backed.out"
tail -n 15 "$work/out" >"$work/fixture_stale.out"
expect_count "$work/fixture_backed.out" '"decision":"allow"' 5 "T8: the backed assignments allow"
expect_count "$work/fixture_stale.out" '"decision":"deny"' 15 "T1: unshared, unaccepted and deleted each deny"

echo "4me: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
