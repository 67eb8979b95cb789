// The PostgreSQL feed of a replica (server/pg.hpp, docs/scale.md): the initial load of the world,
// the changes followed through the outbox under an xid8 snapshot watermark, woken by
// LISTEN/NOTIFY, and the write-through of POST /v1/facts.
#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "internal.hpp"
#include "pg.hpp"

namespace treaty::server {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

/// PQresult that clears itself.
struct Result {
  PGresult* r = nullptr;
  explicit Result(PGresult* x) : r(x) {}
  ~Result() { PQclear(r); }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  [[nodiscard]] bool ok() const {
    const auto s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_SINGLE_TUPLE;
  }
  [[nodiscard]] std::string error() const {
    std::string e = r ? PQresultErrorMessage(r) : "no result";
    while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
    return e;
  }
  [[nodiscard]] int rows() const { return PQntuples(r); }
  [[nodiscard]] std::string_view at(int row, int col) const {
    return {PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col))};
  }
  [[nodiscard]] bool null(int row, int col) const { return PQgetisnull(r, row, col) != 0; }
};

std::string conn_error(PGconn* c) {
  std::string e = c ? PQerrorMessage(c) : "out of memory";
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  return e;
}

PGconn* connect(const std::string& url, std::string& error) {
  PGconn* c = PQconnectdb(url.c_str());
  if (!c || PQstatus(c) != CONNECTION_OK) {
    error = "cannot connect to PostgreSQL: " + conn_error(c);
    PQfinish(c);
    return nullptr;
  }
  return c;
}

bool exec(PGconn* c, const char* sql, std::string& error) {
  Result r(PQexec(c, sql));
  if (!r.ok()) {
    error = r.error();
    return false;
  }
  return true;
}

bool to_u64(std::string_view s, std::uint64_t& out) {
  return std::from_chars(s.data(), s.data() + s.size(), out).ec == std::errc() && !s.empty();
}

/// The xmax of a snapshot's text (`xmin:xmax:xip,...`).
std::uint64_t snapshot_xmax(const std::string& snap) {
  const auto a = snap.find(':');
  const auto b = snap.find(':', a + 1);
  std::uint64_t v = 0;
  if (a != std::string::npos && b != std::string::npos) to_u64(std::string_view(snap).substr(a + 1, b - a - 1), v);
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The initial load
// ---------------------------------------------------------------------------------------------
bool PgFeed::load(std::string& facts, std::uint64_t& position, std::string& error) {
  PGconn* c = connect(url_, error);
  if (!c) return false;
  const auto t0 = Clock::now();
  bool ok = [&] {
    // One snapshot for the whole read; its xmin is the position, and the transactions it sees
    // above the xmin are skipped when the changes are followed (they are in the world already).
    if (!exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", error)) return false;
    std::vector<std::string> types;
    {
      Result r(PQexec(c, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text, pg_current_snapshot()::text"));
      if (!r.ok()) return error = r.error(), false;
      if (!to_u64(r.at(0, 0), position)) return error = "an unreadable snapshot xmin", false;
      load_snapshot_ = std::string(r.at(0, 1));
      load_xmax_ = snapshot_xmax(load_snapshot_);
    }
    {
      Result r(PQexec(c,
                      "SELECT substr(p.proname, 14) FROM pg_proc p WHERE p.proname LIKE 'treaty\\_image\\_%' AND "
                      "p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) ORDER BY 1"));
      if (!r.ok()) return error = r.error(), false;
      for (int i = 0; i < r.rows(); ++i) types.emplace_back(r.at(i, 0));
      Result o(PQexec(c, "SELECT 1 FROM treaty_outbox LIMIT 0"));
      if (types.empty() || !o.ok())
        return error = "the database has no Treaty schema (no treaty_image_* functions or no treaty_outbox): "
                       "load the output of `treaty schema sql` into it first",
               false;
    }
    facts = "{\"entities\": [";
    bool first = true;
    std::size_t n = 0;
    for (const auto& t : types) {
      // Streamed with COPY: a row at a time, never the whole table in a result. CSV with quote
      // and delimiter characters no JSON text holds: each row is its image, unescaped.
      const std::string q = "COPY (SELECT image::text FROM " + sql_ident("treaty_images_" + t) +
                            ") TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')";
      std::string err;
      {
        Result r(PQexec(c, q.c_str()));
        if (PQresultStatus(r.r) != PGRES_COPY_OUT) return error = "reading table " + sql_ident(t) + ": " + r.error(), false;
      }
      char* row = nullptr;
      int len = 0;
      while ((len = PQgetCopyData(c, &row, 0)) > 0) {
        if (!first) facts += ",\n";
        first = false;
        facts.append(row, static_cast<std::size_t>(len > 0 && row[len - 1] == '\n' ? len - 1 : len));
        PQfreemem(row);
        ++n;
      }
      if (len == -2) err = "reading table " + sql_ident(t) + ": " + conn_error(c);
      while (PGresult* pr = PQgetResult(c)) {
        Result r(pr);
        if (!r.ok() && err.empty()) err = "reading table " + sql_ident(t) + ": " + r.error();
      }
      if (!err.empty()) return error = err, false;
    }
    facts += "]}";
    exec(c, "COMMIT", error);
    std::cerr << "treaty serve: loaded " << n << " entities of " << types.size() << " tables from PostgreSQL in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()
              << " ms, at position " << position << "\n";
    return true;
  }();
  PQfinish(c);
  position_ = position;
  return ok;
}

// ---------------------------------------------------------------------------------------------
// Following the changes
// ---------------------------------------------------------------------------------------------
void PgFeed::start() {
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void PgFeed::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  std::lock_guard lk(write_m_);
  if (write_conn_) PQfinish(static_cast<PGconn*>(write_conn_));
  write_conn_ = nullptr;
}

void PgFeed::run() {
  PGconn* c = nullptr;
  std::string logged;  // the last error written to stderr (each new one is written once)
  while (!stopping_) {
    std::string error;
    if (!c) {
      c = connect(url_, error);
      std::string listen_error;
      // A hot standby takes no LISTEN: there the replica reads every --facts-poll-ms only.
      if (c && !exec(c, "LISTEN treaty_changes", listen_error))
        std::cerr << "treaty serve: LISTEN treaty_changes failed (" << listen_error << "): reading the changes every "
                  << srv_.opts.facts_poll.count() << " ms only\n";
    }
    bool ok = c && poll(c, error);
    if (!ok) {
      failures.fetch_add(1);
      {
        std::lock_guard lk(m_);
        last_error_ = error;
      }
      if (error != logged) std::cerr << "treaty serve: the PostgreSQL feed: " << error << "\n";
      logged = error;
      if (c && PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        c = nullptr;
      }
    } else if (!logged.empty()) {
      std::lock_guard lk(m_);
      last_error_.clear();
      logged.clear();
      std::cerr << "treaty serve: the PostgreSQL feed is back, at position " << position_.load() << "\n";
    }
    // Wait for a notification (a commit that changed facts) or the poll interval: the interval
    // moves the position on when transactions that changed nothing finish, and measures the lag.
    const int wait_ms = static_cast<int>(ok ? srv_.opts.facts_poll.count() : 200);
    if (c) {
      pollfd p{PQsocket(c), POLLIN, 0};
      if (::poll(&p, 1, wait_ms) > 0) {
        PQconsumeInput(c);
        while (PGnotify* n = PQnotifies(c)) PQfreemem(n);
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    }
  }
  PQfinish(c);
}

bool PgFeed::poll(void* vc, std::string& error) {
  auto* c = static_cast<PGconn*>(vc);
  const std::int64_t started = now_ns();
  if (!exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", error)) return false;
  struct Row {
    std::uint64_t id;
    std::string type, entity;
    std::optional<std::string> image;
  };
  struct Tx {
    std::uint64_t xid = 0, last = 0;
    std::vector<Row> rows;
  };
  std::vector<Tx> txs;
  std::uint64_t w = 0;
  {
    Result r(PQexec(c, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"));
    if (!r.ok() || !to_u64(r.at(0, 0), w)) {
      error = r.ok() ? "an unreadable snapshot xmin" : r.error();
      exec(c, "ROLLBACK", error);
      return false;
    }
  }
  if (w > position_) {
    // Every transaction below the xmin has finished: its rows are all here or never will be.
    const std::string lo = std::to_string(position_), hi = std::to_string(w);
    const bool skip = !load_snapshot_.empty() && position_ < load_xmax_;
    const char* params[3] = {lo.c_str(), hi.c_str(), load_snapshot_.c_str()};
    Result r(PQexecParams(c,
                          skip ? "SELECT xid::text, id, type, entity, image::text FROM treaty_outbox WHERE xid >= $1::xid8 "
                                 "AND xid < $2::xid8 AND NOT pg_visible_in_snapshot(xid, $3::pg_snapshot) ORDER BY id"
                               : "SELECT xid::text, id, type, entity, image::text FROM treaty_outbox WHERE xid >= $1::xid8 "
                                 "AND xid < $2::xid8 ORDER BY id",
                          skip ? 3 : 2, nullptr, params, nullptr, nullptr, 0));
    if (!r.ok()) {
      error = "reading treaty_outbox: " + r.error();
      std::string e2;
      exec(c, "ROLLBACK", e2);
      return false;
    }
    std::map<std::uint64_t, std::size_t> by_xid;
    for (int i = 0; i < r.rows(); ++i) {
      std::uint64_t xid = 0, id = 0;
      to_u64(r.at(i, 0), xid);
      to_u64(r.at(i, 1), id);
      auto [it, fresh] = by_xid.try_emplace(xid, txs.size());
      if (fresh) txs.push_back(Tx{xid, 0, {}});
      Tx& t = txs[it->second];
      t.last = std::max(t.last, id);
      t.rows.push_back(Row{id, std::string(r.at(i, 2)), std::string(r.at(i, 3)),
                           r.null(i, 4) ? std::nullopt : std::optional<std::string>(std::string(r.at(i, 4)))});
      changes.fetch_add(1, std::memory_order_relaxed);
    }
  }
  {
    std::string e2;
    exec(c, "COMMIT", e2);
  }
  if (w <= position_) {
    caught_up_ns_.store(started);
    return true;
  }
  // Transactions in the order of their last change: a transaction that wrote a row (or a row it
  // refers to) after another committed comes after it, so this order keeps every conflict's.
  std::sort(txs.begin(), txs.end(), [](const Tx& a, const Tx& b) { return a.last < b.last; });
  // The revision after transaction k: the smallest xid not yet applied (that of a later
  // transaction of this read, else the xmin read). A request for position P (a writer's xid + 1)
  // is then answered only from a state holding every transaction below P. Transactions that get
  // the same revision are applied as one batch.
  std::vector<std::uint64_t> after(txs.size());
  std::uint64_t m = w;
  for (std::size_t k = txs.size(); k-- > 0;) {
    after[k] = m;
    m = std::min(m, txs[k].xid);
  }
  std::vector<std::pair<std::pair<std::string, std::string>, const std::optional<std::string>*>> pending;
  std::map<std::pair<std::string, std::string>, std::size_t> slot;
  std::size_t in_batch = 0;
  auto apply = [&](std::uint64_t revision) -> bool {
    nlohmann::json batch = {{"upsert", nlohmann::json::array()}, {"delete", nlohmann::json::array()}};
    const auto e = srv_.live->current();
    const Schema& s = e->program().schema;
    for (const auto& [key, image] : pending) {
      if (*image) {
        batch["upsert"].push_back(nlohmann::json::parse(**image));
      } else {
        // A delete of an entity the replica does not hold (made and deleted in the same
        // transactions) changes nothing.
        const auto t = s.find_entity(key.first);
        if (t && e->find(*t, key.second)) batch["delete"].push_back({{"type", key.first}, {"id", key.second}});
      }
    }
    // Known of a revision before anyone can read it: the counts and whether it is degraded.
    const WriteResult res = srv_.live->follow(batch, revision, [&](const Engine& next, const WriteResult& wr) {
      transactions.fetch_add(in_batch, std::memory_order_relaxed);
      if (!wr.violations.empty() || !violations().empty()) {
        // Recount every requirement over the new facts: a later transaction may mend a
        // violation as well as make one (only while degraded or when this batch broke one).
        Diagnostics d;
        next.check_requirements(d);
        std::vector<std::string> v;
        for (const auto& x : d.all())
          if (x.severity == Severity::error) v.push_back(x.message);
        set_violations(std::move(v), "the feed");
      }
    });
    if (!res.ok) {
      std::string why;
      for (const auto& x : res.errors) why += (why.empty() ? "" : "; ") + x.message;
      error = "a change at position " + std::to_string(revision) + " cannot be applied (the replica stops there): " + why;
      return false;
    }
    srv_.publish_revision();
    pending.clear();
    slot.clear();
    in_batch = 0;
    position_ = revision;
    return true;
  };
  for (std::size_t k = 0; k < txs.size(); ++k) {
    for (const auto& row : txs[k].rows) {
      auto key = std::make_pair(row.type, row.entity);
      const auto it = slot.find(key);
      if (it == slot.end()) {
        slot.emplace(key, pending.size());
        pending.emplace_back(std::move(key), &row.image);
      } else {
        pending[it->second].second = &row.image;  // the last change of an entity is its state
      }
    }
    ++in_batch;
    if (after[k] > position_ && (k + 1 == txs.size() || after[k + 1] > after[k]))
      if (!apply(after[k])) return false;
  }
  if (position_ < w && !apply(w)) return false;  // no change left: the position moves on
  caught_up_ns_.store(started);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Readiness and reports
// ---------------------------------------------------------------------------------------------
double PgFeed::lag_seconds() const {
  const auto t = caught_up_ns_.load();
  if (t == 0) return std::numeric_limits<double>::infinity();
  return static_cast<double>(now_ns() - t) * 1e-9;
}

bool PgFeed::ready(std::chrono::milliseconds max_lag) const {
  return lag_seconds() * 1000.0 <= static_cast<double>(max_lag.count());
}

std::vector<std::string> PgFeed::violations() const {
  std::lock_guard lk(m_);
  return violations_;
}

void PgFeed::set_violations(std::vector<std::string> v, const char* why) {
  std::lock_guard lk(m_);
  if (v == violations_) return;
  if (v.empty()) {
    std::cerr << "treaty serve: no longer degraded: the facts keep every requirement again (" << why << ")\n";
  } else {
    std::cerr << "treaty serve: degraded: the facts break " << v.size() << " requirement"
              << (v.size() == 1 ? "" : "s") << " (" << why << "); applied, not refused: " << v.front() << "\n";
  }
  violations_ = std::move(v);
}

nlohmann::json PgFeed::status() const {
  std::lock_guard lk(m_);
  const double lag = lag_seconds();
  nlohmann::json v = nlohmann::json::array();
  for (std::size_t i = 0; i < violations_.size() && i < 20; ++i) v.push_back(violations_[i]);
  return {{"source", "postgresql"},
          {"position", position_.load()},
          {"lag_seconds", std::isinf(lag) ? nlohmann::json(nullptr) : nlohmann::json(lag)},
          {"transactions", transactions.load()},
          {"changes", changes.load()},
          {"failures", failures.load()},
          {"write_throughs", writes.load()},
          {"degraded", !violations_.empty()},
          {"violations", violations_.size()},
          {"first_violations", std::move(v)},
          {"last_error", last_error_.empty() ? nlohmann::json(nullptr) : nlohmann::json(last_error_)}};
}

// ---------------------------------------------------------------------------------------------
// Write-through
// ---------------------------------------------------------------------------------------------
bool PgFeed::write(const Schema& s, const std::vector<nlohmann::json>& upserts,
                   const std::vector<std::pair<std::string, std::string>>& deletes, std::uint64_t& position,
                   std::string& error, bool& refused) {
  std::lock_guard lk(write_m_);
  refused = false;
  auto* c = static_cast<PGconn*>(write_conn_);
  if (c && PQstatus(c) != CONNECTION_OK) {
    PQfinish(c);
    c = nullptr;
  }
  if (!c) {
    c = connect(url_, error);
    if (!c) return false;
    write_conn_ = c;
  }
  auto run = [&](const std::string& sql, std::vector<std::string> args) -> bool {
    std::vector<const char*> p;
    for (const auto& a : args) p.push_back(a.c_str());
    Result r(PQexecParams(c, sql.c_str(), static_cast<int>(p.size()), nullptr, p.data(), nullptr, nullptr, 0));
    if (!r.ok()) {
      error = r.error();
      const char* state = PQresultErrorField(r.r, PG_DIAG_SQLSTATE);
      refused = state && (std::string_view(state).starts_with("23") || std::string_view(state).starts_with("22"));
      return false;
    }
    return true;
  };
  if (!exec(c, "BEGIN", error)) return false;
  bool ok = [&] {
    for (const auto& [type, id] : deletes)
      if (!run("DELETE FROM " + sql_ident(type) + " WHERE \"id\" = $1", {id})) return false;
    for (const auto& u : upserts) {
      const std::string& type = u["type"].get_ref<const std::string&>();
      const std::string& id = u["id"].get_ref<const std::string&>();
      const auto t = s.find_entity(type);
      if (!t) return error = "unknown entity type `" + type + "`", false;
      const auto& et = s.entities[*t];
      nlohmann::json row = nlohmann::json::object();
      row["id"] = id;
      std::string cols = "\"id\"", sets;
      for (const auto& a : et.attrs) {
        if (a.type.set && a.type.base == Base::entity) continue;
        const auto v = u["attrs"].find(a.name);
        row[a.name] = v == u["attrs"].end() ? nlohmann::json(nullptr) : *v;
        cols += ", " + sql_ident(a.name);
        sets += (sets.empty() ? "" : ", ") + sql_ident(a.name) + " = EXCLUDED." + sql_ident(a.name);
      }
      std::string sql = "INSERT INTO " + sql_ident(type) + " (" + cols + ") SELECT " + cols +
                        " FROM jsonb_populate_record(NULL::" + sql_ident(type) + ", $1::jsonb) ON CONFLICT (\"id\") DO " +
                        (sets.empty() ? "NOTHING" : "UPDATE SET " + sets);
      if (!run(sql, {row.dump()})) return false;
      for (const auto& a : et.attrs) {
        if (!(a.type.set && a.type.base == Base::entity)) continue;
        const std::string link = sql_ident(type + "." + a.name);
        const auto v = u["attrs"].find(a.name);
        const std::string members = v == u["attrs"].end() ? "[]" : v->dump();
        if (!run("DELETE FROM " + link + " WHERE \"owner\" = $1 AND NOT \"value\" IN (SELECT jsonb_array_elements_text($2::jsonb))",
                 {id, members}) ||
            !run("INSERT INTO " + link + " (\"owner\", \"value\") SELECT $1, jsonb_array_elements_text($2::jsonb) ON CONFLICT DO NOTHING",
                 {id, members}))
          return false;
      }
    }
    Result r(PQexec(c, "SELECT treaty_position()"));
    if (!r.ok() || !to_u64(r.at(0, 0), position)) return error = r.ok() ? "treaty_position() is unreadable" : r.error(), false;
    Result cm(PQexec(c, "COMMIT"));
    if (!cm.ok()) {
      const char* state = PQresultErrorField(cm.r, PG_DIAG_SQLSTATE);
      refused = state && std::string_view(state).starts_with("23");
      return error = cm.error(), false;
    }  // a foreign key or a key, checked at commit
    return true;
  }();
  if (!ok) {
    std::string e2;
    exec(c, "ROLLBACK", e2);
    return false;
  }
  writes.fetch_add(1);
  return true;
}

}  // namespace treaty::server
