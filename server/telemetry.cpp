// Metrics (Prometheus text format), the decision log, tokens and snapshot preparation.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "authzen.hpp"

namespace treaty::server {

using namespace internal;

const char* internal::endpoint_path(Endpoint e) {
  switch (e) {
    case Endpoint::evaluation: return "/access/v1/evaluation";
    case Endpoint::evaluations: return "/access/v1/evaluations";
    case Endpoint::search_subject: return "/access/v1/search/subject";
    case Endpoint::search_resource: return "/access/v1/search/resource";
    case Endpoint::search_action: return "/access/v1/search/action";
    case Endpoint::metadata: return "/.well-known/authzen-configuration";
    case Endpoint::decide: return "/v1/decide";
    case Endpoint::batch: return "/v1/decide/batch";
    case Endpoint::mask: return "/v1/mask";
    case Endpoint::status: return "/v1/status";
    case Endpoint::reload: return "/v1/admin/reload";
    case Endpoint::live: return "/health/live";
    case Endpoint::ready: return "/health/ready";
    case Endpoint::metrics: return "/metrics";
    case Endpoint::facts: return "/v1/facts";
    case Endpoint::facts_get: return "/v1/facts/{type}/{id}";
    default: return "other";
  }
}

ActionCounters* Metrics::counters_for(const std::string& action) {
  std::lock_guard lk(m);
  auto& slot = by_action[action];
  if (!slot) slot = std::make_unique<ActionCounters>();
  return slot.get();
}

void Snapshot::prepare() {
  const Program& p = engine->program();
  rule_name_json.clear();
  rule_ref_json.clear();
  for (const auto& r : p.rules) {
    std::string n;
    json_string(n, r.name);
    rule_name_json.push_back(n);
    std::string ref = "{\"rule\":" + n;
    if (sm && r.span.valid()) {
      ref += ",\"file\":";
      json_string(ref, sm->file(r.span.file).path);
      ref += ",\"line\":" + std::to_string(sm->line_col(r.span.file, r.span.begin).line);
    }
    ref += "}";
    rule_ref_json.push_back(std::move(ref));
  }
}

bool read_tokens(const std::string& path, std::vector<Token>& out, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read token file `" + path + "`";
    return false;
  }
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (auto h = line.find('#'); h != std::string::npos) line.resize(h);
    std::istringstream ls(line);
    Token t;
    std::string scopes, extra;
    if (!(ls >> t.secret)) continue;
    if (!(ls >> scopes) || (ls >> extra)) {
      error = path + ":" + std::to_string(n) + ": expected `TOKEN SCOPE[,SCOPE]`";
      return false;
    }
    std::istringstream ss(scopes);
    for (std::string s; std::getline(ss, s, ',');) {
      if (s == "decide") t.decide = true;
      else if (s == "admin") t.admin = true;
      else if (s == "write") t.write = true;
      else {
        error = path + ":" + std::to_string(n) + ": unknown scope `" + s + "` (scopes: decide, write, admin)";
        return false;
      }
    }
    if (t.secret.size() < 16) {
      error = path + ":" + std::to_string(n) + ": a token must have at least 16 characters";
      return false;
    }
    out.push_back(std::move(t));
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Decision log
// ---------------------------------------------------------------------------------------------
bool DecisionLog::start(const std::string& path, std::size_t capacity, std::string& error) {
  if (path == "-") {
    out_ = stdout;
  } else {
    out_ = std::fopen(path.c_str(), "a");
    own_ = true;
    if (!out_) {
      error = "cannot open decision log `" + path + "`";
      return false;
    }
  }
  capacity_ = capacity;
  pending_.reserve(std::min<std::size_t>(capacity, 4096));
  enabled_ = true;
  thread_ = std::thread([this] { run(); });
  return true;
}

void DecisionLog::push(std::string line) noexcept {
  std::unique_lock lk(m_, std::try_to_lock);
  if (!lk.owns_lock()) lk.lock();  // held only for a move by the writer or another worker
  if (pending_.size() >= capacity_) {
    metrics_.log_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  try {
    pending_.push_back(std::move(line));
  } catch (...) {
    metrics_.log_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (pending_.size() == 1) cv_.notify_one();
}

void DecisionLog::run() {
  std::vector<std::string> batch;
  for (;;) {
    {
      std::unique_lock lk(m_);
      cv_.wait_for(lk, std::chrono::milliseconds(200), [&] { return stopping_ || !pending_.empty(); });
      batch.swap(pending_);
      if (batch.empty() && stopping_) return;
    }
    for (auto& l : batch) {
      l.push_back('\n');
      std::fwrite(l.data(), 1, l.size(), out_);
    }
    std::fflush(out_);
    metrics_.log_written.fetch_add(batch.size(), std::memory_order_relaxed);
    batch.clear();
  }
}

void DecisionLog::stop() {
  if (!enabled_) return;
  {
    std::lock_guard lk(m_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (own_ && out_) std::fclose(out_);
  out_ = nullptr;
  enabled_ = false;
}

// ---------------------------------------------------------------------------------------------
// Prometheus text format
// ---------------------------------------------------------------------------------------------
std::string Server::Impl::render_metrics() {
  std::string o;
  auto line = [&](const std::string& name, const std::string& labels, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    o += name + (labels.empty() ? "" : "{" + labels + "}") + " " + buf + "\n";
  };
  auto label = [](std::string_view s) {
    std::string r;
    for (char c : s) {
      if (c == '\\' || c == '"') r.push_back('\\');
      if (c == '\n') {
        r += "\\n";
        continue;
      }
      r.push_back(c);
    }
    return r;
  };
  o += "# HELP treaty_decisions_total Decisions by action and result.\n# TYPE treaty_decisions_total counter\n";
  {
    std::lock_guard lk(metrics.m);
    static const char* results[] = {"allow", "deny", "error"};
    for (const auto& [name, c] : metrics.by_action)
      for (int r = 0; r < 3; ++r)
        line("treaty_decisions_total", "action=\"" + label(name) + "\",result=\"" + results[r] + "\"",
             static_cast<double>((*c)[r].load()));
  }
  o += "# HELP treaty_http_request_duration_seconds Request latency by endpoint.\n"
       "# TYPE treaty_http_request_duration_seconds histogram\n";
  for (unsigned e = 0; e < static_cast<unsigned>(Endpoint::count); ++e) {
    const auto& h = metrics.latency[e];
    const std::string ep = "endpoint=\"" + std::string(endpoint_path(static_cast<Endpoint>(e))) + "\"";
    std::uint64_t cum = 0;
    for (std::size_t b = 0; b < Histogram::kBounds.size(); ++b) {
      cum += h.buckets[b].load();
      char le[32];
      std::snprintf(le, sizeof le, "%g", Histogram::kBounds[b]);
      line("treaty_http_request_duration_seconds_bucket", ep + ",le=\"" + le + "\"", static_cast<double>(cum));
    }
    cum += h.buckets[Histogram::kBounds.size()].load();
    line("treaty_http_request_duration_seconds_bucket", ep + ",le=\"+Inf\"", static_cast<double>(cum));
    line("treaty_http_request_duration_seconds_sum", ep, static_cast<double>(h.sum_ns.load()) * 1e-9);
    line("treaty_http_request_duration_seconds_count", ep, static_cast<double>(cum));
  }
  o += "# HELP treaty_http_responses_total Responses by endpoint and status class.\n"
       "# TYPE treaty_http_responses_total counter\n";
  static const char* classes[] = {"2xx", "4xx", "5xx"};
  for (unsigned e = 0; e < static_cast<unsigned>(Endpoint::count); ++e)
    for (int k = 0; k < 3; ++k)
      line("treaty_http_responses_total",
           "endpoint=\"" + std::string(endpoint_path(static_cast<Endpoint>(e))) + "\",code=\"" + classes[k] + "\"",
           static_cast<double>(metrics.responses[e][k].load()));
  o += "# HELP treaty_reloads_total Policy reloads by result.\n# TYPE treaty_reloads_total counter\n";
  line("treaty_reloads_total", "result=\"ok\"", static_cast<double>(metrics.reloads_ok.load()));
  line("treaty_reloads_total", "result=\"failed\"", static_cast<double>(metrics.reloads_failed.load()));
  o += "# HELP treaty_reload_last_failed Whether the last reload failed (the previous policy is served).\n"
       "# TYPE treaty_reload_last_failed gauge\n";
  {
    std::lock_guard lk(snap_m);
    line("treaty_reload_last_failed", "", last_reload_error.empty() ? 0 : 1);
  }
  o += "# HELP treaty_decision_log_lines_total Decision log lines by outcome.\n"
       "# TYPE treaty_decision_log_lines_total counter\n";
  line("treaty_decision_log_lines_total", "outcome=\"written\"", static_cast<double>(metrics.log_written.load()));
  line("treaty_decision_log_lines_total", "outcome=\"dropped\"", static_cast<double>(metrics.log_dropped.load()));
  o += "# HELP treaty_connections_open Open connections.\n# TYPE treaty_connections_open gauge\n";
  line("treaty_connections_open", "", static_cast<double>(metrics.connections_open.load()));
  o += "# HELP treaty_connections_total Accepted connections.\n# TYPE treaty_connections_total counter\n";
  line("treaty_connections_total", "", static_cast<double>(metrics.connections_total.load()));
  o += "# HELP treaty_connections_rejected_total Connections refused over --max-connections.\n"
       "# TYPE treaty_connections_rejected_total counter\n";
  line("treaty_connections_rejected_total", "", static_cast<double>(metrics.connections_rejected.load()));
  o += "# HELP treaty_connections_evicted_total Idle connections closed to make room over --max-connections.\n"
       "# TYPE treaty_connections_evicted_total counter\n";
  line("treaty_connections_evicted_total", "", static_cast<double>(metrics.connections_evicted.load()));
  o += "# HELP treaty_facts_revision The revision of the live facts being served.\n# TYPE treaty_facts_revision gauge\n";
  {
    std::lock_guard lk(snap_m);
    line("treaty_facts_revision", "", current ? static_cast<double>(current->engine->revision()) : 0);
  }
  if (feed) {
    const double lag = feed->lag_seconds();
    o += "# HELP treaty_feed_lag_seconds Time since the last complete read of PostgreSQL's changes (-1: none yet).\n"
         "# TYPE treaty_feed_lag_seconds gauge\n";
    line("treaty_feed_lag_seconds", "", std::isinf(lag) ? -1.0 : lag);
    o += "# HELP treaty_feed_transactions_total Source transactions applied from PostgreSQL.\n"
         "# TYPE treaty_feed_transactions_total counter\n";
    line("treaty_feed_transactions_total", "", static_cast<double>(feed->transactions.load()));
    o += "# HELP treaty_feed_changes_total Entity changes (outbox rows) read from PostgreSQL.\n"
         "# TYPE treaty_feed_changes_total counter\n";
    line("treaty_feed_changes_total", "", static_cast<double>(feed->changes.load()));
    o += "# HELP treaty_feed_failures_total Reads of PostgreSQL's changes that failed.\n"
         "# TYPE treaty_feed_failures_total counter\n";
    line("treaty_feed_failures_total", "", static_cast<double>(feed->failures.load()));
    const auto v = feed->violations().size();
    o += "# HELP treaty_facts_degraded 1 while the facts break a requirement (applied from the source of truth).\n"
         "# TYPE treaty_facts_degraded gauge\n";
    line("treaty_facts_degraded", "", v ? 1.0 : 0.0);
    o += "# HELP treaty_facts_requirement_violations Requirement violations in the facts being served.\n"
         "# TYPE treaty_facts_requirement_violations gauge\n";
    line("treaty_facts_requirement_violations", "", static_cast<double>(v));
  }
  o += "# HELP treaty_fact_writes_total Batches of POST /v1/facts by result.\n# TYPE treaty_fact_writes_total counter\n";
  line("treaty_fact_writes_total", "result=\"ok\"", static_cast<double>(metrics.writes_ok.load()));
  line("treaty_fact_writes_total", "result=\"rejected\"", static_cast<double>(metrics.writes_rejected.load()));
  line("treaty_fact_writes_total", "result=\"unavailable\"", static_cast<double>(metrics.writes_unavailable.load()));
  o += "# HELP treaty_fact_entities_written_total Entities written, by kind.\n"
       "# TYPE treaty_fact_entities_written_total counter\n";
  line("treaty_fact_entities_written_total", "kind=\"upsert\"", static_cast<double>(metrics.upserts.load()));
  line("treaty_fact_entities_written_total", "kind=\"delete\"", static_cast<double>(metrics.deletes.load()));
  o += "# HELP treaty_state_snapshots_total State snapshots written (--state).\n# TYPE treaty_state_snapshots_total counter\n";
  line("treaty_state_snapshots_total", "", static_cast<double>(metrics.state_snapshots.load()));
  o += "# HELP treaty_fact_folds_total Folds of the writes into a new world.\n# TYPE treaty_fact_folds_total counter\n";
  line("treaty_fact_folds_total", "", static_cast<double>(metrics.compactions.load()));
  o += "# HELP treaty_revision_waits_timed_out_total Requests whose X-Treaty-Min-Revision did not come in time.\n"
       "# TYPE treaty_revision_waits_timed_out_total counter\n";
  line("treaty_revision_waits_timed_out_total", "", static_cast<double>(metrics.revision_waits_timed_out.load()));
  return o;
}

}  // namespace treaty::server
