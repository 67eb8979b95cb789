// Live facts in the server: POST /v1/facts, GET /v1/facts/TYPE/ID, revisions on requests, and
// the durable state of --state DIR (a write-ahead log and snapshots). See docs/server.md.
#include <charconv>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "internal.hpp"
#include "treaty/convert.hpp"
#include "treaty/data/delta.hpp"

namespace treaty::server {

using namespace internal;

namespace {

Response json_error(unsigned status, std::string_view message) {
  Response r;
  r.status = status;
  // The message may quote a request's bytes (a percent-decoded id): ill-formed UTF-8 is replaced.
  r.body = nlohmann::json{{"error", std::string(message)}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

std::string percent_decode(std::string_view s, bool& ok) {
  std::string out;
  ok = true;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    unsigned v = 0;
    if (i + 2 >= s.size() ||
        std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr != s.data() + i + 3) {
      ok = false;
      return out;
    }
    out.push_back(static_cast<char>(v));
    i += 2;
  }
  return out;
}

std::string snapshot_path(const std::string& dir) { return dir + "/snapshot.json"; }
std::string log_path(const std::string& dir) { return dir + "/log.wal"; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writes and reads
// ---------------------------------------------------------------------------------------------
void Server::Impl::facts_write(const HttpRequest& req, Response& out) {
  if (!live) {
    out = json_error(503, "no policy is loaded");
    return;
  }
  nlohmann::json batch;
  if (auto bad = parse_json(req.body(), batch)) {
    out = json_error(400, "the body is not JSON: at byte " + std::to_string(bad->offset) + ": " + bad->message);
    return;
  }
  if (feed) {
    facts_write_through(batch, out);
    return;
  }
  WriteResult r = live->write(batch, req.body());
  if (!r.ok) {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& e : r.errors) errors.push_back({{"code", e.code}, {"message", e.message}});
    out.status = r.unavailable ? 503 : 422;
    out.body = nlohmann::json{{"error", r.unavailable ? "the write could not be made durable" : "the batch was rejected"},
                              {"errors", std::move(errors)}}
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // messages may quote the batch
    if (r.unavailable) out.headers.emplace_back("Retry-After", "1");
    (r.unavailable ? metrics.writes_unavailable : metrics.writes_rejected).fetch_add(1);
    return;
  }
  metrics.writes_ok.fetch_add(1);
  metrics.upserts.fetch_add(r.upserts);
  metrics.deletes.fetch_add(r.deletes);
  // Visible to every request that starts after this answer: publish before answering. A reload
  // that is publishing its own snapshot (over the live facts, this batch included) may hold the
  // way for a moment: wait until the served snapshot has the revision.
  publish_revision();
  for (int i = 0; i < 10'000; ++i) {
    {
      std::lock_guard lk(snap_m);
      if (current && current->engine->revision() >= r.revision) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    publish_revision();
  }
  out.body = nlohmann::json{{"revision", r.revision}, {"upserts", r.upserts}, {"deletes", r.deletes}}.dump();
  out.headers.emplace_back("X-Treaty-Revision", std::to_string(r.revision));
  if (live->delta_size() >= opts.compact_after && can_fold()) {
    std::lock_guard lk(state_m);
    state_wanted = true;
    state_cv.notify_one();
  }
}

void Server::Impl::facts_write_through(const nlohmann::json& batch, Response& out) {
  // Checked whole here first (types, references, keys, requirements over this replica's facts),
  // then written to PostgreSQL in one transaction, which checks the references and keys again
  // at commit. The answer's revision is the transaction's position: visible here once this
  // replica has followed it (waited for up to --max-revision-wait-ms), and the token to ask any
  // replica for it.
  WriteResult r;
  const auto next = live->check(batch, r);
  if (!next) {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& e : r.errors) errors.push_back({{"code", e.code}, {"message", e.message}});
    out.status = 422;
    out.body = nlohmann::json{{"error", "the batch was rejected"}, {"errors", std::move(errors)}}.dump();
    metrics.writes_rejected.fetch_add(1);
    return;
  }
  const Schema& s = next->program().schema;
  std::vector<nlohmann::json> ups;
  std::vector<std::pair<std::string, std::string>> dels;
  if (batch.contains("upsert"))
    for (const auto& u : batch["upsert"]) {
      const auto t = s.find_entity(u["type"].get_ref<const std::string&>());
      const auto id = t ? next->find(*t, u["id"].get_ref<const std::string&>()) : std::nullopt;
      if (id) ups.push_back(entity_json(*next, *id));  // as the converter read it: ids, enum names, arrays
    }
  if (batch.contains("delete"))
    for (const auto& d : batch["delete"]) dels.emplace_back(d["type"].get<std::string>(), d["id"].get<std::string>());
  std::uint64_t position = 0;
  std::string error;
  bool refused = false;
  if (!feed->write(s, ups, dels, position, error, refused)) {
    out.status = refused ? 422 : 503;
    out.body = nlohmann::json{{"error", refused ? "PostgreSQL refused the batch" : "the batch could not be written to PostgreSQL"},
                              {"errors", {{{"code", "postgresql"}, {"message", error}}}}}
                   .dump();
    if (!refused) out.headers.emplace_back("Retry-After", "1");
    (refused ? metrics.writes_rejected : metrics.writes_unavailable).fetch_add(1);
    return;
  }
  metrics.writes_ok.fetch_add(1);
  metrics.upserts.fetch_add(ups.size());
  metrics.deletes.fetch_add(dels.size());
  const bool visible = live->at_least(position, opts.max_revision_wait) != nullptr;
  if (visible) publish_revision();
  out.body = nlohmann::json{{"revision", position}, {"upserts", ups.size()}, {"deletes", dels.size()}, {"visible", visible}}.dump();
  out.headers.emplace_back("X-Treaty-Revision", std::to_string(position));
}

void Server::Impl::facts_get(std::string_view path, Response& out) {
  std::shared_ptr<const Snapshot> snap;
  {
    std::lock_guard lk(snap_m);
    snap = current;
  }
  if (!snap) {
    out = json_error(503, "no policy is loaded");
    return;
  }
  const std::string_view rest = path.substr(std::string_view("/v1/facts/").size());
  const auto slash = rest.find('/');
  bool ok1 = true, ok2 = true;
  const std::string type = percent_decode(rest.substr(0, slash), ok1);
  const std::string id = slash == std::string_view::npos ? "" : percent_decode(rest.substr(slash + 1), ok2);
  if (slash == std::string_view::npos || type.empty() || !ok1 || !ok2) {
    out = json_error(400, "GET /v1/facts/TYPE/ID (the id percent-encoded)");
    return;
  }
  const Engine& e = *snap->engine;
  const auto t = e.program().schema.find_entity(type);
  if (!t) {
    out = json_error(404, "unknown entity type `" + type + "`");
    return;
  }
  const auto found = e.find(*t, id);
  if (!found) {
    out = json_error(404, "no entity `" + type + "::" + quote_string(id) + "` at revision " + std::to_string(e.revision()));
    return;
  }
  nlohmann::json j = entity_json(e, *found);
  j["revision"] = e.revision();
  out.body = j.dump();
  out.headers.emplace_back("X-Treaty-Revision", std::to_string(e.revision()));
}

bool Server::Impl::wait_for_revision(const HttpRequest& req, Response& out) {
  const auto h = req["X-Treaty-Min-Revision"];
  if (h.empty()) return true;
  std::uint64_t want = 0;
  const auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), want);
  if (ec != std::errc() || p != h.data() + h.size()) {
    out = json_error(400, "X-Treaty-Min-Revision must be a revision number");
    return false;
  }
  return wait_for_revision_number(want, out);
}

bool Server::Impl::wait_for_revision_number(std::uint64_t want, Response& out) {
  if (!live) {
    out = json_error(503, "no policy is loaded");
    return false;
  }
  if (live->revision() >= want) {
    publish_revision();
    return true;
  }
  if (!live->at_least(want, opts.max_revision_wait)) {
    metrics.revision_waits_timed_out.fetch_add(1);
    out = json_error(503, "revision " + std::to_string(want) + " is not here yet (the facts are at revision " +
                              std::to_string(live->revision()) + ")");
    out.headers.emplace_back("Retry-After", "1");
    return false;
  }
  publish_revision();  // the worker takes it up below
  return true;
}

void Server::Impl::publish_revision() {
  const auto e = live->current();
  std::lock_guard lk(snap_m);
  // A reload publishes its own snapshot (on another program): only a newer revision of the
  // program being served moves it on.
  if (!current || !current->held || &current->held->program() != &e->program() ||
      e->revision() <= current->held->revision())
    return;
  auto s = std::make_shared<Snapshot>(*current);
  s->held = e;
  s->engine = e.get();
  s->generation = generation.load() + 1;
  current = std::move(s);
  generation.store(current->generation, std::memory_order_release);
}

// ---------------------------------------------------------------------------------------------
// Durable state
// ---------------------------------------------------------------------------------------------
bool Server::Impl::open_state(std::string& facts, std::vector<WalRecord>& records, std::string& error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(opts.state_dir, ec);
  if (ec) {
    error = "--state " + opts.state_dir + ": " + ec.message();
    return false;
  }
  const std::string snap = snapshot_path(opts.state_dir);
  if (fs::exists(snap)) {
    if (!read_whole_file(snap, facts, error)) return false;
    nlohmann::json j;
    if (auto bad = parse_json(facts, j)) {
      error = snap + ": not a state snapshot: at byte " + std::to_string(bad->offset) + ": " + bad->message;
      return false;
    }
    if (!j.is_object() || !j.contains("revision") || !j["revision"].is_number_unsigned() || !j.contains("entities")) {
      error = snap + ": not a state snapshot (it needs \"revision\" and \"entities\")";
      return false;
    }
    initial_revision = j["revision"].get<std::uint64_t>();
    state_revision = initial_revision;
  }
  WalRecovery rec;
  wal = WriteAheadLog::open(log_path(opts.state_dir), rec, error, WalOptions{opts.state_sync});
  if (!wal) return false;
  if (!rec.tail_problem.empty()) std::cerr << "treaty serve: " << rec.tail_problem << "\n";
  records = std::move(rec.records);
  return true;
}

bool Server::Impl::replay_log(const std::vector<WalRecord>& records, std::string& error) {
  std::size_t applied = 0;
  for (const auto& r : records) {
    if (r.revision <= live->revision()) continue;  // in the snapshot already
    nlohmann::json batch;
    if (auto bad = parse_json(r.payload, batch)) {
      error = log_path(opts.state_dir) + ": revision " + std::to_string(r.revision) + " is not JSON: " + bad->message;
      return false;
    }
    const WriteResult w = live->replay(batch, r.revision);
    if (!w.ok) {
      error = log_path(opts.state_dir) + ": revision " + std::to_string(r.revision) + " does not apply: " +
              (w.errors.empty() ? std::string("?") : w.errors.front().message);
      return false;
    }
    ++applied;
  }
  if (applied) std::cerr << "treaty serve: recovered " << applied << " batches from the log, at revision " << live->revision() << "\n";
  return true;
}

void Server::Impl::stop_state_thread() {
  {
    std::lock_guard lk(state_m);
    state_stopping = true;
    state_cv.notify_all();
  }
  if (state_thread.joinable()) state_thread.join();
}

bool Server::Impl::can_fold() {
  // A bundle's world cannot take the live facts: a fold would rebuild the same world and apply
  // the writes again on top (the reload after every write, once they are past --compact-after).
  std::lock_guard lk(snap_m);
  return current && current->can_take_facts;
}

void Server::Impl::state_loop() {
  std::unique_lock lk(state_m);
  while (!state_stopping) {
    // A snapshot when asked (the writes grew large) and every 30 s while there are new ones.
    state_cv.wait_for(lk, std::chrono::seconds(30), [&] { return state_wanted || state_stopping; });
    if (state_stopping) break;
    state_wanted = false;
    lk.unlock();
    snapshot_state();
    lk.lock();
  }
}

void Server::Impl::snapshot_state() {
  if (!live) return;
  const auto e = live->current();
  const std::uint64_t rev = e->revision();
  const bool fold = live->delta_size() >= opts.compact_after && can_fold();
  if (rev == state_revision && !fold) return;
  if (opts.state_dir.empty() && !fold) return;  // nothing to write: no need to export the facts
  std::string error;
  std::string text;
  try {
    text = nlohmann::json{{"revision", rev}, {"entities", export_facts(*e)}}.dump();
  } catch (const std::exception& x) {
    error = std::string("exporting the facts: ") + x.what();
  }
  if (error.empty() && !opts.state_dir.empty()) {
    if (write_file_atomically(snapshot_path(opts.state_dir), text, error) && wal->truncate_through(rev, error)) {
      state_revision = rev;
      metrics.state_snapshots.fetch_add(1);
    }
  }
  if (error.empty() && fold) {
    // Fold the writes into a new world: the reload path, with the facts just exported.
    metrics.compactions.fetch_add(1);
    std::lock_guard rl(reload_m);
    reload_wanted = true;
    reload_cv.notify_one();
  }
  std::lock_guard lk(snap_m);
  state_error = error;
  if (!error.empty()) std::cerr << "treaty serve: state snapshot failed: " << error << "\n";
}

}  // namespace treaty::server
