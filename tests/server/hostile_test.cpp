// `treaty serve` under hostile clients (the reliability issue): slow clients, oversized headers and
// bodies, JSON nested a million deep on every endpoint, invalid UTF-8, thousands of idle
// connections, pipelined garbage and clients that vanish mid-response. Each test is bounded in
// time and count, on loopback; each checks that the server lives, that its memory stays bounded,
// that other clients are served meanwhile, and that every answer that is not a decision is an
// error, never an allow. Other clients' latency under these attacks is a benchmark's figure
// (scripts/bench_hostile.sh), not asserted here: this machine is shared and noisy.
#include <utility>  // before Asio under GCC 12

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "attacks.hpp"
#include "process.hpp"

namespace {

using namespace treaty_test;
using namespace treaty_attack;
namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kSrc = TREATY_SOURCE_DIR;
const std::string kCert = kSrc + "/policies/examples/authzen_certification";
const std::string kToken = "hostile-token-0123456789";
const std::string kAuth = "Authorization: Bearer " + kToken + "\r\n";

// alice may read record-1 (certification C.1.4): an allow, natively and in AuthZEN.
const std::string kAllowNative =
    R"({"principal":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})";
const std::string kAllowAuthzen =
    R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})";

/// A server of the certification fixture with a token of every scope and limits large enough
/// that a megabyte of brackets is parsed, not refused for its size.
struct Hostile : ::testing::Test {
  fs::path dir = fs::temp_directory_path() / ("treaty-hostile-" + std::to_string(::getpid()));
  std::unique_ptr<ServerProcess> s;
  void start(std::vector<std::string> extra = {}) {
    fs::create_directories(dir);
    std::ofstream(dir / "tokens") << kToken << " decide,admin,write\n";
    std::vector<std::string> args{kCert,         "--auth-tokens", (dir / "tokens").string(), "--max-body", "4194304",
                                  "--max-batch-body", "16777216", "--decision-log", (dir / "decisions.jsonl").string(),
                                  "--watch-interval-ms", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    NoAsanQuarantine no_quarantine;  // the peak memory measured is the server's, not ASan's
    s = std::make_unique<ServerProcess>(args);
    ASSERT_NE(s->port(), 0) << s->log();
  }
  void TearDown() override {
    if (s) {
      EXPECT_EQ(s->terminate(), 0) << s->log();
    }
    s.reset();
    fs::remove_all(dir);
  }
  /// One exchange on a fresh connection: the responses that came back, read until `n` are
  /// complete (then a little more, to see any extra), the server closes, or 20 s pass.
  std::vector<RawResponse> exchange(const std::string& bytes, std::size_t n = 1) const {
    const int fd = connect_to(s->port());
    EXPECT_GE(fd, 0);
    if (fd < 0) return {};
    (void)send_all(fd, bytes);
    auto r = read_responses(fd, n);
    close(fd);
    return r;
  }
  /// Whether the server still decides: alice reads record-1 (an allow) on a new connection.
  ::testing::AssertionResult still_allows() const {
    const auto r = exchange(post("/access/v1/evaluation", kAllowAuthzen, kAuth));
    if (r.size() == 1 && r[0].status == 200 && json::parse(r[0].body, nullptr, false).value("decision", false))
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the server no longer answers an allow: " << (r.empty() ? "" : r[0].head)
                                         << s->log();
  }
};

/// An answer that is not a decision is an error: a JSON object with a string "error". A decision
/// answer must not allow (each test's hostile requests are all errors). Batch answers are JSON
/// Lines, each a deny with its error.
::testing::AssertionResult refused(const RawResponse& r, const std::string& what) {
  if (r.status == 0) return ::testing::AssertionFailure() << what << ": no answer";
  if (r.status == 200) {
    std::size_t lines = 0, pos = 0;
    for (auto nl = r.body.find('\n'); pos < r.body.size(); nl = r.body.find('\n', pos)) {
      const auto line = r.body.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? r.body.size() : nl + 1;
      if (line.empty()) continue;
      ++lines;
      const auto j = json::parse(line, nullptr, false);
      const bool denied = j.is_object() && ((j.contains("decision") && j["decision"] == false) ||
                                            (j.contains("decision") && j["decision"] == "deny" &&
                                             j.contains("errors") && !j["errors"].empty()) ||
                                            (j.contains("error") && j["error"].is_string()));
      if (!denied) return ::testing::AssertionFailure() << what << ": 200 with an answer that is not a refusal: " << line;
    }
    if (lines == 0) return ::testing::AssertionFailure() << what << ": 200 with an empty answer";
    return ::testing::AssertionSuccess();
  }
  const auto j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_string() || j["error"].get<std::string>().empty())
    return ::testing::AssertionFailure() << what << ": " << r.status << " without an error: " << r.body.substr(0, 300);
  return ::testing::AssertionSuccess();
}

// Every endpoint that reads a body, given a million unclosed `[`, half a million nested arrays
// closed, and a request whose one value nests 100,000 deep: each is answered (400 for the body,
// or an error line of a batch), the server lives, and its memory stays bounded. A fact write
// nested 100,000 deep once crashed the server (a recursive copy overflowed its stack).
TEST_F(Hostile, JsonNestedAMillionDeepOnEveryEndpointIsAnError) {
  start();
  const std::vector<std::pair<std::string, std::string>> endpoints{
      {"/access/v1/evaluation", "application/json"},  {"/access/v1/evaluations", "application/json"},
      {"/access/v1/search/subject", "application/json"}, {"/access/v1/search/resource", "application/json"},
      {"/access/v1/search/action", "application/json"}, {"/v1/decide", "application/json"},
      {"/v1/decide?explain=true", "application/json"},  {"/v1/decide/batch", "application/x-ndjson"},
      {"/v1/mask", "application/json"},                 {"/v1/facts", "application/json"}};
  const std::string deep_value = nested_arrays(100'000);
  const std::vector<std::pair<std::string, std::string>> bodies{
      {"a million [", open_brackets(1'000'000)},
      {"500,000 nested arrays", nested_arrays(500'000)},
      {"an AuthZEN request with a deep context",
       R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"},"context":{"x":)" +
           deep_value + "}}"},
      {"a native request with a deep argument",
       R"({"principal":{"type":"user","id":"alice"},"action":{"name":"read","args":{"x":)" + deep_value +
           R"(}},"resource":{"type":"record","id":"record-1"}})"},
      {"a fact write with a deep attribute",
       R"({"upsert":[{"type":"user","id":"zz","attrs":{"role":)" + deep_value + "}}]}"}};
  for (const auto& [target, type] : endpoints)
    for (const auto& [name, body] : bodies) {
      const auto r = exchange(post(target, body, kAuth, type));
      ASSERT_EQ(r.size(), 1u) << target << ", " << name << ": " << s->log();
      EXPECT_TRUE(refused(r[0], target + ", " + name));
      if (target == "/v1/decide/batch") {
        EXPECT_EQ(r[0].status, 200u) << name;  // one error line
      } else {
        EXPECT_TRUE(r[0].status == 400 || r[0].status == 422) << target << ", " << name << ": " << r[0].status;
      }
    }
  // The batch goes on after a deep line; the deep line is an error where it is.
  const auto b = exchange(post("/v1/decide/batch", kAllowNative + "\n" + open_brackets(100'000) + "\n" + kAllowNative + "\n",
                               kAuth, "application/x-ndjson"));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].status, 200u);
  EXPECT_EQ(std::count(b[0].body.begin(), b[0].body.end(), '\n'), 3) << b[0].body;
  EXPECT_TRUE(b[0].body.starts_with(R"({"decision":"allow")")) << b[0].body;
  EXPECT_NE(b[0].body.find("line 2: "), std::string::npos) << b[0].body;
  EXPECT_NE(b[0].body.find("nested deeper than 1024"), std::string::npos) << b[0].body;
  EXPECT_TRUE(still_allows());
  // Nothing was written: the fact write was refused whole.
  const auto zz = exchange("GET /v1/facts/user/zz HTTP/1.1\r\nHost: x\r\n" + kAuth + "\r\n");
  ASSERT_EQ(zz.size(), 1u);
  EXPECT_EQ(zz[0].status, 404u) << zz[0].body;
  EXPECT_LT(peak_rss(s->pid()), std::size_t{400} << 20);
}

// Invalid UTF-8 in a JSON string, in a header, in the target and in a batch line: each is an
// error (or a refusal line), never an allow, and the decision log stays valid JSON Lines.
TEST_F(Hostile, InvalidUtf8IsAnErrorNeverAnAllow) {
  start();
  const std::string bad = "\xff\xfe\xc3\x28\xed\xa0\x80";  // not UTF-8: bytes, a broken pair, a surrogate
  const std::string in_context = R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},)"
                                 R"("resource":{"type":"record","id":"record-1"},"context":{"x":")" +
                                 bad + "\"}}";
  const std::string in_id = R"({"subject":{"type":"user","id":"alice)" + bad +
                            R"("},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})";
  const std::string native_bad =
      R"({"principal":{"type":"user","id":"alice"},"action":{"name":"read","args":{"x":")" + bad +
      R"("}},"resource":{"type":"record","id":"record-1"}})";
  for (const auto& [target, body] : std::vector<std::pair<std::string, std::string>>{
           {"/access/v1/evaluation", in_context},
           {"/access/v1/evaluation", in_id},
           {"/access/v1/evaluations", R"({"evaluations":[)" + in_context + "]}"},
           {"/access/v1/search/resource", in_context},
           {"/v1/decide", native_bad},
           {"/v1/mask", native_bad},
           {"/v1/facts", R"({"upsert":[{"type":"user","id":")" + bad + R"(","attrs":{}}]})"}}) {
    const auto r = exchange(post(target, body, kAuth));
    ASSERT_EQ(r.size(), 1u) << target << s->log();
    EXPECT_TRUE(refused(r[0], target + " " + body.substr(0, 60)));
  }
  // A batch line that is not UTF-8 is an error line; its neighbours are decided.
  const auto b = exchange(post("/v1/decide/batch", kAllowNative + "\n" + native_bad + "\n", kAuth, "application/x-ndjson"));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_TRUE(b[0].body.starts_with(R"({"decision":"allow")")) << b[0].body;
  EXPECT_NE(b[0].body.find("\n{\"decision\":\"deny\",\"determining\":[],\"errors\":[\"line 2: "), std::string::npos)
      << b[0].body;
  // In a header (echoed as X-Request-ID and written to the decision log) and in the target.
  const auto h = exchange(post("/access/v1/evaluation", kAllowAuthzen, kAuth + "X-Request-ID: id-" + bad + "\r\n"));
  ASSERT_EQ(h.size(), 1u) << s->log();
  EXPECT_TRUE(h[0].status == 200 || h[0].status == 400) << h[0].head;
  for (const std::string& target : std::vector<std::string>{"/access/v1/evaluation" + bad, "/v1/facts/user/" + bad,
                                                            "/v1/facts/user/%ff%fe", "/v1/decide?explain=" + bad}) {
    const auto t = exchange(post(target, kAllowNative, kAuth));
    ASSERT_EQ(t.size(), 1u) << target << s->log();
    EXPECT_NE(t[0].status, 200u) << target;
    EXPECT_TRUE(refused(t[0], target));
  }
  const auto g = exchange("GET /v1/facts/user/" + bad + " HTTP/1.1\r\nHost: x\r\n" + kAuth + "\r\n");
  ASSERT_EQ(g.size(), 1u) << s->log();
  EXPECT_TRUE(refused(g[0], "GET /v1/facts/user/<bad>"));
  EXPECT_TRUE(still_allows());
  // The decision log: every line is JSON (a request id that is not UTF-8 is written escaped or
  // replaced, never as bytes that make the line unreadable).
  EXPECT_EQ(s->terminate(), 0) << s->log();
  std::ifstream log(dir / "decisions.jsonl");
  std::size_t lines = 0;
  for (std::string line; std::getline(log, line); ++lines)
    EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded()) << line;
  EXPECT_GE(lines, 2u);
  s.reset();
}

// Fifty clients each sending a request a byte a second are cut off at the request timeout (408),
// and a client that reads its large answer a byte a second is cut off at the write timeout,
// while another client's every decision is answered.
TEST_F(Hostile, SlowClientsAreCutOffWhileOthersAreServed) {
  start({"--request-timeout-ms", "1500", "--threads", "2"});
  const std::string req = post("/access/v1/evaluation", kAllowAuthzen, kAuth);
  std::vector<int> slow;
  for (int i = 0; i < 50; ++i) slow.push_back(connect_to(s->port()));
  // A slow reader: a batch whose answer (about 5 MB) is far more than the socket buffers hold.
  std::string lines;
  for (int i = 0; i < 50000; ++i) lines += kAllowNative + "\n";
  const int reader = connect_to(s->port());
  int rcvbuf = 4096;
  setsockopt(reader, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  std::thread feed([&] { (void)send_all(reader, post("/v1/decide/batch", lines, kAuth, "application/x-ndjson")); });
  std::atomic<bool> stop{false};
  std::size_t served = 0, wrong = 0;
  std::thread other([&] {
    const int fd = connect_to(s->port());
    std::string rest;
    while (!stop.load()) {
      if (!send_all(fd, req)) break;
      std::string raw = rest;
      std::vector<RawResponse> got;
      char buf[4096];
      while (got.empty()) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) break;
        const auto n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        raw.append(buf, static_cast<std::size_t>(n));
        got = split_responses(raw, false, &rest);
      }
      if (got.size() != 1 || got[0].status != 200 || got[0].body.find("\"decision\":true") == std::string::npos) {
        ++wrong;
        break;
      }
      ++served;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    close(fd);
  });
  // A byte a second, for five seconds: far slower than the 1.5 s timeout allows.
  for (int sec = 0; sec < 5; ++sec) {
    for (int fd : slow) (void)send(fd, req.data() + sec, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    char c;
    if (sec == 0 || sec == 3) (void)!recv(reader, &c, 1, MSG_DONTWAIT);  // the reader takes a byte now and then
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  stop = true;
  other.join();
  EXPECT_EQ(wrong, 0u);
  EXPECT_GT(served, 50u) << "the other client was served while the slow ones waited";
  std::size_t timed_out = 0;
  for (int fd : slow) {
    const auto r = split_responses(read_until_quiet(fd, 2000), true);
    if (r.size() == 1 && r[0].status == 408 && refused(r[0], "408")) ++timed_out;
    close(fd);
  }
  EXPECT_EQ(timed_out, slow.size());
  // The slow reader's connection is closed by the server (its answer stopped at the timeout).
  shutdown(reader, SHUT_WR);
  const auto t0 = std::chrono::steady_clock::now();
  std::string got;
  char buf[65536];
  for (;;) {
    pollfd p{reader, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) break;
    const auto n = recv(reader, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10)) << "the slow reader was cut off";
  std::size_t answers = 0;
  for (auto at = got.find("\"decision\""); at != std::string::npos; at = got.find("\"decision\"", at + 1)) ++answers;
  EXPECT_LT(answers, 50000u) << "the slow reader did not get its whole answer";
  close(reader);
  feed.join();
  EXPECT_TRUE(still_allows());
}

// Three thousand connections that send nothing (over --max-connections 500) do not lock other
// clients out: each new client is served, the idle connection that waited longest making room.
// Connections in the middle of a request are never closed for another (their 503 is in
// server_test's Hostile.LimitsAndClientsThatMisbehave).
TEST_F(Hostile, ThousandsOfIdleConnectionsDoNotLockOthersOut) {
  const std::size_t limit = raise_open_files();
  const std::size_t n = std::min<std::size_t>(3000, limit > 400 ? limit - 300 : 100);
  start({"--max-connections", "500"});
  std::vector<int> idle;
  for (std::size_t i = 0; i < n; ++i) {
    const int fd = connect_to(s->port());
    if (fd >= 0) idle.push_back(fd);
  }
  EXPECT_GE(idle.size(), n * 9 / 10) << "connections opened of " << n;
  std::size_t served = 0;
  for (int i = 0; i < 40; ++i) {
    const auto r = exchange(post("/access/v1/evaluation", kAllowAuthzen, kAuth));
    if (r.size() == 1 && r[0].status == 200 && r[0].body.find("\"decision\":true") != std::string::npos) ++served;
    else ADD_FAILURE() << "client " << i << ": " << (r.empty() ? "no answer" : r[0].head + r[0].body) << s->log();
  }
  EXPECT_EQ(served, 40u);
  // An eviction is counted on the evicted connection's strand, a moment after its accept, and on
  // a loaded machine the server may still be working through the accept backlog: the counter is
  // read until it gets there, for ten seconds at most.
  const double want = static_cast<double>(idle.size() - 500) * 0.9;
  double evicted = -1;
  for (const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);;) {
    const auto m = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(m.size(), 1u);
    const auto at = m[0].body.find("\ntreaty_connections_evicted_total ");
    ASSERT_NE(at, std::string::npos);
    evicted = std::stod(m[0].body.substr(at + 34));
    if (evicted >= want || std::chrono::steady_clock::now() > until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(evicted, want) << s->log();
  for (int fd : idle) close(fd);
  EXPECT_TRUE(still_allows());
  EXPECT_LT(peak_rss(s->pid()), std::size_t{400} << 20);
}

// A connection the server has closed (its answer said `Connection: close`) lingers up to half a
// second while its client keeps its end open, and is still counted: its place goes to the next
// client, as an idle connection's would, instead of that client being refused 503. (The moment
// after thousands of idle clients close together is the same case: every counted connection is
// closing, none idle; the test above met it as a rare 503 on a loaded machine.)
TEST_F(Hostile, ConnectionsClosingGiveTheirPlaceToNewClients) {
  start({"--max-connections", "4"});
  std::vector<int> lingering;
  for (int i = 0; i < 4; ++i) {
    const int fd = connect_to(s->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, post("/access/v1/evaluation", kAllowAuthzen, kAuth + "Connection: close\r\n")));
    const auto r = read_responses(fd, 1);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].status, 200u);
    lingering.push_back(fd);  // answered and shut down by the server; this end stays open
  }
  for (int i = 0; i < 4; ++i) {
    const auto r = exchange(post("/access/v1/evaluation", kAllowAuthzen, kAuth));
    ASSERT_EQ(r.size(), 1u) << "client " << i << s->log();
    EXPECT_EQ(r[0].status, 200u) << "client " << i << ": " << r[0].head << r[0].body;
  }
  for (int fd : lingering) close(fd);
  EXPECT_TRUE(still_allows());
}

// Garbage pipelined after valid requests: the valid ones are answered in order, the garbage is a
// 400 with an error, and the connection is closed; a body longer than its Content-Length is
// garbage where its declared length ends.
TEST_F(Hostile, PipelinedGarbageAfterValidRequestsIsA400AfterTheirAnswers) {
  start();
  const std::string one = post("/access/v1/evaluation", kAllowAuthzen, kAuth);
  for (const std::string& garbage :
       {std::string("\x01\x02\x03GARBAGE / HTTP/7\r\n\r\n"), std::string("GET / HTTP/1.1\r\nHost x\r\n\r\n"),
        std::string("POST /v1/decide HTTP/1.1\r\nContent-Length: -5\r\n\r\n"), std::string(100000, '\xff'),
        std::string("POST /v1/decide HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")}) {
    const auto r = exchange(one + one + garbage, 3);
    ASSERT_EQ(r.size(), 3u) << garbage.substr(0, 40) << s->log();
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(r[i].status, 200u);
      EXPECT_NE(r[i].body.find("\"decision\":true"), std::string::npos) << r[i].body;
    }
    EXPECT_EQ(r[2].status, 400u) << garbage.substr(0, 40);
    EXPECT_TRUE(refused(r[2], "garbage"));
  }
  // A body longer than it says: the rest is read as the next request.
  const auto r = exchange(one + "}}}garbage\r\n\r\n", 2);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, 200u);
  EXPECT_EQ(r[1].status, 400u);
  EXPECT_TRUE(still_allows());
}

// Clients that vanish: in the middle of a large streamed answer (closed with a reset or a FIN),
// in the middle of their request body, and right after sending a request. The server lives, its
// memory stays bounded, and the next client is served.
TEST_F(Hostile, ClientsThatVanishMidResponseLeaveNothingBehind) {
  start();
  std::string lines;
  for (int i = 0; i < 20000; ++i) lines += kAllowNative + "\n";
  const std::string batch = post("/v1/decide/batch", lines, kAuth, "application/x-ndjson");
  std::string evals = R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"evaluations":[)";
  for (int i = 0; i < 5000; ++i) evals += std::string(i ? "," : "") + R"({"resource":{"type":"record","id":"record-1"}})";
  evals += "]}";
  const std::string many = post("/access/v1/evaluations", evals, kAuth);
  char buf[4096];
  for (int i = 0; i < 30; ++i) {
    const int fd = connect_to(s->port());
    ASSERT_GE(fd, 0);
    switch (i % 5) {
      case 0:  // a batch, a little of its answer, a reset
      case 1:  // the same, closed with a FIN
        (void)send_all(fd, batch);
        (void)!recv(fd, buf, sizeof buf, 0);
        if (i % 5 == 0) reset_close(fd);
        else close(fd);
        break;
      case 2:  // half a body
        (void)send_all(fd, batch.substr(0, batch.size() / 2));
        reset_close(fd);
        break;
      case 3:  // a request, gone before its answer
        (void)send_all(fd, many);
        reset_close(fd);
        break;
      default:  // half a batch answer's worth read
        (void)send_all(fd, batch);
        for (int k = 0; k < 100; ++k) (void)!recv(fd, buf, sizeof buf, 0);
        reset_close(fd);
        break;
    }
  }
  EXPECT_TRUE(still_allows());
  // Every one of them has been let go: no connection is left open but the one asking.
  bool let_go = false;
  for (int k = 0; k < 100 && !let_go; ++k) {
    const auto m = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let_go = m.size() == 1 && m[0].body.find("\ntreaty_connections_open 1\n") != std::string::npos;
    if (!let_go) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(let_go) << "connections left open after their clients vanished";
  EXPECT_LT(peak_rss(s->pid()), std::size_t{400} << 20);
}

// Oversized requests in every form: a header line of a megabyte sent slowly in pieces, ten
// thousand small headers, a Content-Length of a terabyte, a chunked body past the batch limit
// and a chunk size that overflows. Each is answered with its status and an error.
TEST_F(Hostile, OversizedHeadersAndBodiesAreRefusedWithTheirStatus) {
  start({"--max-header", "8192"});
  std::string many_headers = "POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 10000; ++i) many_headers += "X-" + std::to_string(i) + ": v\r\n";
  many_headers += "\r\n";
  for (const auto& [what, bytes, status] : std::vector<std::tuple<std::string, std::string, unsigned>>{
           {"a megabyte header", "POST /access/v1/evaluation HTTP/1.1\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n", 431},
           {"ten thousand headers", many_headers, 431},
           {"a megabyte target", "GET /" + std::string(1 << 20, 'a') + " HTTP/1.1\r\n\r\n", 431},
           {"a terabyte body", "POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + kAuth +
                                   "Content-Length: 1099511627776\r\n\r\n{",
            413},
           {"a chunked body past the limit",
            "POST /access/v1/evaluations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + kAuth +
                "Transfer-Encoding: chunked\r\n\r\n1000000\r\n" + std::string(1 << 24, ' ') + "\r\n1000000\r\n" +
                std::string(1 << 24, ' ') + "\r\n0\r\n\r\n",
            413},
           {"a chunk size that overflows",
            "POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + kAuth +
                "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
            400}}) {
    const auto r = exchange(bytes);
    ASSERT_EQ(r.size(), 1u) << what << s->log();
    EXPECT_EQ(r[0].status, status) << what << ": " << r[0].head;
    EXPECT_TRUE(refused(r[0], what));
  }
  EXPECT_TRUE(still_allows());
  EXPECT_LT(peak_rss(s->pid()), std::size_t{400} << 20);
}

}  // namespace
