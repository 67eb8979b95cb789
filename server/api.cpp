// The endpoints: AuthZEN 1.0, the native API, health, status, metrics and admin.
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "authzen.hpp"
#include "treaty/data/delta.hpp"
#include "treaty/convert.hpp"
#include "treaty/graph.hpp"

namespace treaty::server {

using namespace internal;
namespace {

std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

Response error(unsigned status, std::string_view message) {
  Response r;
  r.status = status;
  r.body = "{\"error\":";
  json_string(r.body, message);
  r.body += "}";
  return r;
}

/// A flag of the query string: `?NAME`, `?NAME=true` or `=1` set it, `=false` or `=0` (or its
/// absence) do not; any other value is the client's error (nullopt), never read as either.
std::optional<bool> query_flag(std::string_view target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return false;
  std::string_view rest = target.substr(q + 1);
  bool set = false;
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const auto part = rest.substr(0, amp);
    if (part == name) {
      set = true;
    } else if (part.starts_with(name) && part.size() > name.size() && part[name.size()] == '=') {
      const auto v = part.substr(name.size() + 1);
      if (v == "true" || v == "1") set = true;
      else if (v == "false" || v == "0") set = false;
      else return std::nullopt;
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return set;
}

bool is_json(const HttpRequest& req) {
  const auto ct = sv(req[http::field::content_type]);
  const auto semi = ct.find(';');
  auto base = std::string_view(ct.data(), semi == std::string_view::npos ? ct.size() : semi);
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  return boost::beast::iequals(boost::beast::string_view(base.data(), base.size()), "application/json");
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  const auto secs = std::chrono::system_clock::to_time_t(t);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

bool ct_equal(std::string_view a, std::string_view b) {
  const std::size_t n = std::max(a.size(), b.size());
  unsigned char d = a.size() != b.size();
  for (std::size_t i = 0; i < n; ++i)
    d |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  return d == 0;
}

/// Counts a decision by action and result.
void count(const Snapshot& snap, const Request* r, std::uint32_t action, const Outcome& o) {
  (void)r;
  if (action >= snap.action_counters.size()) return;
  snap.action_counters[action][o.error.empty() ? (o.allow ? 0 : 1) : 2].fetch_add(1, std::memory_order_relaxed);
}

/// The counts of a batch, added to the shared counters once at its end: a decision then touches
/// no cache line another thread writes.
struct Tally {
  const Snapshot& snap;
  std::vector<std::array<std::uint64_t, 3>> n;
  explicit Tally(const Snapshot& s) : snap(s), n(s.action_counters.size()) {}
  Tally(const Tally&) = delete;
  Tally& operator=(const Tally&) = delete;
  void add(std::uint32_t action, const Outcome& o) {
    if (action < n.size()) ++n[action][o.error.empty() ? (o.allow ? 0 : 1) : 2];
  }
  ~Tally() {
    for (std::size_t a = 0; a < n.size(); ++a)
      for (std::size_t k = 0; k < 3; ++k)
        if (n[a][k]) snap.action_counters[a][k].fetch_add(n[a][k], std::memory_order_relaxed);
  }
};

}  // namespace

Worker& Server::Impl::worker() {
  thread_local Worker w;
  const auto g = generation.load(std::memory_order_acquire);
  if (g != w.generation || w.server != server_id) {
    std::lock_guard lk(snap_m);
    const bool same_policy = current && w.snap && w.reader && w.server == server_id &&
                             w.policy_generation == current->policy_generation;
    w.server = server_id;
    w.snap = current;
    w.names = current_names;
    w.generation = current ? current->generation : 0;
    w.policy_generation = current ? current->policy_generation : ~std::uint64_t{0};
    if (same_policy) {
      // A write: the same program at another revision.
      w.reader->set_engine(*current->engine);
      w.writer->set_engine(*current->engine);
      return w;
    }
    w.reader.reset();
    w.writer.reset();
    if (current) {
      w.reader = std::make_unique<RequestReader>(*current->engine);
      w.writer = std::make_unique<DecisionWriter>(*current->engine, current->sm);
    }
  }
  return w;
}

bool Server::Impl::authorize(const HttpRequest& req, bool admin, Response& out, bool write) const {
  if (opts.tokens.empty()) {
    if (!admin && !write) return true;
    out = error(403, std::string(write ? "writes" : "admin endpoints") +
                         " need a token: start the server with --auth-tokens FILE");
    return false;
  }
  const auto h = req[http::field::authorization];
  std::string_view given;
  if (h.size() > 7 && boost::beast::iequals(h.substr(0, 7), "Bearer ")) given = std::string_view(h.data() + 7, h.size() - 7);
  const Token* match = nullptr;
  for (const auto& t : opts.tokens)  // every token is compared: the time does not tell which matched
    if (ct_equal(given, t.secret) && !given.empty()) match = &t;
  if (!match) {
    out = error(401, "a valid bearer token is required");
    out.headers.emplace_back("WWW-Authenticate", "Bearer");
    return false;
  }
  if (write ? !(match->write || match->admin) : admin ? !match->admin : !match->decide) {
    out = error(403, write ? "the token lacks the `write` scope"
                     : admin ? "the token lacks the `admin` scope" : "the token lacks the `decide` scope");
    return false;
  }
  return true;
}

namespace {

/// What deciding needs: the server, this thread's worker and the request's options.
struct Decider {
  Server::Impl& srv;
  Worker& w;
  bool explain;
  std::string_view request_id;
  std::chrono::steady_clock::time_point t0;  ///< the decision log's duration is counted from it
};

/// A request read whole, and its endpoint's context.
struct Ctx : Decider {
  const HttpRequest& req;
  Ctx(Server::Impl& s, const HttpRequest& r, Worker& worker, bool explain_asked, std::string_view id,
      std::chrono::steady_clock::time_point start)
      : Decider{s, worker, explain_asked, id, start}, req(r) {}
};

/// One decision-log line (only built when the log is on).
void log_decision(Decider& c, std::string_view request_json, const Outcome& o) {
  if (!c.srv.log.enabled()) return;
  const auto& snap = *c.w.snap;
  std::string line = "{\"decision_id\":\"";
  line += std::to_string(c.srv.decision_seq.fetch_add(1, std::memory_order_relaxed));
  line += "\",\"time\":\"" + iso_time(std::chrono::system_clock::now()) + "\",\"request_id\":";
  json_string(line, c.request_id);
  line += ",\"request\":";
  line += request_json;  // the request body as received: never a header, so never a token
  line += ",\"decision\":";
  line += o.allow ? "true" : "false";
  line += ",\"determining\":[";
  for (std::size_t i = 0; i < o.d.determining.size(); ++i) {
    if (i) line.push_back(',');
    line += snap.rule_name_json[o.d.determining[i]];
  }
  line += "]";
  if (!o.error.empty()) {
    line += ",\"error\":";
    json_string(line, o.error);
  }
  line += ",\"policy\":\"" + snap.checksum + "\",\"duration_ns\":";
  line += std::to_string(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - c.t0).count());
  line += "}";
  c.srv.log.push(std::move(line));
}

/// Parses the body as one JSON object, or answers 400.
bool parse_body(Ctx& c, simdjson::dom::object& root, Response& out) {
  if (!is_json(c.req)) {
    out = error(400, "the Content-Type must be application/json");
    return false;
  }
  const auto& body = c.req.body();
  if (body.empty()) {
    out = error(400, "the request body is empty");
    return false;
  }
  simdjson::dom::element doc;
  if (auto e = c.w.parser.parse(body.data(), body.size()).get(doc)) {
    // simdjson says what, not where: the strict reader finds where (on the error path only).
    if (const auto bad = json_error(body))
      out = error(400, "the body is not valid JSON: at byte " + std::to_string(bad->offset) + ": " + bad->message);
    else
      out = error(400, std::string("the body is not valid JSON: ") + simdjson::error_message(e));
    return false;
  }
  if (doc.get_object().get(root)) {
    out = error(400, "the body must be a JSON object");
    return false;
  }
  if (std::string dup; duplicate_key(doc, &dup)) {
    out = error(400, dup);
    return false;
  }
  return true;
}

/// Reads subject, action and resource of an evaluation (`what` names the place for messages).
const char* read_triple(simdjson::dom::object o, const simdjson::dom::object* defaults, EntityRef& s, ActionRef& a,
                        EntityRef& r, std::string& why) {
  auto pick = [&](const char* key, simdjson::dom::element& e) {
    if (!o[key].get(e)) return true;
    return defaults && !(*defaults)[key].get(e);
  };
  simdjson::dom::element e;
  if (!pick("subject", e)) return "missing \"subject\"";
  if (auto m = read_entity(e, s)) return why = std::string("subject ") + m, why.c_str();
  if (!pick("action", e)) return "missing \"action\"";
  if (auto m = read_action(e, a)) return why = std::string("action ") + m, why.c_str();
  if (!pick("resource", e)) return "missing \"resource\"";
  if (auto m = read_entity(e, r)) return why = std::string("resource ") + m, why.c_str();
  return nullptr;
}

/// Evaluates one AuthZEN request into `out`; false (writing nothing) when `single` and the
/// payload is malformed, which a single evaluation answers with 400 (`why`).
bool evaluate_one(Ctx& c, const EntityRef& s, const ActionRef& a, const EntityRef& r, std::string_view raw,
                  std::string& out, bool* allowed = nullptr, std::string* why = nullptr, Tally* tally = nullptr) {
  Outcome o;
  try {
    evaluate(*c.w.snap, *c.w.names, s, a, r, c.explain, o);
  } catch (const std::exception& e) {  // fail closed
    o = {};
    o.error = std::string("internal error: ") + e.what();
  }
  if (o.malformed && why) {
    *why = o.error;
    return false;
  }
  if (!o.error.empty()) o.allow = false;
  const auto ai = c.w.names->actions.find(a.name);
  const std::uint32_t action = ai == c.w.names->actions.end() ? ~0u : ai->second;
  if (tally) tally->add(action, o);
  else count(*c.w.snap, nullptr, action, o);
  write_decision(*c.w.snap, o, c.explain, out);
  log_decision(c, raw, o);
  if (allowed) *allowed = o.allow;
  return true;
}

/// AuthZEN's request `context` may ask for at least a revision of the live facts
/// (`"treaty_min_revision": R`): wait for it (bounded), then decide on it. False with the answer.
bool min_revision(Ctx& c, simdjson::dom::object& root, Response& out) {
  simdjson::dom::element ctx, rev;
  if (root["context"].get(ctx) || !ctx.is_object() || ctx["treaty_min_revision"].get(rev)) return true;
  std::uint64_t want = 0;
  if (rev.get_uint64().get(want)) {
    out = error(400, "context.treaty_min_revision must be a revision number");
    return false;
  }
  if (want <= c.w.snap->engine->revision()) return true;
  if (!c.srv.wait_for_revision_number(want, out)) return false;
  c.srv.worker();  // this thread's worker, now on the revision asked for
  return true;
}

void authzen_evaluation(Ctx& c, Response& out) {
  simdjson::dom::object root;
  if (!parse_body(c, root, out)) return;
  if (!min_revision(c, root, out)) return;
  EntityRef s, r;
  ActionRef a;
  std::string why;
  if (auto m = read_triple(root, nullptr, s, a, r, why)) {
    out = error(400, m);
    return;
  }
  out.body.reserve(128);
  if (!evaluate_one(c, s, a, r, c.req.body(), out.body, nullptr, &why)) out = error(400, why);
}

void authzen_evaluations(Ctx& c, Response& out) {
  simdjson::dom::object root;
  if (!parse_body(c, root, out)) return;
  if (!min_revision(c, root, out)) return;
  simdjson::dom::element ev;
  simdjson::dom::array items;
  const bool has_items = !root["evaluations"].get(ev);
  if (has_items && ev.get_array().get(items)) {
    out = error(400, "\"evaluations\" must be an array");
    return;
  }
  if (!has_items || items.size() == 0) return authzen_evaluation(c, out);
  if (items.size() > c.srv.opts.max_batch) {
    out = error(413, "a batch may hold at most " + std::to_string(c.srv.opts.max_batch) + " evaluations");
    return;
  }
  enum { all, deny_first, permit_first } sem = all;
  simdjson::dom::element opt, se;
  if (!root["options"].get(opt) && opt.is_object() && !opt["evaluations_semantic"].get(se)) {
    std::string_view v;
    if (se.get_string().get(v)) {
      out = error(400, "options.evaluations_semantic must be a string");
      return;
    }
    if (v == "execute_all") sem = all;
    else if (v == "deny_on_first_deny") sem = deny_first;
    else if (v == "permit_on_first_permit") sem = permit_first;
    else {
      out = error(400, "options.evaluations_semantic must be execute_all, deny_on_first_deny or permit_on_first_permit");
      return;
    }
  }
  out.body.reserve(items.size() * 64 + 32);
  out.body = "{\"evaluations\":[";
  std::size_t i = 0;
  std::string why, raw;
  Tally tally(*c.w.snap);
  for (auto item : items) {
    if (i++) out.body.push_back(',');
    simdjson::dom::object io;
    EntityRef s, r;
    ActionRef a;
    const char* m = item.get_object().get(io) ? "an evaluation must be an object" : read_triple(io, &root, s, a, r, why);
    bool allowed = false;
    if (m) {
      out.body += "{\"decision\":false,\"context\":{\"error\":";
      json_string(out.body, m);
      out.body += "}}";
      const auto ai = c.w.names->actions.find(a.name);
      Outcome o;
      o.error = m;
      tally.add(ai == c.w.names->actions.end() ? ~0u : ai->second, o);
    } else {
      if (c.srv.log.enabled()) raw = simdjson::minify(item);
      evaluate_one(c, s, a, r, raw, out.body, &allowed, nullptr, &tally);
    }
    if ((sem == deny_first && !allowed) || (sem == permit_first && allowed)) {
      if (sem == deny_first && out.body.ends_with("}}")) {
        // Mark the short circuit in that item's context, as the specification's example does.
        out.body.resize(out.body.size() - 2);
        out.body += ",\"reason\":\"deny_on_first_deny\"}}";
      }
      break;
    }
  }
  out.body += "]}";
}

/// The Search APIs (`/access/v1/search/{subject,resource,action}`): the request's shape is
/// checked here (400 for what AuthZEN calls a bad request), the search itself is
/// authzen.cpp's search(), on this worker's snapshot, so on one revision of the live facts.
void authzen_search(Ctx& c, SearchKind kind, Response& out) {
  simdjson::dom::object root;
  if (!parse_body(c, root, out)) return;
  if (!min_revision(c, root, out)) return;
  SearchAsk ask;
  ask.kind = kind;
  ask.max_limit = std::max<std::size_t>(1, c.srv.opts.max_search_results);
  const char* searched = kind == SearchKind::subject ? "subject" : kind == SearchKind::resource ? "resource" : nullptr;
  std::string why;
  // The searched entity needs its `type` only (an `id` is ignored, as the specification asks);
  // every input entity needs its `id` too.
  for (const char* key : {"subject", "resource"}) {
    simdjson::dom::element e;
    if (root[key].get(e)) {
      out = error(400, std::string("missing \"") + key + "\"");
      return;
    }
    EntityRef& ref = std::string_view(key) == "subject" ? ask.subject : ask.resource;
    if (searched && std::string_view(key) == searched) {
      simdjson::dom::object o;
      simdjson::dom::element t;
      if (e.get_object().get(o) || o["type"].get(t) || !t.is_string()) {
        out = error(400, std::string(key) + " needs a string \"type\": the type searched");
        return;
      }
      ask.type = t.get_string().value_unsafe();
      continue;
    }
    if (auto m = read_entity(e, ref)) {
      out = error(400, std::string(key) + " " + m);
      return;
    }
    if (!ref.has_id) {
      out = error(400, std::string(key) + " needs an \"id\": it is an input of the search");
      return;
    }
  }
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a over what a token's request must repeat
  auto mix = [&](std::string_view text) {
    for (const char ch : text) hash = (hash ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
    hash = (hash ^ 0xff) * 1099511628211ull;
  };
  mix(searched ? searched : "action");
  if (searched) {
    simdjson::dom::element e;
    if (root["action"].get(e)) {
      out = error(400, "missing \"action\"");
      return;
    }
    if (auto m = read_action(e, ask.action)) {
      out = error(400, std::string("action ") + m);
      return;
    }
  }
  for (const char* key : {"subject", "action", "resource", "context"}) {
    simdjson::dom::element e;
    if (!root[key].get(e) && (searched || std::string_view(key) != "action")) mix(simdjson::minify(e));
    else mix("");
  }
  ask.request_hash = hash;
  simdjson::dom::element page;
  if (!root["page"].get(page)) {
    simdjson::dom::object po;
    if (page.get_object().get(po)) {
      out = error(400, "\"page\" must be an object");
      return;
    }
    simdjson::dom::element v;
    if (!po["token"].get(v)) {
      if (v.get_string().get(ask.token)) {
        out = error(400, "page.token must be a string");
        return;
      }
    }
    if (!po["limit"].get(v)) {
      std::uint64_t n = 0;
      if (v.get_uint64().get(n)) {
        out = error(400, "page.limit must be a non-negative integer");
        return;
      }
      ask.limit = static_cast<std::size_t>(std::min<std::uint64_t>(n, ask.max_limit));
    }
  }
  SearchOutcome o;
  search(*c.w.snap, *c.w.names, ask, o);
  if (o.status != 200) {
    out = error(o.status, o.error);
    return;
  }
  out.body.reserve(64 + 48 * (o.ids.size() + o.actions.size()));
  write_search(*c.w.snap, *c.w.names, ask, o, c.explain, out.body);
}

void authzen_metadata(Ctx& c, Response& out) {
  std::string base = c.srv.opts.base_url;
  if (base.empty()) {
    const auto proto = sv(c.req["X-Forwarded-Proto"]);
    const auto host = sv(c.req["X-Forwarded-Host"].empty() ? c.req[http::field::host] : c.req["X-Forwarded-Host"]);
    base = std::string(proto.empty() ? "http" : std::string_view(proto)) + "://" +
           std::string(host.empty() ? c.srv.opts.host + ":" + std::to_string(c.srv.bound_port) : std::string(host));
  }
  while (base.ends_with('/')) base.pop_back();
  nlohmann::json j{{"policy_decision_point", base},
                   {"access_evaluation_endpoint", base + "/access/v1/evaluation"},
                   {"access_evaluations_endpoint", base + "/access/v1/evaluations"},
                   {"search_subject_endpoint", base + "/access/v1/search/subject"},
                   {"search_resource_endpoint", base + "/access/v1/search/resource"},
                   {"search_action_endpoint", base + "/access/v1/search/action"}};
  out.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // the Host header's bytes
}

// ---- native API ------------------------------------------------------------------------------

/// A native request (LANGUAGE.md section 10) to an outcome; `line` is the JSON text. False when
/// the text is not JSON at all (the decision log must not copy it in as JSON).
bool native_one(Decider& c, std::string_view line, Outcome& o, std::uint32_t& action) {
  action = ~0u;
  const Engine& eng = *c.w.snap->engine;
  const Program& p = eng.program();
  // The hot path (shared with `treaty eval --requests`): a plain request, ids resolved in place.
  if (c.w.reader->read(line, c.w.request)) {
    action = c.w.request.action;
    o.d = eng.decide(c.w.request, c.explain);
    o.allow = o.d.allow && o.d.errors.empty();
    return true;
  }
  simdjson::dom::element doc;
  simdjson::dom::object root;
  if (c.w.parser.parse(line.data(), line.size()).get(doc) || doc.get_object().get(root)) {
    if (auto e = json_error(line)) {
      o.error = "not a JSON object: at byte " + std::to_string(e->offset) + ": " + e->message;
      return false;
    }
    o.error = "a request is a JSON object with \"principal\", \"action\" and \"resource\"";
    return true;
  }
  // Fast path: principal, action (without args) and resource only, no inline entities.
  // Arguments of enum, Bool and Int parameters are read here too; anything else (strings, sets,
  // entity arguments, inline entities) goes through the engine's reader below.
  bool fast = root.size() == 3;
  simdjson::dom::element pe, ae, re, args;
  simdjson::dom::object pobj, aobj, robj, argobj;
  std::string_view pt, pid, an, rt, rid;
  fast = fast && !root["principal"].get(pe) && !root["action"].get(ae) && !root["resource"].get(re) &&
         !pe.get_object().get(pobj) && !ae.get_object().get(aobj) && !re.get_object().get(robj) &&
         pobj.size() == 2 && robj.size() == 2 && !pobj["type"].get(pt) && !pobj["id"].get(pid) &&
         !robj["type"].get(rt) && !robj["id"].get(rid) && !aobj["name"].get(an);
  const bool has_args = fast && !aobj["args"].get(args);
  fast = fast && aobj.size() == (has_args ? 2u : 1u) && (!has_args || !args.get_object().get(argobj));
  if (fast) {
    const auto& names = *c.w.names;
    const auto ti = names.types.find(pt), tr = names.types.find(rt);
    const auto ai = names.actions.find(an);
    std::vector<Value> vals;
    std::vector<bool> given;
    if (ai != names.actions.end() && has_args) {
      const auto& act = p.schema.actions[ai->second];
      vals.resize(act.params.size());
      given.resize(act.params.size(), false);
      for (auto [k, v] : argobj) {
        std::size_t i = 0;
        while (i < act.params.size() && act.params[i].name != k) ++i;
        // A parameter given twice is left to the strict reader below, which refuses it.
        if (i == act.params.size() || given[i] || !simple_value(p.schema, act.params[i].type, v, vals[i])) {
          fast = false;
          break;
        }
        given[i] = true;
      }
    }
    if (fast && ti != names.types.end() && tr != names.types.end() && ai != names.actions.end()) {
      action = ai->second;
      Request r;
      if (eng.make_request(ti->second, pid, ai->second, std::move(vals), std::move(given), tr->second, rid, nullptr, r,
                           o.error)) {
        o.d = eng.decide(r, c.explain);
        o.allow = o.d.allow && o.d.errors.empty();
      } else {
        action = ~0u;  // not a request: the client's error
      }
      return true;
    }
  }
  // Everything else through the engine's own reader, read strictly as every JSON Treaty reads: a
  // key given twice is an error (nlohmann alone would keep the last, simdjson's lookups the first).
  nlohmann::json j;
  if (const auto bad = parse_json(line, j)) {
    o.error = "not a JSON object: at byte " + std::to_string(bad->offset) + ": " + bad->message;
    return false;
  }
  Overlay overlay(eng);
  Request r;
  if (!eng.request_from_json(j, overlay, r, o.error)) return true;
  action = r.action;
  o.d = eng.decide(r, c.explain);
  o.allow = o.d.allow && o.d.errors.empty();
  return true;
}

/// A native decision as LANGUAGE.md section 10 writes it (Engine::to_json's text, through the
/// shared DecisionWriter); "misses" is filled only with ?explain=true.
void write_native(Decider& c, const Outcome& o, std::string& out) {
  if (o.error.empty()) return c.w.writer->write(o.d, out);
  out += R"({"decision":"deny","determining":[],"errors":[)";
  append_json_string(out, o.error);
  out += "],\"misses\":[]}";
}

/// `"explain": "graph"` in a native request (and `"format": "dot"` or `"mermaid"`): the decision,
/// decided with its explanation, and `"graph": {"format", "text"}`, the picture of the facts it
/// read (treaty/graph.hpp). False when the body asks for no picture (the usual path answers it).
bool native_decide_graph(Ctx& c, Response& out) {
  const auto& body = c.req.body();
  if (body.find("\"explain\"") == std::string::npos) return false;
  nlohmann::json j;
  if (parse_json(body, j)) return false;  // not JSON: the usual path says why
  if (!j.is_object() || !j.contains("explain")) return false;
  if (!j["explain"].is_string() || j["explain"].get<std::string>() != "graph") {
    out = error(400, "\"explain\" in a request is \"graph\" (a picture of the decision); for its misses use ?explain=true");
    return true;
  }
  std::string format = "dot";
  if (j.contains("format")) {
    if (j["format"].is_string()) format = j["format"].get<std::string>();
    if (!j["format"].is_string() || (format != "dot" && format != "mermaid")) {
      out = error(400, "\"format\" of a picture is \"dot\" or \"mermaid\"");
      return true;
    }
  }
  j.erase("explain");
  j.erase("format");
  const Engine& eng = *c.w.snap->engine;
  Overlay overlay(eng);
  Request r;
  Outcome o;
  if (!eng.request_from_json(j, overlay, r, o.error)) {
    out = error(400, o.error);
    return true;
  }
  o.d = eng.decide(r, true);
  o.allow = o.d.allow && o.d.errors.empty();
  count(*c.w.snap, nullptr, r.action, o);
  std::string decision;
  c.w.writer->write(o.d, decision);
  nlohmann::json answer = nlohmann::json::parse(decision);
  std::string text;
  (void)render_graph(decision_graph(eng, o.d, r, c.w.snap->sm), format, text);
  answer["graph"] = {{"format", format}, {"text", text}};
  out.body = answer.dump();
  log_decision(c, body, o);
  return true;
}

void native_decide(Ctx& c, Response& out) {
  if (!is_json(c.req)) {
    out = error(400, "the Content-Type must be application/json");
    return;
  }
  if (native_decide_graph(c, out)) return;
  Outcome o;
  std::uint32_t action = ~0u;
  native_one(c, c.req.body(), o, action);
  if (!o.error.empty() && action == ~0u) {
    // A request that cannot be read or resolved is the client's error.
    out = error(400, o.error);
    return;
  }
  count(*c.w.snap, nullptr, action, o);
  write_native(c, o, out.body);
  log_decision(c, c.req.body(), o);
}

/// `POST /v1/decide/batch`, streamed (BatchStream): lines are answered as they arrive. Each
/// run() decides on the worker of the thread it runs on while that worker still has the batch's
/// snapshot (the usual case), else on a worker of its own: a batch is decided by the engine it
/// began with, even across a reload.
class NativeBatch final : public BatchStream {
 public:
  NativeBatch(Server::Impl& srv, std::shared_ptr<const Snapshot> snap, std::shared_ptr<const Names> names,
              bool explain, std::string request_id, std::chrono::steady_clock::time_point t0)
      : srv_(srv), snap_(std::move(snap)), names_(std::move(names)), explain_(explain),
        request_id_(std::move(request_id)), t0_(t0), counts_(snap_->action_counters.size()) {
    in_.resize(2 * kRead);
    out_.reserve(kFlush + 4096);
  }
  ~NativeBatch() override { finish(); }
  void finish() override {
    if (finished_) return;
    finished_ = true;
    add_counts();
    srv_.record(Endpoint::batch, status, t0_);
  }

  std::pair<char*, std::size_t> space() override {
    if (begin_ == end_) {
      begin_ = end_ = scan_ = 0;
    } else if (begin_ > 0 && in_.size() - end_ < kRead) {  // keep the partial line, at the front
      std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      scan_ -= begin_;
      begin_ = 0;
    }
    // Grows only while one line is being received: to at most its limit and one read.
    if (in_.size() - end_ < kRead) in_.resize(end_ + kRead);
    return {in_.data() + end_, in_.size() - end_};
  }
  void commit(std::size_t n) override { end_ += n; }

  State run(bool end) override {
    Worker& w = worker();
    Decider d{srv_, w, explain_, request_id_, t0_};
    const std::size_t limit = srv_.opts.max_body;
    State st = State::more;
    while (out_.size() < kFlush) {
      const char* base = in_.data();
      const auto* nl = static_cast<const char*>(std::memchr(base + scan_, '\n', end_ - scan_));
      if (skipping_) {  // the rest of a line over the limit: dropped as it comes
        begin_ = scan_ = nl ? static_cast<std::size_t>(nl - base) + 1 : end_;
        skipping_ = !nl;
        if (!nl) break;
        continue;
      }
      std::size_t stop = 0;
      if (nl) {
        stop = static_cast<std::size_t>(nl - base);
      } else if (end_ - begin_ > limit) {  // a line already over the limit: answered, not held
        if (++n_ > srv_.opts.max_batch) {
          st = State::too_many;
          break;
        }
        too_long(d, limit);
        begin_ = scan_ = end_;
        skipping_ = true;
        continue;
      } else {
        scan_ = end_;
        if (!end || begin_ == end_) break;
        stop = end_;  // the last line, without a newline
      }
      std::string_view line(base + begin_, stop - begin_);
      begin_ = scan_ = std::min(stop + 1, end_);
      const bool over = line.size() > limit;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
      if (++n_ > srv_.opts.max_batch) {
        st = State::too_many;
        break;
      }
      if (over) too_long(d, limit);
      else answer(d, line);
    }
    if (st == State::more && out_.size() >= kFlush) st = State::full;
    add_counts();
    return st;
  }
  std::string& out() override { return out_; }
  void fail(std::string_view message) override {
    out_ += "{\"error\":";
    json_string(out_, message);
    out_ += "}\n";
  }

 private:
  Worker& worker() {
    Worker& t = srv_.worker();
    if (t.snap == snap_) return t;
    if (!own_) {  // a reload happened since the batch began
      own_ = std::make_unique<Worker>();
      own_->snap = snap_;
      own_->names = names_;
      own_->generation = snap_->generation;
      own_->reader = std::make_unique<RequestReader>(*snap_->engine);
      own_->writer = std::make_unique<DecisionWriter>(*snap_->engine, snap_->sm);
    }
    return *own_;
  }
  void answer(Decider& d, std::string_view line) {
    Outcome o;
    std::uint32_t action = ~0u;
    if (srv_.log.enabled()) d.t0 = std::chrono::steady_clock::now();  // a line's own time
    bool is_json = true;
    try {
      is_json = native_one(d, line, o, action);
    } catch (const std::exception& e) {  // fail closed
      o = {};
      o.error = std::string("internal error: ") + e.what();
    }
    if (!o.error.empty()) {
      o.allow = false;
      o.error = "line " + std::to_string(n_) + ": " + o.error;
    }
    if (action < counts_.size()) ++counts_[action][o.error.empty() ? (o.allow ? 0 : 1) : 2];
    write_native(d, o, out_);
    out_.push_back('\n');
    if (!srv_.log.enabled()) return;
    if (is_json) return log_decision(d, line, o);
    std::string quoted;  // not JSON: logged as a string, so that the log line stays JSON
    json_string(quoted, line);
    log_decision(d, quoted, o);
  }
  void too_long(Decider& d, std::size_t limit) {
    Outcome o;
    o.error = "line " + std::to_string(n_) + ": the line is longer than " + std::to_string(limit) +
              " bytes (--max-body)";
    write_native(d, o, out_);
    out_.push_back('\n');
    log_decision(d, "null", o);  // the request was not kept
  }
  /// The counts so far, added to the shared counters once a run: a decision then touches no
  /// cache line another thread writes.
  void add_counts() {
    for (std::size_t a = 0; a < counts_.size(); ++a)
      for (std::size_t k = 0; k < 3; ++k)
        if (counts_[a][k]) {
          snap_->action_counters[a][k].fetch_add(counts_[a][k], std::memory_order_relaxed);
          counts_[a][k] = 0;
        }
  }

  Server::Impl& srv_;
  std::shared_ptr<const Snapshot> snap_;
  std::shared_ptr<const Names> names_;
  std::unique_ptr<Worker> own_;
  bool explain_;
  std::string request_id_;
  std::chrono::steady_clock::time_point t0_;
  std::vector<std::array<std::uint64_t, 3>> counts_;
  std::string in_;  ///< [begin_, end_): received, not yet answered; no newline in [begin_, scan_)
  std::size_t begin_ = 0, end_ = 0, scan_ = 0;
  bool skipping_ = false;  ///< inside a line over the limit
  bool finished_ = false;
  std::size_t n_ = 0;      ///< non-blank lines so far
  std::string out_;
};

void native_mask(Ctx& c, Response& out) {
  const Engine& eng = *c.w.snap->engine;
  const Program& p = eng.program();
  nlohmann::json j;
  if (auto bad = parse_json(c.req.body(), j)) {
    out = error(400, "the body is not valid JSON: at byte " + std::to_string(bad->offset) + ": " + bad->message);
    return;
  }
  if (!j.is_object() || !j.contains("mask") || !j["mask"].is_string() || !j.contains("action") ||
      !j["action"].is_object() || !j["action"].contains("name") || !j["action"]["name"].is_string()) {
    out = error(400, "a mask request is a request with \"mask\": \"PARAMETER\"");
    return;
  }
  const std::string param = j["mask"];
  j.erase("mask");
  const auto a = p.schema.find_action(j["action"]["name"].get<std::string>());
  if (!a) {
    out = error(400, "unknown action `" + j["action"]["name"].get<std::string>() + "`");
    return;
  }
  const auto& act = p.schema.actions[*a];
  std::uint32_t idx = ~0u;
  for (std::uint32_t i = 0; i < act.params.size(); ++i)
    if (act.params[i].name == param) idx = i;
  if (idx == ~0u || act.params[idx].type.base != Base::enum_ || act.params[idx].type.set) {
    out = error(400, "action `" + act.name + "` has no enum parameter `" + param + "` to mask");
    return;
  }
  const auto& en = p.schema.enums[act.params[idx].type.enum_id];
  if (!j["action"].contains("args") || !j["action"]["args"].contains(param)) j["action"]["args"][param] = en.values.at(0);
  Overlay overlay(eng);
  Request r;
  std::string err;
  if (!eng.request_from_json(j, overlay, r, err)) {
    out = error(400, err);
    return;
  }
  nlohmann::json res{{"parameter", param}, {"allowed", nlohmann::json::array()}};
  for (auto v : eng.allowed_values(r, idx)) res["allowed"].push_back(en.values[v]);
  out.body = res.dump();
}

}  // namespace

std::string Server::Impl::status_json() {
  std::lock_guard lk(snap_m);
  nlohmann::json j;
  if (current) {
    const auto& p = current->engine->program();
    j["policy"] = {{"checksum", current->checksum},
                   {"sources", current->sources},
                   {"loaded_at", iso_time(current->loaded_at)},
                   {"generation", current->generation},
                   {"rules", p.rules.size()},
                   {"facts", p.world().size()}};
    const FactDelta* d = current->engine->facts();
    j["facts"] = {{"revision", current->engine->revision()},
                  {"delta_entities", d ? d->size() : std::size_t{0}},
                  {"durable", !opts.state_dir.empty()},
                  {"writes", {{"ok", metrics.writes_ok.load()},
                              {"rejected", metrics.writes_rejected.load()},
                              {"unavailable", metrics.writes_unavailable.load()},
                              {"upserts", metrics.upserts.load()},
                              {"deletes", metrics.deletes.load()}}},
                  {"state_snapshot_revision", state_revision},
                  {"last_state_error", state_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(state_error)}};
    if (feed) j["facts"]["feed"] = feed->status();
  }
  j["last_reload_error"] = last_reload_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(last_reload_error);
  j["reloads"] = {{"ok", metrics.reloads_ok.load()}, {"failed", metrics.reloads_failed.load()}};
  j["uptime_seconds"] =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count();
  return j.dump();
}

void Server::Impl::handle(const HttpRequest& req, Response& out, LaterFactory later) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto target = req.target();
  const auto q = target.find('?');
  const std::string_view path(target.data(), q == std::string_view::npos ? target.size() : q);
  const bool post = req.method() == http::verb::post, get = req.method() == http::verb::get;
  Endpoint ep = Endpoint::other;
  struct Route {
    std::string_view path;
    Endpoint ep;
    bool post;
  };
  static constexpr Route routes[] = {
      {"/access/v1/evaluation", Endpoint::evaluation, true},
      {"/access/v1/evaluations", Endpoint::evaluations, true},
      {"/access/v1/search/subject", Endpoint::search_subject, true},
      {"/access/v1/search/resource", Endpoint::search_resource, true},
      {"/access/v1/search/action", Endpoint::search_action, true},
      {"/.well-known/authzen-configuration", Endpoint::metadata, false},
      {"/v1/decide", Endpoint::decide, true},
      {"/v1/decide/batch", Endpoint::batch, true},
      {"/v1/mask", Endpoint::mask, true},
      {"/v1/status", Endpoint::status, false},
      {"/v1/admin/reload", Endpoint::reload, true},
      {"/health/live", Endpoint::live, false},
      {"/health/ready", Endpoint::ready, false},
      {"/metrics", Endpoint::metrics, false},
      {"/v1/facts", Endpoint::facts, true},
  };
  static constexpr Route facts_get_route{"/v1/facts/", Endpoint::facts_get, false};
  const Route* route = nullptr;
  for (const auto& r : routes)
    if (r.path == path) route = &r;
  if (!route && path.starts_with(facts_get_route.path)) route = &facts_get_route;
  if (!route) {
    out = error(404, "no such endpoint");
  } else if (route->post ? !post : !get) {
    ep = route->ep;
    out = error(405, std::string("use ") + (route->post ? "POST" : "GET"));
    out.headers.emplace_back("Allow", route->post ? "POST" : "GET");
  } else {
    ep = route->ep;
    const bool searches =
        ep == Endpoint::search_subject || ep == Endpoint::search_resource || ep == Endpoint::search_action;
    const bool decides = ep == Endpoint::evaluation || ep == Endpoint::evaluations || ep == Endpoint::decide ||
                         ep == Endpoint::batch || ep == Endpoint::mask || searches;
    try {
      if ((decides || ep == Endpoint::reload || ep == Endpoint::facts_get) &&
          !authorize(req, ep == Endpoint::reload, out)) {
        // refused
      } else if (ep == Endpoint::facts && !authorize(req, false, out, true)) {
        // refused
      } else if (decides && !wait_for_revision(req, out)) {
        // the revision asked for did not come in time
      } else if (ep == Endpoint::facts) {
        facts_write(req, out);
      } else if (ep == Endpoint::facts_get) {
        facts_get(path, out);
      } else if (ep == Endpoint::live) {
        out.body = R"({"status":"live"})";
      } else if (ep == Endpoint::ready) {
        const bool ready = generation.load() > 0 && !draining.load();
        const bool fresh = !feed || feed->ready(opts.max_lag);
        out.status = ready && fresh ? 200 : 503;
        out.body = !ready ? R"({"status":"not ready"})"
                   : !fresh ? R"({"status":"not ready","reason":"the facts lag PostgreSQL by more than --max-lag"})"
                   : feed   ? R"({"status":"ready","revision":)" + std::to_string(live->revision()) + "}"
                            : R"({"status":"ready"})";
      } else if (ep == Endpoint::metrics) {
        out.content_type = "text/plain; version=0.0.4";
        out.body = render_metrics();
      } else if (ep == Endpoint::status) {
        out.body = status_json();
      } else if (ep == Endpoint::reload) {
        out.deferred = true;
        request_reload(later());
      } else {
        Worker& w = worker();
        const auto explain = query_flag(sv(target), "explain");
        if (!explain) {
          out = error(400, "?explain is true or false (or 1 or 0)");
        } else if (!w.snap) {
          out = error(503, "no policy is loaded");
        } else {
          Ctx c{*this, req, w, *explain, sv(req["X-Request-ID"]), t0};
          switch (ep) {
            case Endpoint::evaluation: authzen_evaluation(c, out); break;
            case Endpoint::evaluations: authzen_evaluations(c, out); break;
            case Endpoint::search_subject: authzen_search(c, SearchKind::subject, out); break;
            case Endpoint::search_resource: authzen_search(c, SearchKind::resource, out); break;
            case Endpoint::search_action: authzen_search(c, SearchKind::action, out); break;
            case Endpoint::metadata: authzen_metadata(c, out); break;
            case Endpoint::decide: native_decide(c, out); break;
            case Endpoint::batch: out = error(500, "internal error: a batch is streamed"); break;  // see streamed()
            case Endpoint::mask: native_mask(c, out); break;
            default: out = error(404, "no such endpoint");
          }
          out.headers.emplace_back("X-Treaty-Revision", std::to_string(w.snap->engine->revision()));
        }
      }
    } catch (const std::exception& e) {  // every internal error fails closed
      out = error(500, std::string("internal error: ") + e.what());
      // A search answers no result on error: the 500's `{"error"}` body holds none.
      if (decides && !searches) out.body = R"({"decision":false,"context":{"error":"internal error"}})";
    }
  }
  if (!out.deferred) record(ep, out.status, t0);
}

void Server::Impl::record(Endpoint ep, unsigned status, std::chrono::steady_clock::time_point t0) {
  const auto i = static_cast<unsigned>(ep);
  metrics.latency[i].observe(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count()));
  metrics.responses[i][status < 300 ? 0 : status < 500 ? 1 : 2].fetch_add(1, std::memory_order_relaxed);
}

bool Server::Impl::streamed(const HttpRequest& req) {
  const auto target = req.target();
  const auto q = target.find('?');
  return req.method() == http::verb::post &&
         std::string_view(target.data(), q == std::string_view::npos ? target.size() : q) == "/v1/decide/batch";
}

std::unique_ptr<BatchStream> Server::Impl::open_batch(const HttpRequest& req, Response& out) {
  const auto t0 = std::chrono::steady_clock::now();
  if (authorize(req, false, out) && wait_for_revision(req, out)) {
    Worker& w = worker();
    const auto explain = query_flag(sv(req.target()), "explain");
    if (!explain) {
      out = error(400, "?explain is true or false (or 1 or 0)");
    } else if (w.snap) {
      auto b = std::make_unique<NativeBatch>(*this, w.snap, w.names, *explain,
                                             std::string(sv(req["X-Request-ID"])), t0);
      b->revision = w.snap->engine->revision();  // the whole batch answers from this revision
      return b;
    } else {
      out = error(503, "no policy is loaded");
    }
  }
  record(Endpoint::batch, out.status, t0);
  return nullptr;
}

}  // namespace treaty::server
