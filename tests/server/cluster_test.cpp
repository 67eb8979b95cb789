// The cluster (docs/scale.md): PostgreSQL in a temporary directory holding a generated 4me world,
// three `treaty serve --facts` replicas and HAProxy in front of them (health checks on
// /health/ready, leastconn, retry on 503 and on a replica gone), all on loopback and all stopped
// by PID, as scripts/cluster.sh starts them. The five tests of issue 27: (1) every replica
// answers as `treaty eval` on the same data; (2) T1 across replicas: trusts withdrawn in SQL are
// denied by every replica asked with the writer's position, and within 1 s without it; (3) a
// replica killed under load, no request failing beyond the proxy's retry; (4) a replica
// restarted during writes is ready only once caught up, then agrees with the others; (5) a
// replica started on a database that breaks a requirement reports it.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pg_cluster.hpp"
#include "process.hpp"

namespace {

using namespace treaty_test;
namespace fs = std::filesystem;

const std::string kSrc = TREATY_SOURCE_DIR;
const std::string kLib = kSrc + "/policies/4me/lib";

std::string sql_quote(const std::string& s) {
  std::string o = "'";
  for (char ch : s) {
    if (ch == '\'') o += '\'';
    o += ch;
  }
  return o + "'";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

/// HAProxy in front of `ports`, as scripts/cluster.sh configures it.
class Proxy {
 public:
  Proxy(const std::string& dir, const std::vector<unsigned short>& ports) {
    const char* bin = "/usr/sbin/haproxy";
    if (!fs::exists(bin)) throw std::runtime_error("/usr/sbin/haproxy is missing: scripts/setup.sh installs haproxy");
    port_ = free_port();
    std::ofstream cfg(dir + "/haproxy.cfg");
    cfg << "global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n"
           "  timeout server 30s\n  retries 3\n  option redispatch 1\n  retry-on conn-failure empty-response 503\n"
           "frontend treaty\n  bind 127.0.0.1:" << port_ << "\n  default_backend replicas\n"
           "backend replicas\n  balance leastconn\n  option httpchk GET /health/ready\n  http-check expect status 200\n"
           "  http-request disable-l7-retry if { path /v1/facts }\n";
    for (std::size_t i = 0; i < ports.size(); ++i)
      cfg << "  server r" << i << " 127.0.0.1:" << ports[i] << " check inter 100ms fall 2 rise 1\n";
    cfg.close();
    pid_ = spawn({bin, "-db", "-f", dir + "/haproxy.cfg"}, dir + "/haproxy.log");
  }
  ~Proxy() { stop_pid(pid_, SIGTERM); }
  [[nodiscard]] unsigned short port() const { return port_; }

 private:
  pid_t pid_ = -1;
  unsigned short port_ = 0;
};

/// PostgreSQL with the 4me schema and a generated world, its sample requests, the replicas and
/// the proxy.
struct Cluster {
  std::unique_ptr<PgCluster> pg;
  std::string dir, facts_file, requests_file;
  json facts;
  std::vector<std::string> requests;  ///< JSON lines
  std::vector<std::unique_ptr<ServerProcess>> replicas;
  std::unique_ptr<Proxy> proxy;

  explicit Cluster(std::size_t n = 3, const std::function<void(Pg&)>& before_replicas = {}) {
    pg = std::make_unique<PgCluster>();
    dir = pg->dir();
    facts_file = dir + "/world.json";
    requests_file = dir + "/requests.jsonl";
    EXPECT_EQ(wait_exit(spawn({TREATY_GEN_WORLD, "--accounts", "12", "--seed", "7", "--facts", facts_file, "--requests",
                               requests_file, "--count", "300"},
                              dir + "/gen.log")),
              0);
    facts = json::parse(read_text(facts_file));
    requests = lines_of(read_text(requests_file));
    EXPECT_EQ(wait_exit(spawn({TREATY_BINARY, "schema", "sql", kLib, "-o", dir + "/schema.sql"}, dir + "/schema.log")), 0);
    std::string out;
    EXPECT_EQ(pg->psql_file(dir + "/schema.sql", out), 0) << out;
    Pg c(pg->url());
    c.exec("SELECT treaty_load(" + sql_quote(facts.dump()) + "::jsonb)");
    if (before_replicas) before_replicas(c);
    for (std::size_t i = 0; i < n; ++i) replicas.push_back(start_replica());
    std::vector<unsigned short> ports;
    for (auto& r : replicas) ports.push_back(r->port());
    proxy = std::make_unique<Proxy>(dir, ports);
    for (auto& r : replicas) {
      Client c2(r->port());
      EXPECT_TRUE(wait_ready(c2)) << r->log();
    }
    wait_proxy();
  }
  ~Cluster() {
    proxy.reset();
    replicas.clear();
    pg.reset();
  }
  std::unique_ptr<ServerProcess> start_replica() {
    return std::make_unique<ServerProcess>(std::vector<std::string>{kLib, "--facts", pg->url(), "--watch-interval-ms", "0",
                                                                    "--max-lag-ms", "1000"});
  }
  static bool wait_ready(Client& c, int ms = 15000) {
    for (int i = 0; i < ms / 10; ++i) {
      if (c.get("/health/ready").status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  void wait_proxy() {
    for (int i = 0; i < 500; ++i) {
      try {
        Client c(proxy->port());
        if (c.get("/health/ready").status == 200) return;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "HAProxy did not come up: " << read_text(dir + "/haproxy.log");
  }
  /// `treaty eval` on `data` over the sample: one decision JSON a line.
  std::vector<std::string> oracle(const json& data) {
    const std::string f = dir + "/oracle.json";
    std::ofstream(f) << data.dump();
    const std::string out = dir + "/oracle.out";
    fs::remove(out);
    EXPECT_EQ(wait_exit(spawn({TREATY_BINARY, "eval", kLib, "--data", f, "--requests", requests_file, "--format", "json"},
                              out, {}, true, dir + "/oracle.log")),
              0)
        << read_text(dir + "/oracle.log");
    return lines_of(read_text(out));
  }
  /// The sample decided by the server on `port` (a replica or the proxy), each answer as a line.
  std::vector<std::string> decide_all(unsigned short port, std::uint64_t min_revision = 0) const {
    Client c(port);
    std::string body;
    for (const auto& r : requests) body += r + "\n";
    std::map<std::string, std::string> h{{"Content-Type", "application/x-ndjson"}};
    if (min_revision) h["X-Treaty-Min-Revision"] = std::to_string(min_revision);
    const Reply rep = c.request(http::verb::post, "/v1/decide/batch", body, h);
    EXPECT_EQ(rep.status, 200u) << rep.body;
    return lines_of(rep.body);
  }
};

/// The decisions only (allow/deny), for comparing answers in bulk.
std::vector<std::string> decisions(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) out.push_back(json::parse(l)["decision"].get<std::string>());
  return out;
}

std::size_t allowed(const std::vector<std::string>& d) { return static_cast<std::size_t>(std::count(d.begin(), d.end(), "allow")); }

// (1) Every replica answers the sample exactly as `treaty eval` on the same data, and so does the
// proxy.
TEST(Cluster, EveryReplicaAnswersAsEval) {
  Cluster cl;
  const auto want = cl.oracle(cl.facts);
  ASSERT_EQ(want.size(), cl.requests.size());
  EXPECT_GT(allowed(decisions(want)), 20u);
  for (auto& r : cl.replicas) EXPECT_EQ(cl.decide_all(r->port()), want) << r->log();
  EXPECT_EQ(cl.decide_all(cl.proxy->port()), want);
}

// (2) T1 across replicas: every trust withdrawn in one SQL transaction.
TEST(Cluster, TrustWithdrawnInSqlIsDeniedEverywhere) {
  Cluster cl;
  json withdrawn = cl.facts;
  for (auto& e : withdrawn["entities"])
    if (e["type"] == "Trust") e["attrs"]["accepted"] = false;
  const auto before = decisions(cl.oracle(cl.facts));
  const auto after = cl.oracle(withdrawn);
  ASSERT_LT(allowed(decisions(after)), allowed(before)) << "the sample must hold decisions a trust allows";

  Pg w(cl.pg->url());
  w.exec("BEGIN");
  w.exec("UPDATE \"Trust\" SET accepted = false");
  const auto pos = std::stoull(w.exec("SELECT treaty_position()"));
  w.exec("COMMIT");
  const auto committed = std::chrono::steady_clock::now();
  // Without the token: every replica within 1 s.
  std::vector<double> seen_ms;
  for (auto& r : cl.replicas) {
    for (;;) {
      if (decisions(cl.decide_all(r->port())) == decisions(after)) break;
      ASSERT_LT(std::chrono::steady_clock::now() - committed, std::chrono::seconds(1)) << "replica " << r->port();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    seen_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - committed).count());
  }
  // With the token: exactly eval's answers on the new data, on every replica and through the proxy.
  for (auto& r : cl.replicas) EXPECT_EQ(cl.decide_all(r->port(), pos), after);
  EXPECT_EQ(cl.decide_all(cl.proxy->port(), pos), after);
  // And a new withdrawal asked for with its token at once, replica by replica.
  w.exec("BEGIN");
  w.exec("UPDATE \"Trust\" SET accepted = true");
  const auto pos2 = std::stoull(w.exec("SELECT treaty_position()"));
  w.exec("COMMIT");
  const auto again = cl.oracle(cl.facts);
  for (auto& r : cl.replicas) EXPECT_EQ(cl.decide_all(r->port(), pos2), again);
}

// (3) Failover: a replica killed while the proxy is loaded; no request fails.
TEST(Cluster, ReplicaKilledUnderLoadFailsNoRequest) {
  Cluster cl;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> ok{0}, failed{0};
  std::vector<std::string> wrong;
  std::mutex m;
  const auto want = decisions(cl.oracle(cl.facts));
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t)
    load.emplace_back([&, t] {
      std::size_t i = static_cast<std::size_t>(t) * 17;
      std::unique_ptr<Client> c;
      while (!stop) {
        const std::size_t k = i++ % cl.requests.size();
        try {
          if (!c) c = std::make_unique<Client>(cl.proxy->port());
          const Reply r = c->request(http::verb::post, "/v1/decide", cl.requests[k]);
          if (r.status == 200 && r.j()["decision"] == want[k]) {
            ok.fetch_add(1);
          } else {
            failed.fetch_add(1);
            std::lock_guard lk(m);
            wrong.push_back(std::to_string(r.status) + " " + r.body);
          }
        } catch (const std::exception& e) {
          failed.fetch_add(1);
          std::lock_guard lk(m);
          wrong.push_back(e.what());
          c.reset();
        }
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto before = ok.load();
  cl.replicas[1]->kill_now();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop = true;
  for (auto& t : load) t.join();
  EXPECT_GT(before, 100u);
  EXPECT_GT(ok.load(), before + 100);
  EXPECT_EQ(failed.load(), 0u) << (wrong.empty() ? "" : wrong.front());
}

// (4) Catch-up: a replica restarted while writes go on: its first ready answer is at or beyond
// every write committed before it started (the load's snapshot and the first complete read of the
// changes after it), it holds every write committed by then within --max-lag-ms, and once the
// writes stop it agrees with the other replicas and with PostgreSQL.
TEST(Cluster, RestartedReplicaIsReadyOnlyOnceCaughtUp) {
  Cluster cl;
  std::vector<std::string> trusts;
  for (const auto& e : cl.facts["entities"])
    if (e["type"] == "Trust") trusts.push_back(e["id"]);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> last_pos{0}, writes{0};
  std::string writer_error;
  std::thread writer([&] {
    try {
    Pg w(cl.pg->url());
    for (std::size_t i = 0; !stop; ++i) {
      const std::string id = trusts[i % trusts.size()];
      w.exec("BEGIN");
      w.exec("UPDATE \"Trust\" SET options = CASE WHEN cardinality(options) = 0 THEN "
             "'{register_requests_for_specialists,approval_tasks_to_anyone}'::\"TrustOption\"[] ELSE '{}' END WHERE id = " +
             sql_quote(id));
      const auto p = std::stoull(w.exec("SELECT treaty_position()"));
      w.exec("COMMIT");
      last_pos = p;
      writes.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    } catch (const std::exception& e) {
      writer_error = e.what();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  cl.replicas[2]->terminate();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::uint64_t committed_before_start = last_pos.load();
  auto fresh = cl.start_replica();
  Client c(fresh->port());
  std::uint64_t ready_at = 0;
  for (int i = 0; i < 1500 && !ready_at; ++i) {
    const Reply r = c.get("/health/ready");
    if (r.status == 200) ready_at = r.j()["revision"].get<std::uint64_t>();
    else std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(ready_at, 0u) << fresh->log();
  EXPECT_GE(ready_at, committed_before_start);
  // Ready means caught up within --max-lag-ms (1 s here): every write committed by the time it
  // said so is applied within that.
  const std::uint64_t committed_at_ready = last_pos.load();
  const auto said_ready = std::chrono::steady_clock::now();
  for (;;) {
    const Reply r = c.get("/health/ready");
    if (r.status == 200 && r.j()["revision"].get<std::uint64_t>() >= committed_at_ready) break;
    ASSERT_LT(std::chrono::steady_clock::now() - said_ready, std::chrono::seconds(1)) << fresh->log();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  writer.join();
  EXPECT_EQ(writer_error, "");
  EXPECT_GT(writes.load(), 50u);
  const auto final_pos = last_pos.load();
  const auto a = cl.decide_all(cl.replicas[0]->port(), final_pos);
  EXPECT_EQ(cl.decide_all(cl.replicas[1]->port(), final_pos), a);
  EXPECT_EQ(cl.decide_all(fresh->port(), final_pos), a);
  // And agrees with the facts in PostgreSQL, trust by trust.
  Pg q(cl.pg->url());
  Client c0(cl.replicas[0]->port());
  for (std::size_t i = 0; i < trusts.size(); i += 7) {
    const auto n = q.exec("SELECT cardinality(options) FROM \"Trust\" WHERE id = " + sql_quote(trusts[i]));
    const Reply r = c.get("/v1/facts/Trust/" + trusts[i]);
    EXPECT_EQ(std::to_string(r.j()["attrs"]["options"].size()), n) << trusts[i];
  }
}

// (5) A replica started against a database that breaks a requirement reports it, and serves.
TEST(Cluster, ReplicaOnABrokenDatabaseReportsIt) {
  Cluster cl(2, [](Pg& c) {
    // directory_names_a_directory_account: a0 names a1, a standard account, as its directory.
    c.exec("UPDATE \"Account\" SET directory = 'a1' WHERE id = 'a0'");
  });
  for (auto& r : cl.replicas) {
    Client c(r->port());
    const json feed = c.get("/v1/status").j()["facts"]["feed"];
    EXPECT_EQ(feed["degraded"], true) << feed;
    EXPECT_GE(feed["violations"].get<int>(), 1);
    EXPECT_NE(feed["first_violations"][0].get<std::string>().find("a0"), std::string::npos) << feed;
    EXPECT_NE(c.get("/metrics").body.find("treaty_facts_degraded 1"), std::string::npos);
    bool logged = false;
    for (int i = 0; i < 200 && !logged; ++i) {
      logged = r->log().find("degraded: the facts break") != std::string::npos;
      if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(logged) << r->log();
    EXPECT_EQ(c.get("/health/ready").status, 200u);  // degraded, still serving
  }
  EXPECT_EQ(cl.decide_all(cl.proxy->port()).size(), cl.requests.size());
}

}  // namespace
