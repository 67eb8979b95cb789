// The converters of values, facts and requests (include/treaty/convert.hpp): the one path from
// JSON and from constants written in source into values.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "treaty/convert.hpp"

namespace treaty {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::optional<std::string> closest_name(std::string_view name, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  std::size_t best_d = 0;
  const std::size_t limit = std::max<std::size_t>(1, std::min<std::size_t>(3, name.size() / 3 + 1));
  for (const auto& c : candidates) {
    // The distance is at least the difference of the lengths: most candidates cost nothing.
    if ((c.size() > name.size() ? c.size() - name.size() : name.size() - c.size()) > limit) continue;
    const std::size_t dist = edit_distance(name, c);
    if (dist <= limit && (!best || dist < best_d)) {
      best = c;
      best_d = dist;
    }
  }
  return best;
}

namespace {
std::string json_kind(const nlohmann::json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number()) return "a number";
  if (j.is_string()) return "a string";
  if (j.is_array()) return "an array";
  return "an object";
}


/// The name of the type a value must have, for an error message only: formatting it costs more
/// than converting the value.
std::string wanted(const Schema& schema, const Type& t) { return tick(schema.type_name(t.as_optional(false))); }

/// Resolves an entity reference (an id, and the type when the reference names one) against the
/// types an attribute or parameter accepts.
bool resolve_reference(const Schema& schema, const Type& t, const std::string& id, const std::string* type_name,
                       ConstantResolver& r, Value& out, std::string& error) {
  std::optional<TypeId> only;
  if (type_name) {
    only = schema.find_entity(*type_name);
    if (!only || std::find(t.entities.begin(), t.entities.end(), *only) == t.entities.end()) {
      error = "expected a reference to " + wanted(schema, t) + ", found one to " + tick(*type_name);
      return false;
    }
  }
  for (TypeId ty : t.entities) {
    if (only && ty != *only) continue;
    if (auto found = r.find(ty, id)) {
      out = Value::entity(*found);
      return true;
    }
  }
  error = "no " + wanted(schema, t) + " with id " + quote_string(id) + " exists in the package or its data";
  return false;
}

}  // namespace

std::string constant_source(const Constant& c) {
  using CK = Constant::Kind;
  switch (c.kind) {
    case CK::none: return "none";
    case CK::bool_: return c.bool_value ? "true" : "false";
    case CK::int_: return std::to_string(c.int_value);
    case CK::string: return quote_string(c.text);
    case CK::entity: return c.qualifier + "::" + quote_string(c.text);
    case CK::enum_name: return c.qualifier.empty() ? c.text : c.qualifier + "." + c.text;
    case CK::set: {
      std::string s = "{";
      for (std::size_t i = 0; i < c.items.size(); ++i) s += (i ? ", " : "") + constant_source(c.items[i]);
      return s + "}";
    }
    case CK::expression:
    case CK::other: break;
  }
  return "<expression>";
}

bool convert_constant(const Schema& schema, const Constant& c, const Type& t, ConstantResolver& r, Value& out,
                      std::string& error, Span& where) {
  using CK = Constant::Kind;
  where = c.span;
  if (c.kind == CK::none) {
    if (!t.optional) {
      error = "`none` is given where a value of type " + tick(schema.type_name(t)) + " is required";
      return false;
    }
    out = Value::none();
    return true;
  }
  if (t.set) {
    if (c.kind != CK::set) {
      error = "expected a set of type " + tick(schema.type_name(t)) + ", as in `{a, b}`";
      return false;
    }
    if (c.items.size() > kMaxSetSize) {
      error = "the set has " + std::to_string(c.items.size()) + " elements, more than the limit of " +
              std::to_string(kMaxSetSize);
      return false;
    }
    std::vector<Value> items;
    const Type elem = t.element();
    for (const auto& k : c.items) {
      Value v;
      if (!convert_constant(schema, k, elem, r, v, error, where)) return false;
      items.push_back(v);
    }
    out = r.make_set(std::move(items));
    return true;
  }
  switch (t.base) {
    case Base::bool_:
      if (c.kind != CK::bool_) break;
      out = Value::boolean(c.bool_value);
      return true;
    case Base::int_:
      if (c.kind != CK::int_) break;
      out = Value::integer(c.int_value);
      return true;
    case Base::string:
      if (c.kind != CK::string) break;
      out = Value::str(r.intern(c.text));
      return true;
    case Base::enum_: {
      // A bare value, or one qualified with this enum's name.
      if (c.kind != CK::enum_name || (!c.qualifier.empty() && c.qualifier != schema.enums[t.enum_id].name)) break;
      const std::string& name = c.text;
      const auto& vals = schema.enums[t.enum_id].values;
      for (std::size_t i = 0; i < vals.size(); ++i)
        if (vals[i] == name) {
          out = Value::enumv(t.enum_id, static_cast<std::uint32_t>(i));
          return true;
        }
      error = tick(name) + " is not a value of enum " + wanted(schema, t);
      if (auto cand = closest_name(name, vals)) error += "; did you mean " + tick(*cand) + "?";
      return false;
    }
    case Base::entity:
      if (c.kind == CK::string) return resolve_reference(schema, t, c.text, nullptr, r, out, error);
      if (c.kind == CK::entity) return resolve_reference(schema, t, c.text, &c.qualifier, r, out, error);
      break;
    default: break;
  }
  // A name or an expression built of names where a bool, int or string is wanted.
  if (c.kind == CK::enum_name || c.kind == CK::expression) {
    if (t.base != Base::enum_ && t.base != Base::entity) {
      error = "a fact's value must be a literal, an id or a set of them; expected a value of type " +
              wanted(schema, t);
      return false;
    }
  }
  error = "expected a value of type " + wanted(schema, t);
  return false;
}

// JSON values, shared by data files (the world) and requests (an overlay).
bool convert_json_value(const Schema& schema, const nlohmann::json& j, const Type& t, ConstantResolver& w, Value& out,
                  std::string& error) {
  if (j.is_null()) {
    if (!t.optional) {
      error = "null is given where a value of type " + tick(schema.type_name(t)) + " is required";
      return false;
    }
    out = Value::none();
    return true;
  }
  if (t.set) {
    if (!j.is_array()) {
      error = "expected an array for " + wanted(schema, t) + ", found " + json_kind(j);
      return false;
    }
    if (j.size() > kMaxSetSize) {
      error = "the set has " + std::to_string(j.size()) + " elements, more than the limit of " +
              std::to_string(kMaxSetSize);
      return false;
    }
    std::vector<Value> items;
    const Type elem = t.element();
    for (std::size_t i = 0; i < j.size(); ++i) {
      Value v;
      if (!convert_json_value(schema, j[i], elem, w, v, error)) {
        error = "[" + std::to_string(i) + "]: " + error;
        return false;
      }
      items.push_back(v);
    }
    out = w.make_set(std::move(items));
    return true;
  }
  switch (t.base) {
    case Base::bool_:
      if (!j.is_boolean()) break;
      out = Value::boolean(j.get<bool>());
      return true;
    case Base::int_:
      if (!j.is_number_integer()) break;
      if (j.is_number_unsigned() && j.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
        error = "integer does not fit in 64 bits";
        return false;
      }
      out = Value::integer(j.get<std::int64_t>());
      return true;
    case Base::string:
      if (!j.is_string()) break;
      out = Value::str(w.intern(j.get_ref<const std::string&>()));
      return true;
    case Base::enum_: {
      if (!j.is_string()) break;
      const auto& name = j.get_ref<const std::string&>();
      const auto& vals = schema.enums[t.enum_id].values;
      for (std::size_t i = 0; i < vals.size(); ++i)
        if (vals[i] == name) {
          out = Value::enumv(t.enum_id, static_cast<std::uint32_t>(i));
          return true;
        }
      error = quote_string(name) + " is not a value of enum " + wanted(schema, t);
      if (auto c = closest_name(name, vals)) error += "; did you mean " + quote_string(*c) + "?";
      return false;
    }
    case Base::entity:
      if (j.is_string()) return resolve_reference(schema, t, j.get_ref<const std::string&>(), nullptr, w, out, error);
      if (j.is_object() && j.contains("type") && j.contains("id") && j["type"].is_string() && j["id"].is_string()) {
        const auto type = j["type"].get<std::string>();
        return resolve_reference(schema, t, j["id"].get<std::string>(), &type, w, out, error);
      }
      break;
    default: break;
  }
  error = "expected " + wanted(schema, t) + ", found " + json_kind(j);
  return false;
}

DiagId value_error_code(const std::string& error) {
  if (error.find("more than the limit") != std::string::npos) return DiagId::set_too_large;
  if (error.find("exists in the package") != std::string::npos) return DiagId::dangling_reference;
  if (error.find("must be a literal") != std::string::npos) return DiagId::fact_value_not_constant;
  return DiagId::type_mismatch;
}

void suggest(Diagnostic& diag, std::string_view name, const std::vector<std::string>& candidates, Span span) {
  if (auto c = closest_name(name, candidates)) {
    diag.help = "did you mean " + tick(*c) + "?";
    diag.fix = Fix{span, *c};
  }
}

std::optional<TypeId> fact_type(const Schema& s, std::string_view type, Span type_span, Diagnostics& d) {
  if (auto t = s.find_entity(type)) return t;
  std::vector<std::string> cands;
  for (const auto& e : s.entities) cands.push_back(e.name);
  suggest(d.add(DiagId::unknown_type, type_span, "unknown entity type " + tick(type) + " for a fact"), type, cands,
          type_span);
  return std::nullopt;
}

bool convert_fact_fields(const Schema& s, const FactSpec& f, TypeId t, ConstantResolver& r, Diagnostics& d,
                         const std::function<void(std::uint32_t, Value)>& set) {
  const auto& et = s.entities[t];
  const std::string fact_name = tick(et.name + "::" + quote_string(f.id));
  std::vector<bool> given(et.attrs.size(), false);
  bool ok = true;
  for (const auto& fi : f.fields) {
    const int col = et.column_named(fi.name);
    if (col < 0) {
      std::vector<std::string> cands;
      for (const auto& a : et.attrs) cands.push_back(a.name);
      suggest(d.add(DiagId::unknown_attribute, fi.name_span, tick(et.name) + " has no attribute " + tick(fi.name)),
              fi.name, cands, fi.name_span);
      ok = false;
      continue;
    }
    const auto c = static_cast<std::size_t>(col);
    if (given[c]) {
      d.add(DiagId::duplicate_field, fi.name_span, "attribute " + tick(fi.name) + " of " + fact_name + " is given twice");
      ok = false;
      continue;
    }
    given[c] = true;
    std::string err;
    Span where;
    Value v;
    if (!convert_constant(s, fi.value, et.attrs[c].type, r, v, err, where)) {
      d.add(value_error_code(err),
            where, "attribute " + tick(fi.name) + " of " + fact_name + ": " + err);
      ok = false;
      continue;
    }
    set(static_cast<std::uint32_t>(c), v);
  }
  for (std::size_t c = 0; c < et.attrs.size(); ++c) {
    if (given[c] || et.attrs[c].type.optional) continue;
    d.add(DiagId::missing_attribute, f.id_span,
          fact_name + " is missing attribute " + tick(et.attrs[c].name) + ": " + tick(s.type_name(et.attrs[c].type)));
    ok = false;
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------
namespace {
template <typename Decls>
std::string did_you_mean(std::string_view name, const Decls& decls) {
  std::vector<std::string> names;
  for (const auto& d : decls) names.push_back(d.name);
  if (auto c = closest_name(name, names)) return "; did you mean `" + *c + "`?";
  return "";
}
}  // namespace

bool RequestConverter::entity_type(std::string_view type, TypeId& out, std::string& error) const {
  if (auto t = s_.find_entity(type)) {
    out = *t;
    return true;
  }
  error = "unknown entity type `" + std::string(type) + "`" + did_you_mean(type, s_.entities);
  return false;
}

bool RequestConverter::principal(std::string_view type, std::string_view id, std::string& error) {
  if (!entity_type(type, parts_.principal_type, error)) return false;
  parts_.principal_id = id;
  return true;
}

bool RequestConverter::resource(std::string_view type, std::string_view id, std::string& error) {
  if (!entity_type(type, parts_.resource_type, error)) return false;
  parts_.resource_id = id;
  return true;
}

bool RequestConverter::action(std::string_view name, std::string& error) {
  auto a = s_.find_action(name);
  if (!a) {
    error = "unknown action `" + std::string(name) + "`" + did_you_mean(name, s_.actions);
    return false;
  }
  parts_.action = *a;
  parts_.args.assign(s_.actions[*a].params.size(), Value::none());
  parts_.given.assign(s_.actions[*a].params.size(), false);
  return true;
}

std::optional<std::size_t> RequestConverter::param(std::string_view name) const {
  const auto& ps = s_.actions[parts_.action].params;
  for (std::size_t i = 0; i < ps.size(); ++i)
    if (ps[i].name == name) return i;
  return std::nullopt;
}

RequestConverter::ArgProblem RequestConverter::begin_arg(std::string_view name, std::size_t& idx,
                                                         std::string& error) const {
  auto i = param(name);
  if (!i) {
    error = "action `" + s_.actions[parts_.action].name + "` has no parameter `" + std::string(name) + "`";
    return ArgProblem::unknown_parameter;
  }
  if (parts_.given[*i]) {
    error = "argument `" + std::string(name) + "` is given twice";
    return ArgProblem::given_twice;
  }
  idx = *i;
  return ArgProblem::none;
}

RequestConverter::ArgProblem RequestConverter::arg(std::string_view name, const nlohmann::json& v, std::string& error) {
  std::size_t idx = 0;
  if (auto p = begin_arg(name, idx, error); p != ArgProblem::none) return p;
  if (!convert_json_value(s_, v, s_.actions[parts_.action].params[idx].type, r_, parts_.args[idx], error))
    return ArgProblem::bad_value;
  parts_.given[idx] = true;
  return ArgProblem::none;
}

RequestConverter::ArgProblem RequestConverter::arg(std::string_view name, const Constant& v, std::string& error,
                                                   Span& where) {
  std::size_t idx = 0;
  if (auto p = begin_arg(name, idx, error); p != ArgProblem::none) return p;
  if (!convert_constant(s_, v, s_.actions[parts_.action].params[idx].type, r_, parts_.args[idx], error, where))
    return ArgProblem::bad_value;
  parts_.given[idx] = true;
  return ArgProblem::none;
}

}  // namespace treaty
