// `treaty serve`: an HTTP policy decision point (AuthZEN 1.0 and the native API); see
// docs/server.md.
#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string_view>

#include "common.hpp"
#include "server/server.hpp"
#include "treaty/log.hpp"

namespace treaty::cli {

namespace {

std::string fnv_hex(const std::vector<std::string>& parts) {
  std::uint64_t h = 1469598103934665603ull;
  for (const auto& s : parts) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // separates the parts
  }
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

/// Loads the configured policy into a snapshot (on the server's reload thread).
/// `degrade`: the facts come from the source of truth (PostgreSQL): requirement violations are
/// kept in Snapshot::violations and reported, not refused.
std::shared_ptr<server::Snapshot> load_snapshot(LoadOptions lo, const std::string* facts, std::string& error,
                                                bool degrade) {
  auto l = std::make_shared<Loaded>();
  // The live facts, when given, are the world in place of the data files (they started from
  // them); a bundle keeps its own world.
  const bool take = facts && lo.bundle.empty();
  if (take) {
    lo.data.clear();
    lo.data_texts = {{"live facts", *facts}};
  }
  load(*l, lo);  // a bundle's requirements too (LoadOptions::bundle_requirements)
  std::vector<std::string> violations;
  if (degrade && l->engine && l->diags.has_errors()) {
    bool only_requirements = true;
    for (const auto& d : l->diags.all())
      if (d.severity == Severity::error) {
        if (d.code() == "E0500") violations.push_back(d.message);
        else only_requirements = false;
      }
    if (!only_requirements) violations.clear();
  }
  if ((l->diags.has_errors() && violations.empty()) || !l->engine) {
    l->diags.sort();
    error = render_human(l->sm, l->diags.all());
    if (error.empty()) error = "the policy could not be loaded";
    return nullptr;
  }
  auto s = std::make_shared<server::Snapshot>();
  std::vector<std::string> parts;
  for (std::size_t f = 0; f < l->sm.size(); ++f) {
    parts.push_back(l->sm.file(static_cast<FileId>(f)).path);
    parts.push_back(l->sm.file(static_cast<FileId>(f)).text);
  }
  for (const auto& d : lo.data) {
    std::ifstream in(d, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    parts.push_back(d);
    parts.push_back(ss.str());
  }
  s->checksum = fnv_hex(parts);
  s->took_facts = take;
  s->violations = std::move(violations);
  s->can_take_facts = lo.bundle.empty();
  s->sources = lo.bundle.empty() ? lo.paths : std::vector<std::string>{lo.bundle};
  s->sources.insert(s->sources.end(), lo.data.begin(), lo.data.end());
  s->loaded_at = std::chrono::system_clock::now();
  s->engine = l->engine.get();
  s->sm = &l->sm;
  s->owner = l;
  return s;
}

}  // namespace

std::function<int()> setup_serve(CLI::App& app) {
  struct Opts {
    std::vector<std::string> paths, data, types, actions;
    std::string bundle, listen, tokens, decision_log, base_url, state, facts;
    long max_lag_ms = 5000, facts_poll_ms = 100;
    bool no_sync = false;
    std::size_t compact_after = 100'000;
    unsigned threads = 2;
    std::size_t max_body = 1 << 20, max_batch_body = 64 << 20, max_header = 8 << 10, max_batch = 100'000,
                max_connections = 1024, log_buffer = 65536, max_search_results = 1000;
    long request_timeout_ms = 10'000, idle_timeout_ms = 60'000, watch_ms = 1000, revision_wait_ms = 2000;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("paths", o->paths, "Policy files or directories");
  app.add_option("--data", o->data, "JSON facts files (repeatable)");
  app.add_option("--bundle", o->bundle, "A compiled bundle instead of source paths");
  app.add_option("--listen", o->listen, "HOST:PORT to listen on (port 0: any free port)")->required();
  app.add_option("--threads", o->threads, "Worker threads, each with its own event loop (default 2)");
  app.add_option("--auth-tokens", o->tokens, "Bearer tokens, one a line: TOKEN SCOPE[,SCOPE] (decide, admin)");
  app.add_option("--decision-log", o->decision_log, "Write decisions as JSON Lines to FILE, or - for stdout");
  app.add_option("--decision-log-buffer", o->log_buffer, "Log lines held before dropping (default 65536)");
  app.add_option("--max-body", o->max_body, "Largest single body, and batch line, bytes (default 1 MiB)");
  app.add_option("--max-batch-body", o->max_batch_body, "Largest body of a batch, bytes (default 64 MiB)");
  app.add_option("--max-header", o->max_header, "Largest request line and headers, bytes (default 8 KiB)");
  app.add_option("--max-batch", o->max_batch, "Most items of one batch (default 100000)");
  app.add_option("--max-connections", o->max_connections, "Most open connections (default 1024)");
  app.add_option("--request-timeout-ms", o->request_timeout_ms, "Time to receive one request (default 10000)");
  app.add_option("--idle-timeout-ms", o->idle_timeout_ms, "Keep-alive time without a request (default 60000)");
  app.add_option("--watch-interval-ms", o->watch_ms, "Poll sources for changes every N ms; 0: off (default 1000)");
  app.add_option("--authzen-type", o->types, "AuthZEN type alias EXTERNAL=TreatyType (repeatable)");
  app.add_option("--authzen-action", o->actions, "AuthZEN action name alias EXTERNAL=treaty_action (repeatable)");
  app.add_option("--max-search-results", o->max_search_results,
                 "Most results of one page of an AuthZEN search (default 1000)");
  app.add_option("--base-url", o->base_url, "Public base URL for the AuthZEN metadata (default: from Host)");
  app.add_option("--state", o->state,
                 "Keep the live facts (POST /v1/facts) in DIR: a write-ahead log and snapshots, recovered on start");
  app.add_flag("--no-sync", o->no_sync, "Do not fdatasync the write-ahead log (benchmarks only: a crash loses writes)");
  app.add_option("--max-revision-wait-ms", o->revision_wait_ms,
                 "Longest wait for the revision a request asks for (default 2000), then 503");
  app.add_option("--facts", o->facts,
                 "Load the facts from PostgreSQL (postgresql://... or a libpq connection string; the schema of "
                 "`treaty schema sql`) and follow its changes; POST /v1/facts writes through to it");
  app.add_option("--max-lag-ms", o->max_lag_ms,
                 "With --facts: /health/ready is 503 while the facts lag PostgreSQL by more (default 5000)");
  app.add_option("--facts-poll-ms", o->facts_poll_ms,
                 "With --facts: read PostgreSQL's changes at least this often, besides on NOTIFY (default 100)");
  app.add_option("--compact-after", o->compact_after,
                 "Fold the writes into a new world once they hold N entities (default 100000)");
  return [o]() -> int {
    if (o->bundle.empty() == o->paths.empty()) {
      std::cerr << "treaty: error: give policy PATHs or --bundle FILE (one of them)\n";
      return kUsage;
    }
    if (!o->state.empty() && !o->bundle.empty()) {
      std::cerr << "treaty: error: --state needs policy PATHs: a bundle's world cannot be rebuilt from the state\n";
      return kUsage;
    }
    if (!o->facts.empty() && (!o->bundle.empty() || !o->state.empty() || !o->data.empty())) {
      std::cerr << "treaty: error: --facts takes the facts from PostgreSQL: give policy PATHs without --bundle, "
                   "--state or --data\n";
      return kUsage;
    }
    server::Options so;
    const auto colon = o->listen.rfind(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument("no port");
      so.host = o->listen.substr(0, colon);
      if (so.host.size() > 2 && so.host.front() == '[' && so.host.back() == ']') so.host = so.host.substr(1, so.host.size() - 2);
      const long port = std::stol(o->listen.substr(colon + 1));
      if (port < 0 || port > 65535) throw std::out_of_range("port");
      so.port = static_cast<std::uint16_t>(port);
    } catch (const std::exception&) {
      std::cerr << "treaty: error: --listen takes HOST:PORT, e.g. 127.0.0.1:8181\n";
      return kUsage;
    }
    so.threads = std::max(1u, o->threads);
    if (!o->tokens.empty()) {
      std::string err;
      if (!server::read_tokens(o->tokens, so.tokens, err)) {
        std::cerr << "treaty: error: " << err << "\n";
        return kUsage;
      }
    }
    for (const auto& t : o->types) {
      const auto eq = t.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == t.size()) {
        std::cerr << "treaty: error: --authzen-type takes EXTERNAL=TreatyType\n";
        return kUsage;
      }
      so.authzen_types[t.substr(0, eq)] = t.substr(eq + 1);
    }
    for (const auto& t : o->actions) {
      const auto eq = t.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == t.size()) {
        std::cerr << "treaty: error: --authzen-action takes EXTERNAL=treaty_action\n";
        return kUsage;
      }
      so.authzen_actions[t.substr(0, eq)] = t.substr(eq + 1);
    }
    if (o->max_search_results == 0) {
      std::cerr << "treaty: error: --max-search-results must be at least 1\n";
      return kUsage;
    }
    so.max_search_results = o->max_search_results;
    so.decision_log = o->decision_log;
    so.decision_log_buffer = std::max<std::size_t>(1, o->log_buffer);
    so.max_body = o->max_body;
    so.max_batch_body = std::max(o->max_batch_body, o->max_body);
    so.max_header = o->max_header;
    so.max_batch = o->max_batch;
    so.max_connections = std::max<std::size_t>(1, o->max_connections);
#ifdef __GLIBC__
    // A fixed mmap threshold: every block of 128 KB or more (an engine's columns, indexes and
    // bitmaps, a world's tables) gets its own mapping and goes back to the system when freed.
    // glibc's default threshold rises to 32 MB as such blocks are freed, after which a replaced
    // engine's tables come from the arenas and stay there: in the soak test (scripts/soak.sh) the
    // resident size after each reload wandered between 52 and 86 MB (1.11x from the second
    // minute to the last), and with this it stays within 52-57 MB (1.02x). An operator's own
    // setting (MALLOC_MMAP_THRESHOLD_, GLIBC_TUNABLES) is left alone.
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr &&
        (tunables == nullptr || std::string_view(tunables).find("mmap_threshold") == std::string_view::npos))
      (void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
    // Each connection is a descriptor: raise the soft limit to the hard one (as nginx's
    // worker_rlimit_nofile and Go's runtime do), and say so when it is still too low.
    if (rlimit nofile{}; getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
      if (nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &nofile);
        (void)getrlimit(RLIMIT_NOFILE, &nofile);
      }
      if (nofile.rlim_cur != RLIM_INFINITY && nofile.rlim_cur < so.max_connections + 64)
        std::cerr << "treaty serve: warning: the limit of open files (" << nofile.rlim_cur
                  << ") is below --max-connections (" << so.max_connections << ") plus the server's own files\n";
    }
    so.request_timeout = std::chrono::milliseconds(std::max(1L, o->request_timeout_ms));
    so.idle_timeout = std::chrono::milliseconds(std::max(1L, o->idle_timeout_ms));
    so.watch_interval = std::chrono::milliseconds(std::max(0L, o->watch_ms));
    so.base_url = o->base_url;
    so.state_dir = o->state;
    so.state_sync = !o->no_sync;
    so.compact_after = std::max<std::size_t>(1, o->compact_after);
    so.max_revision_wait = std::chrono::milliseconds(std::max(0L, o->revision_wait_ms));
    so.facts_url = o->facts;
    so.max_lag = std::chrono::milliseconds(std::max(1L, o->max_lag_ms));
    so.facts_poll = std::chrono::milliseconds(std::max(1L, o->facts_poll_ms));
    so.watch_files = o->bundle.empty() ? o->paths : std::vector<std::string>{o->bundle};
    so.watch_files.insert(so.watch_files.end(), o->data.begin(), o->data.end());

    LoadOptions lo;
    lo.paths = o->paths;
    lo.data = o->data;
    lo.bundle = o->bundle;
    lo.bundle_requirements = true;  // a server checks a bundle's facts as it checks a package's
    const bool degrade = !o->facts.empty();
    server::Server srv(std::move(so), [lo, degrade](const std::string* facts, std::string& error) {
      return load_snapshot(lo, facts, error, degrade);
    });
    std::string error;
    if (!srv.load(error)) {
      if (degrade) std::cerr << "treaty serve: error: " << error << "\ntreaty: error: the policy or its facts from PostgreSQL could not be loaded\n";
      else std::cerr << error << "treaty: error: the policy has errors; run `treaty check` for details\n";
      return kProblems;
    }
    return srv.run();
  };
}

}  // namespace treaty::cli
