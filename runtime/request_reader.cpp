// The request hot path: simdjson requests into Engine Requests, decisions into JSON text.
#include "treaty/data/simdjson_values.hpp"
#include "treaty/data/world.hpp"
#include "treaty/request_reader.hpp"

#include <algorithm>
#include <charconv>
#include <unordered_map>

namespace treaty {

struct RequestReader::Impl {
  const Engine* eng;
  simdjson::dom::parser parser;
  std::unordered_map<std::string_view, TypeId> types;
  std::unordered_map<std::string_view, std::uint32_t> actions;

  explicit Impl(const Engine& e) : eng(&e) {
    const auto& s = e.program().schema;
    for (TypeId t = 0; t < s.entities.size(); ++t) types.emplace(s.entities[t].name, t);
    for (std::uint32_t a = 0; a < s.actions.size(); ++a) actions.emplace(s.actions[a].name, a);
  }

  /// `{"type": T, "id": I}` with no other field, T a known type.
  bool ref(simdjson::dom::element e, TypeId& t, std::string_view& id) const {
    simdjson::dom::object o;
    if (e.get_object().get(o)) return false;
    std::string_view ty;
    bool ht = false, hi = false;
    for (auto [k, v] : o) {
      if (k == "type" && !ht) {
        if (v.get_string().get(ty)) return false;
        ht = true;
      } else if (k == "id" && !hi) {
        if (v.get_string().get(id)) return false;
        hi = true;
      } else {
        return false;
      }
    }
    if (!ht || !hi) return false;
    const auto it = types.find(ty);
    if (it == types.end()) return false;
    t = it->second;
    return true;
  }

  bool read(std::string_view json, Request& out) {
    const Program& p = eng->program();
    simdjson::dom::element doc;
    simdjson::dom::object root;
    if (parser.parse(json.data(), json.size()).get(doc) || doc.get_object().get(root)) return false;
    simdjson::dom::element pe, ae, re;
    bool hp = false, ha = false, hr = false;
    for (auto [k, v] : root) {
      if (k == "principal" && !hp) pe = v, hp = true;
      else if (k == "action" && !ha) ae = v, ha = true;
      else if (k == "resource" && !hr) re = v, hr = true;
      else return false;  // `entities`, an unknown or a repeated field
    }
    if (!hp || !ha || !hr) return false;
    TypeId pt = 0, rt = 0;
    std::string_view pid, rid;
    if (!ref(pe, pt, pid) || !ref(re, rt, rid)) return false;
    simdjson::dom::object ao, argo;
    if (ae.get_object().get(ao)) return false;
    std::string_view name;
    bool hn = false, hargs = false;
    for (auto [k, v] : ao) {
      if (k == "name" && !hn) {
        if (v.get_string().get(name)) return false;
        hn = true;
      } else if (k == "args" && !hargs) {
        if (v.get_object().get(argo)) return false;
        hargs = true;
      } else {
        return false;
      }
    }
    if (!hn) return false;
    const auto ai = actions.find(name);
    if (ai == actions.end()) return false;
    const auto& act = p.schema.actions[ai->second];
    out.args.clear();
    out.args.resize(act.params.size());
    std::uint64_t given = 0;
    if (act.params.size() > 64) return false;
    if (hargs)
      for (auto [k, v] : argo) {
        std::size_t i = 0;
        while (i < act.params.size() && act.params[i].name != k) ++i;
        if (i == act.params.size() || (given >> i & 1) || !simple_value(p.schema, act.params[i].type, v, out.args[i]))
          return false;
        given |= std::uint64_t{1} << i;
      }
    for (std::size_t i = 0; i < act.params.size(); ++i)
      if (!(given >> i & 1) && !act.params[i].type.optional) return false;
    // As Engine::make_request: accepted types, then entities of the world.
    auto accepts = [](const std::vector<TypeId>& v, TypeId t) {
      return v.empty() || std::binary_search(v.begin(), v.end(), t);
    };
    if (!accepts(act.principals, pt) || !accepts(act.resources, rt)) return false;
    const auto pe_id = eng->find(pt, pid);
    if (!pe_id) return false;
    const auto re_id = eng->find(rt, rid);
    if (!re_id) return false;
    out.principal = *pe_id;
    out.resource = *re_id;
    out.action = ai->second;
    out.overlay = nullptr;
    return true;
  }
};

RequestReader::RequestReader(const Engine& engine) : impl_(std::make_unique<Impl>(engine)) {}
RequestReader::~RequestReader() = default;
bool RequestReader::read(std::string_view json, Request& out) { return impl_->read(json, out); }
void RequestReader::set_engine(const Engine& e) { impl_->eng = &e; }

std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t* ill) noexcept {
  const auto at = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  const unsigned c = at(0);
  std::size_t need = 0;
  unsigned lo = 0x80, hi = 0xbf;  // the range of the first continuation byte
  if (c >= 0xc2 && c <= 0xdf) need = 1;
  else if (c >= 0xe0 && c <= 0xef) need = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
  else if (c >= 0xf0 && c <= 0xf4) need = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
  std::size_t k = 1;
  if (need > 0 && at(1) >= lo && at(1) <= hi)
    for (k = 2; k <= need && (at(k) & 0xc0u) == 0x80u;) ++k;
  if (need > 0 && k == need + 1) return need + 1;
  if (ill) *ill = k;  // the lead byte and the continuation bytes that fit: one replacement
  return 0;
}

void append_json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t ill = 1;
      if (const std::size_t n = utf8_sequence(s, i, &ill)) {
        i += n - 1;
        continue;
      }
      out.append(s.data() + run, i - run);
      out += "\xef\xbf\xbd";  // U+FFFD for the ill-formed part
      i += ill - 1;
      run = i + 1;
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

namespace {
void append_uint(std::string& out, std::uint64_t n) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}
}  // namespace

DecisionWriter::DecisionWriter(const Engine& engine, const SourceManager* sm) : e_(&engine), sm_(sm) {
  const auto& rules = engine.program().rules;
  rules_.reserve(rules.size());
  for (const auto& rule : rules) {
    std::string s = "{";
    if (sm && rule.span.valid()) {
      s += "\"file\":";
      append_json_string(s, sm->file(rule.span.file).path);
      s += ",\"line\":";
      append_uint(s, sm->line_col(rule.span.file, rule.span.begin).line);
      s += ",";
    }
    s += "\"rule\":";
    append_json_string(s, rule.name);
    s += "}";
    rules_.push_back(std::move(s));
  }
}

void DecisionWriter::write(const Decision& d, std::string& out) const {
  // nlohmann::json objects keep their keys sorted: decision, determining, errors, misses.
  out += d.allow ? "{\"decision\":\"allow\",\"determining\":[" : "{\"decision\":\"deny\",\"determining\":[";
  for (std::size_t i = 0; i < d.determining.size(); ++i) {
    if (i) out.push_back(',');
    out += rules_[d.determining[i]];
  }
  out += "],\"errors\":[";
  for (std::size_t i = 0; i < d.errors.size(); ++i) {
    if (i) out.push_back(',');
    append_json_string(out, d.errors[i]);
  }
  out += "],\"misses\":[";
  {
    const auto& rules = e_->program().rules;
    for (std::size_t i = 0; i < d.misses.size(); ++i) {
      const auto& m = d.misses[i];
      if (i) out.push_back(',');
      out.push_back('{');
      if (sm_ && m.condition.valid()) {
        out += "\"condition\":";
        std::string cond = m.unless ? "unless " : "when ";
        cond += sm_->text(m.condition);
        append_json_string(out, cond);
        out += ",\"file\":";
        append_json_string(out, sm_->file(m.condition.file).path);
        out += ",\"line\":";
        append_uint(out, sm_->line_col(m.condition.file, m.condition.begin).line);
        out.push_back(',');
      }
      out += "\"rule\":";
      append_json_string(out, rules[m.rule].name);
      out.push_back('}');
    }
    out.push_back(']');
  }
  out.push_back('}');
}

void DecisionWriter::write_error(std::string_view message, std::string& out) {
  out += "{\"decision\":\"error\",\"errors\":[";
  append_json_string(out, message);
  out += "]}";
}

}  // namespace treaty
