// EntityLoader (include/treaty/convert.hpp): entities in two phases, from facts in source, JSON
// facts files and a request's inline entities, into the world or an overlay.
#include <nlohmann/json.hpp>

#include "treaty/convert.hpp"

namespace treaty {

// Not in an anonymous namespace: EntityLoader::Locators (declared in treaty/convert.hpp) holds it.
namespace entities_internal {

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

}  // namespace entities_internal
using entities_internal::JsonLocator;

/// An entity whose attributes wait for phase 2: a fact in source, or a JSON entity's "attrs".
struct EntityLoader::Pending {
  EntityId entity = 0;
  TypeId type = 0;
  const FactSpec* decl = nullptr;
  std::size_t fields_tag = static_cast<std::size_t>(-1);  ///< add_fact(f, tag): fetched in finish()
  std::unique_ptr<nlohmann::json> attrs;
  std::string json_path;  ///< "entities[3]"
  FileId json_file = kNoFile;
  std::size_t json_index = 0;  ///< the element of "entities" it came from
};

/// One JsonLocator per facts file, built on the file's first located diagnostic.
struct EntityLoader::Locators {
  std::map<FileId, JsonLocator> by_file;
};

EntityLoader::EntityLoader(const Schema& s, SourceManager* sm, EntityStore& store, Diagnostics& d, EntityLoadOptions o)
    : s_(s), sm_(sm), store_(store), d_(d), o_(o), base_(store.size()), locators_(std::make_unique<Locators>()) {}

EntityLoader::~EntityLoader() = default;

bool EntityLoader::room(Span where) {
  if (store_.size() < o_.max_entities) return true;
  if (!full_)
    d_.add(DiagId::too_many_facts, where,
           "the package and its data hold more than " + std::to_string(o_.max_entities) + " facts, the limit");
  full_ = true;
  return false;
}

void EntityLoader::report(DiagId id, Span where, const std::string& path, const std::string& message) {
  d_.add(id, where, path.empty() ? message : (o_.overlay ? "" : "at ") + path + ": " + message);
}

void EntityLoader::duplicate(TypeId t, std::string_view id, Span where, const std::string& path) {
  const std::string name = tick(s_.entities[t].name + "::" + quote_string(id));
  if (o_.overlay) {
    report(DiagId::duplicate_fact, where, path,
           "entity " + name + " already exists; an inline or given entity must have a new id");
    return;
  }
  auto& diag = d_.add(DiagId::duplicate_fact, where, (path.empty() ? "" : "at " + path + ": ") + "fact " + name +
                                                         " is declared twice");
  if (path.empty()) diag.notes.push_back({first_span_[{t, std::string(id)}], "first declared here"});
}

void EntityLoader::add_fact(const FactSpec& f, std::size_t tag) {
  const std::size_t before = pending_.size();
  add_fact(f);
  if (pending_.size() == before) return;  // not created: an unknown type, a duplicate, the limit
  pending_.back().decl = nullptr;
  pending_.back().fields_tag = tag;
}

void EntityLoader::add_fact(const FactSpec& f) {
  if (full_) return;
  auto t = fact_type(s_, f.type, f.type_span, d_);
  if (!t || !room(f.span)) return;
  auto e = store_.create(*t, f.id, f.span);
  if (!e) {
    duplicate(*t, f.id, f.id_span, {});
    return;
  }
  if (!o_.overlay) first_span_[{*t, f.id}] = f.id_span;
  auto& p = pending_.emplace_back();
  p.entity = *e;
  p.type = *t;
  p.decl = &f;
}

bool EntityLoader::convert_now(EntityId e, TypeId t, const nlohmann::json& attrs) {
  const auto& et = s_.entities[t];
  std::vector<Value> vals(et.attrs.size());
  std::vector<bool> given(et.attrs.size(), false);
  for (auto it = attrs.begin(); it != attrs.end(); ++it) {
    const int col = et.column_named(it.key());
    if (col < 0) return false;
    std::string err;
    if (!convert_json_value(s_, it.value(), et.attrs[static_cast<std::size_t>(col)].type, store_,
                            vals[static_cast<std::size_t>(col)], err))
      return false;
    given[static_cast<std::size_t>(col)] = true;
  }
  for (std::size_t c = 0; c < et.attrs.size(); ++c)
    if (!given[c] && !et.attrs[c].type.optional) return false;
  for (std::size_t c = 0; c < et.attrs.size(); ++c)
    if (given[c]) store_.set_attr(e, static_cast<std::uint32_t>(c), vals[c]);
  return true;
}

void EntityLoader::add_json(nlohmann::json& en, std::size_t i, FileId fid) { add_json_impl(en, &en, i, fid); }
void EntityLoader::add_json(const nlohmann::json& en, std::size_t i, FileId fid) { add_json_impl(en, nullptr, i, fid); }

void EntityLoader::add_json_impl(const nlohmann::json& en, nlohmann::json* own, std::size_t i, FileId fid) {
  const std::string at = "entities[" + std::to_string(i) + "]";
  auto locate = [&]() -> JsonLocator* {
    if (fid == kNoFile || !sm_) return nullptr;
    return &locators_->by_file.try_emplace(fid, *sm_, fid).first->second;
  };
  auto entity_span = [&] { auto* l = locate(); return l ? l->entity(i) : Span{}; };
  auto member_span = [&](std::string_view key) { auto* l = locate(); return l ? l->member(l->entity(i), key) : Span{}; };
  if (!en.is_object() || !en.contains("type") || !en["type"].is_string() || !en.contains("id") ||
      !en["id"].is_string()) {
    report(DiagId::bad_data, entity_span(), at, "an entity needs string fields \"type\" and \"id\"");
    return;
  }
  const auto& tname = en["type"].get_ref<const std::string&>();
  auto t = s_.find_entity(tname);
  if (!t) {
    report(DiagId::unknown_type, member_span("type"), at + ".type", "unknown entity type " + tick(tname));
    return;
  }
  if (o_.overlay) {
    if (!s_.entities[*t].request_supplied) {
      report(DiagId::bad_data, member_span("type"), at + ".type",
             std::string("a request may not bring ") + article(s_.entities[*t].name) + " " + tick(s_.entities[*t].name) +
                 " inline; only types declared `inline entity` may be");
      return;
    }
    for (auto it = en.begin(); it != en.end(); ++it)
      if (it.key() != "type" && it.key() != "id" && it.key() != "attrs") {
        report(DiagId::bad_data, member_span(it.key()), at,
               "unknown field \"" + it.key() + "\" in an entity (it has \"type\", \"id\" and \"attrs\")");
        return;
      }
  }
  const auto& id = en["id"].get_ref<const std::string&>();
  // The entity's span only when the limit is reached: locating it rescans the file's text.
  if (store_.size() >= o_.max_entities && !room(entity_span())) return;
  auto e = store_.create(*t, id, {});
  if (!e) {
    duplicate(*t, id, member_span("id"), at);
    return;
  }
  static const nlohmann::json kNoAttrs = nlohmann::json::object();
  const auto found = en.find("attrs");
  const nlohmann::json& attrs = found == en.end() ? kNoAttrs : *found;
  if (!attrs.is_object()) {
    report(DiagId::bad_data, member_span("attrs"), at + ".attrs", "expected an object");
    return;
  }
  if (convert_now(*e, *t, attrs)) return;
  auto& p = pending_.emplace_back();
  p.entity = *e;
  p.type = *t;
  p.attrs = own && found != en.end() ? std::make_unique<nlohmann::json>(std::move((*own)["attrs"]))
                                      : std::make_unique<nlohmann::json>(attrs);
  p.json_path = at;
  p.json_file = fid;
  p.json_index = i;
}

void EntityLoader::finish() {
  FactSpec fetched;
  for (const auto& pf : pending_) {
    const auto& et = s_.entities[pf.type];
    if (pf.fields_tag != static_cast<std::size_t>(-1) && fields_) {
      fields_(pf.fields_tag, fetched);
      convert_fact_fields(s_, fetched, pf.type, store_, d_,
                          [&](std::uint32_t col, Value v) { store_.set_attr(pf.entity, col, v); });
      continue;
    }
    if (pf.decl) {
      // It reports its own missing attributes.
      convert_fact_fields(s_, *pf.decl, pf.type, store_, d_,
                          [&](std::uint32_t col, Value v) { store_.set_attr(pf.entity, col, v); });
      continue;
    }
    JsonLocator* loc = pf.json_file != kNoFile && sm_
                           ? &locators_->by_file.try_emplace(pf.json_file, *sm_, pf.json_file).first->second
                           : nullptr;
    std::vector<bool> given(et.attrs.size(), false);
    for (auto it = pf.attrs->begin(); it != pf.attrs->end(); ++it) {
      const std::string at = pf.json_path + ".attrs." + it.key();
      const int col = et.column_named(it.key());
      if (col < 0) {
        report(DiagId::unknown_attribute,
               loc ? loc->member(loc->member(loc->entity(pf.json_index), "attrs"), it.key(), true) : Span{}, at,
               tick(et.name) + " has no attribute " + tick(it.key()));
        continue;
      }
      given[static_cast<std::size_t>(col)] = true;
      std::string err;
      Value v;
      if (!convert_json_value(s_, it.value(), et.attrs[static_cast<std::size_t>(col)].type, store_, v, err)) {
        report(value_error_code(err),
               loc ? loc->element_path(loc->member(loc->member(loc->entity(pf.json_index), "attrs"), it.key()), err)
                   : Span{},
               at, err);
        continue;
      }
      store_.set_attr(pf.entity, static_cast<std::uint32_t>(col), v);
    }
    for (std::size_t c = 0; c < et.attrs.size(); ++c) {
      if (given[c] || et.attrs[c].type.optional) continue;
      report(DiagId::missing_attribute, loc ? loc->entity(pf.json_index) : Span{}, pf.json_path,
             tick(et.name + "::" + quote_string(store_.id_of(pf.entity))) + " is missing attribute " +
                 tick(et.attrs[c].name) + ": " + tick(s_.type_name(et.attrs[c].type)));
    }
  }
  pending_.clear();
}

}  // namespace treaty
