// `treaty query subjects|resources|actions`: reverse queries (Engine::search_*): who may do
// this, what may they do it to, which actions they have. The flags are `eval`'s, with `--type`
// in place of the side searched.
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "treaty/check.hpp"
#include "treaty/convert.hpp"
#include "treaty/log.hpp"
#include "treaty/parse.hpp"

namespace treaty::cli {

namespace {

struct QueryOptions {
  std::string question;
  std::vector<std::string> paths, data;
  std::string bundle, type, principal, action, resource, format = "text", cursor;
  std::size_t limit = 0;
  bool explain = false;
};

/// The pieces of the query the flags give: the known side(s), resolved; the searched type; the
/// action and its arguments.
struct Query {
  TypeId type = kNone32;
  std::optional<EntityId> principal, resource;
  std::uint32_t action = 0;
  std::vector<Value> args;
};

/// Reads an entity flag (`Person::"alice"`) into (type name, id) with the language's parser.
bool entity_flag(Loaded& l, const char* flag, const std::string& text, std::string& type, std::string& id) {
  Diagnostics d;
  syntax::Expr e;
  const auto fid = l.sm.add(flag, text);
  if (!parse_expression(l.sm, fid, e, d) || e.kind != syntax::Expr::Kind::entity_ref) {
    std::cerr << render_human(l.sm, d.all());
    std::cerr << "treaty: error: " << flag << " is an entity, as in Person::\"alice\"\n";
    return false;
  }
  type = e.name;
  id = e.str();
  return true;
}

/// Builds the query from the flags through the request converter (as `eval` does): false with
/// the problem on stderr.
bool query_from_flags(Loaded& l, const QueryOptions& o, Overlay& overlay, Query& q) {
  const auto& p = l.engine->program();
  OverlayResolver res(overlay);
  RequestConverter conv(p.schema, res);
  std::string error, ptype, pid, rtype, rid;
  const bool subjects = o.question == "subjects", resources = o.question == "resources";
  if (!subjects && !entity_flag(l, "--principal", o.principal, ptype, pid)) return false;
  if (!resources && !entity_flag(l, "--resource", o.resource, rtype, rid)) return false;
  if (subjects) ptype = o.type;
  if (resources) rtype = o.type;
  bool ok = conv.principal(ptype, pid, error) && conv.resource(rtype, rid, error);
  if (ok && o.question != "actions") {
    std::string aname, why;
    std::vector<std::pair<std::string, std::string>> arg_texts;
    if (!split_action(o.action, aname, arg_texts, why)) {
      std::cerr << "treaty: error: " << why << "\n";
      return false;
    }
    ok = conv.action(aname, error);
    for (std::size_t i = 0; ok && i < arg_texts.size(); ++i) {
      Diagnostics d;
      syntax::Expr v;
      const auto fid = l.sm.add("--action " + arg_texts[i].first, arg_texts[i].second);
      if (!parse_expression(l.sm, fid, v, d)) {
        std::cerr << render_human(l.sm, d.all());
        return false;
      }
      Span where;
      if (conv.arg(arg_texts[i].first, to_constant(v), error, where) != RequestConverter::ArgProblem::none) {
        error = "argument `" + arg_texts[i].first + "`: " + error;
        ok = false;
      }
    }
    if (ok) {
      const auto& parts = conv.parts();
      const auto& act = p.schema.actions[parts.action];
      for (std::size_t i = 0; ok && i < act.params.size(); ++i)
        if ((i >= parts.given.size() || !parts.given[i]) && !act.params[i].type.optional) {
          error = "action `" + act.name + "` needs parameter `" + act.params[i].name + "`";
          ok = false;
        }
      q.action = parts.action;
      q.args = parts.args;
      q.args.resize(act.params.size());
    }
  }
  auto resolve = [&](TypeId t, const std::string& id, const char* role, std::optional<EntityId>& out) {
    out = overlay.find(t, id);
    if (!out) error = std::string("unknown ") + role + " `" + p.schema.entities[t].name + "::" + quote_string(id) + "`";
    return out.has_value();
  };
  const auto& parts = conv.parts();
  if (ok && !subjects) ok = resolve(parts.principal_type, pid, "principal", q.principal);
  if (ok && !resources) ok = resolve(parts.resource_type, rid, "resource", q.resource);
  q.type = subjects ? parts.principal_type : parts.resource_type;
  if (ok) return true;
  std::cerr << "treaty: error: bad query: " << error << "\n";
  return false;
}

nlohmann::json entity_json(const Engine& e, EntityId x) {
  return {{"type", e.program().schema.entities[e.type_of(x)].name}, {"id", std::string(e.id_of(x))}};
}

nlohmann::json stats_json(const Engine& e, const SearchStats& s) {
  nlohmann::json rules = nlohmann::json::array();
  for (const auto& r : s.rules)
    rules.push_back({{"rule", e.program().rules[r.rule].name}, {"scan", r.scan}, {"how", r.how}, {"candidates", r.candidates}});
  return {{"candidates", s.candidates}, {"decides", s.decides}, {"scan", s.scan}, {"rules", rules}};
}

std::string stats_text(const Engine& e, const SearchStats& s) {
  std::string out = "search: " + std::to_string(s.candidates) + " candidates, " + std::to_string(s.decides) +
                    " decisions, " + (s.scan ? "scanned the type" : "no scan") + "\n";
  for (const auto& r : s.rules)
    out += "  permit `" + e.program().rules[r.rule].name + "`: " + r.how +
           (r.scan ? "" : " (" + std::to_string(r.candidates) + " candidates)") + "\n";
  return out;
}

/// The names of the rules that allowed `r` (decided again with an explanation).
std::vector<std::string> deciding_rules(const Engine& e, const Request& r) {
  std::vector<std::string> out;
  for (auto ri : e.decide(r, true).determining) out.push_back(e.program().rules[ri].name);
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

int run_query(const QueryOptions& o) {
  if (o.bundle.empty() == o.paths.empty()) {
    std::cerr << "treaty: error: give either policy PATHs or --bundle FILE\n";
    return kUsage;
  }
  const bool subjects = o.question == "subjects", resources = o.question == "resources";
  const bool actions = o.question == "actions";
  auto missing = [&](bool cond, const char* what) {
    if (cond) std::cerr << "treaty: error: `query " << o.question << "` needs " << what << "\n";
    return cond;
  };
  if (missing(subjects && (o.type.empty() || o.action.empty() || o.resource.empty()),
              "--type (of the principals), --action and --resource") ||
      missing(resources && (o.type.empty() || o.principal.empty() || o.action.empty()),
              "--principal, --action and --type (of the resources)") ||
      missing(actions && (o.principal.empty() || o.resource.empty()), "--principal and --resource"))
    return kUsage;
  if ((subjects && !o.principal.empty()) || (resources && !o.resource.empty()) ||
      (actions && (!o.type.empty() || !o.action.empty()))) {
    std::cerr << "treaty: error: `query " << o.question << "` searches the "
              << (subjects ? "principal: leave out --principal" : resources ? "resource: leave out --resource"
                                                                           : "actions: leave out --type and --action")
              << "\n";
    return kUsage;
  }
  if (actions && (o.limit != 0 || !o.cursor.empty())) {
    std::cerr << "treaty: error: `query actions` answers in one page: leave out --limit and --cursor\n";
    return kUsage;
  }
  Loaded l;
  LoadOptions lo;
  lo.paths = o.paths;
  lo.data = o.data;
  lo.bundle = o.bundle;
  if (!load_or_report(l, lo)) return exit_for(l.diags);
  StageTimer t("query");
  const Engine& e = *l.engine;
  const auto& p = e.program();
  Overlay overlay(e);
  Query q;
  if (!query_from_flags(l, o, overlay, q)) return kUsage;
  std::string out;
  nlohmann::json all = nlohmann::json::array();
  // One result: a line now for jsonl and text, and kept for the json document.
  auto emit = [&](nlohmann::json j, const std::string& text) {
    if (o.format == "jsonl") out += j.dump() + "\n";
    else if (o.format == "text") out += text + "\n";
    all.push_back(std::move(j));
  };
  if (actions) {
    const auto r = e.search_actions(*q.principal, *q.resource, &overlay);
    if (!r.error.empty()) {
      std::cerr << "treaty: error: " << r.error << "\n";
      return kUsage;
    }
    for (const auto& m : r.actions) {
      const auto& act = p.schema.actions[m.action];
      Request req{*q.principal, m.action, std::vector<Value>(act.params.size(), Value::none()), *q.resource, &overlay};
      nlohmann::json j{{"action", act.name}};
      std::string text = act.name;
      if (m.value) {
        const auto& param = act.params[0];
        const std::string& v = p.schema.enums[param.type.enum_id].values[*m.value];
        req.args[0] = Value::enumv(param.type.enum_id, *m.value);
        j["args"] = {{param.name, v}};
        text += "(" + param.name + ": " + v + ")";
      }
      if (o.explain) {
        const auto rules = deciding_rules(e, req);
        j["rules"] = rules;
        text += "  (" + join(rules) + ")";
      }
      emit(std::move(j), text);
    }
    if (o.format == "json") {
      nlohmann::json doc{{"actions", all}};
      if (o.explain) doc["stats"] = {{"decides", r.stats.decides}};
      out = doc.dump() + "\n";
    } else if (o.explain && o.format == "text") {
      out += "search: " + std::to_string(r.stats.decides) + " decisions\n";
    }
    std::cout << out << std::flush;
    t.set_result(std::to_string(r.actions.size()) + " actions");
    return kOk;
  }
  const auto r = subjects ? e.search_subjects(q.type, q.action, q.args, *q.resource, o.limit, o.cursor, &overlay)
                          : e.search_resources(*q.principal, q.action, q.args, q.type, o.limit, o.cursor, &overlay);
  if (!r.error.empty()) {
    std::cerr << "treaty: error: " << r.error << "\n";
    return kUsage;
  }
  Request req{q.principal.value_or(0), q.action, q.args, q.resource.value_or(0), &overlay};
  for (EntityId x : r.entities) {
    nlohmann::json j = entity_json(e, x);
    std::string text = e.entity_name(x, &overlay);
    if (o.explain) {
      (subjects ? req.principal : req.resource) = x;
      const auto rules = deciding_rules(e, req);
      j["rules"] = rules;
      text += "  (" + join(rules) + ")";
    }
    emit(std::move(j), text);
  }
  if (o.format == "json") {
    nlohmann::json doc{{subjects ? "subjects" : "resources", all}};
    if (!r.cursor.empty()) doc["cursor"] = r.cursor;
    if (o.explain) doc["stats"] = stats_json(e, r.stats);
    out = doc.dump() + "\n";
  } else if (o.format == "jsonl") {
    // The last line says how the page ends, when there is more to say than the results.
    nlohmann::json tail;
    if (!r.cursor.empty()) tail["cursor"] = r.cursor;
    if (o.explain) tail["stats"] = stats_json(e, r.stats);
    if (!tail.is_null()) out += tail.dump() + "\n";
  } else {
    if (!r.cursor.empty()) out += "more: --cursor " + r.cursor + "\n";
    if (o.explain) out += stats_text(e, r.stats);
  }
  std::cout << out << std::flush;
  t.set_result(std::to_string(r.entities.size()) + " " + o.question);
  return kOk;
}

}  // namespace

std::function<int()> setup_query(CLI::App& app) {
  auto o = std::make_shared<QueryOptions>();
  app.add_option("question", o->question, "subjects (who may), resources (on what), or actions (which)")
      ->required()
      ->check(CLI::IsMember({"subjects", "resources", "actions"}));
  app.add_option("paths", o->paths, "Files or directories (or --bundle)");
  app.add_option("--bundle", o->bundle, "A bundle written by `treaty compile`, instead of PATHs");
  app.add_option("--data", o->data, "JSON facts file (repeatable)");
  app.add_option("--type", o->type, "The type searched: of the principals (subjects) or the resources (resources)");
  app.add_option("--principal", o->principal, "The principal, as `Type::\"id\"` (resources, actions)");
  app.add_option("--action", o->action, "The action, as `name` or `name(param: value)` (subjects, resources)");
  app.add_option("--resource", o->resource, "The resource, as `Type::\"id\"` (subjects, actions)");
  app.add_option("--limit", o->limit, "At most N results; the output ends with a cursor for the next page");
  app.add_option("--cursor", o->cursor, "Continue after the page that gave this cursor");
  app.add_flag("--explain", o->explain,
               "Name the rules that allow each result, and say how the candidates were found (index or scan)");
  add_format_option(app, o->format, {"text", "json", "jsonl"});
  return [o] { return run_query(*o); };
}

}  // namespace treaty::cli
