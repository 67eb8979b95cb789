// AuthZEN 1.0 requests mapped to Treaty requests (see authzen.hpp for the mapping).
#include "authzen.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "treaty/convert.hpp"

namespace treaty::server::internal {

void json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default:
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
      }
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

nlohmann::json to_nlohmann(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::ARRAY: {
      auto a = nlohmann::json::array();
      simdjson::dom::array arr;
      if (e.get_array().get(arr)) return a;
      for (auto x : arr) a.push_back(to_nlohmann(x));
      return a;
    }
    case element_type::OBJECT: {
      auto o = nlohmann::json::object();
      simdjson::dom::object obj;
      if (e.get_object().get(obj)) return o;
      for (auto [k, v] : obj) o[std::string(k)] = to_nlohmann(v);
      return o;
    }
    case element_type::INT64: return e.get_int64().value_unsafe();
    case element_type::UINT64: return e.get_uint64().value_unsafe();
    case element_type::DOUBLE: return e.get_double().value_unsafe();
    case element_type::STRING: return std::string(e.get_string().value_unsafe());
    case element_type::BOOL: return e.get_bool().value_unsafe();
    case element_type::NULL_VALUE: return nullptr;
  }
  return nullptr;
}

namespace {
bool duplicate_key_at(simdjson::dom::element e, const std::string& path, std::string& where) {
  using simdjson::dom::element_type;
  simdjson::dom::array arr;
  if (!e.get_array().get(arr)) {
    std::size_t i = 0;
    for (auto item : arr)
      if (duplicate_key_at(item, path + "[" + std::to_string(i++) + "]", where)) return true;
    return false;
  }
  simdjson::dom::object obj;
  if (e.get_object().get(obj)) return false;
  std::vector<std::string_view> keys;
  keys.reserve(obj.size());
  for (auto [k, v] : obj) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  if (auto d = std::adjacent_find(keys.begin(), keys.end()); d != keys.end()) {
    where = "the key \"" + std::string(*d) + "\" is given twice in " + (path.empty() ? "the body" : path);
    return true;
  }
  for (auto [k, v] : obj)
    if ((v.type() == element_type::OBJECT || v.type() == element_type::ARRAY) &&
        duplicate_key_at(v, path.empty() ? std::string(k) : path + "." + std::string(k), where))
      return true;
  return false;
}
}  // namespace

bool duplicate_key(simdjson::dom::element e, std::string& where) { return duplicate_key_at(e, "", where); }

const char* read_entity(simdjson::dom::element e, EntityRef& out) {
  simdjson::dom::object o;
  if (e.get_object().get(o)) return "must be an object with \"type\" and \"id\"";
  out = {};
  simdjson::dom::element v;
  if (o["type"].get(v) || !v.is_string()) return "needs a string \"type\"";
  out.type = v.get_string().value_unsafe();
  // "identity" is Draft 02's spelling of "id" (the Todo interop scenario's payloads).
  if (!o["id"].get(v) || !o["identity"].get(v)) {
    if (!v.is_string()) return "\"id\" must be a string";
    out.id = v.get_string().value_unsafe();
    out.has_id = true;
  }
  if (!o["properties"].get(v)) {
    if (v.get_object().get(out.props)) return "\"properties\" must be an object";
    out.has_props = out.props.size() > 0;
  }
  return nullptr;
}

const char* read_action(simdjson::dom::element e, ActionRef& out) {
  simdjson::dom::object o;
  if (e.get_object().get(o)) return "must be an object with \"name\"";
  out = {};
  simdjson::dom::element v;
  if (o["name"].get(v) || !v.is_string()) return "needs a string \"name\"";
  out.name = v.get_string().value_unsafe();
  if (!o["properties"].get(v)) {
    if (v.get_object().get(out.props)) return "\"properties\" must be an object";
    out.has_props = out.props.size() > 0;
  }
  return nullptr;
}

namespace {
std::string tick(std::string_view s) { return "`" + std::string(s) + "`"; }

void finish(const Engine& eng, const Request& req, bool explain, Outcome& out) {
  out.d = eng.decide(req, explain);
  out.allow = out.d.allow && out.d.errors.empty();
  if (!out.d.errors.empty()) {
    for (const auto& e : out.d.errors) out.error += (out.error.empty() ? "" : "; ") + e;
  }
}
}  // namespace

void evaluate(const Snapshot& snap, const Names& names, const EntityRef& s, const ActionRef& a, const EntityRef& r,
              bool explain, Outcome& out) {
  const Engine& eng = *snap.engine;
  const Program& p = eng.program();
  const auto st = names.types.find(s.type);
  if (st == names.types.end()) {
    out.error = "unknown subject type " + tick(s.type);
    return;
  }
  const auto rt = names.types.find(r.type);
  if (rt == names.types.end()) {
    out.error = "unknown resource type " + tick(r.type);
    return;
  }
  const auto ai = names.actions.find(a.name);
  if (ai == names.actions.end()) {
    out.error = "unknown action " + tick(a.name);
    return;
  }
  Request req;
  if (!s.has_props && !r.has_props && !a.has_props && s.has_id && r.has_id && eng.find(st->second, s.id) &&
      eng.find(rt->second, r.id)) {
    // The common case: ids only. Nothing is allocated to resolve them.
    if (!eng.make_request(st->second, s.id, ai->second, {}, {}, rt->second, r.id, nullptr, req, out.error)) return;
    return finish(eng, req, explain, out);
  }

  Overlay overlay(eng);
  OverlayResolver res(overlay);
  auto inline_entities = nlohmann::json::array();
  std::string sid, rid;
  // Compares a known entity's properties with its facts, or describes an unknown one inline.
  auto map_entity = [&](const EntityRef& e, TypeId t, const char* role, std::string& id) {
    const auto& et = p.schema.entities[t];
    if (!e.has_id && !names.request_supplied[t]) {
      out.error = std::string(role) + " needs an \"id\": " + tick(et.name) + " entities are facts";
      out.malformed = true;
      return false;
    }
    id = std::string(e.id);
    if (auto found = eng.find(t, id)) {
      if (!e.has_props) return true;
      for (auto [key, val] : e.props) {
        const int col = et.column_named(key);
        if (col < 0) continue;  // not an attribute: ignored, as unknown fields are
        Value v;
        std::string err;
        if (!convert_json_value(p.schema, to_nlohmann(val), et.attrs[static_cast<std::size_t>(col)].type, res, v,
                                err)) {
          out.error = std::string(role) + ".properties." + std::string(key) + ": " + err;
          return false;
        }
        const Value fact = eng.attr_of(*found, static_cast<std::uint32_t>(col));
        if (!value_equal(v, fact)) {
          out.error = std::string(role) + ".properties." + std::string(key) + " is " + format_value(p.schema, p.world(), v) +
                      " but the facts of " + et.name + "::" + quote_string(id) + " say " +
                      format_value(p.schema, p.world(), fact);
          return false;
        }
      }
      return true;
    }
    for (const auto& x : inline_entities)
      if (x["type"] == et.name && x["id"] == id) return true;  // subject and resource are one entity
    nlohmann::json ent{{"type", et.name}, {"id", id}, {"attrs", nlohmann::json::object()}};
    if (e.has_props)
      for (auto [key, val] : e.props)
        if (et.column_named(key) >= 0) ent["attrs"][std::string(key)] = to_nlohmann(val);
    inline_entities.push_back(std::move(ent));
    return true;
  };
  if (!map_entity(s, st->second, "subject", sid) || !map_entity(r, rt->second, "resource", rid)) return;
  if (!inline_entities.empty()) {
    // The same rules as for any request's entities: only `inline entity` types, every key and
    // every requirement they can affect.
    if (!overlay.add_json(inline_entities, out.error)) return;
    if (!eng.validate_overlay(overlay, out.error)) {
      out.error = "the request's entities break the policy: " + out.error;
      return;
    }
  }

  // The action's parameters go through the converter every request source uses. The types and
  // the action were resolved above through the AuthZEN names (which may differ from the
  // schema's), so the converter is given what they resolved to.
  RequestConverter conv(p.schema, res);
  if (!conv.action(p.schema.actions[ai->second].name, out.error)) return;
  conv.parts().principal_type = st->second;
  conv.parts().principal_id = sid;
  conv.parts().resource_type = rt->second;
  conv.parts().resource_id = rid;
  if (a.has_props)
    for (auto [key, val] : a.props) {
      std::string err;
      const auto problem = conv.arg(key, to_nlohmann(val), err);
      // A property that is no parameter of the action is an unknown field, which AuthZEN
      // ignores; a repeated key was refused with the body.
      if (problem == RequestConverter::ArgProblem::bad_value) {
        out.error = "action.properties." + std::string(key) + ": " + err;
        return;
      }
    }
  auto& parts = conv.parts();
  if (!eng.make_request(parts.principal_type, parts.principal_id, parts.action, std::move(parts.args),
                        std::move(parts.given), parts.resource_type, parts.resource_id, &overlay, req, out.error))
    return;
  finish(eng, req, explain, out);
}

void write_decision(const Snapshot& snap, const Outcome& o, bool explain, std::string& out) {
  out += o.allow ? R"({"decision":true,"context":{)" : R"({"decision":false,"context":{)";
  if (!o.error.empty()) {
    out += "\"error\":";
    json_string(out, o.error);
  } else {
    out += "\"determining\":[";
    for (std::size_t i = 0; i < o.d.determining.size(); ++i) {
      if (i) out.push_back(',');
      out += snap.rule_name_json[o.d.determining[i]];
    }
    out.push_back(']');
    if (explain) {
      out += ",\"misses\":[";
      const Program& p = snap.engine->program();
      for (std::size_t i = 0; i < o.d.misses.size(); ++i) {
        const auto& m = o.d.misses[i];
        if (i) out.push_back(',');
        out += "{\"rule\":" + snap.rule_name_json[m.rule];
        if (snap.sm && m.condition.valid()) {
          out += ",\"condition\":";
          json_string(out, std::string(m.unless ? "unless " : "when ") + std::string(snap.sm->text(m.condition)));
        }
        if (!m.within.empty()) {
          out += ",\"within\":[";
          for (std::size_t k = 0; k < m.within.size(); ++k) {
            if (k) out.push_back(',');
            out += "{\"predicate\":";
            json_string(out, p.predicates[m.within[k].predicate].name);
            if (snap.sm && m.within[k].conjunct.valid()) {
              out += ",\"condition\":";
              json_string(out, std::string(snap.sm->text(m.within[k].conjunct)));
            }
            out.push_back('}');
          }
          out.push_back(']');
        }
        out.push_back('}');
      }
      out.push_back(']');
    }
  }
  out += "}}";
}

}  // namespace treaty::server::internal
