// The schema pass: enum values, entity types with their attributes (given global ids), types
// and keys, actions with their parameters and accepted types; and the resolution of type names
// that later passes share (LANGUAGE.md 3).
#include <algorithm>
#include <set>
#include <span>

#include "internal/checker.hpp"
#include "internal/types.hpp"
#include "treaty/format.hpp"

namespace treaty::detail {

std::optional<Type> Checker::resolve_named(const std::string& name, Span span) {
  if (name == "Bool") return Type::boolean();
  if (name == "Int") return Type::integer();
  if (name == "String") return Type::string();
  if (auto e = p_.schema.find_enum(name)) return Type::enumeration(*e);
  if (auto e = p_.schema.find_entity(name)) return Type::entity({*e});
  unknown(DiagId::unknown_type, span, "unknown type " + tick(name), name, type_names());
  return std::nullopt;
}

std::optional<Type> Checker::resolve_type(const syntax::TypeRef& t) {
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

std::optional<std::vector<TypeId>> Checker::resolve_entity_types(const std::vector<syntax::Ident>& names) {
  return resolve_entity_type_list(names);
}

std::optional<std::vector<TypeId>> Checker::resolve_entity_type_list(std::span<const syntax::Ident> names) {
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

std::uint32_t Checker::attr_name_id(const std::string& name) {
  if (auto id = p_.schema.find_attr_name(name)) return *id;
  p_.schema.attr_names.push_back(name);
  return static_cast<std::uint32_t>(p_.schema.attr_names.size() - 1);
}

std::uint32_t Checker::param_name_id(const std::string& name) {
  for (std::size_t i = 0; i < p_.param_names.size(); ++i)
    if (p_.param_names[i] == name) return static_cast<std::uint32_t>(i);
  p_.param_names.push_back(name);
  return static_cast<std::uint32_t>(p_.param_names.size() - 1);
}

void Checker::build_schema() {
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

std::vector<TypeId> Checker::all_entities() const {
  std::vector<TypeId> v(p_.schema.entities.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<TypeId>(i);
  return v;
}

}  // namespace treaty::detail
