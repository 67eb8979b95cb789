// The checker: names, types and the lowering of expressions to the IR (LANGUAGE.md 2-9).
#include <algorithm>
#include <deque>
#include <functional>
#include <span>
#include <map>
#include <set>
#include <unordered_map>

#include "internal/checker.hpp"
#include "internal/types.hpp"
#include "treaty/check.hpp"
#include "treaty/format.hpp"
#include "treaty/parse.hpp"

namespace treaty {

namespace {

using syntax::Expr;
using EK = syntax::Expr::Kind;

using detail::assignable;
using detail::comparable;
using detail::entity_overlap;
using detail::entity_subset;
using detail::is_bool;
using detail::tick;

struct Var {
  std::string name;
  std::uint32_t slot;
  Type type;
};

struct Scope {
  std::vector<Var> vars;
  std::uint32_t next = 0;
  std::uint32_t max = 0;
  const Var* find(std::string_view name) const {
    for (auto it = vars.rbegin(); it != vars.rend(); ++it)
      if (it->name == name) return &*it;
    return nullptr;
  }
  std::uint32_t push(std::string name, Type t) {
    const std::uint32_t s = next++;
    max = std::max(max, next);
    vars.push_back({std::move(name), s, std::move(t)});
    return s;
  }
  void push_at(std::string name, std::uint32_t slot, Type t) { vars.push_back({std::move(name), slot, std::move(t)}); }
  void pop() {
    vars.pop_back();
    --next;
  }
};

struct Typed {
  NodeId id;
  Type type;
};

class Checker {
 public:
  Checker(SourceManager& sm, const Package& pkg, Diagnostics& d, const CheckOptions& opts, Program& p)
      : sm_(sm), pkg_(pkg), d_(d), opts_(opts), p_(p) {}

  void run() {
    collect();
    build_schema();
    std::vector<const syntax::FactDecl*> facts;
    for (const auto& f : pkg_.files)
      for (const auto& decl : f.decls)
        if (auto* fd = syntax::get_if<syntax::FactDecl>(&decl)) facts.push_back(fd);
    if (!opts_.facts) facts.clear();
    fact_decls_ = facts;
    detail::build_world(p_, sm_, facts, opts_.facts ? opts_.data_files : std::vector<std::string>{},
                        opts_.facts ? opts_.data_texts : std::vector<std::pair<std::string, std::string>>{},
                        opts_.max_facts, d_);
    mark_fact_enum_usage();
    reserve_ir();
    check_predicates();
    check_rules();
    check_requirements();
    if (opts_.facts) check_tests();  // tests name facts; without them there is nothing to check
    check_properties();
    index_rules();
    // Lints only for a program without errors: they would mostly repeat the errors' consequences.
    if (opts_.lints && !d_.has_errors()) lints();
  }

 private:
  /// Reserves the IR and the rules for what the syntax holds (an expression lowers to about one
  /// node, action constraints and inlined calls to a few more), so 100,000 rules do not grow
  /// the node array by doubling, which held a third more than it used at the peak.
  void reserve_ir() {
    std::size_t exprs = 0;
    auto count = [&](const syntax::Expr& e, auto& self) -> void {
      ++exprs;
      for (const auto& k : e.kids) self(k, self);
    };
    for (const auto* r : rule_order_) {
      for (const auto& c : r->conditions) count(c.expr, count);
      if (r->action)
        for (const auto& c : r->action->constraints) count(c, count);
    }
    for (const auto& [_, pr] : predicate_decls_) count(pr->body, count);
    p_.nodes.reserve(p_.nodes.size() + exprs + exprs / 16 + 64);
    p_.node_types.reserve(p_.nodes.capacity());
    p_.rules.reserve(rule_order_.size());
  }

  // -------------------------------------------------------------------------------------------
  // Collection of declarations
  // -------------------------------------------------------------------------------------------
  template <typename D>
  void remember(std::map<std::string, const D*>& m, const D& decl, const char* what) {
    auto [it, fresh] = m.emplace(decl.name.name, &decl);
    if (!fresh) {
      auto& diag = d_.add(DiagId::duplicate_declaration, decl.name.span,
                          std::string(what) + " " + tick(decl.name.name) + " is declared twice");
      diag.notes.push_back({it->second->name.span, "first declared here"});
    }
  }

  void collect() {
    for (const auto& f : pkg_.files) {
      for (const auto& decl : f.decls) {
        if (auto* e = syntax::get_if<syntax::EnumDecl>(&decl)) {
          check_type_name(e->name);
          if (entity_decls_.count(e->name.name)) type_clash(e->name, entity_decls_[e->name.name]->name);
          remember(enum_decls_, *e, "enum");
        } else if (auto* en = syntax::get_if<syntax::EntityDecl>(&decl)) {
          check_type_name(en->name);
          if (enum_decls_.count(en->name.name)) type_clash(en->name, enum_decls_[en->name.name]->name);
          remember(entity_decls_, *en, "entity");
        } else if (auto* a = syntax::get_if<syntax::ActionDecl>(&decl)) {
          remember(action_decls_, *a, "action");
        } else if (auto* pr = syntax::get_if<syntax::PredicateDecl>(&decl)) {
          remember(predicate_decls_, *pr, "predicate");
        } else if (auto* r = syntax::get_if<syntax::RuleDecl>(&decl)) {
          auto [it, fresh] = rule_decls_.emplace(r->name.name, r);
          if (!fresh) {
            auto& diag = d_.add(DiagId::duplicate_rule, r->name.span,
                                "rule name " + tick(r->name.name) + " is used twice; rule names must be unique");
            diag.notes.push_back({it->second->name.span, "first used here"});
          }
          rule_order_.push_back(r);
        } else if (auto* rq = syntax::get_if<syntax::RequireDecl>(&decl)) {
          auto [it, fresh] = require_decls_.emplace(rq->name.name, rq);
          if (!fresh) {
            auto& diag = d_.add(DiagId::duplicate_declaration, rq->name.span,
                                "requirement " + tick(rq->name.name) + " is declared twice");
            diag.notes.push_back({it->second->name.span, "first declared here"});
          }
          require_order_.push_back(rq);
        } else if (auto* t = syntax::get_if<syntax::TestDecl>(&decl)) {
          test_order_.push_back(t);
        } else if (auto* pp = syntax::get_if<syntax::PropertyDecl>(&decl)) {
          auto [it, fresh] = property_decls_.emplace(pp->name.name, pp);
          if (!fresh) {
            auto& diag = d_.add(DiagId::duplicate_declaration, pp->name.span,
                                "property " + tick(pp->name.name) + " is declared twice");
            diag.notes.push_back({it->second->name.span, "first declared here"});
          }
          property_order_.push_back(pp);
        }
      }
    }
  }

  void check_type_name(const syntax::Ident& n) {
    if (n.name == "Bool" || n.name == "Int" || n.name == "String" || n.name == "Set")
      d_.add(DiagId::reserved_type_name, n.span, tick(n.name) + " is a built-in type and cannot be redeclared");
  }
  void type_clash(const syntax::Ident& n, const syntax::Ident& other) {
    auto& diag = d_.add(DiagId::duplicate_declaration, n.span,
                        "type " + tick(n.name) + " is declared both as an enum and as an entity");
    diag.notes.push_back({other.span, "also declared here"});
  }

  // -------------------------------------------------------------------------------------------
  // Schema
  // -------------------------------------------------------------------------------------------
  std::vector<std::string> type_names() const {
    std::vector<std::string> v = {"Bool", "Int", "String"};
    for (const auto& [n, _] : enum_decls_) v.push_back(n);
    for (const auto& [n, _] : entity_decls_) v.push_back(n);
    return v;
  }

  void unknown(DiagId id, Span span, const std::string& message, std::string_view name,
               const std::vector<std::string>& candidates) {
    auto& diag = d_.add(id, span, message);
    if (auto c = closest_name(name, candidates)) {
      diag.help = "did you mean " + tick(*c) + "?";
      diag.fix = Fix{span, *c};
    }
  }

  std::optional<Type> resolve_named(const std::string& name, Span span) {
    if (name == "Bool") return Type::boolean();
    if (name == "Int") return Type::integer();
    if (name == "String") return Type::string();
    if (auto e = p_.schema.find_enum(name)) return Type::enumeration(*e);
    if (auto e = p_.schema.find_entity(name)) return Type::entity({*e});
    unknown(DiagId::unknown_type, span, "unknown type " + tick(name), name, type_names());
    return std::nullopt;
  }

  std::optional<Type> resolve_type(const syntax::TypeRef& t) {
    using K = syntax::TypeRef::Kind;
    switch (t.kind) {
      case K::named: return resolve_named(t.name, t.span);
      case K::set: {
        auto inner = resolve_type(t.args.at(0));
        if (!inner) return std::nullopt;
        if (inner->set || inner->optional) {
          d_.add(DiagId::invalid_type, t.span, "a set's elements cannot be sets or optional; found " +
                                                   tick(to_source(t)));
          return std::nullopt;
        }
        return inner->as_set();
      }
      case K::optional: {
        auto inner = resolve_type(t.args.at(0));
        if (!inner) return std::nullopt;
        if (inner->set) {
          d_.add(DiagId::optional_set, t.span, "sets cannot be optional; an empty set `{}` already means none");
          return std::nullopt;
        }
        if (inner->optional) {
          d_.add(DiagId::invalid_type, t.span, "a type can be made optional only once");
          return std::nullopt;
        }
        return inner->as_optional();
      }
    }
    return std::nullopt;
  }

  std::optional<std::vector<TypeId>> resolve_entity_types(const std::vector<syntax::Ident>& names) {
    return resolve_entity_type_list(names);
  }
  std::optional<std::vector<TypeId>> resolve_entity_type_list(std::span<const syntax::Ident> names) {
    std::vector<TypeId> out;
    bool ok = true;
    for (const auto& n : names) {
      if (auto e = p_.schema.find_entity(n.name)) {
        out.push_back(*e);
      } else if (p_.schema.find_enum(n.name) || n.name == "Bool" || n.name == "Int" || n.name == "String") {
        d_.add(DiagId::not_an_entity_type, n.span, tick(n.name) + " is not an entity type");
        ok = false;
      } else {
        std::vector<std::string> cands;
        for (const auto& [nm, _] : entity_decls_) cands.push_back(nm);
        unknown(DiagId::unknown_type, n.span, "unknown entity type " + tick(n.name), n.name, cands);
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  std::uint32_t attr_name_id(const std::string& name) {
    if (auto id = p_.schema.find_attr_name(name)) return *id;
    p_.schema.attr_names.push_back(name);
    return static_cast<std::uint32_t>(p_.schema.attr_names.size() - 1);
  }

  std::uint32_t param_name_id(const std::string& name) {
    for (std::size_t i = 0; i < p_.param_names.size(); ++i)
      if (p_.param_names[i] == name) return static_cast<std::uint32_t>(i);
    p_.param_names.push_back(name);
    return static_cast<std::uint32_t>(p_.param_names.size() - 1);
  }

  void build_schema() {
    auto& s = p_.schema;
    for (const auto& [name, e] : enum_decls_) {
      EnumInfo info;
      info.name = name;
      info.span = e->name.span;
      std::set<std::string> seen;
      for (const auto& v : e->values) {
        if (!seen.insert(v.name).second) {
          d_.add(DiagId::duplicate_member, v.span, "enum value " + tick(v.name) + " appears twice in " + tick(name));
          continue;
        }
        info.values.push_back(v.name);
        info.value_spans.push_back(v.span);
      }
      s.enums.push_back(std::move(info));
    }
    enum_used_.resize(s.enums.size());
    for (std::size_t i = 0; i < s.enums.size(); ++i) enum_used_[i].assign(s.enums[i].values.size(), false);
    for (const auto& [name, e] : entity_decls_) {
      EntityTypeInfo info;
      info.name = name;
      info.span = e->name.span;
      if (e->doc) info.doc = *e->doc;
      info.request_supplied = e->request_supplied;
      s.entities.push_back(std::move(info));
    }
    for (std::size_t i = 0; i < s.entities.size(); ++i) {
      const auto* decl = entity_decls_.at(s.entities[i].name);
      auto& info = s.entities[i];
      std::set<std::string> seen;
      for (const auto& a : decl->attrs) {
        if (!seen.insert(a.name.name).second) {
          d_.add(DiagId::duplicate_member, a.name.span,
                 "attribute " + tick(a.name.name) + " is declared twice in " + tick(info.name));
          continue;
        }
        auto t = resolve_type(a.type);
        AttrInfo ai;
        ai.name = a.name.name;
        ai.name_id = attr_name_id(a.name.name);
        ai.type = t ? *t : Type::none_type();
        ai.span = a.name.span;
        info.attrs.push_back(std::move(ai));
      }
      for (const auto& key : decl->keys) {
        std::vector<std::uint32_t> cols;
        for (const auto& k : key) {
          bool found = false;
          for (std::size_t c = 0; c < info.attrs.size(); ++c)
            if (info.attrs[c].name == k.name) {
              cols.push_back(static_cast<std::uint32_t>(c));
              found = true;
            }
          if (!found) {
            std::vector<std::string> cands;
            for (const auto& a : info.attrs) cands.push_back(a.name);
            unknown(DiagId::unknown_attribute, k.span, tick(info.name) + " has no attribute " + tick(k.name) +
                                                           " to use in its key", k.name, cands);
          }
        }
        if (cols.size() == key.size()) info.keys.push_back(std::move(cols));
      }
    }
    for (auto& info : s.entities) {
      info.column_of.assign(s.attr_names.size(), -1);
      for (std::size_t c = 0; c < info.attrs.size(); ++c) info.column_of[info.attrs[c].name_id] = static_cast<int>(c);
    }
    for (const auto& [name, a] : action_decls_) {
      ActionInfo info;
      info.name = name;
      info.span = a->name.span;
      std::set<std::string> seen;
      for (const auto& prm : a->params) {
        if (!seen.insert(prm.name.name).second) {
          d_.add(DiagId::duplicate_member, prm.name.span,
                 "parameter " + tick(prm.name.name) + " is declared twice in " + tick(name));
          continue;
        }
        auto t = resolve_type(prm.type);
        info.params.push_back({prm.name.name, t ? *t : Type::none_type(), prm.name.span});
        info.param_ids.push_back(param_name_id(prm.name.name));
      }
      if (auto t = resolve_entity_types(a->principal_types)) info.principals = *t;
      if (auto t = resolve_entity_types(a->resource_types)) info.resources = *t;
      s.actions.push_back(std::move(info));
    }
  }

  std::vector<TypeId> all_entities() const {
    std::vector<TypeId> v(p_.schema.entities.size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<TypeId>(i);
    return v;
  }

  void mark_fact_enum_usage() {
    for (EntityId e = 0; e < p_.world.size(); ++e) {
      const auto& r = p_.world.entity(e);
      const auto& et = p_.schema.entities[r.type];
      for (std::uint32_t c = 0; c < et.attrs.size(); ++c) mark_value(p_.world.attr(e, c));
    }
  }
  void mark_value(const Value& v) {
    if (v.tag == Tag::enum_) enum_used_[v.aux][static_cast<std::size_t>(v.i)] = true;
    set_any(v, [&](const Value& x) {
      mark_value(x);
      return false;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Expressions
  // -------------------------------------------------------------------------------------------
  NodeId node(Op op, Span span) {
    Node n;
    n.op = op;
    n.span = span;
    p_.nodes.push_back(std::move(n));
    p_.node_types.push_back(Type{});  // typed by expr() once the node's type is known
    return static_cast<NodeId>(p_.nodes.size() - 1);
  }
  NodeId lit(Value v, Span span) {
    NodeId id = node(Op::lit, span);
    p_.nodes[id].value = v;
    return id;
  }
  std::string tn(const Type& t) const { return detail::type_text(p_.schema, t); }

  std::optional<Typed> expect_bool(const Expr& e, Scope& sc, const char* what) {
    auto t = expr(e, sc, nullptr);
    if (!t) return std::nullopt;
    if (!is_bool(t->type) && t->type.base != Base::none) {
      d_.add(DiagId::type_mismatch, e.span, std::string(what) + " must be `Bool`, found " + tn(t->type));
      return std::nullopt;
    }
    return t;
  }

  bool is_unbound_name(const Expr& e, const Scope& sc) const { return e.kind == EK::name && !sc.find(e.name); }

  std::optional<Typed> enum_value(TypeId en, const std::string& value, Span span, Span whole) {
    const auto& info = p_.schema.enums[en];
    for (std::size_t i = 0; i < info.values.size(); ++i) {
      if (info.values[i] == value) {
        enum_used_[en][i] = true;
        return Typed{lit(Value::enumv(en, static_cast<std::uint32_t>(i)), whole), Type::enumeration(en)};
      }
    }
    unknown(DiagId::unknown_enum_value, span, tick(value) + " is not a value of enum " + tick(info.name), value,
            info.values);
    return std::nullopt;
  }

  /// Checks and lowers `e`, recording the type of the node it becomes (Program::node_types).
  std::optional<Typed> expr(const Expr& e, Scope& sc, const Type* expected) {
    auto t = lower(e, sc, expected);
    if (t) p_.node_types.set(t->id, t->type);
    return t;
  }

  std::optional<Typed> lower(const Expr& e, Scope& sc, const Type* expected) {
    switch (e.kind) {
      case EK::bool_lit: return Typed{lit(Value::boolean(e.bool_value), e.span), Type::boolean()};
      case EK::int_lit: return Typed{lit(Value::integer(e.int_value), e.span), Type::integer()};
      case EK::string_lit: return Typed{lit(Value::str(p_.world.intern(e.str())), e.span), Type::string()};
      case EK::none_lit: return Typed{lit(Value::none(), e.span), Type::none_type()};
      case EK::set_lit: return set_literal(e, sc, expected);
      case EK::entity_ref: {
        auto t = p_.schema.find_entity(e.name);
        if (!t) {
          std::vector<std::string> cands;
          for (const auto& [n, _] : entity_decls_) cands.push_back(n);
          unknown(DiagId::unknown_type, e.name_span, "unknown entity type " + tick(e.name), e.name, cands);
          return std::nullopt;
        }
        auto id = p_.world.find(*t, e.str());
        if (!id) {
          d_.add(DiagId::dangling_reference, e.span,
                 "no fact " + tick(e.name + "::" + quote_string(e.str())) + " exists in the package or its data");
          return std::nullopt;
        }
        return Typed{lit(Value::entity(*id), e.span), Type::entity({*t})};
      }
      case EK::name: {
        if (const Var* v = sc.find(e.name)) {
          NodeId id = node(Op::var, e.span);
          p_.nodes[id].slot = v->slot;
          return Typed{id, v->type};
        }
        if (expected && expected->base == Base::enum_) return enum_value(expected->enum_id, e.name, e.span, e.span);
        std::vector<std::string> cands;
        for (const auto& v : sc.vars) cands.push_back(v.name);
        auto& diag = d_.add(DiagId::unknown_name, e.span, "unknown name " + tick(e.name));
        if (auto c = closest_name(e.name, cands)) {
          diag.help = "did you mean " + tick(*c) + "?";
          diag.fix = Fix{e.span, *c};
        } else {
          for (std::size_t i = 0; i < p_.schema.enums.size(); ++i)
            for (const auto& v : p_.schema.enums[i].values)
              if (v == e.name) {
                diag.help = "an enum value is written bare only where its type is known; write " +
                            tick(p_.schema.enums[i].name + "." + v);
                diag.fix = Fix{e.span, p_.schema.enums[i].name + "." + v};
              }
        }
        return std::nullopt;
      }
      case EK::attr: return attribute(e, sc);
      case EK::call: return call(e, sc);
      case EK::method: return method(e, sc);
      case EK::not_: {
        auto k = expect_bool(e.kids[0], sc, "the operand of `not`");
        if (!k) return std::nullopt;
        NodeId id = node(Op::not_, e.span);
        p_.nodes[id].kids = {k->id};
        return Typed{id, Type::boolean()};
      }
      case EK::and_:
      case EK::or_: {
        std::vector<NodeId> kids;
        bool ok = true;
        for (const auto& k : e.kids) {
          auto t = expect_bool(k, sc, e.kind == EK::and_ ? "an operand of `and`" : "an operand of `or`");
          if (t) kids.push_back(t->id); else ok = false;
        }
        if (!ok) return std::nullopt;
        NodeId id = node(e.kind == EK::and_ ? Op::and_ : Op::or_, e.span);
        p_.nodes[id].kids = std::move(kids);
        return Typed{id, Type::boolean()};
      }
      case EK::cmp: return comparison(e, sc);
      case EK::in: return membership(e, sc);
      case EK::is: {
        auto l = expr(e.kids[0], sc, nullptr);
        if (!l) return std::nullopt;
        if (l->type.base != Base::entity || l->type.set) {
          d_.add(DiagId::type_mismatch, e.kids[0].span, "`is` tests an entity's type; found " + tn(l->type));
          return std::nullopt;
        }
        auto t = resolve_entity_types({syntax::Ident{e.name, e.name_span}});
        if (!t) return std::nullopt;
        NodeId id = node(Op::is, e.span);
        p_.nodes[id].kids = {l->id};
        p_.nodes[id].types = *t;
        return Typed{id, Type::boolean()};
      }
      case EK::exists: return exists_type(e, sc);
      case EK::exists_in: return exists_in(e, sc);
    }
    return std::nullopt;
  }

  std::optional<Typed> set_literal(const Expr& e, Scope& sc, const Type* expected) {
    if (e.kids.empty()) {
      Type t = expected && expected->set ? expected->as_set() : Type::of(Base::empty_set);
      if (t.base == Base::empty_set) t.set = true;
      return Typed{lit(p_.world.make_set({}), e.span), t};
    }
    if (e.kids.size() > kMaxSetSize) {
      d_.add(DiagId::set_too_large, e.span, "the set literal has " + std::to_string(e.kids.size()) +
                                                " elements, more than the limit of " + std::to_string(kMaxSetSize));
      return std::nullopt;
    }
    std::optional<Type> elem;
    if (expected && expected->set) elem = expected->element();
    std::vector<NodeId> kids;
    bool ok = true, constant = true;
    for (const auto& k : e.kids) {
      auto t = expr(k, sc, elem ? &*elem : nullptr);
      if (!t) {
        ok = false;
        continue;
      }
      if (t->type.set) {
        d_.add(DiagId::invalid_type, k.span, "a set's elements cannot be sets");
        ok = false;
        continue;
      }
      if (t->type.base == Base::none) {
        d_.add(DiagId::none_in_set, k.span, "a set cannot contain `none`");
        ok = false;
        continue;
      }
      if (!elem) {
        elem = t->type.as_optional(false);
      } else if (!comparable(*elem, t->type)) {
        d_.add(DiagId::type_mismatch, k.span, "set elements must have one type: expected " + tn(*elem) +
                                                  ", found " + tn(t->type));
        ok = false;
        continue;
      } else if (elem->base == Base::entity) {
        std::vector<TypeId> u = elem->entities;
        u.insert(u.end(), t->type.entities.begin(), t->type.entities.end());
        std::sort(u.begin(), u.end());
        u.erase(std::unique(u.begin(), u.end()), u.end());
        elem->entities = u;
      }
      if (p_.nodes[t->id].op != Op::lit) constant = false;
      kids.push_back(t->id);
    }
    if (!ok) return std::nullopt;
    if (constant) {
      std::vector<Value> vals;
      for (NodeId k : kids) vals.push_back(p_.nodes[k].value);
      return Typed{lit(p_.world.make_set(std::move(vals)), e.span), elem->as_set()};
    }
    NodeId id = node(Op::make_set, e.span);
    p_.nodes[id].kids = std::move(kids);
    return Typed{id, elem->as_set()};
  }

  std::optional<Typed> attribute(const Expr& e, Scope& sc) {
    const Expr& base = e.kids[0];
    if (is_unbound_name(base, sc)) {
      if (auto en = p_.schema.find_enum(base.name)) return enum_value(*en, e.name, e.name_span, e.span);
    }
    auto b = expr(base, sc, nullptr);
    if (!b) return std::nullopt;
    if (b->type.base != Base::entity || b->type.set) {
      d_.add(DiagId::not_an_entity, e.name_span,
             "cannot read attribute " + tick(e.name) + " of a value of type " + tn(b->type) +
                 "; only entities have attributes");
      return std::nullopt;
    }
    // An entity type with no members comes only from a binding whose types failed to resolve
    // (already reported): nothing more to say about it.
    if (b->type.entities.empty()) return std::nullopt;
    auto name_id = p_.schema.find_attr_name(e.name);
    std::optional<Type> result;
    std::vector<std::string> missing;
    for (TypeId t : b->type.entities) {
      const auto& et = p_.schema.entities[t];
      const int col = name_id ? et.column(*name_id) : -1;
      if (col < 0) {
        missing.push_back(et.name);
        continue;
      }
      const Type& at = et.attrs[static_cast<std::size_t>(col)].type;
      if (!result) {
        result = at;
      } else if (!(result->as_optional(false) == at.as_optional(false))) {
        d_.add(DiagId::attribute_not_on_every_type, e.name_span,
               "attribute " + tick(e.name) + " has different types on the types of this expression");
        return std::nullopt;
      } else if (at.optional) {
        result->optional = true;
      }
    }
    if (!missing.empty()) {
      if (b->type.entities.size() == 1) {
        std::vector<std::string> cands;
        for (const auto& a : p_.schema.entities[b->type.entities[0]].attrs) cands.push_back(a.name);
        unknown(DiagId::unknown_attribute, e.name_span, tick(missing[0]) + " has no attribute " + tick(e.name), e.name,
                cands);
      } else {
        std::string list;
        for (const auto& m : missing) list += (list.empty() ? "" : ", ") + tick(m);
        auto& diag = d_.add(DiagId::attribute_not_on_every_type, e.name_span,
                            "attribute " + tick(e.name) + " is not on every type of this expression (missing on " +
                                list + ")");
        diag.help = "narrow the variable's types, e.g. `resource r: " +
                    p_.schema.entities[b->type.entities[0]].name + "`";
      }
      return std::nullopt;
    }
    if (b->type.optional && !result->set) result->optional = true;
    NodeId id = node(Op::attr, e.span);
    p_.nodes[id].a = *name_id;
    p_.nodes[id].kids = {b->id};
    if (b->type.entities.size() == 1) {
      // One possible type: the runtime may read the column directly (it still checks the type).
      const TypeId t = b->type.entities[0];
      p_.nodes[id].types = {t};
      p_.nodes[id].slot = static_cast<std::uint32_t>(p_.schema.entities[t].column(*name_id));
    }
    return Typed{id, *result};
  }

  std::optional<Typed> call(const Expr& e, Scope& sc) {
    auto it = pred_index_.find(e.name);
    if (it == pred_index_.end()) {
      std::vector<std::string> cands;
      for (const auto& [n, _] : predicate_decls_) cands.push_back(n);
      unknown(DiagId::unknown_predicate, e.name_span, "unknown predicate " + tick(e.name), e.name, cands);
      return std::nullopt;
    }
    const std::uint32_t pid = it->second;
    const auto& params = p_.predicates[pid].params;
    if (e.kids.size() != params.size()) {
      d_.add(DiagId::wrong_argument_count, e.span,
             tick(e.name) + " takes " + std::to_string(params.size()) + " argument" +
                 (params.size() == 1 ? "" : "s") + ", found " + std::to_string(e.kids.size()));
      return std::nullopt;
    }
    std::vector<NodeId> kids;
    bool ok = true;
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto t = expr(e.kids[i], sc, &params[i].type);
      if (!t) {
        ok = false;
        continue;
      }
      if (!assignable(t->type, params[i].type)) {
        d_.add(DiagId::type_mismatch, e.kids[i].span,
               "argument " + tick(params[i].name) + " of " + tick(e.name) + " expects " + tn(params[i].type) +
                   ", found " + tn(t->type));
        ok = false;
        continue;
      }
      kids.push_back(t->id);
    }
    if (!ok) return std::nullopt;
    if (current_predicate_) pred_calls_[*current_predicate_].insert(pid);
    pred_used_[pid] = true;
    // Inline the body of an already lowered, small predicate: its parameters become the argument
    // expressions (pure, so sharing them is safe) and its `exists` variables get slots of this
    // frame. A call then costs no frame of its own.
    if (pid < pred_lowered_.size() && pred_lowered_[pid] && subtree_size(p_.predicates[pid].body, 256) < 256) {
      const auto& pred = p_.predicates[pid];
      const std::uint32_t nparams = static_cast<std::uint32_t>(pred.params.size());
      const std::uint32_t locals = pred.frame > nparams ? pred.frame - nparams : 0;
      const std::uint32_t base = sc.next;
      sc.next += locals;
      sc.max = std::max(sc.max, sc.next);
      const std::size_t before = p_.nodes.size();
      const NodeId root = clone_inlined(pred.body, kids, nparams, base);
      // The root stands for the call: explanations quote the call and then, through `inlined`,
      // the predicate's own conjunct (the body's span is the predicate's body node's). A body
      // that is only a parameter returns the argument itself, which is not the call's to mark.
      if (root >= before) {
        p_.nodes[root].inlined = pid;
        p_.nodes[root].span = e.span;
      }
      sc.next -= locals;
      return Typed{root, Type::boolean()};
    }
    NodeId id = node(Op::call, e.span);
    p_.nodes[id].a = pid;
    p_.nodes[id].kids = std::move(kids);
    return Typed{id, Type::boolean()};
  }

  /// The predicates in an order that lowers each one after the predicates its body calls, so a
  /// call to a small predicate can always be inlined (a call to one not yet lowered stays out of
  /// line, a frame and a dispatch per call). Depth-first post-order over the calls as written;
  /// inside a cycle, which is reported as an error, the order is arbitrary.
  std::vector<std::uint32_t> callees_first() const {
    const std::size_t n = p_.predicates.size();
    std::vector<std::uint32_t> order;
    order.reserve(n);
    std::vector<char> seen(n, 0);
    std::function<void(const Expr&, std::vector<std::uint32_t>&)> calls =
        [&](const Expr& e, std::vector<std::uint32_t>& out) {
          if (e.kind == Expr::Kind::call) {
            auto it = pred_index_.find(e.name);
            if (it != pred_index_.end()) out.push_back(it->second);
          }
          for (const auto& k : e.kids) calls(k, out);
        };
    std::function<void(std::uint32_t)> visit = [&](std::uint32_t v) {
      seen[v] = 1;
      std::vector<std::uint32_t> callees;
      calls(predicate_decls_.at(p_.predicates[v].name)->body, callees);
      for (std::uint32_t w : callees)
        if (!seen[w]) visit(w);
      order.push_back(v);
    };
    for (std::uint32_t i = 0; i < n; ++i)
      if (!seen[i]) visit(i);
    return order;
  }

  std::size_t subtree_size(NodeId n, std::size_t cap) const {
    std::size_t count = 1;
    for (NodeId k : p_.nodes[n].kids) {
      if (count >= cap) break;
      count += subtree_size(k, cap - count);
    }
    return count;
  }

  NodeId clone_inlined(NodeId n, const std::vector<NodeId>& args, std::uint32_t nparams, std::uint32_t base) {
    Node c = p_.nodes[n];  // a copy: cloning appends to p_.nodes
    if (c.op == Op::var && c.slot < nparams) return args[c.slot];
    if ((c.op == Op::var || c.op == Op::exists_type || c.op == Op::exists_set) && c.slot >= nparams)
      c.slot = base + (c.slot - nparams);
    for (auto& k : c.kids) k = clone_inlined(k, args, nparams, base);
    Type t = p_.node_types[n];  // a copy, as for the node
    p_.nodes.push_back(std::move(c));
    p_.node_types.push_back(t);
    return static_cast<NodeId>(p_.nodes.size() - 1);
  }

  std::optional<Typed> method(const Expr& e, Scope& sc) {
    const std::string& m = e.name;
    if (m != "contains_any" && m != "contains_all" && m != "is_empty") {
      unknown(DiagId::unknown_method, e.name_span, "unknown set method " + tick(m) +
                                                      ": expected `contains_any`, `contains_all` or `is_empty`",
              m, {"contains_any", "contains_all", "is_empty"});
      return std::nullopt;
    }
    auto recv = expr(e.kids[0], sc, nullptr);
    if (!recv) return std::nullopt;
    if (!recv->type.set) {
      d_.add(DiagId::not_a_set, e.kids[0].span, tick(m) + " is a set method; found " + tn(recv->type));
      return std::nullopt;
    }
    const std::size_t want = m == "is_empty" ? 0 : 1;
    if (e.kids.size() - 1 != want) {
      d_.add(DiagId::wrong_argument_count, e.span,
             tick(m) + " takes " + std::to_string(want) + " argument" + (want == 1 ? "" : "s") + ", found " +
                 std::to_string(e.kids.size() - 1));
      return std::nullopt;
    }
    // Children first: a node's children always precede it (bundles rely on it).
    std::vector<NodeId> kids = {recv->id};
    if (want) {
      auto arg = expr(e.kids[1], sc, &recv->type);
      if (!arg) return std::nullopt;
      if (!arg->type.set && arg->type.base != Base::empty_set) {
        d_.add(DiagId::not_a_set, e.kids[1].span, "the argument of " + tick(m) + " must be a set; found " +
                                                       tn(arg->type));
        return std::nullopt;
      }
      if (!comparable(recv->type, arg->type)) {
        d_.add(DiagId::type_mismatch, e.kids[1].span,
               "sets of " + tn(recv->type) + " and " + tn(arg->type) + " have no element in common");
        return std::nullopt;
      }
      kids.push_back(arg->id);
    }
    NodeId id = node(m == "is_empty" ? Op::is_empty : (m == "contains_any" ? Op::contains_any : Op::contains_all),
                     e.span);
    p_.nodes[id].kids = std::move(kids);
    return Typed{id, Type::boolean()};
  }

  /// Checks two operands where either may be a bare enum value whose type the other gives.
  bool operand_pair(const Expr& l, const Expr& r, Scope& sc, std::optional<Typed>& lt, std::optional<Typed>& rt,
                    bool right_is_set) {
    if (is_unbound_name(l, sc) && !is_unbound_name(r, sc)) {
      rt = expr(r, sc, nullptr);
      if (!rt) return false;
      Type want = right_is_set ? rt->type.element() : rt->type;
      lt = expr(l, sc, &want);
      return lt.has_value();
    }
    lt = expr(l, sc, nullptr);
    if (!lt) {
      if (!is_unbound_name(r, sc)) (void)expr(r, sc, nullptr);  // report its problems too
      return false;
    }
    Type want = right_is_set ? lt->type.as_set() : lt->type;
    rt = expr(r, sc, &want);
    return rt.has_value();
  }

  std::optional<Typed> comparison(const Expr& e, Scope& sc) {
    std::optional<Typed> l, r;
    if (!operand_pair(e.kids[0], e.kids[1], sc, l, r, false)) return std::nullopt;
    const bool ordering = e.op != syntax::CmpOp::eq && e.op != syntax::CmpOp::ne;
    if (ordering) {
      auto orderable = [](const Type& t) { return !t.set && (t.base == Base::int_ || t.base == Base::string); };
      if (!orderable(l->type) || !orderable(r->type) || l->type.base != r->type.base) {
        d_.add(DiagId::not_orderable, e.span,
               "cannot order " + tn(l->type) + " and " + tn(r->type) + "; `<`, `<=`, `>` and `>=` compare two "
               "`Int`s or two `String`s");
        return std::nullopt;
      }
    } else if (!comparable(l->type, r->type)) {
      d_.add(DiagId::incomparable_types, e.span,
             "a value of type " + tn(l->type) + " can never equal one of type " + tn(r->type));
      return std::nullopt;
    }
    static constexpr Op ops[] = {Op::eq, Op::ne, Op::lt, Op::le, Op::gt, Op::ge};
    NodeId id = node(ops[static_cast<int>(e.op)], e.span);
    p_.nodes[id].kids = {l->id, r->id};
    return Typed{id, Type::boolean()};
  }

  std::optional<Typed> membership(const Expr& e, Scope& sc) {
    std::optional<Typed> l, r;
    if (!operand_pair(e.kids[0], e.kids[1], sc, l, r, true)) return std::nullopt;
    if (!r->type.set) {
      d_.add(DiagId::not_a_set, e.kids[1].span, "the right side of `in` must be a set; found " + tn(r->type));
      return std::nullopt;
    }
    if (l->type.set) {
      d_.add(DiagId::type_mismatch, e.kids[0].span,
             "the left side of `in` is one value, found a set; use `contains_all` or `contains_any`");
      return std::nullopt;
    }
    if (!comparable(l->type, r->type.element())) {
      d_.add(DiagId::incomparable_types, e.span,
             "a value of type " + tn(l->type) + " is never in a set of type " + tn(r->type));
      return std::nullopt;
    }
    NodeId id = node(Op::in, e.span);
    p_.nodes[id].kids = {l->id, r->id};
    return Typed{id, Type::boolean()};
  }

  bool uses_slot(NodeId n, std::uint32_t slot) const {
    const Node& nd = p_.nodes[n];
    if (nd.op == Op::var && nd.slot == slot) return true;
    for (NodeId k : nd.kids)
      if (uses_slot(k, slot)) return true;
    return false;
  }

  /// Chooses equality conjuncts `x.a == key` (key free of x) to answer through a hash index: the
  /// first two on distinct attributes become a composite probe (`t.grantor == c and t.grantee ==
  /// p` finds the pair's trust in one step), a single one a probe on its column. The conjuncts
  /// stay in the body, which the runtime evaluates for every candidate the probe returns.
  void choose_probe(NodeId ex, TypeId type, std::uint32_t slot) {
    const NodeId body = p_.nodes[ex].kids[0];
    std::vector<NodeId> conj;
    if (p_.nodes[body].op == Op::and_) conj = p_.nodes[body].kids.to_vector(); else conj = {body};
    struct Found {
      std::uint32_t attr, column;
      NodeId key;
    };
    std::vector<Found> found;
    for (NodeId c : conj) {
      const Node& cn = p_.nodes[c];
      if (cn.op != Op::eq) continue;
      for (int side = 0; side < 2 && found.size() < 2; ++side) {
        const NodeId a = cn.kids[side], k = cn.kids[1 - side];
        const Node& an = p_.nodes[a];
        if (an.op != Op::attr) continue;
        const Node& base = p_.nodes[an.kids[0]];
        if (base.op != Op::var || base.slot != slot || uses_slot(k, slot)) continue;
        const int col = p_.schema.entities[type].column(an.a);
        if (col < 0 || (!found.empty() && found[0].attr == an.a)) continue;
        found.push_back({an.a, static_cast<std::uint32_t>(col), k});
        break;
      }
    }
    if (found.empty()) return;
    // One order per pair of attributes, so `a == x and b == y` and `b == y and a == x` share an index.
    if (found.size() == 2 && found[1].attr < found[0].attr) std::swap(found[0], found[1]);
    Node& n = p_.nodes[ex];
    IndexSpec spec{type, found[0].column, -1};
    n.probe_attr = static_cast<std::int32_t>(found[0].attr);
    n.kids.push_back(found[0].key);
    if (found.size() == 2) {
      n.probe_attr2 = static_cast<std::int32_t>(found[1].attr);
      n.kids.push_back(found[1].key);
      spec.column2 = static_cast<std::int32_t>(found[1].column);
    }
    if (std::find(p_.indexes.begin(), p_.indexes.end(), spec) == p_.indexes.end()) p_.indexes.push_back(spec);
  }

  bool bind_check(const syntax::Ident& var, Scope& sc) {
    if (sc.find(var.name)) {
      d_.add(DiagId::duplicate_variable, var.span,
             "variable " + tick(var.name) + " is already bound here; choose another name");
      return false;
    }
    return true;
  }

  std::optional<Typed> exists_type(const Expr& e, Scope& sc) {
    auto types = resolve_entity_types({syntax::Ident{e.name, e.name_span}});
    if (!types || !bind_check(e.var(), sc)) return std::nullopt;
    const std::uint32_t slot = sc.push(e.var().name, Type::entity(*types));
    auto body = expect_bool(e.kids[0], sc, "the condition of `exists`");
    sc.pop();
    if (!body) return std::nullopt;
    NodeId id = node(Op::exists_type, e.span);
    p_.nodes[id].slot = slot;
    p_.nodes[id].types = *types;
    p_.nodes[id].kids = {body->id};
    choose_probe(id, (*types)[0], slot);
    return Typed{id, Type::boolean()};
  }

  std::optional<Typed> exists_in(const Expr& e, Scope& sc) {
    auto s = expr(e.kids[0], sc, nullptr);
    if (!s) return std::nullopt;
    if (!s->type.set) {
      d_.add(DiagId::not_a_set, e.kids[0].span, "`exists ... in` ranges over a set; found " + tn(s->type));
      return std::nullopt;
    }
    if (s->type.base == Base::empty_set) {
      d_.add(DiagId::untyped_empty_set, e.kids[0].span, "`exists ... in {}` never holds: the set is empty");
      return std::nullopt;
    }
    if (!bind_check(e.var(), sc)) return std::nullopt;
    const std::uint32_t slot = sc.push(e.var().name, s->type.element());
    auto body = expect_bool(e.kids[1], sc, "the condition of `exists`");
    sc.pop();
    if (!body) return std::nullopt;
    NodeId id = node(Op::exists_set, e.span);
    p_.nodes[id].slot = slot;
    p_.nodes[id].kids = {s->id, body->id};
    return Typed{id, Type::boolean()};
  }

  // -------------------------------------------------------------------------------------------
  // Predicates
  // -------------------------------------------------------------------------------------------
  void check_predicates() {
    for (const auto& [name, decl] : predicate_decls_) {
      PredicateInfo info;
      info.name = name;
      info.span = decl->name.span;
      if (decl->doc) info.doc = *decl->doc;
      std::set<std::string> seen;
      for (const auto& prm : decl->params) {
        if (!seen.insert(prm.name.name).second)
          d_.add(DiagId::duplicate_member, prm.name.span, "parameter " + tick(prm.name.name) + " is declared twice");
        auto t = resolve_type(prm.type);
        info.params.push_back({prm.name.name, t ? *t : Type::none_type(), prm.name.span});
      }
      pred_index_[name] = static_cast<std::uint32_t>(p_.predicates.size());
      p_.predicates.push_back(std::move(info));
    }
    pred_calls_.resize(p_.predicates.size());
    pred_used_.assign(p_.predicates.size(), false);
    pred_lowered_.assign(p_.predicates.size(), false);
    for (std::uint32_t i : callees_first()) {
      const auto* decl = predicate_decls_.at(p_.predicates[i].name);
      Scope sc;
      for (const auto& prm : p_.predicates[i].params) sc.push(prm.name, prm.type);
      current_predicate_ = i;
      auto body = expect_bool(decl->body, sc, "a predicate's formula");
      current_predicate_.reset();
      p_.predicates[i].body = body ? body->id : lit(Value::boolean(false), decl->body.span);
      pred_lowered_[i] = body.has_value();
      p_.predicates[i].frame = sc.max;
    }
    // Cycles: depth-first search over the call graph.
    std::vector<int> state(p_.predicates.size(), 0);
    std::vector<std::uint32_t> stack;
    std::set<std::set<std::uint32_t>> reported;
    std::function<void(std::uint32_t)> dfs = [&](std::uint32_t v) {
      state[v] = 1;
      stack.push_back(v);
      for (std::uint32_t w : pred_calls_[v]) {
        if (state[w] == 1) {
          auto at = std::find(stack.begin(), stack.end(), w);
          std::vector<std::uint32_t> cyc(at, stack.end());
          std::set<std::uint32_t> key(cyc.begin(), cyc.end());
          if (reported.insert(key).second) {
            std::string path;
            for (auto c : cyc) path += tick(p_.predicates[c].name) + " -> ";
            path += tick(p_.predicates[w].name);
            auto& diag = d_.add(DiagId::predicate_cycle, p_.predicates[w].span,
                                "predicates call each other in a cycle: " + path);
            diag.help = "a predicate may call other predicates but not itself, directly or through others";
          }
        } else if (state[w] == 0) {
          dfs(w);
        }
      }
      stack.pop_back();
      state[v] = 2;
    };
    for (std::uint32_t i = 0; i < p_.predicates.size(); ++i)
      if (state[i] == 0) dfs(i);
    has_cycle_ = !reported.empty();
  }

  // -------------------------------------------------------------------------------------------
  // Rules
  // -------------------------------------------------------------------------------------------
  std::vector<std::uint32_t> pattern_actions(const syntax::ActionPattern& pat, bool& ok) {
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
  void bind_params(const std::vector<std::uint32_t>& actions, Scope& sc, std::vector<std::string>& partial) {
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

  std::vector<TypeId> binding_types(const std::optional<syntax::Binding>& b, const std::vector<std::uint32_t>& actions,
                                    bool principal, bool& ok) {
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
  bool action_constraints(const syntax::ActionPattern& pat, Scope& sc, std::vector<ConditionInfo>& out,
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

  void check_rules() {
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
      sc.push_at(pv, 0, Type::entity(info.principals));
      if (rv == pv && r->resource && r->resource->var) {
        d_.add(DiagId::duplicate_variable, r->resource->var->span,
               "variable " + tick(rv) + " already names the principal; choose another name");
        ok = false;
      }
      sc.push_at(rv, 1, Type::entity(info.resources));
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

  void index_rules() {
    p_.rules_by_action.assign(p_.schema.actions.size(), {});
    for (std::uint32_t i = 0; i < p_.rules.size(); ++i) {
      const auto& r = p_.rules[i];
      if (r.any_action) {
        for (auto& v : p_.rules_by_action) v.push_back(i);
      } else {
        for (auto a : r.actions) p_.rules_by_action[a].push_back(i);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Requirements
  // -------------------------------------------------------------------------------------------
  void check_requirements() {
    for (const auto* rq : require_order_) {
      RequirementInfo info;
      info.name = rq->name.name;
      info.span = rq->name.span;
      info.message = rq->message;
      Scope sc;
      bool ok = true;
      if (rq->forall_type) {
        auto t = resolve_entity_types({*rq->forall_type});
        if (!t) {
          ok = false;
        } else {
          info.forall_type = (*t)[0];
          sc.push(rq->forall_var->name, Type::entity(*t));
        }
      }
      if (ok && rq->where) {
        if (auto w = expect_bool(*rq->where, sc, "a requirement's `where`")) info.where = w->id; else ok = false;
      }
      if (ok) {
        if (auto en = expect_bool(rq->ensure, sc, "a requirement's `ensure`")) info.ensure = en->id; else ok = false;
      }
      if (ok) ok = interpolation(rq->message, rq->message_span, sc, info.message_parts);
      info.frame = sc.max;
      if (ok) p_.requirements.push_back(std::move(info));
    }
  }

  /// Splits a message into literal text and `{expr}` parts, checking each expression.
  bool interpolation(const std::string& msg, Span span, Scope& sc,
                     std::vector<std::pair<std::string, NodeId>>& parts) {
    std::string text;
    for (std::size_t i = 0; i < msg.size(); ++i) {
      if (msg[i] != '{') {
        text += msg[i];
        continue;
      }
      const auto close = msg.find('}', i);
      if (close == std::string::npos) {
        d_.add(DiagId::bad_message, span, "unclosed `{` in the message; write an interpolated expression as `{expr}`");
        return false;
      }
      const std::string src = msg.substr(i + 1, close - i - 1);
      const FileId fid = sm_.add(sm_.file(span.file).path + " (message of the requirement)", src);
      Expr e;
      Diagnostics local;
      if (!parse_expression(sm_, fid, e, local)) {
        auto& diag = d_.add(DiagId::bad_message, span, "cannot read `{" + src + "}` in the message as an expression");
        for (const auto& ld : local.all()) diag.notes.push_back({Span{}, ld.message});
        return false;
      }
      auto t = expr(e, sc, nullptr);
      if (!t) return false;
      parts.emplace_back(text, t->id);
      text.clear();
      i = close;
    }
    parts.emplace_back(text, kNone32);
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Tests and properties
  // -------------------------------------------------------------------------------------------
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

  bool request(const syntax::RequestSyntax& rs, RequestSpec& out, Span span, const std::set<std::pair<TypeId, std::string>>& given,
               std::vector<std::pair<std::uint32_t, syntax::Expr>>* arg_syntax = nullptr) {
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
      if (!p_.world.find(*t, ref.str()) && !given.count({*t, ref.str()})) {
        d_.add(DiagId::unknown_entity, ref.span,
               "no fact " + tick(ref.name + "::" + quote_string(ref.str())) + " exists in the package, its data or the test's `given`");
        ok = false;
      }
    };
    endpoint(rs.principal, act.principals, out.principal_type, out.principal_id, "principal");
    endpoint(rs.resource, act.resources, out.resource_type, out.resource_id, "resource");
    out.args.assign(act.params.size(), Value::none());
    std::vector<bool> given_arg(act.params.size(), false);
    GivenResolver res(p_.world, given);
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
      if (!convert_constant(p_.schema, arg.value, act.params[idx].type, res, out.args[idx], err, where)) {
        d_.add(DiagId::type_mismatch, where, err);
        ok = false;
        given_arg[idx] = true;  // given, if wrongly: do not also report it missing
        continue;
      }
      mark_value(out.args[idx]);
      given_arg[idx] = true;
      if (arg_syntax) arg_syntax->emplace_back(static_cast<std::uint32_t>(idx), arg.value);
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

  void check_tests() {
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
      info.given = t->given;
      std::set<std::pair<TypeId, std::string>> given;
      std::vector<std::pair<const syntax::FactDecl*, TypeId>> typed;
      for (const auto& g : t->given) {
        auto ty = fact_type(p_.schema, g.type, d_);
        if (!ty) continue;
        if (p_.world.find(*ty, g.id)) {
          auto& diag = d_.add(DiagId::given_fact_exists, g.id_span,
                              "`" + g.type.name + "::" + quote_string(g.id) +
                                  "` already exists in the package; a `given` fact needs a new id");
          diag.help = "to test a variation of an existing fact, give a copy a new id";
        } else if (!given.insert({*ty, g.id}).second) {
          d_.add(DiagId::duplicate_fact, g.id_span,
                 "fact " + tick(g.type.name + "::" + quote_string(g.id)) + " is given twice in this test");
        }
        typed.emplace_back(&g, *ty);
      }
      // `given` facts are checked as the package's own facts are: the same converter, so an
      // unknown or repeated attribute, a wrong type or a dangling reference is an error here,
      // not a surprise when the test runs.
      GivenScratch scratch(p_.world, given);
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
        if (request(ex.request, ei.request, ex.span, given, &ei.arg_syntax)) info.expects.push_back(std::move(ei));
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

  void check_properties() {
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

  // -------------------------------------------------------------------------------------------
  // Lints
  // -------------------------------------------------------------------------------------------
  std::optional<bool> constant_of(NodeId n) const {
    const Node& nd = p_.nodes[n];
    if (nd.op == Op::lit && nd.value.tag == Tag::bool_) return nd.value.i != 0;
    return std::nullopt;
  }

  /// `principal `User`` (or `any principal`): what action `a` accepts in one clause.
  std::string accepted_clause(std::uint32_t a, bool principal) const {
    const auto& act = p_.schema.actions[a];
    const auto& acc = principal ? act.principals : act.resources;
    const std::string role = principal ? "principal" : "resource";
    if (acc.empty()) return "any " + role;
    std::string list;
    for (auto x : acc) list += (list.empty() ? "" : " | ") + p_.schema.entities[x].name;
    return role + " " + tick(list);
  }
  std::string accepts_text(std::uint32_t a, bool principal) const {
    return "action " + tick(p_.schema.actions[a].name) + " accepts " + accepted_clause(a, principal);
  }

  /// W0600 for a rule whose types no action it names accepts, reported at the clause at fault
  /// (the principal or resource clause every candidate action rejects) with what each accepts.
  void never_applies_lint(const RuleInfo& r, const syntax::RuleDecl& decl) {
    std::vector<std::uint32_t> cands = r.any_action ? std::vector<std::uint32_t>{} : r.actions;
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
    auto types_of = [&](const std::vector<TypeId>& ts) {
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
  void scan_lint() {
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

  void lints() {
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
      std::vector<std::uint32_t> acts = f.any_action ? std::vector<std::uint32_t>{} : f.actions;
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

  SourceManager& sm_;
  const Package& pkg_;
  Diagnostics& d_;
  const CheckOptions& opts_;
  Program& p_;
  std::map<std::string, const syntax::EnumDecl*> enum_decls_;
  std::map<std::string, const syntax::EntityDecl*> entity_decls_;
  std::map<std::string, const syntax::ActionDecl*> action_decls_;
  std::map<std::string, const syntax::PredicateDecl*> predicate_decls_;
  std::map<std::string, const syntax::RuleDecl*> rule_decls_;
  std::map<std::string, const syntax::RequireDecl*> require_decls_;
  std::map<std::string, const syntax::PropertyDecl*> property_decls_;
  std::vector<const syntax::RuleDecl*> rule_order_;
  std::vector<const syntax::RequireDecl*> require_order_;
  std::vector<const syntax::TestDecl*> test_order_;
  std::vector<const syntax::PropertyDecl*> property_order_;
  std::vector<const syntax::FactDecl*> fact_decls_;
  std::map<std::string, std::uint32_t> pred_index_;
  std::vector<std::set<std::uint32_t>> pred_calls_;
  std::vector<bool> pred_used_;
  std::vector<bool> pred_lowered_;  ///< body lowered (so calls to it may be inlined)
  std::optional<std::uint32_t> current_predicate_;
  std::vector<std::vector<bool>> enum_used_;
  std::vector<bool> rule_ok_;
  bool has_cycle_ = false;
};

}  // namespace

std::unique_ptr<Program> check_package(SourceManager& sm, const Package& pkg, Diagnostics& diags,
                                       const CheckOptions& opts) {
  auto p = std::make_unique<Program>();
  Checker(sm, pkg, diags, opts, *p).run();
  return p;
}

}  // namespace treaty
