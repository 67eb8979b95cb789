// Syntax -> the data layer's constants and facts (treaty/check.hpp): the one place the parser's
// expressions become what the converter reads, so the data layer and the runtime need no syntax.
#include "treaty/check.hpp"

namespace treaty {

Constant to_constant(const syntax::Expr& e) {
  using EK = syntax::Expr::Kind;
  using CK = Constant::Kind;
  Constant c;
  c.span = e.span;
  switch (e.kind) {
    case EK::none_lit: c.kind = CK::none; break;
    case EK::bool_lit:
      c.kind = CK::bool_;
      c.bool_value = e.bool_value;
      break;
    case EK::int_lit:
      c.kind = CK::int_;
      c.int_value = e.int_value;
      break;
    case EK::string_lit:
      c.kind = CK::string;
      c.text = e.str();
      break;
    case EK::entity_ref:
      c.kind = CK::entity;
      c.qualifier = e.name;
      c.text = e.str();
      break;
    case EK::set_lit:
      c.kind = CK::set;
      c.items.reserve(e.kids.size());
      for (const auto& k : e.kids) c.items.push_back(to_constant(k));
      break;
    case EK::name:
      c.kind = CK::enum_name;
      c.text = e.name;
      break;
    case EK::attr:
      // `Kind.approval` names an enum value; `a.b.c` is an expression.
      if (!e.kids.empty() && e.kids[0].kind == EK::name) {
        c.kind = CK::enum_name;
        c.qualifier = e.kids[0].name;
        c.text = e.name;
      } else {
        c.kind = CK::expression;
      }
      break;
    case EK::call:
    case EK::cmp:
    case EK::and_:
    case EK::or_:
    case EK::not_:
    case EK::exists:
    case EK::exists_in: c.kind = CK::expression; break;
    case EK::method:
    case EK::in:
    case EK::is: c.kind = CK::other; break;
  }
  return c;
}

FactSpec to_fact_spec(const syntax::FactDecl& f) {
  FactSpec s;
  s.type = f.type.name;
  s.type_span = f.type.span;
  s.id = f.id;
  s.id_span = f.id_span;
  s.span = f.span;
  s.fields.reserve(f.fields.size());
  for (const auto& fi : f.fields) s.fields.push_back({fi.name.name, fi.name.span, to_constant(fi.value)});
  return s;
}

}  // namespace treaty
