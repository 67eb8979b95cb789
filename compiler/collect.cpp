// The checker's first pass: every declaration collected by name, package-wide (order never
// matters), duplicates reported with the first as a note; and the "did you mean" of every unknown
// name (LANGUAGE.md 2).
#include <map>
#include <string>

#include "internal/checker.hpp"
#include "internal/types.hpp"

namespace treaty::detail {

template <typename D>
void Checker::remember(std::map<std::string, const D*>& m, const D& decl, const char* what) {
  auto [it, fresh] = m.emplace(decl.name.name, &decl);
  if (!fresh) {
    auto& diag = d_.add(DiagId::duplicate_declaration, decl.name.span,
                        std::string(what) + " " + tick(decl.name.name) + " is declared twice");
    diag.notes.push_back({it->second->name.span, "first declared here"});
  }
}

void Checker::collect() {
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

void Checker::check_type_name(const syntax::Ident& n) {
  if (n.name == "Bool" || n.name == "Int" || n.name == "String" || n.name == "Set")
    d_.add(DiagId::reserved_type_name, n.span, tick(n.name) + " is a built-in type and cannot be redeclared");
}

void Checker::type_clash(const syntax::Ident& n, const syntax::Ident& other) {
  auto& diag = d_.add(DiagId::duplicate_declaration, n.span,
                      "type " + tick(n.name) + " is declared both as an enum and as an entity");
  diag.notes.push_back({other.span, "also declared here"});
}

std::vector<std::string> Checker::type_names() const {
  std::vector<std::string> v = {"Bool", "Int", "String"};
  for (const auto& [n, _] : enum_decls_) v.push_back(n);
  for (const auto& [n, _] : entity_decls_) v.push_back(n);
  return v;
}

void Checker::unknown(DiagId id, Span span, const std::string& message, std::string_view name,
                      const std::vector<std::string>& candidates) {
  auto& diag = d_.add(id, span, message);
  if (auto c = closest_name(name, candidates)) {
    diag.help = "did you mean " + tick(*c) + "?";
    diag.fix = Fix{span, *c};
  }
}

}  // namespace treaty::detail
