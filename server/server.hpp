// `treaty serve`: an HTTP policy decision point over Boost.Beast.
//
// AuthZEN 1.0 (evaluation, evaluations, metadata), the native API (decide, batch, mask, status),
// operations (health, metrics, decision log) and hot reload. The server holds the current policy
// as an immutable Snapshot; a reload builds the next one off the request path and publishes it
// atomically, so requests in flight finish on the engine they started with.
//
// Threads: `threads` workers each run an io_context of their own, a connection staying on the
// one it was given (the fewest connections); each request is decided synchronously on the
// worker that read it. The main thread accepts and handles signals; one more thread rebuilds
// snapshots (reload) and one writes the decision log. Nothing on the decision path blocks on I/O.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "treaty/runtime.hpp"
#include "treaty/source.hpp"

namespace treaty::server {

/// One loaded policy: its engine, the source its spans point into, and what /v1/status reports.
/// Immutable once published.
struct Snapshot {
  std::shared_ptr<void> owner;  ///< keeps engine and sources alive (the loader's own structure)
  const Engine* engine = nullptr;
  const SourceManager* sm = nullptr;
  std::string checksum;                ///< of every source, data and bundle file, hex
  std::vector<std::string> sources;    ///< the files it was built from
  std::chrono::system_clock::time_point loaded_at;
  std::uint64_t generation = 0;        ///< set by the server when published
  /// The engine of the revision of the live facts this snapshot answers from (`engine` points to
  /// it once the server published the snapshot); a write publishes a copy with the next one.
  std::shared_ptr<const Engine> held;
  std::uint64_t policy_generation = 0;  ///< set by the server: changes with a reload, not a write
  /// Whether the loader built the world from the live facts it was given (sources can; a bundle
  /// brings its own world, and the writes since it was loaded are applied again on top).
  bool took_facts = false;
  bool can_take_facts = true;  ///< false for a bundle
  /// The requirements the facts break, when the loader was told to apply such facts anyway (the
  /// facts come from PostgreSQL, the source of truth: reported as degraded, never refused).
  std::vector<std::string> violations;

  // Precomputed for responses (filled by prepare()).
  std::vector<std::string> rule_name_json;  ///< by rule: `"name"` (JSON string)
  std::vector<std::string> rule_ref_json;   ///< by rule: `{"rule":..,"file":..,"line":..}`
  std::vector<std::atomic<std::uint64_t>*> action_counters;  ///< by action: [allow, deny, error]
  /// Fills the precomputed fields from engine and sm.
  void prepare();
};

/// Builds a snapshot from the configured sources; on failure returns null with `error` set
/// (every diagnostic, rendered). Called on the reload thread. `facts`, when not null, is the live
/// facts as a facts JSON document: the world to build in place of the data files (it sets
/// Snapshot::took_facts when it did).
using Loader = std::function<std::shared_ptr<Snapshot>(const std::string* facts, std::string& error)>;

struct Token {
  std::string secret;
  bool decide = false;
  bool admin = false;
  bool write = false;  ///< POST /v1/facts
};

/// Reads a token file: one token a line, `SECRET SCOPE[,SCOPE]` (scopes `decide`, `write`, `admin`),
/// `#` comments. Returns false with `error` on a malformed line.
bool read_tokens(const std::string& path, std::vector<Token>& out, std::string& error);

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8181;  ///< 0: any free port (printed on stderr)
  unsigned threads = 2;
  std::vector<Token> tokens;            ///< empty: decide endpoints are open; admin ones refused
  std::string decision_log;             ///< file, "-" for stdout, empty for none
  std::size_t decision_log_buffer = 65536;  ///< lines held before dropping
  std::size_t max_body = 1 << 20;           ///< bytes, single requests
  std::size_t max_batch_body = 64 << 20;    ///< bytes, /v1/decide/batch and /access/v1/evaluations
  std::size_t max_header = 8 << 10;         ///< bytes of the request line and headers
  std::size_t max_batch = 100'000;          ///< items of one batch
  std::size_t max_connections = 1024;
  std::chrono::milliseconds request_timeout{10'000};  ///< to read one whole request
  std::chrono::milliseconds idle_timeout{60'000};     ///< keep-alive with no request
  std::chrono::milliseconds watch_interval{1000};     ///< file change polling; 0: off
  std::vector<std::string> watch_files;               ///< sources to watch for changes
  std::map<std::string, std::string> authzen_types;   ///< AuthZEN type -> Treaty entity type
  std::map<std::string, std::string> authzen_actions; ///< AuthZEN action name -> Treaty action
  std::size_t max_search_results = 1000;              ///< results of one page of an AuthZEN search
  std::string base_url;                               ///< for the metadata; empty: from Host
  /// Live facts (POST /v1/facts). With `state_dir`, every batch is in its write-ahead log before
  /// it is acknowledged, snapshots are written there, and a restart recovers both.
  std::string state_dir;
  bool state_sync = true;                  ///< fdatasync the log (off only for benchmarks)
  std::size_t compact_after = 100'000;     ///< entities the writes hold before they are folded into the world
  std::chrono::milliseconds max_revision_wait{2000};  ///< longest wait for X-Treaty-Min-Revision
  /// The facts from PostgreSQL (a libpq connection string or postgresql:// URL): loaded at start,
  /// then followed (server/pg.hpp); POST /v1/facts writes through to it. Empty: none.
  std::string facts_url;
  std::chrono::milliseconds max_lag{5000};     ///< /health/ready is 503 while the feed lags more
  std::chrono::milliseconds facts_poll{100};   ///< read the changes at least this often
};

class Server {
 public:
  Server(Options opts, Loader loader);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Loads the first snapshot; false with `error` when it fails.
  bool load(std::string& error);
  /// Listens, prints `listening on HOST:PORT` on stderr, serves until SIGTERM or SIGINT (then
  /// drains in-flight requests), and returns the process exit code.
  int run();
  /// Asks the server to drain and stop (as SIGTERM does); safe from any thread.
  void stop();

  /// What exchange() answers: the response the transport would send.
  struct Exchange {
    unsigned status = 0;  ///< 0: answered later (an admin reload), which exchange() does not wait for
    std::string body;
    std::string content_type;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  /// Answers one request in process, without a socket, as the transport does once it has read it:
  /// the body limits (413), the routing, the endpoints, and a streamed `POST /v1/decide/batch`
  /// answered whole. For tests and the fuzz harnesses (fuzz/fuzz_server.hpp); the server need
  /// not run(), only load(). Not to be called while run() serves.
  Exchange exchange(std::string_view method, std::string_view target,
                    const std::vector<std::pair<std::string, std::string>>& headers, std::string body);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace treaty::server
