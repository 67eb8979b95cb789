// Live facts: a world that takes writes while it answers decisions.
//
// A batch `{"upsert": [entities in the facts JSON format], "delete": [{"type": T, "id": I}]}` is
// converted through the one converter (EntityLoader, as a data file's entities), checked whole
// (types, references, deletes that would leave a reference dangling, keys, and every requirement
// the batch can affect) and, when it has no error, committed atomically under the next revision.
// Readers take the engine of one revision (current()) and keep it for the whole of a decision, a
// search page or a batch: they never see half a batch, and an engine stays valid while held.
//
// With a journal (a write-ahead log), a batch is acknowledged, and becomes visible, only once the
// journal says it is durable; several writers share one flush (group commit): each validates in
// turn under the writer lock, and they wait for the disk together.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "treaty/runtime.hpp"

namespace treaty {

/// Where committed batches go before they are acknowledged (the server's write-ahead log).
struct Journal {
  virtual ~Journal() = default;
  /// Queues the batch of `revision`; never waits for I/O. Batches are queued in revision order.
  virtual std::uint64_t enqueue(std::uint64_t revision, std::string payload) = 0;
  /// Waits until the batch of `ticket` is on disk; false with `error` when it cannot be.
  virtual bool wait_durable(std::uint64_t ticket, std::string& error) = 0;
};

/// One problem of a rejected batch: a code (E08xx of the converter, or `key`, `requirement`,
/// `reference`, `batch`) and a message that names the place in the batch (`upsert[3].attrs.role`).
struct WriteError {
  std::string code;
  std::string message;
};

struct WriteResult {
  bool ok = false;
  std::uint64_t revision = 0;      ///< the batch's revision when ok
  std::vector<WriteError> errors;  ///< why it was rejected (nothing changed)
  bool unavailable = false;        ///< rejected for a server-side reason (the journal failed): retry later
  /// Requirements the batch breaks, applied anyway (follow(): the facts' source committed it).
  std::vector<WriteError> violations;
  std::size_t upserts = 0, deletes = 0;
};

struct LiveOptions {
  /// Most entities one batch may upsert or delete.
  std::size_t max_batch = 100'000;
};

class LiveFacts {
 public:
  /// Live facts over `base` (an engine without writes), at revision `revision` (0 for a world as
  /// loaded, or the revision a snapshot of the state was taken at).
  explicit LiveFacts(std::shared_ptr<const Engine> base, std::uint64_t revision = 0, LiveOptions o = {});
  ~LiveFacts();
  LiveFacts(const LiveFacts&) = delete;
  LiveFacts& operator=(const LiveFacts&) = delete;

  /// Batches go to `j` before they are acknowledged (null: acknowledged once applied in memory).
  /// Set before the first write; `j` must outlive this.
  void set_journal(Journal* j) { journal_ = j; }

  /// The engine of the latest acknowledged revision.
  [[nodiscard]] std::shared_ptr<const Engine> current() const;
  /// The latest acknowledged revision; lock-free, so a reader may poll it on every request and
  /// take current() only when it moved.
  [[nodiscard]] std::uint64_t revision() const { return published_.load(std::memory_order_acquire); }
  /// Waits up to `timeout` for revision `r` to be acknowledged; the engine of a revision >= r, or
  /// null when it did not come in time.
  [[nodiscard]] std::shared_ptr<const Engine> at_least(std::uint64_t r, std::chrono::milliseconds timeout) const;

  /// Validates and commits one batch (see the file comment). Thread-safe. `text`, when given, is
  /// the JSON text `batch` was parsed from (strictly: parse_json), journaled and kept as it came
  /// instead of serialising the batch again.
  WriteResult write(const nlohmann::json& batch, std::string_view text = {});
  /// Re-applies a batch read back from the journal at startup: it must get revision `revision`
  /// (the next one) and pass validation as it did when it was first written; no journal write.
  WriteResult replay(const nlohmann::json& batch, std::uint64_t revision);

  /// Validates a batch as write() does, over the latest validated revision, and commits nothing:
  /// the engine it would make, or null with the errors in `r` (a write-through to another system
  /// of record checks a batch so before sending it there).
  [[nodiscard]] std::shared_ptr<const Engine> check(const nlohmann::json& batch, WriteResult& r) const;
  /// Applies a batch that the facts' source of truth already committed (the PostgreSQL feed)
  /// under `revision`, which must be above the latest: a batch that breaks a requirement is
  /// applied all the same (a withdrawal must never wait), its violations in WriteResult::
  /// violations; only a batch the world cannot hold (types, references, keys) is refused. A batch
  /// without upserts or deletes only moves the revision. No journal.
  /// `before_publish`, when given, is called with the engine of the new revision (and the result)
  /// before any reader can take it: what must be known of a revision once it is visible.
  WriteResult follow(const nlohmann::json& batch, std::uint64_t revision,
                     const std::function<void(const Engine&, const WriteResult&)>& before_publish = {});

  /// Starts a rebase: the engine of the latest acknowledged revision, whose facts the caller
  /// exports to build the next base from; from now until rebase() or cancel_rebase(), every batch
  /// after it is kept to be applied again. (Otherwise a batch is kept only until it is
  /// acknowledged: memory does not grow with the writes.)
  [[nodiscard]] std::shared_ptr<const Engine> begin_rebase();
  void cancel_rebase();
  /// The base can only be rebuilt without the live facts (a bundle brings its own world): a
  /// rebase with `at` 0 then applies, on top of the new world, one batch of the net state of
  /// every entity the writes since the start touched (upserts of the live ones, deletes of the
  /// deleted, a delete of an entity the new world does not have being done already), instead of
  /// every batch again. What a rebase costs grows with the entities written, not with the writes.
  void rebase_with_net_writes() { std::lock_guard lock(write_m_); net_ = true; }
  /// Replaces the base engine: `fresh` holds the facts of revision `at` in its world (a compacted
  /// world, or the policies reloaded over the live facts; `at` is 0 for a world without them).
  /// Batches committed after `at` are applied again on top of it; false with `error` (nothing
  /// changed) if one no longer applies, or if a batch after `at` is no longer kept.
  bool rebase(std::shared_ptr<const Engine> fresh, std::uint64_t at, std::string& error);
  /// The batches committed since the base engine's revision, oldest first (revision, JSON text).
  [[nodiscard]] std::vector<std::pair<std::uint64_t, std::string>> history_since(std::uint64_t r) const;
  /// Entities the writes hold over the base world (how far a compaction would fold).
  [[nodiscard]] std::size_t delta_size() const;

  struct Counters {
    std::uint64_t batches = 0, rejected = 0, upserts = 0, deletes = 0;
  };
  [[nodiscard]] Counters counters() const;

 private:
  enum class Mode { write, replay, follow };
  WriteResult apply(const nlohmann::json& batch, std::uint64_t want_revision, bool journal, Mode mode,
                    const std::function<void(const Engine&, const WriteResult&)>* before_publish = nullptr,
                    std::string_view text = {});
  /// Builds the engine of `batch` over `over`; nullptr with the errors in `r`. With
  /// `allow_requirements`, requirement violations go to r.violations and do not refuse it; with
  /// `any_size`, LiveOptions::max_batch does not apply (the net state of the writes).
  std::shared_ptr<const Engine> prepare(const Engine& over, const nlohmann::json& batch, std::uint64_t revision,
                                        WriteResult& r, bool allow_requirements = false, bool any_size = false) const;

  LiveOptions o_;
  Journal* journal_ = nullptr;
  mutable std::mutex write_m_;  ///< one batch validated at a time
  std::shared_ptr<const Engine> staged_;  ///< the latest validated (maybe not yet durable): under write_m_
  std::shared_ptr<const Engine> base_;    ///< the engine without writes: under write_m_
  std::uint64_t base_revision_ = 0;
  /// Batches not yet acknowledged, and during a rebase those after its revision: under write_m_.
  std::vector<std::pair<std::uint64_t, std::string>> history_;
  std::optional<std::uint64_t> hold_;  ///< a rebase from this revision is being prepared
  bool net_ = false;  ///< rebase_with_net_writes()
  /// rebase() with rebase_with_net_writes() and `at` 0, under write_m_.
  bool rebase_net(std::shared_ptr<const Engine> fresh, std::string& error);
  /// The end of a rebase (under write_m_): publishes `top` over the new world `base` (of revision
  /// `base_revision`) with `history` the batches still kept.
  void install_rebase(std::shared_ptr<const Engine> base, std::shared_ptr<const Engine> top, std::uint64_t base_revision,
                      std::vector<std::pair<std::uint64_t, std::string>> history);
  /// The net state of every entity `top`'s writes touched, as one batch.
  static nlohmann::json net_batch(const Engine& top);
  /// Drops a batch's deletes of entities `over` does not have, and gives them.
  static nlohmann::json drop_absent_deletes(const Engine& over, nlohmann::json& batch);
  /// With net_: the writes' deletes the last rebase found done already (the entity was not in
  /// its world), applied again at the next one: (type, id). Under write_m_.
  std::vector<std::pair<std::string, std::string>> absent_deletes_;
  bool following_ = false;  ///< follow() was used: a rebase applies requirement violations again too
  void trim_history();
  bool failed_ = false;  ///< the journal failed: no more writes (under write_m_)
  /// Indexes of the base world's reference columns, built the first time a delete needs one
  /// (under write_m_; dropped when the base changes): the holders of a deleted entity are found
  /// without a scan. Opaque here (treaty/data/index.hpp).
  struct RefIndexes;
  mutable std::shared_ptr<RefIndexes> ref_indexes_;

  mutable std::mutex pub_m_;  ///< current_ and the waiters
  mutable std::condition_variable pub_cv_;
  std::shared_ptr<const Engine> current_;
  std::atomic<std::uint64_t> published_{0};  ///< current_'s revision
  std::vector<std::shared_ptr<const Engine>> durable_;  ///< acknowledged out of order, waiting for earlier ones
  Counters counters_;
};

/// The live entities of `e` (world and writes) in the facts JSON format (`{"type", "id", "attrs"}`),
/// leaving out the facts written in the policy's source (they come back with it): what a snapshot
/// of the state holds. Entity references are ids, or {"type", "id"} where the attribute's type is
/// a union; enums by name; sets as arrays; none as null.
[[nodiscard]] nlohmann::json export_facts(const Engine& e);
/// One entity of `e` in that format.
[[nodiscard]] nlohmann::json entity_json(const Engine& e, EntityId id);

}  // namespace treaty
