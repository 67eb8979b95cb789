// Facts -> world: facts written in source and JSON data files (LANGUAGE.md sections 3 and 10).
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "internal/checker.hpp"
#include "treaty/package.hpp"
#include "treaty/parse.hpp"

namespace treaty {

namespace {
std::string json_kind(const nlohmann::json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number()) return "a number";
  if (j.is_string()) return "a string";
  if (j.is_array()) return "an array";
  return "an object";
}

std::string tick(std::string_view s) { return "`" + std::string(s) + "`"; }
}  // namespace

/// Resolves an entity reference (an id, and the type when the reference names one) against the
/// types an attribute or parameter accepts.
bool resolve_reference(const Schema& schema, const Type& t, const std::string& id, const std::string* type_name,
                       ConstantResolver& r, Value& out, std::string& error) {
  const std::string want = tick(schema.type_name(t.as_optional(false)));
  std::optional<TypeId> only;
  if (type_name) {
    only = schema.find_entity(*type_name);
    if (!only || std::find(t.entities.begin(), t.entities.end(), *only) == t.entities.end()) {
      error = "expected a reference to " + want + ", found one to " + tick(*type_name);
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
  error = "no " + want + " with id " + quote_string(id) + " exists in the package or its data";
  return false;
}

bool convert_constant(const Schema& schema, const syntax::Expr& e, const Type& t, ConstantResolver& r, Value& out,
                      std::string& error, Span& where) {
  using EK = syntax::Expr::Kind;
  where = e.span;
  if (e.kind == EK::none_lit) {
    if (!t.optional) {
      error = "`none` is given where a value of type " + tick(schema.type_name(t)) + " is required";
      return false;
    }
    out = Value::none();
    return true;
  }
  if (t.set) {
    if (e.kind != EK::set_lit) {
      error = "expected a set of type " + tick(schema.type_name(t)) + ", as in `{a, b}`";
      return false;
    }
    if (e.kids.size() > kMaxSetSize) {
      error = "the set has " + std::to_string(e.kids.size()) + " elements, more than the limit of " +
              std::to_string(kMaxSetSize);
      return false;
    }
    std::vector<Value> items;
    const Type elem = t.element();
    for (const auto& k : e.kids) {
      Value v;
      if (!convert_constant(schema, k, elem, r, v, error, where)) return false;
      items.push_back(v);
    }
    out = r.make_set(std::move(items));
    return true;
  }
  const std::string want = tick(schema.type_name(t.as_optional(false)));
  switch (t.base) {
    case Base::bool_:
      if (e.kind != EK::bool_lit) break;
      out = Value::boolean(e.bool_value);
      return true;
    case Base::int_:
      if (e.kind != EK::int_lit) break;
      out = Value::integer(e.int_value);
      return true;
    case Base::string:
      if (e.kind != EK::string_lit) break;
      out = Value::str(r.intern(e.str()));
      return true;
    case Base::enum_: {
      std::string name;
      if (e.kind == EK::name) name = e.name;
      else if (e.kind == EK::attr && e.kids[0].kind == EK::name && e.kids[0].name == schema.enums[t.enum_id].name)
        name = e.name;
      else break;
      const auto& vals = schema.enums[t.enum_id].values;
      for (std::size_t i = 0; i < vals.size(); ++i)
        if (vals[i] == name) {
          out = Value::enumv(t.enum_id, static_cast<std::uint32_t>(i));
          return true;
        }
      error = tick(name) + " is not a value of enum " + want;
      if (auto c = closest_name(name, vals)) error += "; did you mean " + tick(*c) + "?";
      return false;
    }
    case Base::entity:
      if (e.kind == EK::string_lit) return resolve_reference(schema, t, e.str(), nullptr, r, out, error);
      if (e.kind == EK::entity_ref) return resolve_reference(schema, t, e.str(), &e.name, r, out, error);
      break;
    default: break;
  }
  if (e.kind == EK::name || e.kind == EK::attr || e.kind == EK::call || e.kind == EK::cmp || e.kind == EK::and_ ||
      e.kind == EK::or_ || e.kind == EK::not_ || e.kind == EK::exists || e.kind == EK::exists_in) {
    if (t.base != Base::enum_ && t.base != Base::entity) {
      error = "a fact's value must be a literal, an id or a set of them; expected a value of type " + want;
      return false;
    }
  }
  error = "expected a value of type " + want;
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
  const std::string want = tick(schema.type_name(t.as_optional(false)));
  if (t.set) {
    if (!j.is_array()) {
      error = "expected an array for " + want + ", found " + json_kind(j);
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
      out = Value::str(w.intern(j.get<std::string>()));
      return true;
    case Base::enum_: {
      if (!j.is_string()) break;
      const auto name = j.get<std::string>();
      const auto& vals = schema.enums[t.enum_id].values;
      for (std::size_t i = 0; i < vals.size(); ++i)
        if (vals[i] == name) {
          out = Value::enumv(t.enum_id, static_cast<std::uint32_t>(i));
          return true;
        }
      error = quote_string(name) + " is not a value of enum " + want;
      if (auto c = closest_name(name, vals)) error += "; did you mean " + quote_string(*c) + "?";
      return false;
    }
    case Base::entity:
      if (j.is_string()) return resolve_reference(schema, t, j.get<std::string>(), nullptr, w, out, error);
      if (j.is_object() && j.contains("type") && j.contains("id") && j["type"].is_string() && j["id"].is_string()) {
        const auto type = j["type"].get<std::string>();
        return resolve_reference(schema, t, j["id"].get<std::string>(), &type, w, out, error);
      }
      break;
    default: break;
  }
  error = "expected " + want + ", found " + json_kind(j);
  return false;
}

namespace detail {

namespace {

struct PendingFact {
  EntityId entity;
  const syntax::FactDecl* decl = nullptr;
  const nlohmann::json* attrs = nullptr;
  std::string json_path;
  FileId json_file = kNoFile;
  std::size_t json_index = 0;  ///< the element of "entities" it came from
};

Span file_start(FileId f) { return Span{f, 0, 0}; }

void report_bad_json(const JsonError& e, std::size_t text_size, FileId fid, Diagnostics& d) {
  const auto o = static_cast<std::uint32_t>(std::min(e.offset, text_size));
  // A repeated key is valid JSON syntax that Treaty refuses; everything else is a syntax error.
  const bool repeated = e.message.rfind("the key ", 0) == 0;
  d.add(DiagId::bad_data, Span{fid, o, o}, (repeated ? "" : "invalid JSON: ") + e.message);
}

/// Byte offsets inside one JSON facts file, so a problem with an entity or a value is reported at
/// its line and column. The text is valid JSON (json_error passed) and is scanned only when a
/// diagnostic needs a place: once for the offsets of the "entities" elements, once per object
/// whose members are asked for (the last one is kept, so the attributes of one entity cost one
/// scan however many of them are wrong).
class JsonLocator {
 public:
  JsonLocator(const SourceManager& sm, FileId file) : sm_(sm), file_(file) {}

  /// Element `i` of the top-level "entities" arrays (the order the reader numbered them).
  Span entity(std::size_t i) {
    if (!indexed_) index_entities();
    return i < entities_.size() ? value_span(entities_[i]) : Span{file_, 0, 0};
  }
  /// The value of member `key` of the object at `obj`; the object itself when there is none.
  Span member(Span obj, std::string_view key, bool at_key = false) {
    const auto& ms = members(obj.begin);
    for (auto it = ms.rbegin(); it != ms.rend(); ++it)  // the last of duplicate keys, as the parser keeps
      if (it->name == key) return at_key ? Span{file_, it->key, it->key_end} : value_span(it->value);
    return obj;
  }
  /// `path` is a converter's message prefix "[3]: [0]: ..." naming elements of nested arrays:
  /// descends into them from the value at `v`.
  Span element_path(Span v, std::string_view path) {
    while (path.size() > 3 && path[0] == '[') {
      const auto close = path.find("]: ");
      if (close == std::string_view::npos) break;
      std::size_t i = 0;
      for (char c : path.substr(1, close - 1)) i = i * 10 + static_cast<std::size_t>(c - '0');
      const std::string_view t = text();
      std::size_t at = v.begin;
      if (at >= t.size() || t[at] != '[') break;
      at = skip_ws(at + 1);
      for (std::size_t k = 0; k < i && at < t.size() && t[at] != ']'; ++k) at = skip_ws(skip_ws(skip_value(at)) + 1);
      if (at >= t.size() || t[at] == ']') break;
      v = value_span(at);
      path.remove_prefix(close + 3);
    }
    return v;
  }

 private:
  struct Member {
    std::string name;
    std::uint32_t key, key_end, value;
  };
  std::string_view text() const { return sm_.file(file_).text; }
  Span value_span(std::size_t at) const {
    return Span{file_, static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(skip_value(at))};
  }
  std::size_t skip_ws(std::size_t at) const {
    const std::string_view t = text();
    while (at < t.size() && (t[at] == ' ' || t[at] == '\t' || t[at] == '\n' || t[at] == '\r')) ++at;
    return at;
  }
  // The end of the value that starts at `at` (strings, numbers, literals, nested containers).
  std::size_t skip_value(std::size_t at) const {
    const std::string_view t = text();
    std::size_t depth = 0;
    while (at < t.size()) {
      const char c = t[at];
      if (c == '"') {
        for (++at; at < t.size() && t[at] != '"'; ++at)
          if (t[at] == '\\') ++at;
        ++at;
      } else if (c == '{' || c == '[') {
        ++depth;
        ++at;
      } else if (c == '}' || c == ']') {
        if (depth == 0) return at;
        --depth;
        ++at;
      } else if (depth == 0 && (c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
        return at;
      } else {
        ++at;
      }
      if (depth == 0 && (c == '"' || c == '}' || c == ']')) return at;
    }
    return at;
  }
  const std::vector<Member>& members(std::size_t obj) {
    if (cached_ == obj) return members_;
    cached_ = obj;
    members_.clear();
    const std::string_view t = text();
    if (obj >= t.size() || t[obj] != '{') return members_;
    std::size_t at = skip_ws(obj + 1);
    while (at < t.size() && t[at] == '"') {
      const std::size_t key_end = skip_value(at);
      std::string name;
      const std::string_view raw = t.substr(at + 1, key_end - at - 2);
      if (raw.find('\\') == std::string_view::npos) name = raw;
      else name = nlohmann::json::parse(t.substr(at, key_end - at)).get<std::string>();
      const std::size_t value = skip_ws(skip_ws(key_end) + 1);  // past ':'
      members_.push_back({std::move(name), static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(key_end),
                          static_cast<std::uint32_t>(value)});
      at = skip_ws(skip_value(value));
      if (at < t.size() && t[at] == ',') at = skip_ws(at + 1);
    }
    return members_;
  }
  void index_entities() {
    indexed_ = true;
    const std::string_view t = text();
    std::size_t at = skip_ws(0);
    if (at >= t.size() || t[at] != '{') return;
    const std::vector<Member> top = members(at);  // a copy: members() reuses its cache
    for (const auto& m : top) {
      if (m.name != "entities" || t[m.value] != '[') continue;
      std::size_t e = skip_ws(m.value + 1);
      while (e < t.size() && t[e] != ']') {
        entities_.push_back(static_cast<std::uint32_t>(e));
        e = skip_ws(skip_value(e));
        if (e < t.size() && t[e] == ',') e = skip_ws(e + 1);
      }
    }
  }

  const SourceManager& sm_;
  FileId file_;
  bool indexed_ = false;
  std::vector<std::uint32_t> entities_;
  std::size_t cached_ = static_cast<std::size_t>(-1);
  std::vector<Member> members_;
};

}  // namespace

void build_world(Program& p, SourceManager& sm, const std::vector<const syntax::FactDecl*>& facts,
                 const std::vector<std::string>& data_files,
                 const std::vector<std::pair<std::string, std::string>>& data_texts, std::size_t max_facts,
                 Diagnostics& d) {
  bool full = false;
  auto room = [&](Span where) {
    if (p.world.size() < max_facts) return true;
    if (!full)
      d.add(DiagId::too_many_facts, where,
            "the package and its data hold more than " + std::to_string(max_facts) + " facts, the limit");
    full = true;
    return false;
  };
  const Schema& s = p.schema;
  World& w = p.world;
  std::vector<PendingFact> pending;
  std::map<std::pair<TypeId, std::string>, Span> first_span;
  // Phase 1: create every entity.
  for (const auto* f : facts) {
    auto t = fact_type(s, f->type, d);
    if (!t) continue;
    if (!room(f->span)) break;
    auto e = w.add(*t, f->id, static_cast<std::uint32_t>(s.entities[*t].attrs.size()), f->span);
    if (!e) {
      auto& diag = d.add(DiagId::duplicate_fact, f->id_span,
                         "fact " + tick(f->type.name + "::" + quote_string(f->id)) + " is declared twice");
      diag.notes.push_back({first_span[{*t, f->id}], "first declared here"});
      continue;
    }
    first_span[{*t, f->id}] = f->id_span;
    pending.push_back({*e, f, nullptr, {}, kNoFile});
  }
  std::vector<std::pair<std::string, std::string>> sources;
  for (const auto& path : data_files) {
    std::string text, err;
    if (!read_file(path, text, err)) {
      d.add(DiagId::io_error, Span{}, "cannot read data file " + tick(path) + ": " + err);
      continue;
    }
    sources.emplace_back(path, std::move(text));
  }
  sources.insert(sources.end(), data_texts.begin(), data_texts.end());
  // JSON data is read as a stream: each element of "entities" is handled as soon as it is parsed
  // and then dropped, so a large file never exists as a whole document in memory. An entity whose
  // attributes convert cleanly on arrival (every reference already known, no error, nothing
  // missing) is complete at once; any other keeps its attributes for phase 2, which reports its
  // errors in the same order as for facts in source.
  WorldResolver res(w);
  std::vector<std::unique_ptr<nlohmann::json>> kept;  // attributes waiting for phase 2
  auto try_now = [&](EntityId e, const nlohmann::json& attrs) {
    const auto& et = s.entities[w.entity(e).type];
    std::vector<Value> vals(et.attrs.size());
    std::vector<bool> given(et.attrs.size(), false);
    for (auto it = attrs.begin(); it != attrs.end(); ++it) {
      const int col = et.column_named(it.key());
      if (col < 0) return false;
      std::string err;
      if (!convert_json_value(s, it.value(), et.attrs[static_cast<std::size_t>(col)].type, res, vals[static_cast<std::size_t>(col)], err))
        return false;
      given[static_cast<std::size_t>(col)] = true;
    }
    for (std::size_t c = 0; c < et.attrs.size(); ++c)
      if (!given[c] && !et.attrs[c].type.optional) return false;
    for (std::size_t c = 0; c < et.attrs.size(); ++c) w.attr_mut(e, static_cast<std::uint32_t>(c)) = vals[c];
    return true;
  };
  std::map<FileId, JsonLocator> locators;  // built on a file's first located diagnostic
  auto locate = [&](FileId f) -> JsonLocator& { return locators.try_emplace(f, sm, f).first->second; };
  auto entity = [&](nlohmann::json& en, std::size_t i, FileId fid) {
    const std::string at = "entities[" + std::to_string(i) + "]";
    if (!en.is_object() || !en.contains("type") || !en["type"].is_string() || !en.contains("id") ||
        !en["id"].is_string()) {
      d.add(DiagId::bad_data, locate(fid).entity(i), "at " + at + ": an entity needs string fields \"type\" and \"id\"");
      return;
    }
    const auto& tname = en["type"].get_ref<const std::string&>();
    auto t = s.find_entity(tname);
    if (!t) {
      d.add(DiagId::unknown_type, locate(fid).member(locate(fid).entity(i), "type"),
            "at " + at + ".type: unknown entity type " + tick(tname));
      return;
    }
    const auto& id = en["id"].get_ref<const std::string&>();
    if (p.world.size() >= max_facts) {
      (void)room(locate(fid).entity(i));
      return;
    }
    auto e = w.add(*t, id, static_cast<std::uint32_t>(s.entities[*t].attrs.size()));
    if (!e) {
      d.add(DiagId::duplicate_fact, locate(fid).member(locate(fid).entity(i), "id"),
            "at " + at + ": fact " + tick(tname + "::" + quote_string(id)) + " is declared twice");
      return;
    }
    if (!en.contains("attrs")) en["attrs"] = nlohmann::json::object();
    nlohmann::json& attrs = en["attrs"];
    if (!attrs.is_object()) {
      d.add(DiagId::bad_data, locate(fid).member(locate(fid).entity(i), "attrs"), "at " + at + ".attrs: expected an object");
      return;
    }
    if (try_now(*e, attrs)) return;
    kept.push_back(std::make_unique<nlohmann::json>(std::move(attrs)));
    pending.push_back({*e, nullptr, kept.back().get(), at, fid, i});
  };
  for (auto& [path, source_text] : sources) {
    const FileId fid = sm.add(path, std::move(source_text));  // kept once, for locations
    const std::string& text = sm.file(fid).text;
    // A file with a syntax error contributes nothing: check the whole text before handling any
    // of its entities.
    if (auto bad = json_error(text)) {
      report_bad_json(*bad, text.size(), fid, d);
      continue;
    }
    using Event = nlohmann::json::parse_event_t;
    bool in_entities = false;  // inside the top-level "entities" array
    std::string top_key;
    std::size_t index = 0;
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(text, [&](int depth, Event ev, nlohmann::json& parsed) {
      if (depth == 1 && ev == Event::key) top_key = parsed.get<std::string>();
      if (depth == 1 && ev == Event::array_start) in_entities = top_key == "entities";
      if (depth == 1 && (ev == Event::array_end || ev == Event::object_end)) in_entities = false;
      if (!in_entities || depth != 2 || !(ev == Event::object_end || ev == Event::value || ev == Event::array_end))
        return true;
      entity(parsed, index++, fid);
      return false;  // handled: not kept in the document
      });
    } catch (const nlohmann::json::exception& je) {  // json_error() passed: not expected, still an error
      report_bad_json(JsonError{0, je.what()}, text.size(), fid, d);
      continue;
    }
    if (!doc.is_object() || !doc.contains("entities") || !doc["entities"].is_array())
      d.add(DiagId::bad_data, file_start(fid), "a facts file is an object `{\"entities\": [...]}`");
  }
  // Phase 2: attributes.
  for (const auto& pf : pending) {
    const auto& rec = w.entity(pf.entity);
    const auto& et = s.entities[rec.type];
    std::vector<bool> given(et.attrs.size(), false);
    const std::string fact_name = tick(et.name + "::" + quote_string(w.id(pf.entity)));
    if (pf.decl) {
      convert_fact_fields(s, *pf.decl, rec.type, res, d,
                          [&](std::uint32_t col, Value v) { w.attr_mut(pf.entity, col) = v; });
      continue;  // it reported its own missing attributes
    } else if (pf.attrs) {
      for (auto it = pf.attrs->begin(); it != pf.attrs->end(); ++it) {
        const std::string at = pf.json_path + ".attrs." + it.key();
        const int col = et.column_named(it.key());
        if (col < 0) {
          auto& loc = locate(pf.json_file);
          d.add(DiagId::unknown_attribute, loc.member(loc.member(loc.entity(pf.json_index), "attrs"), it.key(), true),
                "at " + at + ": " + tick(et.name) + " has no attribute " + tick(it.key()));
          continue;
        }
        given[static_cast<std::size_t>(col)] = true;
        std::string err;
        Value v;
        if (!convert_json_value(s, it.value(), et.attrs[static_cast<std::size_t>(col)].type, res, v, err)) {
          const bool dangling = err.find("exists in the package") != std::string::npos;
          const bool limit = err.find("more than the limit") != std::string::npos;
          auto& loc = locate(pf.json_file);
          d.add(limit ? DiagId::set_too_large : dangling ? DiagId::dangling_reference : DiagId::type_mismatch,
                loc.element_path(loc.member(loc.member(loc.entity(pf.json_index), "attrs"), it.key()), err),
                "at " + at + ": " + err);
          continue;
        }
        w.attr_mut(pf.entity, static_cast<std::uint32_t>(col)) = v;
      }
    }
    for (std::size_t c = 0; c < et.attrs.size(); ++c) {
      if (given[c] || et.attrs[c].type.optional) continue;
      const Span span = pf.decl ? pf.decl->id_span : locate(pf.json_file).entity(pf.json_index);
      d.add(DiagId::missing_attribute, span,
            (pf.decl ? std::string() : "at " + pf.json_path + ": ") + fact_name + " is missing attribute " +
                tick(et.attrs[c].name) + ": " + tick(s.type_name(et.attrs[c].type)));
    }
  }
  // Entities of one type side by side, so the runtime locates attributes without per-entity
  // records (World::type_of, World::first_attr), and attributes in 8-byte cells.
  w.group_by_type(column_kinds(s));
  // Keys.
  for (TypeId t = 0; t < s.entities.size(); ++t) {
    for (const auto& key : s.entities[t].keys) {
      std::map<std::vector<std::string>, EntityId> seen;
      for (EntityId e : w.of_type(t)) {
        std::vector<std::string> k;
        for (auto c : key) k.push_back(format_value(s, w, w.attr(e, c)));
        auto [it, fresh] = seen.emplace(k, e);
        if (fresh) continue;
        std::string names, vals;
        for (std::size_t i = 0; i < key.size(); ++i) {
          names += (i ? ", " : "") + s.entities[t].attrs[key[i]].name;
          vals += (i ? ", " : "") + k[i];
        }
        auto& diag = d.add(DiagId::key_violation, w.span(e),
                           tick(s.entities[t].name + "::" + quote_string(w.id(e))) + " and " +
                               tick(s.entities[t].name + "::" + quote_string(w.id(it->second))) +
                               " have the same key (" + names + ") = (" + vals + ")");
        if (w.span(it->second).valid()) diag.notes.push_back({w.span(it->second), "the other fact"});
      }
    }
  }
}

}  // namespace detail
}  // namespace treaty
