// Shared by the server harnesses (fuzz_authzen, fuzz_native, fuzz_search, fuzz_facts_write): a
// policy compiled once, servers over it answering requests in process through
// Server::exchange (no socket), and the checks every answer must pass.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/server.hpp"
#include "treaty/compile.hpp"

#ifndef TREATY_SOURCE_DIR
#define TREATY_SOURCE_DIR "."
#endif

namespace treaty::fuzz {

/// A policy directory compiled once (with its facts), shared read-only by every server over it.
struct Compiled {
  SourceManager sm;
  Package pkg;
  std::unique_ptr<Engine> engine;
};

inline std::shared_ptr<Compiled> compile_policy(const std::string& dir) {
  auto x = std::make_shared<Compiled>();
  Diagnostics d;
  CompileOptions opts;
  opts.last = Step::load;
  treaty::Compiled c = compile(x->sm, Sources::from_paths({std::string(TREATY_SOURCE_DIR) + "/" + dir}), d, opts);
  if (d.has_errors() || !c.engine) {
    std::fprintf(stderr, "fuzz: %s does not compile\n", dir.c_str());
    std::abort();
  }
  x->pkg = std::move(c.pkg);
  x->engine = std::move(c.engine);
  return x;
}

inline constexpr const char* kToken = "fuzz-token";

/// A server over `policy` (the bearer token kToken may decide and write; no admin, so no
/// reload), loaded and ready for exchange(). Revision waits do not wait: a request for a revision
/// not there is answered 503 at once.
/// The servers' --max-batch: a longer batch is answered up to it, then ends with an error line.
inline constexpr std::size_t kMaxBatch = 64;

inline std::unique_ptr<server::Server> make_server(std::shared_ptr<Compiled> policy,
                                                   std::map<std::string, std::string> types = {}) {
  server::Options o;
  o.tokens.push_back({kToken, true, false, true});
  o.max_revision_wait = std::chrono::milliseconds(0);
  o.max_search_results = 50;
  o.max_batch = kMaxBatch;
  o.max_body = 64 << 10;
  o.max_batch_body = 256 << 10;
  o.authzen_types = std::move(types);
  auto loader = [policy](const std::string* facts, std::string& error) -> std::shared_ptr<server::Snapshot> {
    if (facts) {  // only a reload gives facts, and these servers are never reloaded
      error = "the fuzz loader takes no live facts";
      return nullptr;
    }
    auto s = std::make_shared<server::Snapshot>();
    s->owner = policy;
    s->engine = policy->engine.get();
    s->sm = &policy->sm;
    s->checksum = "fuzz";
    s->loaded_at = std::chrono::system_clock::now();
    return s;
  };
  auto srv = std::make_unique<server::Server>(std::move(o), loader);
  std::string error;
  if (!srv->load(error)) {
    std::fprintf(stderr, "fuzz: the server does not load: %s\n", error.c_str());
    std::abort();
  }
  return srv;
}

inline server::Server::Exchange post(server::Server& s, std::string_view target, std::string body,
                                     const char* content_type = "application/json") {
  std::vector<std::pair<std::string, std::string>> h{{"Authorization", std::string("Bearer ") + kToken}};
  if (content_type) h.emplace_back("Content-Type", content_type);
  return s.exchange("POST", target, h, std::move(body));
}
inline server::Server::Exchange get(server::Server& s, std::string_view target) {
  return s.exchange("GET", target, {{"Authorization", std::string("Bearer ") + kToken}}, "");
}

/// Aborts with the request and the answer when `ok` is false: an invariant broke.
inline void require(bool ok, const char* what, std::string_view request, const server::Server::Exchange& x) {
  if (ok) return;
  std::fprintf(stderr, "fuzz: invariant broken: %s\nrequest: %.*s\nstatus %u: %s\n", what,
               static_cast<int>(std::min<std::size_t>(request.size(), 4000)), request.data(), x.status,
               x.body.substr(0, 4000).c_str());
  std::abort();
}

/// The answer's body as JSON; every answer of these endpoints is JSON.
inline nlohmann::json body_json(std::string_view request, const server::Server::Exchange& x) {
  auto j = nlohmann::json::parse(x.body, nullptr, false);
  require(!j.is_discarded(), "the answer is JSON", request, x);
  return j;
}

/// Whatever is not a 200 is an error: `{"error": ...}` and no decision that allows.
inline void require_error_shape(std::string_view request, const server::Server::Exchange& x) {
  if (x.status == 200) return;
  const auto j = body_json(request, x);
  require(x.status >= 400 && x.status < 600, "a refusal has a 4xx or 5xx status", request, x);
  require(j.is_object() && j.contains("error"), "a refusal says why in \"error\"", request, x);
  require(!j.contains("decision") || j["decision"] == false || j["decision"] == "deny",
          "a refusal never allows", request, x);
}

}  // namespace treaty::fuzz
