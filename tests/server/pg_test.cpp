// PostgreSQL as the source of the facts (docs/scale.md): `treaty schema sql` (its golden DDL for
// policies/4me and the DDL loaded into a real PostgreSQL), and one `treaty serve --facts` replica
// over it: the initial load, changes followed in commit order, the writer's position as
// X-Treaty-Min-Revision, /health/ready, requirement violations applied and reported as degraded,
// and POST /v1/facts written through to PostgreSQL. Each test starts its own PostgreSQL in a
// temporary directory (tests/server/pg_cluster.hpp) and stops it by PID.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pg_cluster.hpp"
#include "process.hpp"

namespace {

using namespace treaty_test;
namespace fs = std::filesystem;

const std::string kSrc = TREATY_SOURCE_DIR;
const std::string kToken = "writer-0123456789abcdef";

/// `treaty ARGS`: its exit status and stdout (stderr to `err` when given).
int run_treaty(const std::vector<std::string>& args, std::string& out, const std::string& dir) {
  const std::string log = dir + "/treaty.out";
  fs::remove(log);
  std::vector<std::string> a{TREATY_BINARY};
  a.insert(a.end(), args.begin(), args.end());
  const int rc = wait_exit(spawn(a, log));
  out = read_text(log);
  return rc;
}

std::string ddl_4me(const std::string& dir) {
  std::string out;
  EXPECT_EQ(run_treaty({"schema", "sql", kSrc + "/policies/4me/lib", "-o", dir + "/4me.sql"}, out, dir), 0) << out;
  return read_text(dir + "/4me.sql");
}

// A small 4me world: a customer that trusts its provider, a specialist of the provider.
const json kWorld = {
    {"entities",
     {{{"type", "Account"}, {"id", "cust"}, {"attrs", {{"kind", "standard"}, {"plan", "premium"}, {"modules", json::array()}, {"directory", nullptr}}}},
      {{"type", "Account"}, {"id", "msp"}, {"attrs", {{"kind", "standard"}, {"plan", "premium"}, {"modules", json::array()}, {"directory", nullptr}}}},
      {{"type", "Team"}, {"id", "msp_team"}, {"attrs", {{"account", "msp"}}}},
      {{"type", "Person"}, {"id", "ann"}, {"attrs", {{"account", "msp"}, {"roles", {"service_desk_analyst"}}, {"teams", {"msp_team"}}}}},
      {{"type", "Person"}, {"id", "carl"}, {"attrs", {{"account", "cust"}, {"roles", {"specialist"}}, {"teams", json::array()}}}},
      {{"type", "Trust"},
       {"id", "cust_msp"},
       {"attrs", {{"grantor", "cust"}, {"grantee", "msp"}, {"accepted", true},
                  {"options", {"register_requests_for_specialists"}}, {"shared_roles", json::array()}}}}}}};

/// ann, a service desk analyst of the provider, registers a request for carl, a specialist of the
/// customer (T7: through the trust, with the option ticked).
const json kAnnRegistersForCarl = {{"principal", {{"type", "Person"}, {"id", "ann"}}},
                                   {"action", {{"name", "register_request"}}},
                                   {"resource", {{"type", "Person"}, {"id", "carl"}}}};

/// PostgreSQL with the 4me schema and kWorld.
struct Db {
  std::string dir;
  std::unique_ptr<PgCluster> pg;
  Db() {
    pg = std::make_unique<PgCluster>();
    dir = pg->dir();
    const std::string ddl = ddl_4me(dir);
    std::string out;
    EXPECT_EQ(pg->psql_file(dir + "/4me.sql", out), 0) << out;
    Pg c(pg->url());
    c.exec("SELECT treaty_load(" + sql_quote(kWorld.dump()) + "::jsonb)");
  }
  static std::string sql_quote(const std::string& s) {
    std::string o = "'";
    for (char ch : s) {
      if (ch == '\'') o += '\'';
      o += ch;
    }
    return o + "'";
  }
};

std::map<std::string, std::string> auth() {
  return {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + kToken}};
}

/// A replica of 4me's library over the database.
std::unique_ptr<ServerProcess> replica(const Db& db, std::vector<std::string> extra = {}) {
  std::ofstream(db.dir + "/tokens") << kToken << " write,decide\n";
  std::vector<std::string> args{kSrc + "/policies/4me/lib", "--facts", db.pg->url(), "--auth-tokens", db.dir + "/tokens",
                                "--watch-interval-ms", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<ServerProcess>(args);
}

/// Whether the server's stderr says `text` within 2 s (it is read by another thread).
bool log_says(ServerProcess& s, const std::string& text) {
  for (int i = 0; i < 200; ++i) {
    if (s.log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

bool wait_ready(Client& c, int ms = 10000) {
  for (int i = 0; i < ms / 20; ++i) {
    if (c.get("/health/ready").status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string decide(Client& c, const json& req, std::uint64_t min_revision = 0) {
  auto h = auth();
  if (min_revision) h["X-Treaty-Min-Revision"] = std::to_string(min_revision);
  const Reply r = c.request(http::verb::post, "/v1/decide", req.dump(), h);
  EXPECT_EQ(r.status, 200u) << r.body;
  return r.j()["decision"].get<std::string>();
}

// ---------------------------------------------------------------------------------------------
// treaty schema sql
// ---------------------------------------------------------------------------------------------
TEST(SchemaSql, GoldenFor4me) {
  const fs::path dir = fs::temp_directory_path() / ("treaty_schema_sql_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string ddl = ddl_4me(dir.string());
  fs::remove_all(dir);
  const fs::path expected = kSrc + "/tests/golden/schema/4me.sql";
  if (std::getenv("TREATY_UPDATE_GOLDENS")) {
    fs::create_directories(expected.parent_path());
    std::ofstream(expected) << ddl;
  }
  ASSERT_TRUE(fs::exists(expected)) << "missing " << expected << "; run with TREATY_UPDATE_GOLDENS=1";
  EXPECT_EQ(ddl, read_text(expected.string()));
}

TEST(SchemaSql, RefusesWhatItCannotLayOut) {
  const fs::path dir = fs::temp_directory_path() / ("treaty_schema_sql_bad_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "p.treaty") << "entity A { id: String }\n";
  std::string out;
  EXPECT_EQ(run_treaty({"schema", "sql", (dir / "p.treaty").string()}, out, dir.string()), 1);
  EXPECT_NE(out.find("entity type `A` has an attribute named `id`"), std::string::npos) << out;
  fs::remove_all(dir);
}

TEST(SchemaSql, LoadsIntoPostgresqlAndRecordsChanges) {
  Db db;
  Pg c(db.pg->url());
  EXPECT_EQ(c.exec("SELECT count(*) FROM \"Person\""), "2");
  EXPECT_EQ(c.exec("SELECT count(*) FROM \"Person.teams\""), "1");
  // The images recorded by the triggers are the facts format, sets of entities included.
  EXPECT_EQ(json::parse(c.exec("SELECT image FROM treaty_outbox WHERE entity = 'ann' ORDER BY id DESC LIMIT 1")),
            json::parse(R"({"type":"Person","id":"ann","attrs":{"account":"msp","roles":["service_desk_analyst"],"teams":["msp_team"]}})"));
  // Constraints: an enum value, a foreign key (at commit), a key, TRUNCATE.
  std::string v, err;
  EXPECT_FALSE(c.try_exec("UPDATE \"Account\" SET plan = 'gold' WHERE id = 'cust'", v, err));
  EXPECT_NE(err.find("Plan"), std::string::npos) << err;
  EXPECT_FALSE(c.try_exec("INSERT INTO \"Team\" VALUES ('t9', 'nobody')", v, err));
  EXPECT_NE(err.find("foreign key"), std::string::npos) << err;
  EXPECT_FALSE(c.try_exec("INSERT INTO \"Trust\" VALUES ('again', 'cust', 'msp', true, '{}', '{}')", v, err));
  EXPECT_NE(err.find("duplicate key"), std::string::npos) << err;
  EXPECT_FALSE(c.try_exec("TRUNCATE \"Ci\"", v, err));
  EXPECT_NE(err.find("TRUNCATE"), std::string::npos) << err;
  // A deleted entity is a NULL image; the position is the writer's xid + 1.
  c.exec("BEGIN");
  c.exec("DELETE FROM \"Person\" WHERE id = 'carl'");
  const std::string pos = c.exec("SELECT treaty_position()");
  const std::string xid = c.exec("SELECT pg_current_xact_id()::text");
  c.exec("COMMIT");
  EXPECT_EQ(std::stoull(pos), std::stoull(xid) + 1);
  EXPECT_EQ(c.exec("SELECT count(*) FROM treaty_outbox WHERE entity = 'carl' AND image IS NULL AND xid = '" + xid + "'"), "1");
}

// ---------------------------------------------------------------------------------------------
// One replica
// ---------------------------------------------------------------------------------------------
TEST(PgReplica, LoadsFollowsAndAnswersAtTheWritersPosition) {
  Db db;
  auto s = replica(db);
  ASSERT_GT(s->port(), 0) << s->log();
  Client c(s->port());
  ASSERT_TRUE(wait_ready(c)) << s->log();
  EXPECT_TRUE(log_says(*s, "loaded 6 entities")) << s->log();
  EXPECT_EQ(decide(c, kAnnRegistersForCarl), "allow");

  // T1: the option unticked in SQL; the writer's position, asked for, is answered from it.
  Pg w(db.pg->url());
  w.exec("BEGIN");
  w.exec("UPDATE \"Trust\" SET options = '{}' WHERE id = 'cust_msp'");
  const auto pos = std::stoull(w.exec("SELECT treaty_position()"));
  w.exec("COMMIT");
  EXPECT_EQ(decide(c, kAnnRegistersForCarl, pos), "deny");
  const json st = c.get("/v1/status").j();
  EXPECT_GE(st["facts"]["revision"].get<std::uint64_t>(), pos);
  EXPECT_EQ(st["facts"]["feed"]["degraded"], false);

  // Transactions in commit order: two updates of one row from two transactions.
  Pg w2(db.pg->url());
  w.exec("BEGIN");
  w2.exec("BEGIN");
  w2.exec("SELECT treaty_position()");  // w2 has the smaller xid, and commits last
  w.exec("UPDATE \"Trust\" SET accepted = false WHERE id = 'cust_msp'");
  w.exec("COMMIT");
  w2.exec("UPDATE \"Trust\" SET options = '{register_requests_for_specialists}', accepted = true WHERE id = 'cust_msp'");
  const auto pos2 = std::stoull(w2.exec("SELECT treaty_position()"));
  w2.exec("COMMIT");
  EXPECT_EQ(decide(c, kAnnRegistersForCarl, pos2), "allow");
  const Reply trust = c.request(http::verb::get, "/v1/facts/Trust/cust_msp", "", auth());
  EXPECT_EQ(trust.j()["attrs"]["accepted"], true) << trust.body;

  // A delete, and a set of entities in a link table.
  w.exec("BEGIN");
  w.exec("DELETE FROM \"Person.teams\" WHERE owner = 'ann'");
  w.exec("DELETE FROM \"Team\" WHERE id = 'msp_team'");
  const auto pos3 = std::stoull(w.exec("SELECT treaty_position()"));
  w.exec("COMMIT");
  decide(c, kAnnRegistersForCarl, pos3);
  EXPECT_EQ(c.request(http::verb::get, "/v1/facts/Team/msp_team", "", auth()).status, 404u);
  EXPECT_EQ(c.request(http::verb::get, "/v1/facts/Person/ann", "", auth()).j()["attrs"]["teams"], json::array());

  // A position asked for that PostgreSQL has not reached: 503 after the wait, not an old answer.
  const Reply late = c.request(http::verb::post, "/v1/decide", kAnnRegistersForCarl.dump(),
                               {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + kToken},
                                {"X-Treaty-Min-Revision", std::to_string(pos3 + 1000)}});
  EXPECT_EQ(late.status, 503u);
  // The metrics of the feed.
  const std::string m = c.get("/metrics").body;
  EXPECT_NE(m.find("treaty_feed_transactions_total"), std::string::npos);
  EXPECT_NE(m.find("treaty_facts_degraded 0"), std::string::npos) << m;
}

TEST(PgReplica, NotReadyWhileItCannotReadTheChanges) {
  Db db;
  auto s = replica(db, {"--max-lag-ms", "300"});
  Client c(s->port());
  ASSERT_TRUE(wait_ready(c)) << s->log();
  // PostgreSQL goes away: the replica keeps answering from what it has, and is not ready.
  db.pg.reset();
  bool unready = false;
  for (int i = 0; i < 200 && !unready; ++i) {
    unready = c.get("/health/ready").status == 503;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(unready);
  EXPECT_EQ(decide(c, kAnnRegistersForCarl), "allow");
  EXPECT_NE(c.get("/v1/status").j()["facts"]["feed"]["last_error"], nullptr);
}

TEST(PgReplica, RequirementViolationsAreAppliedAndReported) {
  Db db;
  Pg w(db.pg->url());
  // directory_names_a_directory_account: cust names msp (a standard account) as its directory.
  w.exec("UPDATE \"Account\" SET directory = 'msp' WHERE id = 'cust'");
  auto s = replica(db);
  Client c(s->port());
  ASSERT_TRUE(wait_ready(c)) << s->log();
  json st = c.get("/v1/status").j()["facts"]["feed"];
  EXPECT_EQ(st["degraded"], true) << st;
  EXPECT_EQ(st["violations"], 1) << st;
  EXPECT_TRUE(log_says(*s, "degraded: the facts break 1 requirement (the initial load)")) << s->log();
  EXPECT_NE(c.get("/metrics").body.find("treaty_facts_degraded 1"), std::string::npos);
  // Mended in SQL: no longer degraded.
  w.exec("BEGIN");
  w.exec("UPDATE \"Account\" SET directory = NULL WHERE id = 'cust'");
  const auto pos = std::stoull(w.exec("SELECT treaty_position()"));
  w.exec("COMMIT");
  decide(c, kAnnRegistersForCarl, pos);
  st = c.get("/v1/status").j()["facts"]["feed"];
  EXPECT_EQ(st["degraded"], false) << st;
  EXPECT_TRUE(log_says(*s, "no longer degraded: the facts keep every requirement again (the feed)")) << s->log();
  // Broken again by a change: applied (a withdrawal never waits), reported.
  w.exec("BEGIN");
  w.exec("UPDATE \"Account\" SET directory = 'msp' WHERE id = 'cust'");
  w.exec("UPDATE \"Trust\" SET accepted = false WHERE id = 'cust_msp'");
  const auto pos2 = std::stoull(w.exec("SELECT treaty_position()"));
  w.exec("COMMIT");
  EXPECT_EQ(decide(c, kAnnRegistersForCarl, pos2), "deny");
  st = c.get("/v1/status").j()["facts"]["feed"];
  EXPECT_EQ(st["degraded"], true) << st;
  EXPECT_TRUE(log_says(*s, "degraded: the facts break 1 requirement (the feed)")) << s->log();
}

TEST(PgReplica, WritesGoThroughToPostgresql) {
  Db db;
  auto s = replica(db);
  Client c(s->port());
  ASSERT_TRUE(wait_ready(c)) << s->log();
  // The option unticked through the replica: in PostgreSQL, and visible at the answer's revision.
  const json batch = {{"upsert",
                       {{{"type", "Trust"},
                         {"id", "cust_msp"},
                         {"attrs", {{"grantor", "cust"}, {"grantee", "msp"}, {"accepted", true}, {"options", json::array()},
                                    {"shared_roles", {"specialist"}}}}},
                        {{"type", "Team"}, {"id", "t2"}, {"attrs", {{"account", "cust"}}}},
                        {{"type", "Person"},
                         {"id", "dora"},
                         {"attrs", {{"account", "cust"}, {"roles", json::array()}, {"teams", {"t2"}}}}}}}};
  const Reply r = c.request(http::verb::post, "/v1/facts", batch.dump(), auth());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["visible"], true);
  const auto rev = r.j()["revision"].get<std::uint64_t>();
  EXPECT_EQ(decide(c, kAnnRegistersForCarl), "deny");
  Pg q(db.pg->url());
  EXPECT_EQ(q.exec("SELECT options::text FROM \"Trust\" WHERE id = 'cust_msp'"), "{}");
  EXPECT_EQ(q.exec("SELECT shared_roles::text FROM \"Trust\" WHERE id = 'cust_msp'"), "{specialist}");
  EXPECT_EQ(q.exec("SELECT string_agg(value, ',') FROM \"Person.teams\" WHERE owner = 'dora'"), "t2");
  EXPECT_GE(c.get("/v1/status").j()["facts"]["revision"].get<std::uint64_t>(), rev);

  // A batch that breaks a requirement is refused before PostgreSQL, which keeps what it had.
  const json bad = {{"upsert",
                     {{{"type", "Account"},
                       {"id", "cust"},
                       {"attrs", {{"kind", "standard"}, {"plan", "premium"}, {"modules", json::array()}, {"directory", "msp"}}}}}}};
  const Reply rb = c.request(http::verb::post, "/v1/facts", bad.dump(), auth());
  EXPECT_EQ(rb.status, 422u) << rb.body;
  EXPECT_NE(rb.body.find("requirement"), std::string::npos) << rb.body;
  EXPECT_EQ(q.exec("SELECT coalesce(directory, 'none') FROM \"Account\" WHERE id = 'cust'"), "none");
  // A delete of an entity still referred to: refused by the replica's check too.
  const Reply rd = c.request(http::verb::post, "/v1/facts", json{{"delete", {{{"type", "Account"}, {"id", "msp"}}}}}.dump(), auth());
  EXPECT_EQ(rd.status, 422u) << rd.body;
  EXPECT_EQ(q.exec("SELECT count(*) FROM \"Account\""), "2");
  // A delete through the replica.
  const Reply rdel = c.request(http::verb::post, "/v1/facts", json{{"delete", {{{"type", "Person"}, {"id", "dora"}}}}}.dump(), auth());
  ASSERT_EQ(rdel.status, 200u) << rdel.body;
  EXPECT_EQ(q.exec("SELECT count(*) FROM \"Person\" WHERE id = 'dora'"), "0");
  EXPECT_EQ(q.exec("SELECT count(*) FROM \"Person.teams\" WHERE owner = 'dora'"), "0");
}

TEST(PgReplica, RefusesADatabaseWithoutTheSchema) {
  PgCluster pg;
  std::string out;
  const fs::path dir = pg.dir();
  std::ofstream(dir / "tokens") << kToken << " write,decide\n";
  const std::string log = pg.dir() + "/serve.log";
  const int rc = wait_exit(spawn({TREATY_BINARY, "serve", kSrc + "/policies/4me/lib", "--facts", pg.url(), "--listen",
                                  "127.0.0.1:0"},
                                 log));
  EXPECT_EQ(rc, 1);
  EXPECT_NE(read_text(log).find("the database has no Treaty schema"), std::string::npos) << read_text(log);
}

}  // namespace
