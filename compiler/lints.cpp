// Lints (warnings W06xx) over a program checked without errors: rules that never apply,
// constant conditions, redundant permits, shadowing forbids, unindexed `exists`, swallowed
// `exists`, unused enum values, predicates and facts.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "internal/checker.hpp"
#include "internal/types.hpp"
#include "treaty/data/search_plan.hpp"
#include "treaty/parse.hpp"

namespace treaty::detail {

/// The lints pass.
void Checker::lint() {
  // Lints only for a program without errors: they would mostly repeat the errors' consequences.
  if (opts_.lints && !d_.has_errors()) lints();
}

std::optional<bool> Checker::constant_of(NodeId n) const {
  const Node& nd = p_.nodes[n];
  if (nd.op == Op::lit && nd.value.tag == Tag::bool_) return nd.value.i != 0;
  return std::nullopt;
}

/// `principal `User`` (or `any principal`): what action `a` accepts in one clause.
std::string Checker::accepted_clause(std::uint32_t a, bool principal) const {
  const auto& act = p_.schema.actions[a];
  const auto& acc = principal ? act.principals : act.resources;
  const std::string role = principal ? "principal" : "resource";
  if (acc.empty()) return "any " + role;
  std::string list;
  for (auto x : acc) list += (list.empty() ? "" : " | ") + p_.schema.entities[x].name;
  return role + " " + tick(list);
}

std::string Checker::accepts_text(std::uint32_t a, bool principal) const {
  return "action " + tick(p_.schema.actions[a].name) + " accepts " + accepted_clause(a, principal);
}

/// W0600 for a rule whose types no action it names accepts, reported at the clause at fault
/// (the principal or resource clause every candidate action rejects) with what each accepts.
void Checker::never_applies_lint(const RuleInfo& r, const syntax::RuleDecl& decl) {
  std::vector<std::uint32_t> cands = r.any_action ? std::vector<std::uint32_t>{} : r.actions.to_vector();
  if (r.any_action)
    for (std::uint32_t a = 0; a < p_.schema.actions.size(); ++a) cands.push_back(a);
  if (cands.empty()) return;
  bool some = false, every_p_bad = true, every_r_bad = true;
  for (auto a : cands) {
    const auto& act = p_.schema.actions[a];
    const bool pok = act.principals.empty() || entity_overlap(r.principals, act.principals);
    const bool rok = act.resources.empty() || entity_overlap(r.resources, act.resources);
    if (pok && rok) some = true;
    every_p_bad = every_p_bad && !pok;
    every_r_bad = every_r_bad && !rok;
  }
  if (some) return;
  auto types_of = [&](std::span<const TypeId> ts) {
    std::string list;
    for (auto x : ts) list += (list.empty() ? "" : " | ") + p_.schema.entities[x].name;
    return tick(list);
  };
  // A clause every candidate rejects is the one to fix; name what each action accepts there.
  for (const bool principal : {true, false}) {
    const bool bad = principal ? every_p_bad : every_r_bad;
    const auto& clause = principal ? decl.principal : decl.resource;
    if (!bad || !clause || clause->types.empty()) continue;
    std::string accepts;
    const std::size_t shown = std::min<std::size_t>(cands.size(), 4);
    for (std::size_t k = 0; k < shown; ++k) accepts += (k ? "; " : "") + accepts_text(cands[k], principal);
    if (cands.size() > shown) accepts += "; and " + std::to_string(cands.size() - shown) + " more actions";
    auto& diag = d_.add(DiagId::rule_never_applies, clause->span,
                        "rule " + tick(r.name) + " can never apply: " + accepts + ", not " +
                            types_of(principal ? r.principals : r.resources));
    diag.help = std::string("change the types of its `") + (principal ? "principal" : "resource") +
                "` clause, or the action it names";
    return;
  }
  // Each action rejects one clause or the other: say which, per action.
  auto& diag = d_.add(DiagId::rule_never_applies, r.span,
                      "rule " + tick(r.name) + " can never apply: no action it names accepts both its principal " +
                          types_of(r.principals) + " and its resource " + types_of(r.resources));
  for (std::size_t k = 0; k < cands.size() && k < 4; ++k)
    diag.notes.push_back({Span{}, accepts_text(cands[k], true) + " and " + accepted_clause(cands[k], false)});
  diag.help = "check the types in its `principal` and `resource` clauses against the action declarations";
}

/// W0609: an `exists` over an entity type that a rule evaluates (in its conditions or in a
/// predicate it calls) with no equality an index can serve reads every entity of the type on
/// each decision: fine on ten trusts, a hundred microseconds on thousands. Requirements, tests
/// and properties run once or on small worlds and are not reported. One warning per `exists`,
/// naming the first rule that reaches it.
void Checker::scan_lint() {
  std::vector<char> seen_node(p_.nodes.size(), 0);
  std::vector<char> seen_pred(p_.predicates.size(), 0);
  std::vector<NodeId> stack;
  for (std::size_t i = 0; i < p_.rules.size(); ++i) {
    if (!rule_ok_[i]) continue;
    const auto& r = p_.rules[i];
    for (const auto& c : r.conditions) stack.push_back(c.expr);
    while (!stack.empty()) {
      const NodeId id = stack.back();
      stack.pop_back();
      if (id >= p_.nodes.size() || seen_node[id]) continue;
      seen_node[id] = 1;
      const Node& n = p_.nodes[id];
      for (NodeId k : n.kids) stack.push_back(k);
      if (n.op == Op::call && n.a < p_.predicates.size() && !seen_pred[n.a]) {
        seen_pred[n.a] = 1;
        stack.push_back(p_.predicates[n.a].body);
      }
      if (n.op != Op::exists_type || n.probe_attr >= 0 || n.types.empty()) continue;
      std::string types;
      for (std::size_t t = 0; t < n.types.size(); ++t)
        types += (t ? " | " : "") + p_.schema.entities.at(n.types[t]).name;
      // The root of an inlined predicate body carries the call's span; its own text is the body.
      const Span at = n.inlined != kNone32 && n.inlined < p_.predicates.size()
                          ? p_.nodes[p_.predicates[n.inlined].body].span
                          : n.span;
      const std::string var(at.valid() ? detail::exists_binder(sm_.text(at)) : std::string_view());
      auto& diag = d_.add(DiagId::unindexed_exists, at,
                          "this `exists` reads every " + tick(types) + " on each decision of rule " +
                              tick(r.name) + ": none of its conditions is an equality on " +
                              (var.empty() ? std::string("its variable") : tick(var)) +
                              "'s attributes that an index can serve");
      diag.help = "add a condition `" + (var.empty() ? std::string("x") : var) +
                  ".attribute == value` whose value is known before the `exists` (an `or` of two such "
                  "conditions is not one: write one `exists` for each side)";
    }
  }
}

/// W0610: a permit that a reverse query (`treaty query`, the AuthZEN search endpoints) can only
/// answer by deciding every entity of the searched type: one of its conditions reads the
/// searched side, and no `when` condition pins it (`==` or `in`) to something the known side and
/// the arguments give (runtime/search.cpp runs the same plans). A permit none of whose
/// conditions reads the searched side is not reported: it applies to every entity of the type
/// or to none, and one decision tells which; nor is one that reads it only in `unless`
/// conditions (it answers the type but the few it excludes: the scan is the answer's size).
/// Reported at the clause of the searched side.
void Checker::search_scan_lint() {
  std::vector<IndexSpec> specs;
  const auto plans = search_detail::plan_permits(p_, specs);
  for (std::size_t i = 0; i < p_.rules.size() && i < plans.size(); ++i) {
    const auto& r = p_.rules[i];
    if (!rule_ok_[i] || r.forbid) continue;
    for (int side = 0; side < 2; ++side) {
      const auto& plan = plans[i][static_cast<std::size_t>(side)];
      if (!plan.scans() || !plan.when_reads) continue;
      const bool principal = side == 0;
      const auto& types = principal ? r.principals : r.resources;
      std::string names;
      for (auto t : types) names += (names.empty() ? "" : " | ") + p_.schema.entities[t].name;
      const auto& clause = principal ? rule_order_[i]->principal : rule_order_[i]->resource;
      const char* role = principal ? "principal" : "resource";
      const char* known = principal ? "resource" : "principal";
      auto& diag = d_.add(DiagId::search_scan, clause ? clause->span : r.span,
                          std::string("reverse queries for the ") + role + "s of permit " + tick(r.name) +
                              " decide every " + (names.empty() ? std::string("entity") : tick(names)) +
                              ": no `when` condition pins the " + role + " with `==` or `in` to the " + known +
                              " and the arguments");
      // A note, not a warning: the scan costs reverse queries only, which a library may never
      // serve (bm365's permission checks pin no employee), so `--strict` does not refuse it.
      diag.severity = Severity::note;
      const std::string var = clause && clause->var ? clause->var->name : std::string(principal ? "p" : "r");
      diag.help = "a condition such as `" + var + ".attribute == " + (principal ? "r" : "p") + ".attribute`, `" + var +
                  " == ...` or `" + var + " in ...` lets `treaty query` and the AuthZEN searches take their candidates "
                  "from an index; `treaty query --explain` shows how each permit finds them";
    }
  }
}

void Checker::lints() {
  for (std::size_t i = 0; i < p_.rules.size(); ++i) {
    if (!rule_ok_[i]) continue;
    const auto& r = p_.rules[i];
    // Types disjoint from every candidate action's.
    never_applies_lint(r, *rule_order_[i]);
    for (const auto& c : r.conditions) {
      auto k = constant_of(c.expr);
      if (k && *k != c.is_when) {
        d_.add(DiagId::rule_never_applies, c.span,
               "rule " + tick(r.name) + " can never apply: this condition is constantly " +
                   (c.is_when ? "false" : "true"));
      } else if (k) {
        auto& diag = d_.add(DiagId::constant_condition, c.span,
                            std::string("this condition is constantly ") + (c.is_when ? "true" : "false") +
                                " and has no effect");
        diag.help = "remove it";
      }
    }
  }
  // A permit made redundant by another with the same scope and a subset of its conditions
  // (compared as printed source). Each permit is filed under its scope and its sorted condition
  // texts (interned to ids), and each permit looks its strict sub-multisets up, so the lint
  // costs O(rules * 2^conditions), not O(rules^2): 100,000 rules are not compared pairwise.
  // Above 12 conditions only the sub-multisets missing one or two conditions and those of at
  // most two are looked up. The weaker rule reported is the first in rule order, as before.
  {
    // The tables are compact (100,000 permits: about 8 MB, not 24): condition texts are
    // interned as views of the source, keys live in one array, and the first permit of each
    // key is found by binary search in the permits sorted by key.
    std::unordered_map<std::string_view, std::uint32_t> when_ids, unless_ids;
    std::map<std::string, std::uint32_t> scope_ids;
    std::uint32_t next_cond = 0;
    auto cond_id = [&](bool is_when, std::string_view text) {
      auto [it, fresh] = (is_when ? when_ids : unless_ids).emplace(text, next_cond);
      if (fresh) ++next_cond;
      return it->second;
    };
    // keys[key_at[i] .. key_at[i + 1]): permit i's scope id, then its sorted condition ids.
    std::vector<std::uint32_t> key_ids, key_at(p_.rules.size() + 1, 0);
    for (std::size_t i = 0; i < p_.rules.size(); ++i) {
      const auto& r = p_.rules[i];
      if (!r.forbid && rule_ok_[i]) {
        std::string scope(r.any_action ? "*" : "");
        for (const auto* v : {&r.actions, &r.principals, &r.resources}) {
          for (auto x : *v) scope += std::to_string(x) + ",";
          scope += ";";
        }
        const std::size_t at = key_ids.size();
        key_ids.push_back(scope_ids.emplace(std::move(scope), static_cast<std::uint32_t>(scope_ids.size())).first->second);
        for (const auto& c : r.conditions) key_ids.push_back(cond_id(c.is_when, sm_.text(c.span)));
        std::sort(key_ids.begin() + static_cast<std::ptrdiff_t>(at) + 1, key_ids.end());
      }
      key_at[i + 1] = static_cast<std::uint32_t>(key_ids.size());
    }
    using Key = std::pair<const std::uint32_t*, const std::uint32_t*>;
    auto key_of = [&](std::size_t i) { return Key{key_ids.data() + key_at[i], key_ids.data() + key_at[i + 1]}; };
    auto less = [](Key a, Key b) { return std::lexicographical_compare(a.first, a.second, b.first, b.second); };
    std::vector<std::uint32_t> by_key;  // the permits, sorted by key; of equal keys, in rule order
    for (std::uint32_t i = 0; i < p_.rules.size(); ++i)
      if (key_at[i + 1] > key_at[i]) by_key.push_back(i);
    std::stable_sort(by_key.begin(), by_key.end(), [&](std::uint32_t a, std::uint32_t b) { return less(key_of(a), key_of(b)); });
    for (std::size_t i = 0; i < p_.rules.size(); ++i) {
      if (key_at[i + 1] == key_at[i]) continue;
      const auto& a = p_.rules[i];
      const std::uint32_t* key = key_ids.data() + key_at[i];
      const std::size_t k = key_at[i + 1] - key_at[i] - 1;
      std::optional<std::size_t> weaker;
      std::vector<std::uint32_t> sub;
      auto look = [&](const std::vector<bool>& drop) {
        sub.assign(1, key[0]);
        for (std::size_t c = 0; c < k; ++c)
          if (!drop[c]) sub.push_back(key[1 + c]);
        const Key want{sub.data(), sub.data() + sub.size()};
        auto it = std::lower_bound(by_key.begin(), by_key.end(), want,
                                   [&](std::uint32_t r, Key w) { return less(key_of(r), w); });
        if (it == by_key.end() || less(want, key_of(*it))) return;  // no permit has this key
        if (*it != i && (!weaker || *it < *weaker)) weaker = *it;
      };
      std::vector<bool> drop(k, false);
      if (k <= 12) {
        for (std::uint32_t mask = 1; mask < (1u << k); ++mask) {  // every strict sub-multiset
          for (std::size_t c = 0; c < k; ++c) drop[c] = (mask >> c) & 1u;
          look(drop);
        }
      } else {
        for (std::size_t x = 0; x < k; ++x)
          for (std::size_t y = x; y < k; ++y) {
            std::fill(drop.begin(), drop.end(), false);  // without x and y
            drop[x] = drop[y] = true;
            look(drop);
            std::fill(drop.begin(), drop.end(), true);  // only x and y
            drop[x] = drop[y] = false;
            look(drop);
          }
        std::fill(drop.begin(), drop.end(), true);
        look(drop);
      }
      if (!weaker) continue;
      const auto& b = p_.rules[*weaker];
      auto& diag = d_.add(DiagId::redundant_permit, a.span,
                          "permit " + tick(a.name) + " is redundant: " + tick(b.name) +
                              " has the same scope and a subset of its conditions");
      diag.notes.push_back({b.span, "the weaker permit is here"});
    }
  }
  // A forbid with no conditions over every principal and resource of an action shadows its permits.
  // (Which actions have a permit is computed once, not per forbid and action.)
  std::vector<bool> has_permit(p_.schema.actions.size(), false);
  bool permit_of_any_action = false;
  for (const auto& r : p_.rules) {
    if (r.forbid) continue;
    permit_of_any_action = permit_of_any_action || r.any_action;
    for (auto a : r.actions) has_permit[a] = true;
  }
  for (std::size_t i = 0; i < p_.rules.size(); ++i) {
    const auto& f = p_.rules[i];
    if (!f.forbid || !rule_ok_[i] || !f.conditions.empty()) continue;
    std::vector<std::uint32_t> acts = f.any_action ? std::vector<std::uint32_t>{} : f.actions.to_vector();
    if (f.any_action)
      for (std::uint32_t a = 0; a < p_.schema.actions.size(); ++a) acts.push_back(a);
    for (auto a : acts) {
      const auto& act = p_.schema.actions[a];
      const auto ps = act.principals.empty() ? all_entities() : act.principals;
      const auto rs = act.resources.empty() ? all_entities() : act.resources;
      if (!entity_subset(ps, f.principals) || !entity_subset(rs, f.resources)) continue;
      if (permit_of_any_action || has_permit[a])
        d_.add(DiagId::forbid_shadows_permits, f.span,
               "forbid " + tick(f.name) + " has no condition and shadows every permit of action " +
                   tick(act.name) + ": the action is always denied");
    }
  }
  scan_lint();
  search_scan_lint();
  // `exists t: T where A and not exists s: S where B` nests the second `exists` inside the
  // first: the body of an `exists` runs to the end of the condition. When the inner one does
  // not use the outer variable, parentheses were almost certainly meant.
  for (const auto& n : p_.nodes) {
    if (n.op != Op::exists_type && n.op != Op::exists_set) continue;
    const NodeId body = n.op == Op::exists_type ? n.kids[0] : n.kids[1];
    if (p_.nodes[body].op != Op::and_) continue;
    for (NodeId c : p_.nodes[body].kids) {
      const Node& cn = p_.nodes[c];
      const bool is_exists = cn.op == Op::exists_type || cn.op == Op::exists_set ||
                             (cn.op == Op::not_ && (p_.nodes[cn.kids[0]].op == Op::exists_type ||
                                                    p_.nodes[cn.kids[0]].op == Op::exists_set));
      if (!is_exists || uses_slot(c, n.slot)) continue;
      auto& diag = d_.add(DiagId::swallowed_exists, cn.span,
                          "this condition is inside the body of the `exists` before it (a body runs to the end of "
                          "the condition) but does not use that `exists`'s variable");
      diag.notes.push_back({n.span, "the enclosing `exists`"});
      diag.help = "wrap the first `exists ... where ...` in parentheses to end its body";
    }
  }
  // An enum that facts, data or requests can carry (the type of an attribute or a parameter)
  // is vocabulary: its values may be used by data the package never sees (a library's
  // customer, a request), so they are never reported unused. The lint is for the rest.
  std::vector<bool> vocabulary(p_.schema.enums.size(), false);
  auto carries = [&](const Type& t) {
    if (t.base == Base::enum_ && t.enum_id < vocabulary.size()) vocabulary[t.enum_id] = true;
  };
  for (const auto& et : p_.schema.entities)
    for (const auto& a : et.attrs) carries(a.type);
  for (const auto& act : p_.schema.actions)
    for (const auto& prm : act.params) carries(prm.type);
  for (std::size_t e = 0; e < p_.schema.enums.size(); ++e)
    for (std::size_t v = 0; v < p_.schema.enums[e].values.size(); ++v)
      if (!enum_used_[e][v] && !vocabulary[e])
        d_.add(DiagId::unused_enum_value, p_.schema.enums[e].value_spans[v],
               "enum value " + tick(p_.schema.enums[e].name + "." + p_.schema.enums[e].values[v]) +
                   " is never used by a rule, predicate, requirement, test or fact");
  // Unused predicates: never called, directly or through others, from a rule, requirement or property.
  for (std::size_t i = 0; i < p_.predicates.size(); ++i)
    if (!pred_used_[i])
      d_.add(DiagId::unused_predicate, p_.predicates[i].span,
             "predicate " + tick(p_.predicates[i].name) + " is never used");
  // Unused facts: facts of an entity type that no rule, predicate, requirement, property,
  // attribute or test mentions.
  std::vector<bool> type_used(p_.schema.entities.size(), false);
  for (const auto& n : p_.nodes)
    for (auto t : n.types) type_used[t] = true;
  for (const auto& et : p_.schema.entities)
    for (const auto& a : et.attrs)
      if (a.type.base == Base::entity)
        for (auto t : a.type.entities) type_used[t] = true;
  for (const auto& r : p_.rules) {
    for (auto t : r.principals) type_used[t] = true;
    for (auto t : r.resources) type_used[t] = true;
  }
  for (const auto& r : p_.requirements)
    if (r.forall_type) type_used[*r.forall_type] = true;
  for (const auto& t : p_.tests)
    for (const auto& e : t.expects) {
      type_used[e.request.principal_type] = true;
      type_used[e.request.resource_type] = true;
    }
  for (const auto* f : fact_decls_) {
    auto t = p_.schema.find_entity(f->type.name);
    if (t && !type_used[*t])
      d_.add(DiagId::unused_fact, f->span,
             "fact " + tick(f->type.name + "::" + quote_string(f->id)) + " is never used: no rule, predicate, "
             "requirement or test refers to type " + tick(f->type.name));
  }
}

}  // namespace treaty::detail
