// Internal to server/: the server's shared state, seen by the transport (http.cpp), the endpoints
// (api.cpp, authzen.cpp) and telemetry (telemetry.cpp).
#pragma once

#include <utility>  // before Asio under GCC 12

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <type_traits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <simdjson.h>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "pg.hpp"
#include "server.hpp"
#include "treaty/data/wal.hpp"
#include "treaty/data/world.hpp"
#include "treaty/live.hpp"
#include "treaty/request_reader.hpp"

namespace treaty::server {
namespace http = boost::beast::http;
namespace asio = boost::asio;
}  // namespace treaty::server

namespace treaty::server::internal {

using HttpRequest = http::request<http::string_body>;

enum class Endpoint : unsigned {
  evaluation, evaluations, search_subject, search_resource, search_action, metadata, decide, batch, mask, status, reload, live, ready, metrics, facts, facts_get, other, count
};
const char* endpoint_path(Endpoint e);

/// What a handler answers.
struct Response {
  unsigned status = 200;
  std::string body;
  const char* content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;
  bool deferred = false;  ///< the handler will answer later through the callback
};
using Later = std::function<void(Response)>;
/// Makes the callback for an answer given later (a reload), only when a handler asks: a plain
/// request builds none. Refers to a callable that outlives the call it is passed to.
class LaterFactory {
 public:
  template <class F>
  LaterFactory(F&& f)  // NOLINT: implicit, from a lambda
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o) -> Later { return (*static_cast<std::remove_reference_t<F>*>(o))(); }) {}
  Later operator()() const { return call_(obj_); }

 private:
  void* obj_;
  Later (*call_)(void*);
};

/// Latency histogram (seconds buckets), lock-free.
struct Histogram {
  static constexpr std::array<double, 14> kBounds = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                     0.0025, 0.005, 0.01, 0.025, 0.1, 1, 10};
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets{};
  std::atomic<std::uint64_t> count{0}, sum_ns{0};
  void observe(std::uint64_t ns) noexcept {
    std::size_t i = 0;
    const double s = static_cast<double>(ns) * 1e-9;
    while (i < kBounds.size() && s > kBounds[i]) ++i;
    buckets[i].fetch_add(1, std::memory_order_relaxed);
    count.fetch_add(1, std::memory_order_relaxed);
    sum_ns.fetch_add(ns, std::memory_order_relaxed);
  }
};

/// Counters of decisions by action: [allow, deny, error].
using ActionCounters = std::array<std::atomic<std::uint64_t>, 3>;

struct Metrics {
  std::array<Histogram, static_cast<unsigned>(Endpoint::count)> latency;
  /// Responses by endpoint and status class (2xx, 4xx, 5xx).
  std::array<std::array<std::atomic<std::uint64_t>, 3>, static_cast<unsigned>(Endpoint::count)> responses{};
  std::atomic<std::uint64_t> reloads_ok{0}, reloads_failed{0};
  std::atomic<std::uint64_t> connections_open{0}, connections_total{0}, connections_rejected{0},
      connections_evicted{0};  ///< idle connections closed to make room for a new one
  std::atomic<std::uint64_t> log_written{0}, log_dropped{0};
  std::atomic<std::uint64_t> writes_ok{0}, writes_rejected{0}, writes_unavailable{0}, upserts{0}, deletes{0};
  std::atomic<std::uint64_t> state_snapshots{0}, compactions{0}, revision_waits_timed_out{0};
  std::mutex m;
  std::map<std::string, std::unique_ptr<ActionCounters>> by_action;  ///< nodes are stable
  ActionCounters* counters_for(const std::string& action);
};

/// Decision log: JSON Lines through a bounded buffer. push() never waits for I/O: it takes a
/// mutex for the time of a move into a vector, and drops (and counts) the line when the buffer
/// is full. A writer thread swaps the buffer out and writes it.
class DecisionLog {
 public:
  DecisionLog(Metrics& m) : metrics_(m) {}
  ~DecisionLog() { stop(); }
  bool start(const std::string& path, std::size_t capacity, std::string& error);
  [[nodiscard]] bool enabled() const { return enabled_; }
  void push(std::string line) noexcept;
  void stop();

 private:
  void run();
  Metrics& metrics_;
  bool enabled_ = false;
  std::size_t capacity_ = 0;
  std::FILE* out_ = nullptr;
  bool own_ = false;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::string> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

/// Per worker thread: a JSON parser (reused, so parsing allocates nothing once warm) and the
/// snapshot this thread last saw.
struct Worker {
  simdjson::dom::parser parser;
  std::shared_ptr<const Snapshot> snap;
  std::shared_ptr<const struct Names> names;
  std::uint64_t generation = ~std::uint64_t{0};
  std::uint64_t policy_generation = ~std::uint64_t{0};
  /// The server (Impl::server_id) this thread last served: generations count per server, so a second
  /// server in the process (tests, fuzz harnesses) must not take another one's snapshot.
  std::uint64_t server = 0;
  std::string scratch;
  /// The request hot path over this snapshot's engine (rebuilt with the snapshot).
  std::unique_ptr<RequestReader> reader;
  std::unique_ptr<DecisionWriter> writer;
  Request request;  ///< reused: its args keep their capacity
};

/// Fast lookups of a snapshot, built once per snapshot: names to ids without allocation.
struct Names {
  std::unordered_map<std::string_view, TypeId> types;      ///< Treaty names and AuthZEN aliases
  std::unordered_map<std::string_view, std::uint32_t> actions;
  std::vector<bool> request_supplied;  ///< by type: `inline entity` with no facts: may omit its id
  std::vector<std::string> action_names;  ///< by action: its AuthZEN name (an --authzen-action alias, else its own)
};

/// A streamed `POST /v1/decide/batch`: the transport hands it the body as it arrives and writes
/// out what it answers, so neither the body nor the answers are ever held whole. Lines are
/// answered in order as soon as they are complete; memory is one read, one line (at most
/// `max_body` bytes; a longer line is answered as an error and skipped, not held) and about
/// kFlush bytes of answers.
class BatchStream {
 public:
  static constexpr std::size_t kRead = 64 << 10;   ///< room offered to each read of the body
  static constexpr std::size_t kFlush = 64 << 10;  ///< answers held before they are written
  enum class State {
    more,     ///< every complete line is answered: give it more of the body
    full,     ///< kFlush bytes of answers are waiting: write them, then run again
    too_many  ///< a line beyond `max_batch`: the batch ends there
  };
  virtual ~BatchStream() = default;
  /// Room for the next piece of the body (at least kRead bytes); commit() says how much came.
  virtual std::pair<char*, std::size_t> space() = 0;
  virtual void commit(std::size_t n) = 0;
  /// Answers the complete lines received into out(), until out() holds kFlush bytes. `end`: the
  /// body is complete, so a last line without a newline is complete too.
  virtual State run(bool end) = 0;
  /// The answers not yet written: the transport writes and clears them.
  virtual std::string& out() = 0;
  /// Appends the line that ends a batch cut short: `{"error": message}`.
  virtual void fail(std::string_view message) = 0;
  /// Counts the batch and its response in the metrics, once: before its last chunk is written
  /// (a client that has read the whole answer finds it counted), else when destroyed.
  virtual void finish() = 0;
  /// The status the response was sent with (for the metrics); 200 unless refused before it began.
  unsigned status = 200;
  /// The revision of the live facts every line is answered from (X-Treaty-Revision).
  std::uint64_t revision = 0;
};

class Session;

/// The write-ahead log as the live facts' journal.
class WalJournalAdapter : public Journal {
 public:
  explicit WalJournalAdapter(WriteAheadLog& w) : w_(w) {}
  std::uint64_t enqueue(std::uint64_t revision, std::string payload) override {
    return w_.enqueue(revision, std::move(payload));
  }
  bool wait_durable(std::uint64_t ticket, std::string& error) override { return w_.wait_durable(ticket, error); }

 private:
  WriteAheadLog& w_;
};

}  // namespace treaty::server::internal

namespace treaty::server {

struct Server::Impl {
  /// Unique in the process, never 0 (Worker::server).
  const std::uint64_t server_id = [] {
    static std::atomic<std::uint64_t> next{0};
    return ++next;
  }();
  Options opts;
  Loader loader;
  internal::Metrics metrics;
  internal::DecisionLog log{metrics};

  // The current snapshot. Readers compare `generation` with their own and take the mutex only
  // when it changed (once per reload per thread).
  std::mutex snap_m;
  std::shared_ptr<const Snapshot> current;
  std::shared_ptr<const internal::Names> current_names;
  std::atomic<std::uint64_t> generation{0};
  std::string last_reload_error;  ///< under snap_m
  std::chrono::system_clock::time_point last_reload_attempt;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  // Reload thread.
  std::mutex reload_m;
  std::condition_variable reload_cv;
  bool reload_wanted = false, stopping = false;
  std::vector<internal::Later> reload_waiters;  ///< admin requests waiting for the result
  std::thread reload_thread, watch_thread;
  void reload_loop();
  void watch_loop();
  void request_reload(internal::Later waiter);
  /// Builds and publishes a snapshot; false with `error`.
  bool reload_now(std::string& error);
  void publish(std::shared_ptr<Snapshot> s);
  std::uint64_t policy_generation = 0;  ///< under snap_m

  // Live facts (server/facts.cpp).
  std::shared_ptr<LiveFacts> live;         ///< set by the first load
  std::unique_ptr<PgFeed> feed;            ///< with --facts: the PostgreSQL feed (server/pg_feed.cpp)
  /// POST /v1/facts with --facts: checked here, written to PostgreSQL in one transaction.
  void facts_write_through(const nlohmann::json& batch, internal::Response& out);
  std::uint64_t initial_revision = 0;      ///< of the state snapshot the first load starts from
  std::unique_ptr<WriteAheadLog> wal;
  std::unique_ptr<Journal> journal;
  std::string state_error;                 ///< the last failure of a state snapshot (under snap_m)
  std::uint64_t state_revision = 0;        ///< of the last state snapshot written
  std::thread state_thread;
  std::mutex state_m;
  std::condition_variable state_cv;
  bool state_wanted = false, state_stopping = false;  ///< under state_m
  void stop_state_thread();
  /// Opens --state: reads its snapshot (into `facts`, with its revision) and its log; false with
  /// `error`.
  bool open_state(std::string& facts, std::vector<WalRecord>& records, std::string& error);
  /// Applies the log's batches after the first load; false with `error`.
  bool replay_log(const std::vector<WalRecord>& records, std::string& error);
  void state_loop();
  /// Writes a state snapshot and folds the writes into a new world when they grew large.
  void snapshot_state();
  /// Whether folding the writes into a new world can shrink them (not over a bundle's world).
  bool can_fold();
  /// Publishes the latest revision of the live facts as the current snapshot (after a write).
  void publish_revision();
  void facts_write(const internal::HttpRequest& req, internal::Response& out);
  void facts_get(std::string_view path, internal::Response& out);
  /// Waits for the revision an `X-Treaty-Min-Revision` header asks for; false with the refusal.
  bool wait_for_revision(const internal::HttpRequest& req, internal::Response& out);
  /// The same for a revision number (AuthZEN's `context.treaty_min_revision`).
  bool wait_for_revision_number(std::uint64_t want, internal::Response& out);

  // Transport. `ioc` (run by the main thread) has the acceptor, the signals and the drain
  // watch; each connection lives on one of `loops`, an io_context run by one thread of its own
  // (--threads of them), so its handlers never meet another thread's and a loop's wake-ups need
  // no hand-off between threads (asio's one io_context on N threads woke a second thread through
  // a futex three times a request: 41k against 64k requests/s at one connection, echo alike).
  struct Loop {
    std::atomic<std::int64_t> open{0};  ///< connections on it (before ctx: the handlers ctx
                                        ///< destroys last hold sessions that count down here)
    asio::io_context ctx{1};
  };
  asio::io_context ioc;
  std::vector<std::unique_ptr<Loop>> loops;
  Loop* accepting = nullptr;  ///< the loop of the connection being accepted (do_accept())
  std::optional<asio::ip::tcp::acceptor> acceptor;
  std::atomic<bool> draining{false};
  std::mutex sessions_m;
  std::set<std::weak_ptr<internal::Session>, std::owner_less<std::weak_ptr<internal::Session>>> sessions;
  std::uint16_t bound_port = 0;
  void do_accept();
  void begin_drain();

  /// The thread's worker with an up-to-date snapshot.
  internal::Worker& worker();
  /// Routes one request; answers in `out` or, when it sets out.deferred, through `later`.
  void handle(const internal::HttpRequest& req, internal::Response& out, internal::LaterFactory later);
  /// True for a request the transport streams (`POST /v1/decide/batch`), known from its header.
  static bool streamed(const internal::HttpRequest& req);
  /// Begins a streamed batch once its header is read (tokens checked, the snapshot taken); null
  /// with the refusal in `out` (401, 403, 503), already counted in the metrics.
  std::unique_ptr<internal::BatchStream> open_batch(const internal::HttpRequest& req, internal::Response& out);
  /// Counts a response of `ep` in the metrics: its status class and its duration since `t0`.
  void record(internal::Endpoint ep, unsigned status, std::chrono::steady_clock::time_point t0);
  std::string render_metrics();
  std::string status_json();
  /// Null when the request may go on; else the refusal.
  bool authorize(const internal::HttpRequest& req, bool admin, internal::Response& out, bool write = false) const;
  std::atomic<std::uint64_t> decision_seq{0};
};

}  // namespace treaty::server
