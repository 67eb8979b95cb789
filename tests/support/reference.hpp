// A deliberately simple reference evaluator, used only by tests as an oracle. It walks the syntax
// tree of the rules directly: names are looked up by string at every step, attributes by name,
// `exists` scans every entity, predicates are re-bound on each call. No IR, no slots, no indexes.
// It shares only the schema and the world of facts with the engine.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "treaty/data/world.hpp"
#include "treaty/program.hpp"
#include "treaty/syntax.hpp"

namespace treaty::testing {

class Reference {
 public:
  Reference(const Program& p, const std::vector<const syntax::File*>& files) : p_(p) {
    for (const auto* f : files)
      for (const auto& d : f->decls) {
        if (auto* r = syntax::get_if<syntax::RuleDecl>(&d)) rules_.push_back(r);
        if (auto* pr = syntax::get_if<syntax::PredicateDecl>(&d)) preds_[pr->name.name] = pr;
      }
  }

  struct Result {
    bool allow = false;
    std::set<std::string> determining;
  };

  /// The decision for principal `pe` doing `action` (with `args` by parameter name) to `re`.
  Result decide(EntityId pe, const std::string& action, const std::map<std::string, Value>& args, EntityId re) {
    std::set<std::string> permits, forbids;
    const auto& act = p_.schema.actions[p_.schema.find_action(action).value()];
    for (const auto* r : rules_) {
      if (!types_match(r->principal, pe) || !types_match(r->resource, re)) continue;
      Env env;
      env["principal"] = Value::entity(pe);
      env["resource"] = Value::entity(re);
      if (r->principal && r->principal->var) env[r->principal->var->name] = Value::entity(pe);
      if (r->resource && r->resource->var) env[r->resource->var->name] = Value::entity(re);
      for (const auto& [name, v] : args) env[name] = v;
      bool applies = true;
      if (r->action) {
        const auto& pat = *r->action;
        if (pat.kind != syntax::ActionPattern::Kind::any) {
          bool named = false;
          for (const auto& n : pat.names) named = named || n.name == action;
          if (!named) continue;
        }
        for (const auto& c : pat.constraints) applies = applies && holds(c, env);
      }
      (void)act;
      for (const auto& c : r->conditions) {
        if (!applies) break;
        const bool h = holds(c.expr, env);
        applies = c.is_when ? h : !h;
      }
      if (!applies) continue;
      (r->effect == syntax::Effect::forbid ? forbids : permits).insert(r->name.name);
    }
    if (!forbids.empty()) return {false, forbids};
    if (!permits.empty()) return {true, permits};
    return {false, {}};
  }

 private:
  using Env = std::map<std::string, Value>;

  bool types_match(const std::optional<syntax::Binding>& b, EntityId e) const {
    if (!b || b->types.empty()) return true;
    const auto& name = p_.schema.entities[p_.world().entity(e).type].name;
    for (const auto& t : b->types)
      if (t.name == name) return true;
    return false;
  }

  bool holds(const syntax::Expr& e, Env& env) {
    const Value v = eval(e, env);
    return v.tag == Tag::bool_ && v.i != 0;
  }

  /// A set's elements, from either representation, decoded here rather than with the engine's
  /// helpers; nullopt for a non-set.
  static std::optional<std::vector<Value>> elements(const Value& s) {
    if (s.tag == Tag::set) return s.set->items;
    if (s.tag != Tag::enum_set) return std::nullopt;
    std::vector<Value> out;
    for (std::uint32_t i = 0; i < 64; ++i)
      if ((s.bits >> i) & 1u) out.push_back(Value::enumv(s.aux, i));
    return out;
  }

  static bool equal(const Value& a, const Value& b) {
    if (a.is_none() || b.is_none()) return a.is_none() && b.is_none();
    auto x = elements(a), y = elements(b);
    if (x || y) {
      if (!x || !y || x->size() != y->size()) return false;
      for (const auto& v : *x) {
        bool found = false;
        for (const auto& w : *y) found = found || equal(v, w);
        if (!found) return false;
      }
      return true;
    }
    return value_equal(a, b);
  }

  Value enum_by_value_name(const std::string& name) const {
    for (std::size_t i = 0; i < p_.schema.enums.size(); ++i)
      for (std::size_t j = 0; j < p_.schema.enums[i].values.size(); ++j)
        if (p_.schema.enums[i].values[j] == name)
          return Value::enumv(static_cast<TypeId>(i), static_cast<std::uint32_t>(j));
    return Value::none();
  }

  Value attribute(const Value& base, const std::string& name) const {
    if (base.tag != Tag::entity) return Value::none();
    const auto& rec = p_.world().entity(static_cast<EntityId>(base.i));
    const auto& et = p_.schema.entities[rec.type];
    for (std::size_t c = 0; c < et.attrs.size(); ++c)
      if (et.attrs[c].name == name) return p_.world().attr(static_cast<EntityId>(base.i), static_cast<std::uint32_t>(c));
    return Value::none();
  }

  static bool contains(const Value& s, const Value& v) {
    auto xs = elements(s);
    if (!xs || v.is_none()) return false;
    for (const auto& x : *xs)
      if (equal(x, v)) return true;
    return false;
  }

  Value eval(const syntax::Expr& e, Env& env) {
    using K = syntax::Expr::Kind;
    switch (e.kind) {
      case K::bool_lit: return Value::boolean(e.bool_value);
      case K::int_lit: return Value::integer(e.int_value);
      case K::string_lit: {
        strings_.push_back(e.str());
        return Value::str(&strings_.back());
      }
      case K::none_lit: return Value::none();
      case K::set_lit: {
        std::vector<Value> items;
        for (const auto& k : e.kids) {
          Value v = eval(k, env);
          bool dup = false;
          for (const auto& x : items) dup = dup || equal(x, v);
          if (!dup && !v.is_none()) items.push_back(v);
        }
        std::sort(items.begin(), items.end(), value_less);
        sets_.push_back(SetValue{std::move(items)});
        return Value::setv(&sets_.back());
      }
      case K::entity_ref: {
        auto t = p_.schema.find_entity(e.name);
        auto id = t ? p_.world().find(*t, e.str()) : std::nullopt;
        return id ? Value::entity(*id) : Value::none();
      }
      case K::name: {
        if (auto it = env.find(e.name); it != env.end()) return it->second;
        return enum_by_value_name(e.name);
      }
      case K::attr: {
        // `Enum.value`
        if (e.kids[0].kind == K::name && !env.count(e.kids[0].name))
          if (auto en = p_.schema.find_enum(e.kids[0].name)) {
            const auto& vals = p_.schema.enums[*en].values;
            for (std::size_t j = 0; j < vals.size(); ++j)
              if (vals[j] == e.name) return Value::enumv(*en, static_cast<std::uint32_t>(j));
          }
        return attribute(eval(e.kids[0], env), e.name);
      }
      case K::call: {
        const auto* pred = preds_.at(e.name);
        Env inner;
        for (std::size_t i = 0; i < pred->params.size(); ++i) inner[pred->params[i].name.name] = eval(e.kids[i], env);
        return Value::boolean(holds(pred->body, inner));
      }
      case K::method: {
        const Value s = eval(e.kids[0], env);
        if (e.name == "is_empty") return Value::boolean(!elements(s) || elements(s)->empty());
        const Value t = eval(e.kids[1], env);
        auto ts = elements(t);
        if (!elements(s) || !ts) return Value::boolean(false);
        if (e.name == "contains_all") {
          for (const auto& x : *ts)
            if (!contains(s, x)) return Value::boolean(false);
          return Value::boolean(true);
        }
        for (const auto& x : *ts)
          if (contains(s, x)) return Value::boolean(true);
        return Value::boolean(false);
      }
      case K::not_: return Value::boolean(!holds(e.kids[0], env));
      case K::and_:
        for (const auto& k : e.kids)
          if (!holds(k, env)) return Value::boolean(false);
        return Value::boolean(true);
      case K::or_:
        for (const auto& k : e.kids)
          if (holds(k, env)) return Value::boolean(true);
        return Value::boolean(false);
      case K::cmp: {
        const Value a = eval(e.kids[0], env), b = eval(e.kids[1], env);
        using Op = syntax::CmpOp;
        if (e.op == Op::eq) return Value::boolean(equal(a, b));
        if (e.op == Op::ne) return Value::boolean(!equal(a, b));
        if (a.is_none() || b.is_none() || a.tag != b.tag) return Value::boolean(false);
        int c = 0;
        if (a.tag == Tag::int_) c = a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
        else if (a.tag == Tag::str) c = *a.s < *b.s ? -1 : *a.s > *b.s ? 1 : 0;
        else return Value::boolean(false);
        switch (e.op) {
          case Op::lt: return Value::boolean(c < 0);
          case Op::le: return Value::boolean(c <= 0);
          case Op::gt: return Value::boolean(c > 0);
          default: return Value::boolean(c >= 0);
        }
      }
      case K::in: return Value::boolean(contains(eval(e.kids[1], env), eval(e.kids[0], env)));
      case K::is: {
        const Value a = eval(e.kids[0], env);
        return Value::boolean(a.tag == Tag::entity &&
                              p_.schema.entities[p_.world().entity(static_cast<EntityId>(a.i)).type].name == e.name);
      }
      case K::exists: {
        const auto t = p_.schema.find_entity(e.name).value();
        const auto saved = env.count(e.var().name) ? std::optional<Value>(env[e.var().name]) : std::nullopt;
        bool found = false;
        for (EntityId x = 0; x < p_.world().size() && !found; ++x) {
          if (p_.world().entity(x).type != t) continue;
          env[e.var().name] = Value::entity(x);
          found = holds(e.kids[0], env);
        }
        if (saved) env[e.var().name] = *saved; else env.erase(e.var().name);
        return Value::boolean(found);
      }
      case K::exists_in: {
        const Value s = eval(e.kids[0], env);
        bool found = false;
        if (auto xs = elements(s))
          for (const auto& x : *xs) {
            env[e.var().name] = x;
            if (holds(e.kids[1], env)) {
              found = true;
              break;
            }
          }
        env.erase(e.var().name);
        return Value::boolean(found);
      }
    }
    return Value::none();
  }

  const Program& p_;
  std::vector<const syntax::RuleDecl*> rules_;
  std::map<std::string, const syntax::PredicateDecl*> preds_;
  std::deque<std::string> strings_;
  std::deque<SetValue> sets_;
};

}  // namespace treaty::testing
