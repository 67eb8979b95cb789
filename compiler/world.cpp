// Facts -> world: facts written in source and JSON data files (LANGUAGE.md sections 3 and 10),
// through the data layer's EntityLoader; then the world is sealed and its keys are checked. The
// checker's world pass (Checker::load_facts) runs it.
#include <map>
#include <nlohmann/json.hpp>

#include "internal/checker.hpp"
#include "internal/types.hpp"
#include "treaty/package.hpp"
#include "treaty/parse.hpp"

namespace treaty {

namespace detail {

namespace {

Span file_start(FileId f) { return Span{f, 0, 0}; }

void report_bad_json(const JsonError& e, std::size_t text_size, FileId fid, Diagnostics& d) {
  const auto o = static_cast<std::uint32_t>(std::min(e.offset, text_size));
  // A repeated key is valid JSON syntax that Treaty refuses; everything else is a syntax error.
  const bool repeated = e.message.rfind("the key ", 0) == 0;
  d.add(DiagId::bad_data, Span{fid, o, o}, (repeated ? "" : "invalid JSON: ") + e.message);
}

}  // namespace

void build_world(Program& p, SourceManager& sm, const std::vector<const syntax::FactDecl*>& facts,
                 const std::vector<std::string>& data_files,
                 const std::vector<std::pair<std::string, std::string>>& data_texts, std::size_t max_facts,
                 Diagnostics& d) {
  const Schema& s = p.schema;
  World& w = p.world();
  WorldStore store(s, w);
  EntityLoadOptions lo;
  lo.max_entities = max_facts;
  EntityLoader loader(s, &sm, store, d, lo);
  // Phase 1: create every entity from its type, id and spans. The loader asks for each fact
  // whole (translated from its syntax, which lives on) only when it converts its fields.
  loader.set_fields_source([&](std::size_t i, FactSpec& out) { out = to_fact_spec(*facts[i]); });
  FactSpec head;
  for (std::size_t i = 0; i < facts.size(); ++i) {
    const auto& f = *facts[i];
    head.type = f.type.name;
    head.type_span = f.type.span;
    head.id = f.id;
    head.id_span = f.id_span;
    head.span = f.span;
    loader.add_fact(head, i);
    if (loader.full()) break;
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
  // JSON data is read as a stream: each element of "entities" is handed to the loader as soon as
  // it is parsed and then dropped, so a large file never exists as a whole document in memory. An
  // entity whose attributes convert cleanly on arrival (every reference already known, no error,
  // nothing missing) is complete at once; any other keeps its attributes for phase 2, which
  // reports its errors in the same order as for facts in source.
  for (auto& [path, source_text] : sources) {
    const FileId fid = sm.add(path, std::move(source_text));  // kept once, for locations
    const std::string& text = sm.file(fid).text;
    // Most files are well formed: simdjson reads them several times faster than the two
    // nlohmann passes below, which remain for every file it does not read exactly as they do.
    if (read_entities_fast(text, [&](nlohmann::json& en, std::size_t i) { loader.add_json(en, i, fid); })) continue;
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
      loader.add_json(parsed, index++, fid);
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
  loader.finish();
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


/// The world pass: the package's facts (unless CheckOptions::facts is off) and its JSON data into
/// the world; then the enum values the facts use, which are not reported unused.
void Checker::load_facts() {
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
}

void Checker::mark_fact_enum_usage() {
  for (EntityId e = 0; e < p_.world().size(); ++e) {
    const auto& r = p_.world().entity(e);
    const auto& et = p_.schema.entities[r.type];
    for (std::uint32_t c = 0; c < et.attrs.size(); ++c) mark_value(p_.world().attr(e, c));
  }
}

void Checker::mark_value(const Value& v) {
  if (v.tag == Tag::enum_) enum_used_[v.aux][static_cast<std::size_t>(v.i)] = true;
  set_any(v, [&](const Value& x) {
    mark_value(x);
    return false;
  });
}

}  // namespace detail
}  // namespace treaty
