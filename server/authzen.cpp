// AuthZEN 1.0 requests mapped to Treaty requests (see authzen.hpp for the mapping).
#include "authzen.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "treaty/convert.hpp"

namespace treaty::server::internal {

void json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
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
    } else if (c >= 0x80) {
      // A request's bytes reach error messages: an ill-formed UTF-8 byte becomes U+FFFD, so the
      // answer stays JSON.
      std::size_t ill = 1;
      const std::size_t n = utf8_sequence(s, i, &ill);
      if (n == 0) {
        out += "\xef\xbf\xbd";
        i += ill - 1;
      } else {
        out.append(s.data() + i, n);
        i += n - 1;
      }
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

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

void finish(const Engine& eng, const Request& req, bool explain, Outcome& out) {
  out.d = eng.decide(req, explain);
  out.allow = out.d.allow && out.d.errors.empty();
  if (!out.d.errors.empty()) {
    for (const auto& e : out.d.errors) out.error += (out.error.empty() ? "" : "; ") + e;
  }
}
}  // namespace

RequestEntities::RequestEntities(const Engine& eng, const Names& names)
    : eng_(eng), names_(names), overlay_(eng), res_(overlay_), inline_(nlohmann::json::array()) {}

bool RequestEntities::map(const EntityRef& e, TypeId t, const char* role, std::string& id, std::string& error,
                          bool& malformed) {
  const Program& p = eng_.program();
  const auto& et = p.schema.entities[t];
  if (!e.has_id && !names_.request_supplied[t]) {
    error = std::string(role) + " needs an \"id\": " + tick(et.name) + " entities are facts";
    malformed = true;
    return false;
  }
  id = std::string(e.id);
  if (auto found = eng_.find(t, id)) {
    if (!e.has_props) return true;
    for (auto [key, val] : e.props) {
      const int col = et.column_named(key);
      if (col < 0) continue;  // not an attribute: ignored, as unknown fields are
      Value v;
      std::string err;
      if (!convert_json_value(p.schema, to_nlohmann(val), et.attrs[static_cast<std::size_t>(col)].type, res_, v, err)) {
        error = std::string(role) + ".properties." + std::string(key) + ": " + err;
        return false;
      }
      const Value fact = eng_.attr_of(*found, static_cast<std::uint32_t>(col));
      if (!value_equal(v, fact)) {
        error = std::string(role) + ".properties." + std::string(key) + " is " + format_value(p.schema, p.world(), v) +
                " but the facts of " + et.name + "::" + quote_string(id) + " say " +
                format_value(p.schema, p.world(), fact);
        return false;
      }
    }
    return true;
  }
  for (const auto& x : inline_)
    if (x["type"] == et.name && x["id"] == id) return true;  // subject and resource are one entity
  nlohmann::json ent{{"type", et.name}, {"id", id}, {"attrs", nlohmann::json::object()}};
  if (e.has_props)
    for (auto [key, val] : e.props)
      if (et.column_named(key) >= 0) ent["attrs"][std::string(key)] = to_nlohmann(val);
  inline_.push_back(std::move(ent));
  return true;
}

bool RequestEntities::commit(std::string& error) {
  if (inline_.empty()) return true;
  // The same rules as for any request's entities: only `inline entity` types, every key and
  // every requirement they can affect.
  if (!overlay_.add_json(inline_, error)) return false;
  if (!eng_.validate_overlay(overlay_, error)) {
    error = "the request's entities break the policy: " + error;
    return false;
  }
  return true;
}

bool RequestEntities::action(std::uint32_t action, const ActionRef& a, RequestConverter& conv, std::string& error) {
  // The action's parameters go through the converter every request source uses. The action was
  // resolved through the AuthZEN names (which may differ from the schema's), so the converter
  // is given what it resolved to.
  if (!conv.action(eng_.program().schema.actions[action].name, error)) return false;
  if (a.has_props)
    for (auto [key, val] : a.props) {
      std::string err;
      const auto problem = conv.arg(key, to_nlohmann(val), err);
      // A property that is no parameter of the action is an unknown field, which AuthZEN
      // ignores; a repeated key was refused with the body.
      if (problem == RequestConverter::ArgProblem::bad_value) {
        error = "action.properties." + std::string(key) + ": " + err;
        return false;
      }
    }
  return true;
}

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

  RequestEntities ents(eng, names);
  std::string sid, rid;
  if (!ents.map(s, st->second, "subject", sid, out.error, out.malformed) ||
      !ents.map(r, rt->second, "resource", rid, out.error, out.malformed) || !ents.commit(out.error))
    return;
  RequestConverter conv(p.schema, ents.resolver());
  if (!ents.action(ai->second, a, conv, out.error)) return;
  auto& parts = conv.parts();
  if (!eng.make_request(st->second, sid, parts.action, std::move(parts.args), std::move(parts.given), rt->second, rid,
                        &ents.overlay(), req, out.error))
    return;
  finish(eng, req, explain, out);
}

namespace {

/// A page token: "z1.<request hash, hex>.<page size>.<position>", the position being the
/// engine's cursor (subject and resource searches: "q1.<revision>.<entity>.<query>") or
/// "a1.<revision>.<offset>" (the action search, paged here). Opaque to the PEP.
constexpr std::string_view kTokenPrefix = "z1.";

std::string make_token(std::uint64_t hash, std::size_t limit, std::string_view position) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return std::string(kTokenPrefix) + hex + "." + std::to_string(limit) + "." + std::string(position);
}

/// Splits a token; false when it is not one make_token made.
bool parse_token(std::string_view t, std::uint64_t& hash, std::size_t& limit, std::string_view& position) {
  if (!t.starts_with(kTokenPrefix)) return false;
  t.remove_prefix(kTokenPrefix.size());
  const auto dot = t.find('.');
  if (dot != 16) return false;
  auto r = std::from_chars(t.data(), t.data() + dot, hash, 16);
  if (r.ec != std::errc() || r.ptr != t.data() + dot) return false;
  t.remove_prefix(dot + 1);
  const auto dot2 = t.find('.');
  if (dot2 == std::string_view::npos || dot2 == 0) return false;
  r = std::from_chars(t.data(), t.data() + dot2, limit);
  if (r.ec != std::errc() || r.ptr != t.data() + dot2 || limit == 0) return false;
  position = t.substr(dot2 + 1);
  return !position.empty();
}

/// The revision a position was given at ("q1.R..." or "a1.R..."); false when it has none.
bool position_revision(std::string_view pos, std::uint64_t& rev) {
  if (!pos.starts_with("q1.") && !pos.starts_with("a1.")) return false;
  pos.remove_prefix(3);
  const auto r = std::from_chars(pos.data(), pos.data() + pos.size(), rev);
  return r.ec == std::errc() && r.ptr != pos.data() && r.ptr < pos.data() + pos.size() && *r.ptr == '.';
}

const char* searched_role(SearchKind k) { return k == SearchKind::subject ? "subject" : "resource"; }

}  // namespace

void search(const Snapshot& snap, const Names& names, const SearchAsk& ask, SearchOutcome& out) {
  const Engine& eng = *snap.engine;
  const Program& p = eng.program();
  // The page: its size, and where it starts.
  std::size_t limit = ask.limit == 0 ? ask.max_limit : std::min(ask.limit, ask.max_limit);
  std::string_view position;
  auto refuse = [&](unsigned status, std::string why) {
    out.status = status;
    out.error = std::move(why);
  };
  if (!ask.token.empty()) {
    std::uint64_t hash = 0, rev = 0;
    std::size_t token_limit = 0;
    if (!parse_token(ask.token, hash, token_limit, position) || !position_revision(position, rev))
      return refuse(400, "page.token is not a token this server gave out");
    if (hash != ask.request_hash)
      return refuse(400, "page.token belongs to another request: send it with the subject, action, resource and "
                         "context of the request whose response gave it");
    if (ask.limit != 0 && std::min(ask.limit, ask.max_limit) != token_limit)
      return refuse(400, "page.limit must stay " + std::to_string(token_limit) +
                             " while paging (the limit of the request that gave page.token)");
    if (rev != eng.revision())
      // Another revision may allow other entities, and its new entities other positions: going on
      // could skip or repeat results.
      return refuse(409, "page.token was given at revision " + std::to_string(rev) +
                             " of the facts, and they are now at revision " + std::to_string(eng.revision()) +
                             ": start the search again without a token");
    limit = token_limit;
  }
  // Anything unknown has no results (the certification scenario's C.4.6): an empty page.
  auto none_found = [&](std::string why) { out.error = std::move(why); };
  auto type_of = [&](std::string_view t, TypeId& id) {
    const auto it = names.types.find(t);
    if (it == names.types.end()) return false;
    id = it->second;
    return true;
  };
  RequestEntities ents(eng, names);
  bool malformed = false;
  std::string sid, rid;
  TypeId st = 0, rt = 0;
  const bool subjects = ask.kind == SearchKind::subject, resources = ask.kind == SearchKind::resource;
  if (!type_of(subjects ? ask.type : ask.subject.type, st))
    return none_found("unknown subject type " + tick(subjects ? ask.type : ask.subject.type));
  if (!type_of(resources ? ask.type : ask.resource.type, rt))
    return none_found("unknown resource type " + tick(resources ? ask.type : ask.resource.type));
  if ((!subjects && !ents.map(ask.subject, st, "subject", sid, out.error, malformed)) ||
      (!resources && !ents.map(ask.resource, rt, "resource", rid, out.error, malformed)) || !ents.commit(out.error))
    return;
  Overlay& overlay = ents.overlay();
  std::optional<EntityId> principal, resource;
  if (!subjects && !(principal = overlay.find(st, sid)))
    return none_found("unknown subject " + p.schema.entities[st].name + "::" + quote_string(sid));
  if (!resources && !(resource = overlay.find(rt, rid)))
    return none_found("unknown resource " + p.schema.entities[rt].name + "::" + quote_string(rid));

  if (ask.kind == SearchKind::action) {
    auto r = eng.search_actions(*principal, *resource, &overlay);
    if (!r.error.empty()) return none_found(r.error);
    out.stats = r.stats;
    out.skipped = r.skipped;
    std::size_t from = 0;
    if (!position.empty()) {
      // "a1.<revision>.<offset>"
      const auto dot = position.rfind('.');
      const auto res = std::from_chars(position.data() + dot + 1, position.data() + position.size(), from);
      if (!position.starts_with("a1.") || res.ec != std::errc() || res.ptr != position.data() + position.size())
        return refuse(400, "page.token is not a token of an action search");
    }
    from = std::min(from, r.actions.size());
    const std::size_t to = std::min(r.actions.size(), from + limit);
    out.actions.assign(r.actions.begin() + static_cast<std::ptrdiff_t>(from), r.actions.begin() + static_cast<std::ptrdiff_t>(to));
    if (to < r.actions.size())
      out.next_token = make_token(ask.request_hash, limit,
                                  "a1." + std::to_string(eng.revision()) + "." + std::to_string(to));
    return;
  }

  const auto ai = names.actions.find(ask.action.name);
  if (ai == names.actions.end()) return none_found("unknown action " + tick(ask.action.name));
  RequestConverter conv(p.schema, ents.resolver());
  if (!ents.action(ai->second, ask.action, conv, out.error)) return;
  const auto& act = p.schema.actions[ai->second];
  auto& parts = conv.parts();
  for (std::size_t i = 0; i < act.params.size(); ++i)
    if ((i >= parts.given.size() || !parts.given[i]) && !act.params[i].type.optional)
      return none_found("action " + tick(act.name) + " needs parameter " + tick(act.params[i].name) +
                   " (in action.properties)");
  std::vector<Value> args = std::move(parts.args);
  args.resize(act.params.size());
  if (!position.empty() && !position.starts_with("q1."))
    return refuse(400, "page.token is not a token of a " + std::string(searched_role(ask.kind)) + " search");
  const auto r = subjects ? eng.search_subjects(st, ai->second, std::move(args), *resource, limit, position, &overlay)
                          : eng.search_resources(*principal, ai->second, std::move(args), rt, limit, position, &overlay);
  if (!r.error.empty()) {
    // The revision was checked above: a cursor refused is another query's.
    if (!position.empty()) return refuse(400, "page.token: " + r.error);
    return none_found(r.error);  // a type the action does not take: no entity of it may
  }
  out.stats = r.stats;
  out.ids.reserve(r.entities.size());
  for (EntityId x : r.entities) {
    const Overlay::Entity* oe = overlay.get(x);
    out.ids.emplace_back(oe ? std::string_view(*oe->id) : eng.id_of(x));
  }
  if (!r.cursor.empty()) out.next_token = make_token(ask.request_hash, limit, r.cursor);
}

void write_search(const Snapshot& snap, const Names& names, const SearchAsk& ask, const SearchOutcome& o, bool explain,
                  std::string& out) {
  const Program& p = snap.engine->program();
  out += "{\"page\":{\"next_token\":";
  json_string(out, o.next_token);
  const std::size_t count = ask.kind == SearchKind::action ? o.actions.size() : o.ids.size();
  out += ",\"count\":" + std::to_string(count) + "},\"results\":[";
  if (ask.kind == SearchKind::action) {
    for (std::size_t i = 0; i < o.actions.size(); ++i) {
      const auto& m = o.actions[i];
      const auto& act = p.schema.actions[m.action];
      out += i ? ",{\"name\":" : "{\"name\":";
      json_string(out, names.action_names[m.action]);
      if (m.value) {
        // The enum value allowed, as the property an evaluation would send.
        const auto& param = act.params[0];
        out += ",\"properties\":{";
        json_string(out, param.name);
        out.push_back(':');
        json_string(out, p.schema.enums[param.type.enum_id].values[*m.value]);
        out.push_back('}');
      }
      out.push_back('}');
    }
  } else {
    for (std::size_t i = 0; i < o.ids.size(); ++i) {
      out += i ? ",{\"type\":" : "{\"type\":";
      json_string(out, ask.type);  // the type as the PEP named it
      out += ",\"id\":";
      json_string(out, o.ids[i]);
      out.push_back('}');
    }
  }
  out.push_back(']');
  const bool ctx = !o.error.empty() || !o.skipped.empty() || explain;
  if (ctx) {
    out += ",\"context\":{";
    bool first = true;
    auto key = [&](const char* k) {
      if (!first) out.push_back(',');
      first = false;
      out += "\"";
      out += k;
      out += "\":";
    };
    if (!o.error.empty()) {
      key("error");
      json_string(out, o.error);
    }
    if (!o.skipped.empty()) {
      // Actions whose parameters cannot be enumerated (not a single enum): not searched.
      key("skipped");
      out.push_back('[');
      for (std::size_t i = 0; i < o.skipped.size(); ++i) {
        if (i) out.push_back(',');
        json_string(out, names.action_names[o.skipped[i]]);
      }
      out.push_back(']');
    }
    if (explain) {
      key("search");
      out += "{\"candidates\":" + std::to_string(o.stats.candidates) + ",\"decides\":" +
             std::to_string(o.stats.decides) + ",\"scan\":" + (o.stats.scan ? "true" : "false") + ",\"rules\":[";
      for (std::size_t i = 0; i < o.stats.rules.size(); ++i) {
        const auto& r = o.stats.rules[i];
        if (i) out.push_back(',');
        out += "{\"rule\":" + snap.rule_name_json[r.rule] + ",\"how\":";
        json_string(out, r.how);
        out += ",\"scan\":" + std::string(r.scan ? "true" : "false") + ",\"candidates\":" + std::to_string(r.candidates) +
               "}";
      }
      out += "]}";
    }
    out.push_back('}');
  }
  out.push_back('}');
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
