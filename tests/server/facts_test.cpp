// Live facts through `treaty serve`: POST /v1/facts and GET /v1/facts/TYPE/ID, revisions on
// responses and X-Treaty-Min-Revision, T1 live (a trust revoked, an option unticked and a role
// unshared while decisions run), and the state directory: a crash test that kills the server with
// SIGKILL at random points of a write stream 50 times, and a log whose tail is torn.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "process.hpp"

namespace {

using namespace treaty_test;
namespace fs = std::filesystem;

const std::string kSrc = TREATY_SOURCE_DIR;
const std::string kToken = "writer-0123456789abcdef";

fs::path temp_dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / ("treaty_facts_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::map<std::string, std::string> auth() {
  return {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + kToken}};
}

Reply write(Client& c, const json& batch) { return c.request(http::verb::post, "/v1/facts", batch.dump(), auth()); }

// ---------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------
const char* kSmall = R"(
enum Plan { basic, premium }
entity Account { plan: Plan }
entity Person { account: Account }
entity Trust { grantor: Account, grantee: Account, accepted: Bool, key (grantor, grantee) }
action view principal Person resource Account;
permit own principal p: Person action view resource a: Account when p.account == a;
permit trusted principal p: Person action view resource a: Account
  when exists t: Trust where t.grantor == a and t.grantee == p.account and t.accepted;
)";

const json kSmallData = {{"entities",
                          {{{"type", "Account"}, {"id", "cust"}, {"attrs", {{"plan", "premium"}}}},
                           {{"type", "Account"}, {"id", "msp"}, {"attrs", {{"plan", "basic"}}}},
                           {{"type", "Person"}, {"id", "ann"}, {"attrs", {{"account", "msp"}}}},
                           {{"type", "Trust"},
                            {"id", "t1"},
                            {"attrs", {{"grantor", "cust"}, {"grantee", "msp"}, {"accepted", true}}}}}}};

struct SmallServer {
  fs::path dir;
  std::unique_ptr<ServerProcess> s;
  explicit SmallServer(const std::string& name, std::vector<std::string> extra = {}) : dir(temp_dir(name)) {
    std::ofstream(dir / "p.treaty") << kSmall;
    std::ofstream(dir / "data.json") << kSmallData.dump();
    std::ofstream(dir / "tokens") << kToken << " write,decide\nreader-0123456789abcdef decide\n";
    std::vector<std::string> args{(dir / "p.treaty").string(), "--data", (dir / "data.json").string(),
                                  "--auth-tokens", (dir / "tokens").string(), "--watch-interval-ms", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    s = std::make_unique<ServerProcess>(args);
  }
  ~SmallServer() {
    s.reset();
    fs::remove_all(dir);
  }
};

const json kAnnViewsCust = {{"subject", {{"type", "Person"}, {"id", "ann"}}},
                            {"action", {{"name", "view"}}},
                            {"resource", {{"type", "Account"}, {"id", "cust"}}}};

TEST(Facts, WritesAreValidatedWholeAndReadBackAtTheirRevision) {
  SmallServer srv("api", {"--max-revision-wait-ms", "200"});
  ASSERT_NE(srv.s->port(), 0) << srv.s->log();
  Client c(srv.s->port());
  auto r = c.request(http::verb::post, "/access/v1/evaluation", kAnnViewsCust.dump(), auth());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["decision"], true);
  EXPECT_EQ(r.headers["X-Treaty-Revision"], "0");

  // Refused before anything is read: no token, a token without the `write` scope.
  EXPECT_EQ(c.request(http::verb::post, "/v1/facts", "{}").status, 401u);
  EXPECT_EQ(c.request(http::verb::post, "/v1/facts", "{}",
                      {{"Content-Type", "application/json"}, {"Authorization", "Bearer reader-0123456789abcdef"}})
                .status,
            403u);
  // Malformed JSON is 400; a batch with any error is 422 with every problem, and changes nothing.
  r = c.request(http::verb::post, "/v1/facts", "{\"upsert\": [", auth());
  EXPECT_EQ(r.status, 400u) << r.body;
  r = write(c, {{"upsert",
                 {{{"type", "Trust"}, {"id", "t1"}, {"attrs", {{"grantor", "cust"}, {"grantee", "msp"}, {"accepted", false}}}},
                  {{"type", "Person"}, {"id", "bob"}, {"attrs", {{"account", "nowhere"}}}}}}});
  ASSERT_EQ(r.status, 422u) << r.body;
  EXPECT_EQ(r.j()["errors"][0]["code"], "E0402") << r.body;
  EXPECT_NE(r.body.find("upsert[1].attrs.account"), std::string::npos) << r.body;
  r = write(c, {{"delete", {{{"type", "Account"}, {"id", "msp"}}}}});
  ASSERT_EQ(r.status, 422u) << r.body;
  EXPECT_NE(r.body.find("still referred to by `Person::\\\"ann\\\"`.account"), std::string::npos) << r.body;
  r = write(c, {{"upsert", {{{"type", "Trust"}, {"id", "t2"}, {"attrs", {{"grantor", "cust"}, {"grantee", "msp"}, {"accepted", true}}}}}}});
  ASSERT_EQ(r.status, 422u) << r.body;
  EXPECT_EQ(r.j()["errors"][0]["code"], "key") << r.body;
  r = c.request(http::verb::post, "/access/v1/evaluation", kAnnViewsCust.dump(), auth());
  EXPECT_EQ(r.j()["decision"], true);
  EXPECT_EQ(r.headers["X-Treaty-Revision"], "0");

  // A good batch: the next revision, visible to the next request.
  r = write(c, {{"upsert",
                 {{{"type", "Trust"}, {"id", "t1"}, {"attrs", {{"grantor", "cust"}, {"grantee", "msp"}, {"accepted", false}}}}}}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["revision"], 1);
  r = c.request(http::verb::post, "/access/v1/evaluation", kAnnViewsCust.dump(), auth());
  EXPECT_EQ(r.j()["decision"], false);
  EXPECT_EQ(r.headers["X-Treaty-Revision"], "1");
  r = c.request(http::verb::get, "/v1/facts/Trust/t1", "", auth());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["attrs"]["accepted"], false);
  EXPECT_EQ(r.j()["revision"], 1);
  EXPECT_EQ(c.request(http::verb::get, "/v1/facts/Trust/nope", "", auth()).status, 404u);
  EXPECT_EQ(c.request(http::verb::get, "/v1/facts/Trst/t1", "", auth()).status, 404u);

  // New entities and deletes in one batch; the native API sees them too.
  r = write(c, {{"upsert",
                 {{{"type", "Account"}, {"id", "new co"}, {"attrs", {{"plan", "basic"}}}},
                  {{"type", "Person"}, {"id", "cy"}, {"attrs", {{"account", "new co"}}}}}},
                {"delete", {{{"type", "Trust"}, {"id", "t1"}}}}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["revision"], 2);
  EXPECT_EQ(c.request(http::verb::get, "/v1/facts/Trust/t1", "", auth()).status, 404u);
  r = c.request(http::verb::get, "/v1/facts/Account/new%20co", "", auth());
  EXPECT_EQ(r.status, 200u) << r.body;
  r = c.request(http::verb::post, "/v1/decide",
                json{{"principal", {{"type", "Person"}, {"id", "cy"}}},
                     {"action", {{"name", "view"}}},
                     {"resource", {{"type", "Account"}, {"id", "new co"}}}}
                    .dump(),
                auth());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["decision"], "allow") << r.body;

  // A streamed batch answers from one revision, and says which.
  {
    const std::string line = json{{"principal", {{"type", "Person"}, {"id", "cy"}}},
                                  {"action", {{"name", "view"}}},
                                  {"resource", {{"type", "Account"}, {"id", "new co"}}}}
                                 .dump();
    auto bh = auth();
    bh["Content-Type"] = "application/x-ndjson";
    r = c.request(http::verb::post, "/v1/decide/batch", line + "\n" + line + "\n", bh);
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.headers["X-Treaty-Revision"], "2");
    EXPECT_EQ(std::count(r.body.begin(), r.body.end(), '\n'), 2) << r.body;
    EXPECT_NE(r.body.find("\"allow\""), std::string::npos) << r.body;
    bh["X-Treaty-Min-Revision"] = "9";
    EXPECT_EQ(c.request(http::verb::post, "/v1/decide/batch", line + "\n", bh).status, 503u);
  }
  // At least a revision: one that is here answers; one that does not come is 503.
  auto h = auth();
  h["X-Treaty-Min-Revision"] = "2";
  EXPECT_EQ(c.request(http::verb::post, "/access/v1/evaluation", kAnnViewsCust.dump(), h).status, 200u);
  h["X-Treaty-Min-Revision"] = "9";
  r = c.request(http::verb::post, "/access/v1/evaluation", kAnnViewsCust.dump(), h);
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.headers["Retry-After"], "1");
  h["X-Treaty-Min-Revision"] = "two";
  EXPECT_EQ(c.request(http::verb::post, "/access/v1/evaluation", kAnnViewsCust.dump(), h).status, 400u);
  // The same through AuthZEN's request context.
  json q = kAnnViewsCust;
  q["context"] = {{"treaty_min_revision", 2}};
  r = c.request(http::verb::post, "/access/v1/evaluation", q.dump(), auth());
  EXPECT_EQ(r.status, 200u) << r.body;
  q["context"] = {{"treaty_min_revision", 9}};
  EXPECT_EQ(c.request(http::verb::post, "/access/v1/evaluation", q.dump(), auth()).status, 503u);
  q["context"] = {{"treaty_min_revision", "two"}};
  EXPECT_EQ(c.request(http::verb::post, "/access/v1/evaluation", q.dump(), auth()).status, 400u);
  r = c.request(http::verb::post, "/access/v1/evaluations",
                json{{"context", {{"treaty_min_revision", 9}}}, {"evaluations", {kAnnViewsCust}}}.dump(), auth());
  EXPECT_EQ(r.status, 503u) << r.body;

  r = c.request(http::verb::get, "/v1/status", "", auth());
  EXPECT_EQ(r.j()["facts"]["revision"], 2) << r.body;
  EXPECT_EQ(r.j()["facts"]["writes"]["ok"], 2) << r.body;
  EXPECT_EQ(r.j()["facts"]["writes"]["rejected"], 3) << r.body;
  r = c.request(http::verb::get, "/metrics", "", auth());
  EXPECT_NE(r.body.find("treaty_facts_revision 2"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("treaty_revision_waits_timed_out_total 4"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("treaty_fact_writes_total{result=\"ok\"} 2"), std::string::npos);
  EXPECT_EQ(srv.s->terminate(), 0);
}

TEST(Facts, AReloadKeepsTheWritten) {
  SmallServer srv("reload", {"--threads", "1"});
  ASSERT_NE(srv.s->port(), 0) << srv.s->log();
  std::ofstream(srv.dir / "tokens", std::ios::app) << "admin-0123456789abcdef admin\n";
  Client c(srv.s->port());
  ASSERT_EQ(write(c, {{"upsert", {{{"type", "Trust"}, {"id", "t1"},
                                   {"attrs", {{"grantor", "cust"}, {"grantee", "msp"}, {"accepted", false}}}}}}})
                .status,
            200u);
  // The tokens file is read at start only: reload with SIGHUP.
  kill(srv.s->pid(), SIGHUP);
  bool reloaded = false;
  for (int i = 0; i < 200 && !reloaded; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    reloaded = c.request(http::verb::get, "/v1/status", "", auth()).j()["reloads"]["ok"] == 2;
  }
  ASSERT_TRUE(reloaded) << srv.s->log();
  auto r = c.request(http::verb::post, "/access/v1/evaluation", kAnnViewsCust.dump(), auth());
  EXPECT_EQ(r.j()["decision"], false) << "the write survived the reload";
  EXPECT_EQ(r.headers["X-Treaty-Revision"], "1");
}

// A server of a bundle takes writes too. Its world cannot take them, so a reload applies their
// net state again on top of the bundle's world, and the writes are never folded: past
// --compact-after (2 here) each write used to start a fold, a reload that rebuilt the same world
// and applied every write again.
TEST(Facts, ABundlesWritesSurviveReloadsAndAreNotFoldedOverAndOver) {
  const fs::path dir = temp_dir("bundle");
  std::ofstream(dir / "p.treaty") << kSmall;
  std::ofstream(dir / "data.json") << kSmallData.dump();
  std::ofstream(dir / "tokens") << kToken << " write,decide,admin\n";
  const std::string compile = std::string(TREATY_BINARY) + " compile " + (dir / "p.treaty").string() + " --data " +
                              (dir / "data.json").string() + " -o " + (dir / "p.bundle").string() + " 2>/dev/null";
  ASSERT_EQ(std::system(compile.c_str()), 0);
  ServerProcess s({"--bundle", (dir / "p.bundle").string(), "--auth-tokens", (dir / "tokens").string(),
                   "--watch-interval-ms", "0", "--compact-after", "2"});
  ASSERT_NE(s.port(), 0) << s.log();
  Client c(s.port());
  auto person = [](const char* id, const char* account) {
    return json{{"type", "Person"}, {"id", id}, {"attrs", {{"account", account}}}};
  };
  for (const json& b : {json{{"upsert", {person("bob", "cust")}}}, json{{"upsert", {person("cy", "cust")}}},
                        json{{"upsert", {person("bob", "msp")}}}, json{{"delete", {{{"type", "Trust"}, {"id", "t1"}}}}},
                        json{{"upsert", {person("dee", "cust")}}}}) {
    const auto r = write(c, b);
    ASSERT_EQ(r.status, 200u) << b.dump() << ": " << r.body;
  }
  auto reloads = [&] { return c.request(http::verb::get, "/v1/status", "", auth()).j()["reloads"]["ok"].get<int>(); };
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a fold would have begun by now
  EXPECT_EQ(reloads(), 1) << "no fold over a bundle's world" << s.log();
  auto views = [&](const char* who, const char* account) {
    json q = kAnnViewsCust;
    q["subject"]["id"] = who;
    q["resource"]["id"] = account;
    const auto r = c.request(http::verb::post, "/access/v1/evaluation", q.dump(), auth());
    return r.j()["decision"] == true;
  };
  const auto reload = c.request(http::verb::post, "/v1/admin/reload", "", auth());
  ASSERT_EQ(reload.status, 200u) << reload.body;
  EXPECT_EQ(reloads(), 2);
  EXPECT_TRUE(views("bob", "msp")) << "bob's last upsert";
  EXPECT_FALSE(views("bob", "cust"));
  EXPECT_TRUE(views("cy", "cust"));
  EXPECT_TRUE(views("dee", "cust"));
  EXPECT_FALSE(views("ann", "cust")) << "t1 stays deleted";
  EXPECT_EQ(c.request(http::verb::post, "/access/v1/evaluation", kAnnViewsCust.dump(), auth()).headers["X-Treaty-Revision"],
            "5");
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// T1 live: "withdrawal takes effect at once"
// ---------------------------------------------------------------------------------------------
json trust_json(bool accepted, bool option, bool share) {
  return {{"type", "Trust"},
          {"id", "cust_msp"},
          {"attrs",
           {{"grantor", "cust"},
            {"grantee", "msp"},
            {"accepted", accepted},
            {"options", option ? json{"change_tasks_to_key_contacts_and_specialists"} : json::array()},
            {"shared_roles", share ? json{"service_desk_analyst"} : json::array()}}}};
}

json fourme_world() {
  auto acct = [](const char* id, const char* plan, json modules) {
    return json{{"type", "Account"},
                {"id", id},
                {"attrs", {{"kind", "standard"}, {"plan", plan}, {"modules", modules}, {"directory", nullptr}}}};
  };
  auto person = [](const char* id, const char* account, json roles) {
    return json{{"type", "Person"}, {"id", id}, {"attrs", {{"account", account}, {"roles", roles}, {"teams", json::array()}}}};
  };
  return {{"entities",
           {acct("msp", "enterprise", {"change_management", "project_management"}),
            acct("cust", "premium", json::array()), person("cm", "msp", {"change_manager"}),
            person("outsourced", "msp", json::array()), person("spec", "cust", {"specialist", "key_contact"}),
            person("someone", "cust", json::array()), trust_json(true, true, true),
            {{"type", "RoleAssignment"},
             {"id", "ra"},
             {"attrs", {{"person", "outsourced"}, {"role", "service_desk_analyst"}, {"account", "cust"}}}}}}};
}

/// T1 (DOMAIN.md): "a trust is accepted, an option unticked or a role unshared at any moment" and
/// the withdrawal takes effect at once. Two decisions run without pause on their own connection
/// while each withdrawal is written: the change manager's approval task for the customer's
/// specialist (given by the option, T2) and the outsourced analyst's request for a customer's
/// person (given by the shared role, T8). Every decision that starts after a write's
/// acknowledgement must deny what the write withdrew.
TEST(Facts, T1WithdrawalsTakeEffectForEveryDecisionAfterTheAcknowledgement) {
  const auto dir = temp_dir("t1");
  std::ofstream(dir / "world.json") << fourme_world().dump();
  std::ofstream(dir / "tokens") << kToken << " write,decide\n";
  ServerProcess s({kSrc + "/policies/4me/lib", "--data", (dir / "world.json").string(), "--auth-tokens",
                   (dir / "tokens").string(), "--threads", "2", "--watch-interval-ms", "0"});
  ASSERT_NE(s.port(), 0) << s.log();
  const json task = {{"subject", {{"type", "Person"}, {"id", "cm"}}},
                     {"action", {{"name", "assign_task"}, {"properties", {{"kind", "approval"}}}}},
                     {"resource", {{"type", "Person"}, {"id", "spec"}}}};
  const json request = {{"subject", {{"type", "Person"}, {"id", "outsourced"}}},
                        {"action", {{"name", "register_request"}}},
                        {"resource", {{"type", "Person"}, {"id", "someone"}}}};
  Client c(s.port());
  auto decide = [&](Client& cl, const json& q) {
    auto r = cl.request(http::verb::post, "/access/v1/evaluation", q.dump(), auth());
    EXPECT_EQ(r.status, 200u) << r.body;
    return r.status == 200 && r.j()["decision"] == true;
  };
  ASSERT_TRUE(decide(c, task)) << "the option gives the task";
  ASSERT_TRUE(decide(c, request)) << "the shared role gives the request";

  using Clock = std::chrono::steady_clock;
  struct Seen {
    Clock::time_point start;
    bool allow;
  };
  auto run = [&](const json& q, const json& withdraw, const json& restore) {
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> done{0};
    std::vector<Seen> seen;
    std::thread decider([&] {
      Client dc(s.port());
      while (!stop) {
        const auto t0 = Clock::now();
        seen.push_back({t0, decide(dc, q)});
        done.fetch_add(1);
      }
    });
    // Counted, not timed (a loaded machine may decide few in 50 ms): at least 11 decisions
    // before the write, and 12 more after its acknowledgement, of which at most one (in flight
    // at the acknowledgement) started before it. Bounded by 10 s each.
    auto wait_for = [&](std::size_t n) {
      const auto until = Clock::now() + std::chrono::seconds(10);
      while (done.load() < n && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    };
    wait_for(11);
    auto r = write(c, {{"upsert", {withdraw}}});
    const auto acked = Clock::now();
    EXPECT_EQ(r.status, 200u) << r.body;
    wait_for(done.load() + 12);
    stop = true;
    decider.join();
    std::size_t before = 0, after = 0;
    for (const auto& x : seen) {
      if (x.start < acked) {
        ++before;
        continue;
      }
      ++after;
      EXPECT_FALSE(x.allow) << "a decision that started after the acknowledgement allowed";
    }
    EXPECT_GT(before, 10u);
    EXPECT_GT(after, 10u);
    ASSERT_EQ(write(c, {{"upsert", {restore}}}).status, 200u);
    EXPECT_TRUE(decide(c, q));
  };
  run(task, trust_json(true, false, true), trust_json(true, true, true));      // untick the option
  run(request, trust_json(true, true, false), trust_json(true, true, true));   // unshare the role
  run(task, trust_json(false, true, true), trust_json(true, true, true));      // revoke the trust
  run(request, trust_json(false, true, true), trust_json(true, true, true));
  EXPECT_EQ(s.terminate(), 0);
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// The state directory
// ---------------------------------------------------------------------------------------------
const char* kCounter = R"(
entity Item { batch: Int }
entity Person { }
action view principal Person resource Item;
permit all principal p: Person action view resource i: Item when i.batch >= 0;
)";

/// Batch k upserts `a` and `b` with batch k and adds `k<k>`: after a crash, a and b must agree (no
/// batch is half applied) and every acknowledged batch's own item must be there.
json counter_batch(int k) {
  return {{"upsert",
           {{{"type", "Item"}, {"id", "a"}, {"attrs", {{"batch", k}}}},
            {{"type", "Item"}, {"id", "k" + std::to_string(k)}, {"attrs", {{"batch", k}}}},
            {{"type", "Item"}, {"id", "b"}, {"attrs", {{"batch", k}}}}}}};
}

struct StateDir {
  fs::path dir = temp_dir("state");
  StateDir() {
    std::ofstream(dir / "p.treaty") << kCounter;
    std::ofstream(dir / "data.json") << json{{"entities", {{{"type", "Item"}, {"id", "a"}, {"attrs", {{"batch", 0}}}},
                                                          {{"type", "Item"}, {"id", "b"}, {"attrs", {{"batch", 0}}}}}}}
                                              .dump();
    std::ofstream(dir / "tokens") << kToken << " write,decide\n";
  }
  ~StateDir() { fs::remove_all(dir); }
  std::unique_ptr<ServerProcess> start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{(dir / "p.treaty").string(), "--data", (dir / "data.json").string(),
                                  "--auth-tokens", (dir / "tokens").string(), "--state", (dir / "state").string(),
                                  "--watch-interval-ms", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<ServerProcess>(args);
  }
};

std::optional<long> item(Client& c, const std::string& id) {
  auto r = c.request(http::verb::get, "/v1/facts/Item/" + id, "", auth());
  if (r.status != 200) return std::nullopt;
  return r.j()["attrs"]["batch"].get<long>();
}

TEST(State, SigkillAtRandomPointsOfAWriteStreamLosesNoAcknowledgedBatch) {
  StateDir st;
  std::mt19937 rng(20261202);
  int next = 1;  // the next batch to write
  std::set<int> acked;
  std::uint64_t last_revision = 0;
  for (int round = 0; round < 50; ++round) {
    // A small --compact-after makes snapshots and folds happen during the stream too.
    auto s = st.start({"--compact-after", "40", "--threads", "2"});
    ASSERT_NE(s->port(), 0) << "round " << round << ": " << s->log();
    {
      Client c(s->port());
      // Every acknowledged batch is there; a and b agree; the revision did not go back.
      auto status = c.request(http::verb::get, "/v1/status", "", auth()).j();
      const std::uint64_t rev = status["facts"]["revision"].get<std::uint64_t>();
      EXPECT_GE(rev, last_revision) << "round " << round;
      for (int k : acked) ASSERT_TRUE(item(c, "k" + std::to_string(k))) << "round " << round << ": batch " << k << " lost";
      const auto a = item(c, "a"), b = item(c, "b");
      ASSERT_TRUE(a && b);
      EXPECT_EQ(*a, *b) << "round " << round << ": a batch was half applied";
      // Unacknowledged batches may be there or not, but whole: k<a> exists when a > 0.
      if (*a > 0) {
        EXPECT_TRUE(item(c, "k" + std::to_string(*a)));
      }
      if (*a >= next) next = static_cast<int>(*a) + 1;
      last_revision = rev;
    }
    // Two writers stream batches; the server dies at a random moment.
    std::atomic<bool> stop{false};
    std::mutex m;
    std::atomic<int> counter{next};
    auto writer = [&] {
      try {
        Client c(s->port());
        while (!stop) {
          const int k = counter.fetch_add(1);
          auto r = write(c, counter_batch(k));
          if (r.status == 200) {
            std::lock_guard lk(m);
            acked.insert(k);
            last_revision = std::max<std::uint64_t>(last_revision, r.j()["revision"].get<std::uint64_t>());
          }
        }
      } catch (const std::exception&) {
        // the server died under the request
      }
    };
    std::thread w1(writer), w2(writer);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 120)(rng)));
    s->kill_now();
    stop = true;
    w1.join();
    w2.join();
    next = counter.load();
  }
  EXPECT_GT(acked.size(), 200u) << "the stream wrote too little to test anything";
}

TEST(State, ATornLogTailIsReportedAndTheLastCompleteBatchKept) {
  StateDir st;
  {
    auto s = st.start();
    ASSERT_NE(s->port(), 0) << s->log();
    Client c(s->port());
    for (int k = 1; k <= 5; ++k) ASSERT_EQ(write(c, counter_batch(k)).status, 200u);
    s->kill_now();
  }
  const auto log = st.dir / "state" / "log.wal";
  ASSERT_TRUE(fs::exists(log));
  fs::resize_file(log, fs::file_size(log) - 7);  // the last batch torn
  {
    auto s = st.start();
    ASSERT_NE(s->port(), 0) << s->log();
    Client c(s->port());
    EXPECT_EQ(item(c, "a"), 4);
    EXPECT_EQ(item(c, "b"), 4);
    EXPECT_FALSE(item(c, "k5"));
    EXPECT_NE(s->log().find("truncated"), std::string::npos) << s->log();
    // And the log goes on from there.
    auto r = write(c, counter_batch(6));
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.j()["revision"], 5);
    s->kill_now();
  }
  // A flipped byte inside a record: cut there too.
  std::fstream f(log, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(fs::file_size(log)) - 3);
  f.put('\x7f');
  f.close();
  auto s = st.start();
  ASSERT_NE(s->port(), 0) << s->log();
  Client c(s->port());
  EXPECT_EQ(item(c, "a"), 4);
  EXPECT_NE(s->log().find("checksum"), std::string::npos) << s->log();
}

}  // namespace
