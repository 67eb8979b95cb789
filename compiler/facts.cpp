// One converter for facts written in source: the package's facts and a test's `given` facts, at
// `treaty check` and when the test runs, all go through convert_fact_fields.
#include "treaty/check.hpp"
#include "treaty/parse.hpp"

namespace treaty {

namespace {
std::string tick(std::string_view s) { return "`" + std::string(s) + "`"; }
}  // namespace

void suggest(Diagnostic& diag, std::string_view name, const std::vector<std::string>& candidates, Span span) {
  if (auto c = closest_name(name, candidates)) {
    diag.help = "did you mean " + tick(*c) + "?";
    diag.fix = Fix{span, *c};
  }
}

std::optional<TypeId> fact_type(const Schema& s, const syntax::Ident& type, Diagnostics& d) {
  if (auto t = s.find_entity(type.name)) return t;
  std::vector<std::string> cands;
  for (const auto& e : s.entities) cands.push_back(e.name);
  suggest(d.add(DiagId::unknown_type, type.span, "unknown entity type " + tick(type.name) + " for a fact"), type.name,
          cands, type.span);
  return std::nullopt;
}

bool convert_fact_fields(const Schema& s, const syntax::FactDecl& f, TypeId t, ConstantResolver& r, Diagnostics& d,
                         const std::function<void(std::uint32_t, Value)>& set) {
  const auto& et = s.entities[t];
  const std::string fact_name = tick(et.name + "::" + quote_string(f.id));
  std::vector<bool> given(et.attrs.size(), false);
  bool ok = true;
  for (const auto& fi : f.fields) {
    const int col = et.column_named(fi.name.name);
    if (col < 0) {
      std::vector<std::string> cands;
      for (const auto& a : et.attrs) cands.push_back(a.name);
      suggest(d.add(DiagId::unknown_attribute, fi.name.span, tick(et.name) + " has no attribute " + tick(fi.name.name)),
              fi.name.name, cands, fi.name.span);
      ok = false;
      continue;
    }
    const auto c = static_cast<std::size_t>(col);
    if (given[c]) {
      d.add(DiagId::duplicate_field, fi.name.span, "attribute " + tick(fi.name.name) + " of " + fact_name + " is given twice");
      ok = false;
      continue;
    }
    given[c] = true;
    std::string err;
    Span where;
    Value v;
    if (!convert_constant(s, fi.value, et.attrs[c].type, r, v, err, where)) {
      const bool dangling = err.find("exists in the package") != std::string::npos;
      const bool limit = err.find("more than the limit") != std::string::npos;
      d.add(limit      ? DiagId::set_too_large
            : dangling ? DiagId::dangling_reference
                       : (err.find("must be a literal") != std::string::npos ? DiagId::fact_value_not_constant
                                                                            : DiagId::type_mismatch),
            where, "attribute " + tick(fi.name.name) + " of " + fact_name + ": " + err);
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

}  // namespace treaty
