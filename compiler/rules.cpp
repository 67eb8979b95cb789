// Rules: the actions a pattern names, the types of its principal and resource, the action
// parameters in scope and the constraints on them, then the conditions (LANGUAGE.md 5).
// Properties bind their scope the same way (tests.cpp).
#include <algorithm>

#include "internal/checker.hpp"
#include "internal/types.hpp"

namespace treaty::detail {

std::vector<std::uint32_t> Checker::pattern_actions(const syntax::ActionPattern& pat, bool& ok) {
  std::vector<std::uint32_t> out;
  if (pat.kind == syntax::ActionPattern::Kind::any) {
    for (std::uint32_t i = 0; i < p_.schema.actions.size(); ++i) out.push_back(i);
    return out;
  }
  for (const auto& n : pat.names) {
    if (auto a = p_.schema.find_action(n.name)) {
      out.push_back(*a);
    } else {
      std::vector<std::string> cands;
      for (const auto& act : p_.schema.actions) cands.push_back(act.name);
      unknown(DiagId::unknown_action, n.span, "unknown action " + tick(n.name), n.name, cands);
      ok = false;
    }
  }
  return out;
}

/// Puts the parameters every action of `actions` declares (same name and type) in scope.
void Checker::bind_params(const std::vector<std::uint32_t>& actions, Scope& sc, std::vector<std::string>& partial) {
  if (actions.empty()) return;
  for (const auto& prm : p_.schema.actions[actions[0]].params) {
    bool everywhere = true;
    for (std::size_t i = 1; i < actions.size(); ++i) {
      bool has = false;
      for (const auto& q : p_.schema.actions[actions[i]].params)
        if (q.name == prm.name && q.type == prm.type) has = true;
      everywhere = everywhere && has;
    }
    if (everywhere) sc.push_at(prm.name, 2 + param_name_id(prm.name), prm.type);
    else partial.push_back(prm.name);
  }
}

std::vector<TypeId> Checker::binding_types(const std::optional<syntax::Binding>& b,
                                           const std::vector<std::uint32_t>& actions, bool principal, bool& ok) {
  if (b && !b->types.empty()) {
    auto t = resolve_entity_type_list({b->types.data(), b->types.size()});
    if (!t) {
      ok = false;
      return {};
    }
    return *t;
  }
  // Without types: whatever the actions accept (any entity when one accepts any).
  std::vector<TypeId> u;
  for (auto a : actions) {
    const auto& acc = principal ? p_.schema.actions[a].principals : p_.schema.actions[a].resources;
    if (acc.empty()) return all_entities();
    u.insert(u.end(), acc.begin(), acc.end());
  }
  if (actions.empty()) return all_entities();
  std::sort(u.begin(), u.end());
  u.erase(std::unique(u.begin(), u.end()), u.end());
  return u;
}

/// Checks an action pattern's constraints (`kind == approval`, `kind in {a, b}`).
bool Checker::action_constraints(const syntax::ActionPattern& pat, Scope& sc, std::vector<ConditionInfo>& out,
                                 const std::vector<std::string>& /*partial*/) {
  bool ok = true;
  for (const auto& c : pat.constraints) {
    const bool shape = (c.kind == EK::cmp || c.kind == EK::in) && c.kids[0].kind == EK::name;
    if (!shape) {
      d_.add(DiagId::bad_action_constraint, c.span,
             "an action constraint is `param == value` or `param in {values}`, as in `assign_task(kind == approval)`");
      ok = false;
      continue;
    }
    if (!sc.find(c.kids[0].name)) {
      const auto& n = c.kids[0].name;
      {
        std::vector<std::string> cands;
        for (const auto& v : sc.vars) cands.push_back(v.name);
        unknown(DiagId::unknown_parameter, c.kids[0].span, "the action has no parameter " + tick(n), n, cands);
      }
      ok = false;
      continue;
    }
    auto t = expect_bool(c, sc, "an action constraint");
    if (!t) {
      ok = false;
      continue;
    }
    out.push_back({true, t->id, c.span});
  }
  return ok;
}

void Checker::check_rules() {
  for (const auto* r : rule_order_) {
    RuleInfo info;
    info.name = r->name.name;
    info.forbid = r->effect == syntax::Effect::forbid;
    info.span = r->name.span;
    if (r->doc) info.doc = *r->doc;
    bool ok = true;
    std::vector<std::uint32_t> actions;
    if (!r->action || r->action->kind == syntax::ActionPattern::Kind::any) {
      info.any_action = true;
      for (std::uint32_t i = 0; i < p_.schema.actions.size(); ++i) actions.push_back(i);
    } else {
      actions = pattern_actions(*r->action, ok);
      info.actions = actions;
    }
    info.principals = binding_types(r->principal, actions, true, ok);
    info.resources = binding_types(r->resource, actions, false, ok);
    Scope sc;
    sc.next = sc.max = 2 + static_cast<std::uint32_t>(p_.param_names.size());
    const std::string pv = r->principal && r->principal->var ? r->principal->var->name : "principal";
    const std::string rv = r->resource && r->resource->var ? r->resource->var->name : "resource";
    sc.push_at(pv, 0, Type::entity(info.principals.to_vector()));
    if (rv == pv && r->resource && r->resource->var) {
      d_.add(DiagId::duplicate_variable, r->resource->var->span,
             "variable " + tick(rv) + " already names the principal; choose another name");
      ok = false;
    }
    sc.push_at(rv, 1, Type::entity(info.resources.to_vector()));
    std::vector<std::string> partial;
    if (!info.any_action) bind_params(actions, sc, partial);
    if (r->action && !action_constraints(*r->action, sc, info.conditions, partial)) ok = false;
    for (const auto& c : r->conditions) {
      auto t = expect_bool(c.expr, sc, c.is_when ? "a `when` condition" : "an `unless` condition");
      if (!t) {
        ok = false;
        continue;
      }
      info.conditions.push_back({c.is_when, t->id, c.expr.span});
    }
    info.frame = sc.max;
    info.file_line = sm_.line_col(r->name.span.file, r->name.span.begin).line;
    rule_ok_.push_back(ok);
    p_.rules.push_back(std::move(info));
  }
}

}  // namespace treaty::detail
