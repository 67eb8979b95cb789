// Tests and properties (LANGUAGE.md 8 and 9): `given` facts checked through the data layer's
// converter without adding them to the world, expectations resolved to requests, and properties
// bound like rules.
#include <deque>
#include <map>
#include <memory>
#include <set>

#include "internal/checker.hpp"
#include "internal/types.hpp"
#include "treaty/parse.hpp"

namespace treaty::detail {

namespace {

/// Resolves references against the world and, for a test, its `given` facts (whose ids are not
/// known until the test runs: they resolve to a placeholder here and again at run time).
struct GivenResolver : detail::WorldResolver {
  GivenResolver(World& w, const std::set<std::pair<TypeId, std::string>>& g) : WorldResolver(w), given(g) {}
  std::optional<EntityId> find(TypeId type, std::string_view id) const override {
    if (auto e = WorldResolver::find(type, id)) return e;
    if (given.count({type, std::string(id)})) return kNone32;
    return std::nullopt;
  }
  const std::set<std::pair<TypeId, std::string>>& given;
};

/// For checking `given` facts: resolves like GivenResolver and keeps what it makes to itself,
/// so checking a test adds nothing to the world.
struct GivenScratch : GivenResolver {
  using GivenResolver::GivenResolver;
  const std::string* intern(std::string_view s) override { return &strings.emplace_back(s); }
  Value make_set(std::vector<Value> items) override {
    if (auto m = normalize_set(items)) return *m;
    sets.push_back(std::make_unique<SetValue>(SetValue{std::move(items)}));
    return Value::setv(sets.back().get());
  }
  std::deque<std::string> strings;
  std::vector<std::unique_ptr<SetValue>> sets;
};

}  // namespace

bool Checker::request(const syntax::RequestSyntax& rs, RequestSpec& out, Span span,
                      const std::set<std::pair<TypeId, std::string>>& given,
                      std::vector<std::pair<std::uint32_t, Constant>>* arg_constants) {
  bool ok = true;
  out.span = span;
  auto a = p_.schema.find_action(rs.action.name);
  if (!a) {
    std::vector<std::string> cands;
    for (const auto& act : p_.schema.actions) cands.push_back(act.name);
    unknown(DiagId::unknown_action, rs.action.span, "unknown action " + tick(rs.action.name), rs.action.name, cands);
    return false;
  }
  out.action = *a;
  const auto& act = p_.schema.actions[*a];
  auto endpoint = [&](const Expr& ref, const std::vector<TypeId>& accepted, TypeId& type, std::string& id,
                      const char* role) {
    auto t = p_.schema.find_entity(ref.name);
    if (!t) {
      std::vector<std::string> cands;
      for (const auto& [n, _] : entity_decls_) cands.push_back(n);
      unknown(DiagId::unknown_type, ref.name_span, "unknown entity type " + tick(ref.name), ref.name, cands);
      ok = false;
      return;
    }
    type = *t;
    id = ref.str();
    if (!accepted.empty() && !std::binary_search(accepted.begin(), accepted.end(), *t)) {
      std::string list;
      for (auto x : accepted) list += (list.empty() ? "" : " | ") + p_.schema.entities[x].name;
      d_.add(DiagId::action_does_not_accept_type, ref.span,
             "action " + tick(act.name) + " does not accept " + std::string(indefinite_article(ref.name)) + " " + tick(ref.name) + " as its " + role +
                 "; it accepts " + tick(list));
      ok = false;
    }
    if (!p_.world().find(*t, ref.str()) && !given.count({*t, ref.str()})) {
      d_.add(DiagId::unknown_entity, ref.span,
             "no fact " + tick(ref.name + "::" + quote_string(ref.str())) + " exists in the package, its data or the test's `given`");
      ok = false;
    }
  };
  endpoint(rs.principal, act.principals, out.principal_type, out.principal_id, "principal");
  endpoint(rs.resource, act.resources, out.resource_type, out.resource_id, "resource");
  out.args.assign(act.params.size(), Value::none());
  std::vector<bool> given_arg(act.params.size(), false);
  GivenResolver res(p_.world(), given);
  for (const auto& arg : rs.args) {
    std::size_t idx = act.params.size();
    for (std::size_t i = 0; i < act.params.size(); ++i)
      if (act.params[i].name == arg.name.name) idx = i;
    if (idx == act.params.size()) {
      std::vector<std::string> cands;
      for (const auto& prm : act.params) cands.push_back(prm.name);
      unknown(DiagId::unknown_parameter, arg.name.span, "action " + tick(act.name) + " has no parameter " +
                                                            tick(arg.name.name), arg.name.name, cands);
      ok = false;
      continue;
    }
    if (given_arg[idx]) {
      d_.add(DiagId::duplicate_field, arg.name.span, "argument " + tick(arg.name.name) + " is given twice");
      ok = false;
      continue;
    }
    std::string err;
    Span where = arg.value.span;
    Constant value = to_constant(arg.value);
    if (!convert_constant(p_.schema, value, act.params[idx].type, res, out.args[idx], err, where)) {
      d_.add(DiagId::type_mismatch, where, err);
      ok = false;
      given_arg[idx] = true;  // given, if wrongly: do not also report it missing
      continue;
    }
    mark_value(out.args[idx]);
    given_arg[idx] = true;
    if (arg_constants) arg_constants->emplace_back(static_cast<std::uint32_t>(idx), std::move(value));
  }
  for (std::size_t i = 0; i < act.params.size(); ++i)
    if (!given_arg[i] && !act.params[i].type.optional) {
      d_.add(DiagId::missing_parameter, rs.action.span,
             "action " + tick(act.name) + " needs parameter " + tick(act.params[i].name) + ": " +
                 tn(act.params[i].type));
      ok = false;
    }
  return ok;
}

void Checker::check_tests() {
  std::map<std::string, const syntax::TestDecl*> names;
  for (const auto* t : test_order_) {
    if (auto [it, fresh] = names.emplace(t->name, t); !fresh) {
      auto& diag = d_.add(DiagId::duplicate_test, t->name_span, "test name " + quote_string(t->name) + " is used twice");
      diag.notes.push_back({it->second->name_span, "first used here"});
    }
    if (t->expects.empty() && t->violations.empty())
      d_.add(DiagId::empty_test, t->name_span, "test " + quote_string(t->name) + " has no `expect` and checks nothing");
    TestInfo info;
    info.name = t->name;
    info.span = t->name_span;
    info.given.reserve(t->given.size());
    for (const auto& g : t->given) info.given.push_back(to_fact_spec(g));
    std::set<std::pair<TypeId, std::string>> given;
    std::vector<std::pair<const FactSpec*, TypeId>> typed;
    for (const auto& g : info.given) {
      auto ty = fact_type(p_.schema, g.type, g.type_span, d_);
      if (!ty) continue;
      if (p_.world().find(*ty, g.id)) {
        auto& diag = d_.add(DiagId::given_fact_exists, g.id_span,
                            "`" + g.type + "::" + quote_string(g.id) +
                                "` already exists in the package; a `given` fact needs a new id");
        diag.help = "to test a variation of an existing fact, give a copy a new id";
      } else if (!given.insert({*ty, g.id}).second) {
        d_.add(DiagId::duplicate_fact, g.id_span,
               "fact " + tick(g.type + "::" + quote_string(g.id)) + " is given twice in this test");
      }
      typed.emplace_back(&g, *ty);
    }
    // `given` facts are checked as the package's own facts are: the same converter, so an
    // unknown or repeated attribute, a wrong type or a dangling reference is an error here,
    // not a surprise when the test runs.
    GivenScratch scratch(p_.world(), given);
    for (const auto& [g, ty] : typed)
      convert_fact_fields(p_.schema, *g, ty, scratch, d_, [&](std::uint32_t, Value v) { mark_value(v); });
    for (const auto& ex : t->expects) {
      ExpectationInfo ei;
      ei.allow = ex.decision == syntax::Decision::allow;
      ei.span = ex.span;
      for (const auto& b : ex.because) {
        ei.because.push_back(b.name);
        if (!rule_decls_.count(b.name)) {
          std::vector<std::string> cands;
          for (const auto& [n, _] : rule_decls_) cands.push_back(n);
          unknown(DiagId::unknown_because_rule, b.span, "`because` names " + tick(b.name) + ", which is no rule",
                  b.name, cands);
        }
      }
      if (request(ex.request, ei.request, ex.span, given, &ei.arg_constants)) info.expects.push_back(std::move(ei));
    }
    for (const auto& v : t->violations) {
      if (!require_decls_.count(v.requirement.name)) {
        std::vector<std::string> cands;
        for (const auto& [n, _] : require_decls_) cands.push_back(n);
        unknown(DiagId::unknown_because_rule, v.requirement.span,
                "`expect violation` names " + tick(v.requirement.name) + ", which is no requirement", v.requirement.name,
                cands);
        continue;
      }
      info.violations.emplace_back(v.requirement.name, v.span);
    }
    p_.tests.push_back(std::move(info));
  }
}

void Checker::check_properties() {
  for (const auto* pp : property_order_) {
    PropertyInfo info;
    info.expect_allow = pp->expect == syntax::Decision::allow;
    info.span = pp->name.span;
    info.name = pp->name.name;
    bool ok = true;
    std::vector<std::uint32_t> actions = pattern_actions(pp->action, ok);
    info.actions = actions;
    std::optional<syntax::Binding> pb = pp->principal, rb = pp->resource;
    info.principals = binding_types(pb, actions, true, ok);
    info.resources = binding_types(rb, actions, false, ok);
    Scope sc;
    sc.next = sc.max = 2 + static_cast<std::uint32_t>(p_.param_names.size());
    sc.push_at(pb->var ? pb->var->name : "principal", 0, Type::entity(info.principals));
    sc.push_at(rb->var ? rb->var->name : "resource", 1, Type::entity(info.resources));
    std::vector<std::string> partial;
    bind_params(actions, sc, partial);
    if (!action_constraints(pp->action, sc, info.action_constraints, partial)) ok = false;
    if (pp->where) {
      if (auto w = expect_bool(*pp->where, sc, "a property's `where`")) info.where = w->id; else ok = false;
    }
    info.frame = sc.max;
    if (ok) p_.properties.push_back(std::move(info));
  }
}

}  // namespace treaty::detail
