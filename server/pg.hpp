// PostgreSQL as the source of the facts (docs/scale.md): the DDL of a package's schema
// (`treaty schema sql`), and the feed a replica (`treaty serve --facts postgresql://...`) loads
// its world from and follows the changes of.
//
// The layout: a table per entity type, named as the type ("Account"), its key column "id" (text),
// a column per attribute named as the attribute (Bool boolean, Int bigint, String text, an enum a
// text domain named as the enum that checks its values, an entity reference text with a foreign
// key to the referenced table, `T?` nullable, everything else NOT NULL); a set of enums or scalars
// is an array column; a set of entities a link table "Type.attr" ("owner", "value", both with
// foreign keys). Every `key (...)` is a UNIQUE constraint. Foreign keys are DEFERRABLE INITIALLY
// DEFERRED: a transaction may write in any order, and is checked whole at commit, as a batch is.
//
// The change (outbox) table `treaty_outbox` gets one row per entity a statement changed, filled
// by triggers with the entity's whole image (the facts JSON format) or NULL when it was deleted,
// and the transaction id (xid8) that wrote it. `treaty_position()` returns the position a writer
// hands to a replica (X-Treaty-Min-Revision): its transaction's id plus one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <thread>
#include <vector>

#include "server.hpp"
#include "treaty/program.hpp"

namespace treaty::server {

/// The DDL of `schema`: domains, tables, constraints, the outbox, its triggers and
/// treaty_position(), as one transaction (BEGIN ... COMMIT). False with `error` when the schema
/// has something the layout cannot hold (an attribute named `id`, a union of entity types).
bool postgres_ddl(const Schema& schema, std::string& out, std::string& error);

/// A quoted SQL identifier ("Person.teams").
std::string sql_ident(std::string_view name);
/// A quoted SQL string literal ('it''s').
std::string sql_literal(std::string_view text);

/// The PostgreSQL feed of a replica (`treaty serve --facts URL`): the initial load, then the
/// changes, followed on a thread of its own, each source transaction (or a few that must share a
/// position) applied as one revision of the live facts. The revision is PostgreSQL's position:
/// the xmin of the snapshot the replica has read up to, as a number (xid8); a writer's
/// treaty_position() is its transaction id plus one, so a replica at that revision or beyond has
/// applied the transaction.
class PgFeed {
 public:
  PgFeed(Server::Impl& server, std::string url) : srv_(server), url_(std::move(url)) {}
  ~PgFeed() { stop(); }
  PgFeed(const PgFeed&) = delete;
  PgFeed& operator=(const PgFeed&) = delete;

  /// Reads every entity of every Treaty table in one snapshot into a facts JSON document, and
  /// the position it is at; false with `error`.
  bool load(std::string& facts, std::uint64_t& position, std::string& error);
  /// Starts following the changes after the load.
  void start();
  void stop();
  /// Ready: the load is done and the last complete read of the changes began less than `max_lag`
  /// ago.
  [[nodiscard]] bool ready(std::chrono::milliseconds max_lag) const;
  /// Seconds since the start of the last complete read of the changes (infinity before one).
  [[nodiscard]] double lag_seconds() const;
  /// The requirements the facts break (applied anyway: reported, not refused).
  [[nodiscard]] std::vector<std::string> violations() const;
  void set_violations(std::vector<std::string> v, const char* why);
  [[nodiscard]] nlohmann::json status() const;
  /// Writes a batch (checked already) through to PostgreSQL in one transaction: `upserts` are the
  /// entities in the facts format as the replica's converter made them, `deletes` (type, id).
  /// The position of the transaction, or false with `error` (PostgreSQL's message: a broken
  /// foreign key or key, a lost connection); `refused` when PostgreSQL refused the data (an
  /// integrity constraint) rather than failed.
  bool write(const Schema& schema, const std::vector<nlohmann::json>& upserts,
             const std::vector<std::pair<std::string, std::string>>& deletes, std::uint64_t& position,
             std::string& error, bool& refused);

  std::atomic<std::uint64_t> transactions{0};  ///< source transactions applied
  std::atomic<std::uint64_t> changes{0};       ///< entity changes (outbox rows) read
  std::atomic<std::uint64_t> failures{0};      ///< reads that failed (connection, a batch refused)
  std::atomic<std::uint64_t> writes{0};        ///< write-throughs committed

 private:
  void run();
  /// One read of the changes: true when it got to the snapshot's xmin.
  bool poll(void* conn, std::string& error);

  Server::Impl& srv_;
  std::string url_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> position_{0};  ///< applied up to (xmin of the last snapshot read)
  std::string load_snapshot_;        ///< the snapshot of the load: its transactions are in the world
  std::uint64_t load_xmax_ = 0;
  std::atomic<std::int64_t> caught_up_ns_{0};  ///< steady clock: start of the last complete read; 0 none
  mutable std::mutex m_;             ///< what follows
  std::vector<std::string> violations_;
  std::string last_error_;
  std::mutex write_m_;
  void* write_conn_ = nullptr;       ///< the write-through connection (PGconn), opened when first needed
};

}  // namespace treaty::server
