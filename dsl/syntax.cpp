#include "treaty/syntax.hpp"

namespace treaty::syntax {

bool Expr::operator==(const Expr& o) const {
  if (kind != o.kind || kids.size() != o.kids.size()) return false;
  switch (kind) {
    case Kind::bool_lit: if (bool_value != o.bool_value) return false; break;
    case Kind::int_lit: if (int_value != o.int_value) return false; break;
    case Kind::cmp: if (op != o.op) return false; break;
    default: break;
  }
  if (name != o.name || str() != o.str() || var().name != o.var().name) return false;
  for (std::size_t i = 0; i < kids.size(); ++i)
    if (!(kids[i] == o.kids[i])) return false;
  return true;
}

Span decl_span(const Decl& d) {
  return visit([](const auto& x) { return x.span; }, d);
}

const char* decl_kind(const Decl& d) {
  struct V {
    const char* operator()(const EnumDecl&) const { return "enum"; }
    const char* operator()(const EntityDecl&) const { return "entity"; }
    const char* operator()(const ActionDecl&) const { return "action"; }
    const char* operator()(const FactDecl&) const { return "fact"; }
    const char* operator()(const PredicateDecl&) const { return "predicate"; }
    const char* operator()(const RuleDecl& r) const { return r.effect == Effect::permit ? "permit" : "forbid"; }
    const char* operator()(const RequireDecl&) const { return "require"; }
    const char* operator()(const TestDecl&) const { return "test"; }
    const char* operator()(const PropertyDecl&) const { return "property"; }
  };
  return visit(V{}, d);
}

}  // namespace treaty::syntax
