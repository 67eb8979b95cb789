// Lowering: every expression typed and lowered to the IR (LANGUAGE.md 4-6), calls to small
// predicates inlined, names resolved to frame slots; and the predicates, lowered callees first.
// The lowering pass (lower_all) runs the rules, requirements, tests and properties of their files.
#include <algorithm>
#include <functional>
#include <set>

#include "internal/checker.hpp"
#include "internal/types.hpp"
#include "treaty/parse.hpp"

namespace treaty::detail {

/// The lowering pass. Predicates first, callees before callers (check_predicates), so rules,
/// requirements and properties can inline calls to them; tests only with facts, since they name
/// facts.
void Checker::lower_all() {
  reserve_ir();
  check_predicates();
  check_rules();
  check_requirements();
  if (opts_.facts) check_tests();  // tests name facts; without them there is nothing to check
  check_properties();
}

/// Reserves the IR and the rules for what the syntax holds (an expression lowers to about one
/// node, action constraints and inlined calls to a few more), so 100,000 rules do not grow
/// the node array by doubling, which held a third more than it used at the peak.
void Checker::reserve_ir() {
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

NodeId Checker::node(Op op, Span span) {
  Node n;
  n.op = op;
  n.span = span;
  p_.nodes.push_back(std::move(n));
  p_.node_types.push_back(Type{});  // typed by expr() once the node's type is known
  return static_cast<NodeId>(p_.nodes.size() - 1);
}

NodeId Checker::lit(Value v, Span span) {
  NodeId id = node(Op::lit, span);
  p_.nodes[id].value = v;
  return id;
}

std::optional<Typed> Checker::expect_bool(const Expr& e, Scope& sc, const char* what) {
  auto t = expr(e, sc, nullptr);
  if (!t) return std::nullopt;
  if (!is_bool(t->type) && t->type.base != Base::none) {
    d_.add(DiagId::type_mismatch, e.span, std::string(what) + " must be `Bool`, found " + tn(t->type));
    return std::nullopt;
  }
  return t;
}

std::optional<Typed> Checker::enum_value(TypeId en, const std::string& value, Span span, Span whole) {
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
std::optional<Typed> Checker::expr(const Expr& e, Scope& sc, const Type* expected) {
  auto t = lower(e, sc, expected);
  if (t) p_.node_types.set(t->id, t->type);
  return t;
}

std::optional<Typed> Checker::lower(const Expr& e, Scope& sc, const Type* expected) {
  switch (e.kind) {
    case EK::bool_lit: return Typed{lit(Value::boolean(e.bool_value), e.span), Type::boolean()};
    case EK::int_lit: return Typed{lit(Value::integer(e.int_value), e.span), Type::integer()};
    case EK::string_lit: return Typed{lit(Value::str(p_.world().intern(e.str())), e.span), Type::string()};
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
      auto id = p_.world().find(*t, e.str());
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

std::optional<Typed> Checker::set_literal(const Expr& e, Scope& sc, const Type* expected) {
  if (e.kids.empty()) {
    Type t = expected && expected->set ? expected->as_set() : Type::of(Base::empty_set);
    if (t.base == Base::empty_set) t.set = true;
    return Typed{lit(p_.world().make_set({}), e.span), t};
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
    return Typed{lit(p_.world().make_set(std::move(vals)), e.span), elem->as_set()};
  }
  NodeId id = node(Op::make_set, e.span);
  p_.nodes[id].kids = std::move(kids);
  return Typed{id, elem->as_set()};
}

std::optional<Typed> Checker::attribute(const Expr& e, Scope& sc) {
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

std::optional<Typed> Checker::call(const Expr& e, Scope& sc) {
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
std::vector<std::uint32_t> Checker::callees_first() const {
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

std::size_t Checker::subtree_size(NodeId n, std::size_t cap) const {
  std::size_t count = 1;
  for (NodeId k : p_.nodes[n].kids) {
    if (count >= cap) break;
    count += subtree_size(k, cap - count);
  }
  return count;
}

NodeId Checker::clone_inlined(NodeId n, const std::vector<NodeId>& args, std::uint32_t nparams, std::uint32_t base) {
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

std::optional<Typed> Checker::method(const Expr& e, Scope& sc) {
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
bool Checker::operand_pair(const Expr& l, const Expr& r, Scope& sc, std::optional<Typed>& lt, std::optional<Typed>& rt,
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

std::optional<Typed> Checker::comparison(const Expr& e, Scope& sc) {
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

std::optional<Typed> Checker::membership(const Expr& e, Scope& sc) {
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

bool Checker::bind_check(const syntax::Ident& var, Scope& sc) {
  if (sc.find(var.name)) {
    d_.add(DiagId::duplicate_variable, var.span,
           "variable " + tick(var.name) + " is already bound here; choose another name");
    return false;
  }
  return true;
}

std::optional<Typed> Checker::exists_type(const Expr& e, Scope& sc) {
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

std::optional<Typed> Checker::exists_in(const Expr& e, Scope& sc) {
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

void Checker::check_predicates() {
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

}  // namespace treaty::detail
