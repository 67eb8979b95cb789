// `treaty serve` end to end: each test starts the server on a free loopback port, talks HTTP to
// it, and stops it by its PID. The AuthZEN certification scenario's Basic, Batch and Discovery
// cases, the Todo interop scenario, the native API, tokens, limits, hostile clients, metrics,
// the decision log and hot reload.
#include <utility>  // before Asio under GCC 12

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process.hpp"

namespace {

using namespace treaty_test;
namespace fs = std::filesystem;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using json = nlohmann::json;

const std::string kSrc = TREATY_SOURCE_DIR;
const std::string kCert = kSrc + "/policies/examples/authzen_certification";
const std::string kTodo = kSrc + "/policies/examples/authzen_todo";


/// One HTTP/1.1 exchange on a raw socket, read as it arrives: the test sends the request in
/// steps and waits on what has come back. Decodes a chunked body (or one with a Content-Length,
/// or one that ends at the close); what follows the response stays for next().
class Streamed {
 public:
  explicit Streamed(unsigned short port) : fd_(raw_connect(port)) {}
  ~Streamed() {
    if (fd_ >= 0) close(fd_);
  }
  Streamed(const Streamed&) = delete;
  Streamed& operator=(const Streamed&) = delete;
  void send(const std::string& s) const { raw_send(fd_, s); }
  /// Reads until `done()` holds, the connection closes or `ms` pass; returns done().
  template <class F>
  bool wait(F done, int ms = 20000) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!done() && !closed_) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[65536];
      const auto n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        if (have_head_ && close_delimited_) complete_ = true;
        break;
      }
      raw_.append(buf, static_cast<std::size_t>(n));
      decode();
    }
    return done();
  }
  bool wait_lines(std::size_t n, int ms = 20000) {
    return wait([&] { return lines_ >= n; }, ms);
  }
  bool wait_complete(int ms = 20000) {
    return wait([&] { return complete_; }, ms);
  }
  bool wait_closed(int ms = 20000) {
    return wait([&] { return closed_; }, ms);
  }
  /// Whether anything arrives within `ms` (the connection staying quiet).
  bool nothing_within(int ms) {
    const auto before = raw_.size() + body_.size();
    wait([&] { return raw_.size() + body_.size() != before; }, ms);
    return raw_.size() + body_.size() == before && !closed_;
  }
  /// Reads the next response of the connection (a pipelined one).
  void next() {
    body_.clear();
    headers_.clear();
    status_ = 0;
    have_head_ = chunked_ = close_delimited_ = complete_ = in_chunk_ = false;
    left_ = lines_ = 0;
    decode();
  }
  [[nodiscard]] unsigned status() const { return status_; }
  [[nodiscard]] bool complete() const { return complete_; }
  [[nodiscard]] bool closed() const { return closed_; }
  [[nodiscard]] std::string header(const std::string& lower_name) const {
    const auto it = headers_.find(lower_name);
    return it == headers_.end() ? "" : it->second;
  }
  [[nodiscard]] const std::string& body() const { return body_; }
  /// The complete lines of the body.
  [[nodiscard]] std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::size_t pos = 0;
    for (auto nl = body_.find('\n'); nl != std::string::npos; nl = body_.find('\n', pos)) {
      out.push_back(body_.substr(pos, nl - pos));
      pos = nl + 1;
    }
    return out;
  }

 private:
  void take(std::size_t n) {
    lines_ += static_cast<std::size_t>(std::count(raw_.begin(), raw_.begin() + static_cast<long>(n), '\n'));
    body_.append(raw_, 0, n);
    raw_.erase(0, n);
  }
  void decode() {
    if (!have_head_) {
      const auto end = raw_.find("\r\n\r\n");
      if (end == std::string::npos) return;
      std::istringstream in(raw_.substr(0, end));
      std::string line;
      std::getline(in, line);
      status_ = static_cast<unsigned>(std::stoul(line.substr(9, 3)));
      while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        std::string k = line.substr(0, colon);
        for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        headers_[k] = line.substr(line.find_first_not_of(' ', colon + 1));
      }
      raw_.erase(0, end + 4);
      have_head_ = true;
      chunked_ = header("transfer-encoding") == "chunked";
      if (!chunked_ && !header("content-length").empty()) left_ = std::stoul(header("content-length"));
      close_delimited_ = !chunked_ && header("content-length").empty();
    }
    while (!complete_) {
      if (close_delimited_) return take(raw_.size());
      if (!chunked_ || in_chunk_) {
        const auto n = std::min(left_, raw_.size());
        take(n);
        left_ -= n;
        if (left_ > 0) return;
        if (!chunked_) {
          complete_ = true;
          return;
        }
        if (raw_.size() < 2) return;
        EXPECT_EQ(raw_.substr(0, 2), "\r\n");
        raw_.erase(0, 2);
        in_chunk_ = false;
      }
      const auto eol = raw_.find("\r\n");
      if (eol == std::string::npos) return;
      const auto size = std::stoul(raw_.substr(0, eol), nullptr, 16);
      if (size == 0) {
        if (raw_.size() < eol + 4) return;
        EXPECT_EQ(raw_.substr(eol, 4), "\r\n\r\n");
        raw_.erase(0, eol + 4);
        complete_ = true;
        return;
      }
      raw_.erase(0, eol + 2);
      left_ = size;
      in_chunk_ = true;
    }
  }
  int fd_ = -1;
  std::string raw_, body_;
  std::map<std::string, std::string> headers_;
  unsigned status_ = 0;
  bool have_head_ = false, chunked_ = false, close_delimited_ = false, complete_ = false, closed_ = false,
       in_chunk_ = false;
  std::size_t left_ = 0, lines_ = 0;
};

/// A request line and headers for a batch; `framing` is `Content-Length: N` or
/// `Transfer-Encoding: chunked`.
std::string batch_head(const std::string& framing, const std::string& extra = "") {
  return "POST /v1/decide/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n" + extra + framing +
         "\r\n\r\n";
}

// Native requests of policies/bm365: an allow, a deny and an error (no such employee).
const std::string kAllowLine =
    R"({"principal":{"type":"Employee","id":"b_tech"},"action":{"name":"view_ticket_field","args":{"field":"summary"}},"resource":{"type":"Ticket","id":"b_acme_1"}})";
const std::string kDenyLine =
    R"({"principal":{"type":"Employee","id":"b_tech"},"action":{"name":"perform","args":{"permission":"part_order_view"}},"resource":{"type":"PartOrder","id":"b_acme_order"}})";
const std::string kErrorLine =
    R"({"principal":{"type":"Employee","id":"nobody"},"action":{"name":"view_ticket_field","args":{"field":"summary"}},"resource":{"type":"Ticket","id":"b_acme_1"}})";

/// Line i (from 1) of a test batch: allow, deny, error, in turn.
const std::string& batch_line(std::size_t i) {
  return i % 3 == 1 ? kAllowLine : i % 3 == 2 ? kDenyLine : kErrorLine;
}
/// Whether `answer` is the answer to batch_line(i).
::testing::AssertionResult answers_line(const std::string& answer, std::size_t i) {
  const bool ok = i % 3 == 1 ? answer.starts_with(R"({"decision":"allow","determining":[{)")
                  : i % 3 == 2 ? answer.starts_with(R"({"decision":"deny","determining":[],"errors":[])")
                               : answer.starts_with(R"({"decision":"deny","determining":[],"errors":["line )" +
                                                    std::to_string(i) + ": ");
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "answer " << i << ": " << answer;
}


const json kAliceRead = json::parse(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},
  "resource":{"type":"record","id":"record-1"}})");

bool decision(const Reply& r) { return r.j().at("decision").get<bool>(); }

std::vector<bool> decisions(const Reply& r) {
  std::vector<bool> out;
  const auto j = r.j();
  for (const auto& e : j.at("evaluations")) out.push_back(e.at("decision").get<bool>());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Certification scenario: Basic (C.2)
// ---------------------------------------------------------------------------------------------
class Certification : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess({kCert}); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_->port(), 0) << server_->log();
    client_ = std::make_unique<Client>(server_->port());
  }
  Reply eval(const std::string& body) { return client_->request(http::verb::post, "/access/v1/evaluation", body); }
  Reply evals(const std::string& body) { return client_->request(http::verb::post, "/access/v1/evaluations", body); }
  static ServerProcess* server_;
  std::unique_ptr<Client> client_;
};
ServerProcess* Certification::server_ = nullptr;

TEST_F(Certification, BasicCoreFixtureDecisions) {
  // C.2.2.1: permit; C.2.2.2: deny (HTTP 200).
  auto r = eval(kAliceRead.dump());
  EXPECT_EQ(r.status, 200u);
  EXPECT_TRUE(r.headers["Content-Type"].starts_with("application/json"));
  EXPECT_TRUE(decision(r));
  r = eval(R"({"subject":{"type":"user","id":"bob"},"action":{"name":"write"},"resource":{"type":"record","id":"record-1"}})");
  EXPECT_EQ(r.status, 200u);
  EXPECT_FALSE(decision(r));
  // C.1.4 rules 2 and 3.
  EXPECT_TRUE(decision(eval(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"write"},"resource":{"type":"record","id":"record-1"}})")));
  EXPECT_TRUE(decision(eval(R"({"subject":{"type":"user","id":"bob"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})")));
  // C.2.2.3: optional context does not change the decision.
  EXPECT_TRUE(decision(eval(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"},
    "context":{"time":"2025-06-27T18:03-07:00","ip":"192.168.1.1"}})")));
  // C.2.2.8: additional properties; C.2.2.9: unknown fields.
  EXPECT_TRUE(decision(eval(R"({"subject":{"type":"user","id":"alice","properties":{"department":"Sales","role":"manager"}},
    "action":{"name":"read","properties":{"method":"GET"}},
    "resource":{"type":"record","id":"record-1","properties":{"status":"active","owner":"bob"}}})")));
  EXPECT_TRUE(decision(eval(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},
    "resource":{"type":"record","id":"record-1"},"foo":"bar","futureField":{"nested":true}})")));
}

TEST_F(Certification, BasicPropertiesFixtureDecisions) {
  // C.2.2.4 (rule 5), C.2.2.5 (rule 6), C.2.2.6 (rule 7), C.2.2.7 (rule 8).
  EXPECT_FALSE(decision(eval(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"write"},
    "resource":{"type":"record","id":"record-2","properties":{"status":"archived"}}})")));
  EXPECT_TRUE(decision(eval(R"({"subject":{"type":"user","id":"bob","properties":{"role":"admin"}},"action":{"name":"write"},
    "resource":{"type":"record","id":"record-2","properties":{"status":"archived"}}})")));
  EXPECT_TRUE(decision(eval(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"delete","properties":{"soft":true}},
    "resource":{"type":"record","id":"record-1"}})")));
  EXPECT_FALSE(decision(eval(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"delete","properties":{"soft":false}},
    "resource":{"type":"record","id":"record-1"}})")));
}

TEST_F(Certification, ResponseFormat) {
  // C.2.3: `decision` is a boolean; `context`, when present, an object.
  const auto j = eval(kAliceRead.dump()).j();
  ASSERT_TRUE(j.at("decision").is_boolean());
  ASSERT_TRUE(j.at("context").is_object());
  EXPECT_EQ(j["context"]["determining"], json::array({"users_read_records"}));
}

TEST_F(Certification, ErrorHandling) {
  // C.2.4.1, C.2.4.2, C.2.4.6: missing or ill-typed fields are 400.
  for (const char* body : {
           R"({"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})",
           R"({"subject":{"type":"user","id":"alice"},"resource":{"type":"record","id":"record-1"}})",
           R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"}})",
           R"({"subject":{"id":"alice"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})",
           R"({"subject":{"type":"user"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})",
           R"({"subject":{"type":"user","id":"alice"},"action":{},"resource":{"type":"record","id":"record-1"}})",
           R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"id":"record-1"}})",
           R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record"}})",
           R"({"subject":"alice","action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})",
           R"({"subject":{"type":"user","id":"alice"},"action":{"name":123},"resource":{"type":"record","id":"record-1"}})",
           "{\"subject\": {", "", "[1,2]"}) {
    const auto r = eval(body);
    EXPECT_EQ(r.status, 400u) << body << " -> " << r.body;
    EXPECT_TRUE(json::parse(r.body).contains("error")) << r.body;
  }
  // C.2.4.3: a Content-Type other than application/json.
  const auto r = client_->request(http::verb::post, "/access/v1/evaluation", kAliceRead.dump(),
                                  {{"Content-Type", "text/plain"}});
  EXPECT_EQ(r.status, 400u);
  // An error inside an evaluation (an unknown action) is decision false with context.error.
  const auto u = eval(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"fly"},"resource":{"type":"record","id":"record-1"}})");
  EXPECT_EQ(u.status, 200u);
  EXPECT_FALSE(decision(u));
  EXPECT_TRUE(u.j()["context"]["error"].get<std::string>().find("unknown action `fly`") != std::string::npos);
}

TEST_F(Certification, HeadersAndIdempotency) {
  // C.2.5.1: X-Request-ID is echoed; C.2.5.2: its absence is fine.
  auto r = client_->request(http::verb::post, "/access/v1/evaluation", kAliceRead.dump(),
                            {{"Content-Type", "application/json"}, {"X-Request-ID", "bfe9eb29-ab87-4ca3"}});
  EXPECT_EQ(r.headers["X-Request-ID"], "bfe9eb29-ab87-4ca3");
  r = eval(kAliceRead.dump());
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.headers.count("X-Request-ID"), 0u);
  // C.2.6: the same request, the same decision.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(decision(eval(kAliceRead.dump())));
}

TEST_F(Certification, PropertiesThatDisagreeWithTheFactsAreAnError) {
  const auto r = eval(R"({"subject":{"type":"user","id":"alice","properties":{"role":"admin"}},"action":{"name":"write"},
    "resource":{"type":"record","id":"record-2"}})");
  EXPECT_EQ(r.status, 200u);
  EXPECT_FALSE(decision(r));
  EXPECT_NE(r.j()["context"]["error"].get<std::string>().find("subject.properties.role is \"admin\""), std::string::npos)
      << r.body;
  // An unknown record is supplied by the request, with its properties as attributes.
  EXPECT_TRUE(decision(eval(R"({"subject":{"type":"user","id":"bob"},"action":{"name":"write"},
    "resource":{"type":"record","id":"record-9","properties":{"status":"archived"}}})")));
  EXPECT_FALSE(decision(eval(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"write"},
    "resource":{"type":"record","id":"record-9","properties":{"status":"archived"}}})")));
  // A subject that is no fact cannot be brought by the request: `user` is not `inline entity`,
  // so nobody can walk in as a new admin.
  const auto smuggled = eval(R"({"subject":{"type":"user","id":"mallory","properties":{"role":"admin"}},
    "action":{"name":"write"},"resource":{"type":"record","id":"record-1"}})");
  EXPECT_FALSE(decision(smuggled));
  EXPECT_NE(smuggled.j()["context"]["error"].get<std::string>().find("may not bring a `user` inline"), std::string::npos)
      << smuggled.body;
  // ... and one without its required attribute is an error.
  const auto m = eval(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record","id":"record-9"}})");
  EXPECT_FALSE(decision(m));
  EXPECT_NE(m.j()["context"]["error"].get<std::string>().find("missing attribute `status`"), std::string::npos) << m.body;
}

// Issue 20: a key given twice (simdjson would read the first, nlohmann the last) is a 400 naming
// the key and where it is, in properties, in the entity objects and in a batch.
TEST_F(Certification, ARepeatedKeyIsAnErrorNotFirstOrLastWins) {
  const auto p = eval(R"({"subject":{"type":"user","id":"bob"},"action":{"name":"write"},
    "resource":{"type":"record","id":"record-9","properties":{"status":"archived","status":"active"}}})");
  EXPECT_EQ(p.status, 400u) << p.body;
  EXPECT_NE(p.j()["error"].get<std::string>().find("the key \"status\" is given twice in resource.properties"),
            std::string::npos)
      << p.body;
  const auto id = eval(R"({"subject":{"type":"user","id":"alice","id":"bob"},"action":{"name":"read"},
    "resource":{"type":"record","id":"record-1"}})");
  EXPECT_EQ(id.status, 400u) << id.body;
  EXPECT_NE(id.j()["error"].get<std::string>().find("\"id\" is given twice in subject"), std::string::npos) << id.body;
  const auto batch = client_->request(http::verb::post, "/access/v1/evaluations",
                                      R"({"evaluations":[{"subject":{"type":"user","id":"alice"},"action":{"name":"read"},
    "resource":{"type":"record","id":"record-1"}},{"subject":{"type":"user","id":"alice"},"action":{"name":"read","name":"write"},
    "resource":{"type":"record","id":"record-1"}}]})",
                                      {{"Content-Type", "application/json"}});
  EXPECT_EQ(batch.status, 400u) << batch.body;
  EXPECT_NE(batch.body.find("given twice in evaluations[1].action"), std::string::npos) << batch.body;
}

TEST_F(Certification, ExplainAddsClosestMisses) {
  const auto body = R"({"subject":{"type":"user","id":"bob"},"action":{"name":"write"},"resource":{"type":"record","id":"record-1"}})";
  EXPECT_FALSE(eval(body).j()["context"].contains("misses"));
  const auto r = client_->request(http::verb::post, "/access/v1/evaluation?explain=true", body);
  const auto misses = r.j()["context"]["misses"];
  ASSERT_EQ(misses.size(), 2u) << r.body;
  EXPECT_EQ(misses[0]["rule"], "non_admins_write_active_records");
  EXPECT_EQ(misses[0]["condition"], "unless u.role == \"admin\"");
}

// ---------------------------------------------------------------------------------------------
// Certification scenario: Batch (C.3)
// ---------------------------------------------------------------------------------------------
TEST_F(Certification, BatchCore) {
  // C.3.2.1: structure.
  auto r = evals(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},
    "evaluations":[{"resource":{"type":"record","id":"record-1"}},{"resource":{"type":"record","id":"record-2"}}]})");
  EXPECT_EQ(r.status, 200u);
  ASSERT_EQ(decisions(r).size(), 2u);
  EXPECT_FALSE(r.j().contains("decision"));  // C.3.3.4
  // C.3.2.2: values and order.
  r = evals(R"({"subject":{"type":"user","id":"bob"},"resource":{"type":"record","id":"record-1"},
    "evaluations":[{"action":{"name":"read"}},{"action":{"name":"write"}}]})");
  EXPECT_EQ(decisions(r), (std::vector<bool>{true, false}));
  // C.3.2.5: no defaults.
  r = evals(R"({"evaluations":[
    {"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}},
    {"subject":{"type":"user","id":"bob"},"action":{"name":"write"},"resource":{"type":"record","id":"record-1"}}]})");
  EXPECT_EQ(decisions(r), (std::vector<bool>{true, false}));
  // C.3.2.6: context inheritance is accepted.
  r = evals(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"context":{"time":"2025-06-27T18:03-07:00"},
    "evaluations":[{"resource":{"type":"record","id":"record-1"}},
      {"resource":{"type":"record","id":"record-2"},"context":{"time":"2025-06-27T19:00-07:00","source":"batch-override"}}]})");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(decisions(r).size(), 2u);
}

TEST_F(Certification, BatchProperties) {
  // C.3.2.3
  auto r = evals(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"write"},"evaluations":[
    {"resource":{"type":"record","id":"record-1","properties":{"status":"active"}}},
    {"resource":{"type":"record","id":"record-2","properties":{"status":"archived"}}}]})");
  EXPECT_EQ(decisions(r), (std::vector<bool>{true, false}));
  // C.3.2.4
  r = evals(R"({"action":{"name":"write"},"resource":{"type":"record","id":"record-2","properties":{"status":"archived"}},
    "evaluations":[{"subject":{"type":"user","id":"alice"}},{"subject":{"type":"user","id":"bob","properties":{"role":"admin"}}}]})");
  EXPECT_EQ(decisions(r), (std::vector<bool>{false, true}));
  // C.3.2.7: whole-object defaults.
  r = evals(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"write"},
    "resource":{"type":"record","id":"record-1","properties":{"status":"active"}},
    "evaluations":[{},{"resource":{"type":"record","id":"record-2","properties":{"status":"archived"}}}]})");
  EXPECT_EQ(decisions(r), (std::vector<bool>{true, false}));
}

TEST_F(Certification, BatchErrors) {
  // C.3.4.1: an item missing a field is decision false with a context, in place.
  auto r = evals(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},
    "options":{"evaluations_semantic":"execute_all"},"evaluations":[{"resource":{"type":"record","id":"record-1"}},{}]})");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(decisions(r), (std::vector<bool>{true, false}));
  EXPECT_TRUE(r.j()["evaluations"][1]["context"].is_object());
  // C.3.4.2 and C.3.4.3: no or an empty evaluations array answers as a single evaluation.
  r = evals(kAliceRead.dump());
  EXPECT_TRUE(decision(r));
  auto j = kAliceRead;
  j["evaluations"] = json::array();
  r = evals(j.dump());
  EXPECT_TRUE(decision(r));
  EXPECT_FALSE(r.j().contains("evaluations"));
  // Malformed payloads are 400.
  EXPECT_EQ(evals(R"({"evaluations":{}})").status, 400u);
  EXPECT_EQ(evals(R"({"options":{"evaluations_semantic":"sometimes"},"evaluations":[{}]})").status, 400u);
}

TEST_F(Certification, BatchSemantics) {
  const std::string items = R"("subject":{"type":"user","id":"bob"},"resource":{"type":"record","id":"record-1"},
    "evaluations":[{"action":{"name":"read"}},{"action":{"name":"write"}},{"action":{"name":"read"}}])";
  auto r = evals("{" + items + R"(,"options":{"evaluations_semantic":"deny_on_first_deny"}})");
  EXPECT_EQ(decisions(r), (std::vector<bool>{true, false}));
  EXPECT_EQ(r.j()["evaluations"][1]["context"]["reason"], "deny_on_first_deny");
  r = evals("{" + items + R"(,"options":{"evaluations_semantic":"permit_on_first_permit"}})");
  EXPECT_EQ(decisions(r), (std::vector<bool>{true}));
  r = evals("{" + items + "}");
  EXPECT_EQ(decisions(r), (std::vector<bool>{true, false, true}));
}

// ---------------------------------------------------------------------------------------------
// Certification scenario: Discovery (C.6)
// ---------------------------------------------------------------------------------------------
TEST_F(Certification, DiscoveryFromHost) {
  auto r = client_->get("/.well-known/authzen-configuration");
  EXPECT_EQ(r.status, 200u);
  EXPECT_TRUE(r.headers["Content-Type"].starts_with("application/json"));
  const auto base = "http://127.0.0.1:" + std::to_string(server_->port());
  EXPECT_EQ(r.j()["policy_decision_point"], base);
  EXPECT_EQ(r.j()["access_evaluation_endpoint"], base + "/access/v1/evaluation");
  EXPECT_EQ(r.j()["access_evaluations_endpoint"], base + "/access/v1/evaluations");
  EXPECT_EQ(client_->request(http::verb::post, "/.well-known/authzen-configuration", "{}").status, 405u);
}

TEST(Discovery, BaseUrlBehindAProxy) {
  ServerProcess s({kCert, "--base-url", "https://pdp.example.com/"});
  ASSERT_NE(s.port(), 0) << s.log();
  Client c(s.port());
  const auto j = c.get("/.well-known/authzen-configuration").j();
  EXPECT_EQ(j["policy_decision_point"], "https://pdp.example.com");
  EXPECT_EQ(j["access_evaluation_endpoint"], "https://pdp.example.com/access/v1/evaluation");
  EXPECT_EQ(j["access_evaluations_endpoint"], "https://pdp.example.com/access/v1/evaluations");
}

// ---------------------------------------------------------------------------------------------
// Todo interop scenario
// ---------------------------------------------------------------------------------------------
TEST(Todo, InteropPayloads) {
  ServerProcess s({kTodo, "--authzen-type", "user=todo_user"});
  ASSERT_NE(s.port(), 0) << s.log();
  Client c(s.port());
  const std::map<std::string, std::string> pid = {
      {"rick", "CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"},
      {"morty", "CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"},
      {"summer", "CiRmZDI2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"},
      {"beth", "CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"},
      {"jerry", "CiRmZDQ2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"}};
  const std::map<std::string, std::string> email = {
      {"rick", "rick@the-citadel.com"}, {"morty", "morty@the-citadel.com"}, {"summer", "summer@the-smiths.com"},
      {"beth", "beth@the-smiths.com"}, {"jerry", "jerry@the-smiths.com"}};
  auto eval = [&](const json& body) {
    const auto r = c.post("/access/v1/evaluation", body);
    EXPECT_EQ(r.status, 200u) << r.body;
    EXPECT_FALSE(r.j()["context"].contains("error")) << r.body;
    return decision(r);
  };
  for (const auto& [who, id] : pid) {
    // GET /users/{userID}: true for every subject and resource (email or PID).
    for (const auto& [other, oid] : pid) {
      EXPECT_TRUE(eval({{"subject", {{"type", "user"}, {"id", id}}}, {"action", {{"name", "can_read_user"}}},
                        {"resource", {{"type", "user"}, {"id", email.at(other)}}}, {"context", json::object()}}));
      EXPECT_TRUE(eval({{"subject", {{"type", "user"}, {"id", id}}}, {"action", {{"name", "can_read_user"}}},
                        {"resource", {{"type", "user"}, {"id", oid}}}, {"context", json::object()}}));
    }
    // GET /todos: true for everyone.
    EXPECT_TRUE(eval({{"subject", {{"type", "user"}, {"id", id}}}, {"action", {{"name", "can_read_todos"}}},
                      {"resource", {{"type", "todo"}, {"id", "todo-1"}}}, {"context", json::object()}}));
    // POST /todos (Draft 02's `identity`, a todo without id): admins and editors.
    const bool creates = who == "rick" || who == "morty" || who == "summer";
    EXPECT_EQ(eval({{"subject", {{"type", "user"}, {"identity", id}}}, {"action", {{"name", "can_create_todo"}}},
                    {"resource", {{"type", "todo"}}}, {"context", json::object()}}),
              creates)
        << who;
    for (const auto& [owner, oemail] : email) {
      const json todo = {{"type", "todo"}, {"id", "7240d0db-8ff0-41ec-98b2-34a096273b9f"},
                         {"properties", {{"ownerID", oemail}}}};
      // PUT /todos/{id}: evil genius, or an editor who owns it.
      const bool updates = who == "rick" || ((who == "morty" || who == "summer") && owner == who);
      EXPECT_EQ(eval({{"subject", {{"type", "user"}, {"identity", id}}}, {"action", {{"name", "can_update_todo"}}},
                      {"resource", todo}, {"context", json::object()}}),
                updates)
          << who << " updates " << owner << "'s todo";
      // DELETE /todos/{id}: admin, or an editor who owns it.
      const bool deletes = who == "rick" || ((who == "morty" || who == "summer") && owner == who);
      EXPECT_EQ(eval({{"subject", {{"type", "user"}, {"id", id}}}, {"action", {{"name", "can_delete_todo"}}},
                      {"resource", todo}, {"context", json::object()}}),
                deletes)
          << who << " deletes " << owner << "'s todo";
    }
  }
  // The evaluations payload of the scenario: Morty may complete his own todo, not Rick's.
  const auto r = c.post("/access/v1/evaluations", json::parse(R"({
    "subject":{"type":"user","id":"CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"},
    "action":{"name":"can_update_todo"},"resource":{},"context":{},
    "evaluations":[
      {"resource":{"type":"todo","id":"7240d0db-8ff0-41ec-98b2-34a096273b9f","properties":{"ownerID":"rick@the-citadel.com"}}},
      {"resource":{"type":"todo","id":"7240d0db-8ff0-41ec-98b2-34a096273b9e","properties":{"ownerID":"morty@the-citadel.com"}}}]})"));
  EXPECT_EQ(decisions(r), (std::vector<bool>{false, true}));
}

// ---------------------------------------------------------------------------------------------
// Native API, health, status
// ---------------------------------------------------------------------------------------------
TEST(Native, DecideBatchMaskStatusHealth) {
  ServerProcess s({kSrc + "/policies/bm365"});
  ASSERT_NE(s.port(), 0) << s.log();
  Client c(s.port());
  const json req = json::parse(R"({"principal":{"type":"Employee","id":"b_tech"},"action":{"name":"view_ticket_field","args":{"field":"summary"}},
    "resource":{"type":"Ticket","id":"b_acme_1"}})");
  auto r = c.post("/v1/decide", req);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["decision"], "allow");
  EXPECT_FALSE(r.j()["determining"].empty());
  EXPECT_TRUE(r.j()["determining"][0].contains("file"));
  // An unknown entity is the client's error.
  auto bad = req;
  bad["principal"]["id"] = "nobody";
  EXPECT_EQ(c.post("/v1/decide", bad).status, 400u);
  // Mask.
  auto m = req;
  m["mask"] = "field";
  m["action"].erase("args");
  r = c.post("/v1/mask", m);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["allowed"], json::array({"summary", "status", "internal_notes"}));
  // Batch: JSON Lines in, JSON Lines out, in order; a bad line is an error line.
  // A request followed on its line by a NUL byte and more is not a request (fuzz_native: the
  // engine's JSON reader once stopped at the NUL and allowed it).
  const std::string nul = req.dump() + std::string(1, '\0') + req.dump();
  std::string lines = req.dump() + "\n" + bad.dump() + "\n\n" + "not json\n" + nul + "\n" + req.dump();
  r = c.request(http::verb::post, "/v1/decide/batch", lines, {{"Content-Type", "application/x-ndjson"}});
  ASSERT_EQ(r.status, 200u);
  std::istringstream in(r.body);
  std::vector<json> out;
  for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
  ASSERT_EQ(out.size(), 5u) << r.body;
  EXPECT_EQ(out[0]["decision"], "allow");
  EXPECT_EQ(out[1]["decision"], "deny");
  EXPECT_NE(out[1]["errors"][0].get<std::string>().find("line 2"), std::string::npos);
  EXPECT_EQ(out[2]["decision"], "deny");
  EXPECT_EQ(out[3]["decision"], "deny");
  EXPECT_EQ(out[3]["errors"][0], "line 4: not a JSON object: at byte " + std::to_string(req.dump().size()) +
                                ": a NUL byte; JSON text cannot hold one (a string writes it \\u0000)")
      << r.body;
  EXPECT_EQ(out[4]["decision"], "allow");
  // A key given twice anywhere in a request is an error, as everywhere Treaty reads JSON (the
  // fuzz_native corpus had "args" and "action" twice, which nlohmann alone read as the last).
  const std::string twice[] = {
      R"({"principal":{"type":"Employee","id":"b_tech"},"action":{"name":"view_ticket_field","args":{"field":"status"},"args":{"field":"summary"}},"resource":{"type":"Ticket","id":"b_acme_1"}})",
      R"({"principal":{"type":"Employee","id":"b_tech"},"action":{"name":"nope"},"action":{"name":"view_ticket_field","args":{"field":"summary"}},"resource":{"type":"Ticket","id":"b_acme_1"}})",
      R"({"principal":{"type":"Employee","id":"b_tech"},"action":{"name":"view_ticket_field","args":{"field":"status","field":"summary"}},"resource":{"type":"Ticket","id":"b_acme_1"}})",
  };
  for (const auto& t : twice) {
    const auto n = c.request(http::verb::post, "/v1/decide", t, {{"Content-Type", "application/json"}});
    EXPECT_EQ(n.status, 400u) << t << ": " << n.body;
    EXPECT_NE(n.body.find("is given twice in one object"), std::string::npos) << t << ": " << n.body;
    const auto b = c.request(http::verb::post, "/v1/decide/batch", t + "\n" + req.dump(), {{"Content-Type", "application/x-ndjson"}});
    ASSERT_EQ(b.status, 200u) << b.body;
    EXPECT_TRUE(b.body.starts_with(R"({"decision":"deny","determining":[],"errors":["line 1: not a JSON object: at byte )")) << b.body;
    EXPECT_NE(b.body.find("\n{\"decision\":\"allow\""), std::string::npos) << b.body;
  }
  for (const char* path : {"/v1/decide", "/access/v1/evaluation"}) {
    const auto n = c.request(http::verb::post, path, nul, {{"Content-Type", "application/json"}});
    EXPECT_EQ(n.status, 400u) << path << ": " << n.body;
    EXPECT_NE(n.body.find("NUL byte"), std::string::npos) << path << ": " << n.body;
  }
  // Status and health.
  const auto st = c.get("/v1/status").j();
  EXPECT_EQ(st["policy"]["checksum"].get<std::string>().size(), 16u);
  EXPECT_EQ(st["policy"]["sources"], json::array({kSrc + "/policies/bm365"}));
  EXPECT_TRUE(st["last_reload_error"].is_null());
  EXPECT_EQ(c.get("/health/live").status, 200u);
  EXPECT_EQ(c.get("/health/ready").status, 200u);
  EXPECT_EQ(c.get("/nope").status, 404u);
  EXPECT_EQ(c.get("/v1/decide").status, 405u);
}

// `"explain": "graph"` answers the decision with the picture of the facts it read, as DOT or
// Mermaid (treaty/graph.hpp); anything else in `explain` or `format` is the client's error.
TEST(Native, DecideWithAGraph) {
  ServerProcess s({kSrc + "/policies/bm365"});
  ASSERT_NE(s.port(), 0) << s.log();
  Client c(s.port());
  json req = json::parse(R"({"principal":{"type":"Employee","id":"b_tech"},"action":{"name":"view_ticket_field","args":{"field":"summary"}},
    "resource":{"type":"Ticket","id":"b_acme_1"},"explain":"graph"})");
  auto r = c.post("/v1/decide", req);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["decision"], "allow");
  EXPECT_FALSE(r.j()["determining"].empty());
  ASSERT_TRUE(r.j().contains("graph")) << r.body;
  EXPECT_EQ(r.j()["graph"]["format"], "dot");
  const std::string dot = r.j()["graph"]["text"];
  EXPECT_EQ(dot.rfind("digraph \"decision\"", 0), 0u) << dot;
  EXPECT_NE(dot.find("ALLOW"), std::string::npos) << dot;
  EXPECT_NE(dot.find("Ticket::\\\"b_acme_1\\\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("rule:" + r.j()["determining"][0]["rule"].get<std::string>()), std::string::npos) << dot;
  // A deny draws its closest misses.
  json deny = req;
  deny["action"]["args"]["field"] = "billing_rate";
  req["format"] = "mermaid";
  r = c.post("/v1/decide", deny);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["decision"], "deny");
  EXPECT_NE(r.j()["graph"]["text"].get<std::string>().find("DENY"), std::string::npos);
  r = c.post("/v1/decide", req);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["graph"]["format"], "mermaid");
  EXPECT_EQ(r.j()["graph"]["text"].get<std::string>().rfind("flowchart LR", 0), 0u) << r.body;
  // Errors: another explain, another format, an unknown entity.
  json bad = req;
  bad["explain"] = true;
  EXPECT_EQ(c.post("/v1/decide", bad).status, 400u);
  bad = req;
  bad["format"] = "png";
  r = c.post("/v1/decide", bad);
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.body.find("dot"), std::string::npos) << r.body;
  bad = req;
  bad["principal"]["id"] = "nobody";
  r = c.post("/v1/decide", bad);
  EXPECT_EQ(r.status, 400u);
  EXPECT_FALSE(r.j().contains("graph"));
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------
// The server writes a response's status line and headers itself (not through Beast's
// serializer): the fields in their order, Connection as HTTP/1.0 and 1.1 each need it, the
// Content-Length, X-Request-ID echoed and a handler's own header, for three pipelined requests
// read and answered in place.
TEST(Native, ResponseHeadsAreExact) {
  ServerProcess s({kCert});
  ASSERT_NE(s.port(), 0) << s.log();
  const int fd = raw_connect(s.port());
  raw_send(fd,
           "GET /health/live HTTP/1.0\r\nConnection: keep-alive\r\nX-Request-ID: r-1\r\n\r\n"
           "POST /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
           "GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string got = raw_read_all(fd, 3000);
  close(fd);
  const std::string live = R"({"status":"live"})", use = R"({"error":"use GET"})";
  EXPECT_EQ(got,
            "HTTP/1.0 200 OK\r\nServer: treaty\r\nContent-Type: application/json\r\nX-Request-ID: r-1\r\n"
            "Connection: keep-alive\r\nContent-Length: 17\r\n\r\n" +
                live +
                "HTTP/1.1 405 Method Not Allowed\r\nServer: treaty\r\nContent-Type: application/json\r\n"
                "Allow: GET\r\nContent-Length: " +
                std::to_string(use.size()) + "\r\n\r\n" + use +
                "HTTP/1.1 200 OK\r\nServer: treaty\r\nContent-Type: application/json\r\nConnection: close\r\n"
                "Content-Length: 17\r\n\r\n" +
                live);
  EXPECT_EQ(s.terminate(), 0) << s.log();
}

// An answer larger than the socket takes at once is written in part in place and the rest
// asynchronously: a client that reads it late, through a small receive buffer, gets it whole.
TEST(Native, ALargeAnswerReadLateArrivesWhole) {
  ServerProcess s({kCert});
  ASSERT_NE(s.port(), 0) << s.log();
  json items = json::array();
  for (int i = 0; i < 40000; ++i) items.push_back(kAliceRead);
  const std::string body = json{{"evaluations", items}}.dump();
  const int fd = treaty_attack::connect_to(s.port(), 4096);
  ASSERT_GE(fd, 0);
  raw_send(fd, "POST /access/v1/evaluations?explain=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               "Content-Type: application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const std::string got = raw_read_all(fd, 5000);
  close(fd);
  const auto head_end = got.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << got.substr(0, 200);
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got.substr(0, 200);
  const std::string answer = got.substr(head_end + 4);
  EXPECT_NE(got.find("\r\nContent-Length: " + std::to_string(answer.size()) + "\r\n"), std::string::npos);
  EXPECT_GT(answer.size(), 3000000u);  // far more than the socket buffers take at once
  const json j = json::parse(answer);
  ASSERT_EQ(j.at("evaluations").size(), 40000u);
  for (const auto& e : j["evaluations"]) EXPECT_TRUE(e.at("decision").get<bool>());
  EXPECT_EQ(s.terminate(), 0) << s.log();
}

TEST(Security, BearerTokensAndScopes) {
  const auto dir = fs::temp_directory_path() / ("treaty_tokens_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "tokens") << "# decide only\ndecider-0123456789abcdef decide\nadmin-0123456789abcdef admin,decide\n";
  const auto log = dir / "decisions.jsonl";
  {
    ServerProcess s({kCert, "--auth-tokens", (dir / "tokens").string(), "--decision-log", log.string()});
    ASSERT_NE(s.port(), 0) << s.log();
    Client c(s.port());
    auto r = c.post("/access/v1/evaluation", kAliceRead);
    EXPECT_EQ(r.status, 401u);
    EXPECT_EQ(r.headers["WWW-Authenticate"], "Bearer");
    auto with = [&](const std::string& token, const std::string& path, const std::string& body) {
      return c.request(http::verb::post, path, body,
                       {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}});
    };
    EXPECT_EQ(with("decider-0123456789abcdeX", "/access/v1/evaluation", kAliceRead.dump()).status, 401u);
    EXPECT_EQ(with("decider-0123456789abcde", "/access/v1/evaluation", kAliceRead.dump()).status, 401u);
    r = with("decider-0123456789abcdef", "/access/v1/evaluation", kAliceRead.dump());
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(decision(r));
    EXPECT_EQ(with("decider-0123456789abcdef", "/v1/admin/reload", "").status, 403u);
    EXPECT_EQ(with("admin-0123456789abcdef", "/v1/admin/reload", "").status, 200u);
    EXPECT_EQ(s.terminate(), 0);
  }
  // The decision log has the decision, and never a token.
  std::ifstream in(log);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all.find("0123456789abcdef"), std::string::npos);
  std::istringstream ls(all);
  std::string line;
  ASSERT_TRUE(std::getline(ls, line)) << all;
  const auto j = json::parse(line);
  for (const char* k : {"decision_id", "time", "request_id", "request", "decision", "determining", "policy", "duration_ns"})
    EXPECT_TRUE(j.contains(k)) << k << " in " << line;
  EXPECT_EQ(j["decision"], true);
  EXPECT_EQ(j["request"]["subject"]["id"], "alice");
  EXPECT_EQ(j["determining"], json::array({"users_read_records"}));
  fs::remove_all(dir);
}

TEST(Security, AdminNeedsATokenEvenOnLoopback) {
  ServerProcess s({kCert});
  ASSERT_NE(s.port(), 0) << s.log();
  Client c(s.port());
  EXPECT_EQ(c.request(http::verb::post, "/v1/admin/reload").status, 403u);
  EXPECT_EQ(c.post("/access/v1/evaluation", kAliceRead).status, 200u);
}

// ---------------------------------------------------------------------------------------------
// Limits and hostile clients
// ---------------------------------------------------------------------------------------------
// An answer sent before the whole request was read (413 for a body over the limit, 503 for a
// connection over the limit) must reach the client: closing a socket with unread input resets
// the connection, and the reset discards the answer the client has not read yet.
TEST(Hostile, AnAnswerSentBeforeTheRequestWasReadArrives) {
  ServerProcess s({kCert, "--max-body", "4096"});
  ASSERT_NE(s.port(), 0) << s.log();
  const std::string body(32768, ' ');
  for (int i = 0; i < 20; ++i) {
    const int fd = raw_connect(s.port());
    raw_send(fd, "POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    EXPECT_NE(raw_read_all(fd, 3000).find(" 413 "), std::string::npos) << "attempt " << i;
    close(fd);
  }
  EXPECT_EQ(s.terminate(), 0);
}

TEST(Hostile, LimitsAndClientsThatMisbehave) {
  ServerProcess s({kCert, "--max-body", "4096", "--max-batch-body", "65536", "--max-header", "2048", "--max-batch",
                   "10", "--max-connections", "6", "--request-timeout-ms", "800", "--threads", "2"});
  ASSERT_NE(s.port(), 0) << s.log();
  Client c(s.port());
  // Oversized body: 413.
  auto big = kAliceRead;
  big["context"] = {{"pad", std::string(8000, 'x')}};
  EXPECT_EQ(Client(s.port()).post("/access/v1/evaluation", big).status, 413u);
  // Oversized headers: 431.
  EXPECT_EQ(Client(s.port())
                .request(http::verb::post, "/access/v1/evaluation", kAliceRead.dump(),
                         {{"Content-Type", "application/json"}, {"X-Pad", std::string(4000, 'y')}})
                .status,
            431u);
  // Too many evaluations: 413.
  json many = kAliceRead;
  many["evaluations"] = json::array();
  for (int i = 0; i < 11; ++i) many["evaluations"].push_back(json::object());
  EXPECT_EQ(c.post("/access/v1/evaluations", many).status, 413u);
  // Malformed HTTP: 400, and the server goes on.
  int fd = raw_connect(s.port());
  raw_send(fd, "GARBAGE\x01\x02 / HTTP/9.9\r\n\r\n");
  EXPECT_NE(raw_read_all(fd, 2000).find(" 400 "), std::string::npos);
  close(fd);
  // A slow client (half a request) does not stall others, and is answered 408 in time.
  const int slow = raw_connect(s.port());
  raw_send(slow, "POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{");
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(decision(c.post("/access/v1/evaluation", kAliceRead)));
  EXPECT_NE(raw_read_all(slow, 3000).find(" 408 "), std::string::npos);
  close(slow);
  // Connections over the limit, when every one is in the middle of a request, are refused with
  // 503; the ones within it are served.
  std::vector<int> held;
  for (int i = 0; i < 8; ++i) {
    held.push_back(raw_connect(s.port()));
    raw_send(held.back(), "POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const int extra = raw_connect(s.port());
  raw_send(extra, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(raw_read_all(extra, 2000).find(" 503 "), std::string::npos);
  close(extra);
  for (int h : held) close(h);
  // The server sees the closes in its own time (on a loaded host, later than any fixed sleep):
  // wait, up to 5 s, for a connection to be served again.
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    const auto r = Client(s.port()).post("/access/v1/evaluation", kAliceRead);
    served = r.status == 200 && decision(r);
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(served) << "a connection within the limit is served once the held ones are closed";
  // A client that sends random bytes and disconnects.
  fd = raw_connect(s.port());
  raw_send(fd, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
  close(fd);
  EXPECT_TRUE(decision(Client(s.port()).post("/access/v1/evaluation", kAliceRead)));
  EXPECT_EQ(s.terminate(), 0);
}

// ---------------------------------------------------------------------------------------------
// /v1/decide/batch, streamed
// ---------------------------------------------------------------------------------------------
// 200,000 lines (about 30 MB) are answered whole and in order, the answers chunked, while the
// server's peak memory grows by far less than the body: neither the body nor the answers are
// held whole. Blank lines are not answered and not counted. The metrics count the decisions.
TEST(Streaming, AHugeBatchIsAnsweredWholeInOrderInBoundedMemory) {
  std::optional<NoAsanQuarantine> no_quarantine(std::in_place);
  ServerProcess s({kSrc + "/policies/bm365", "--max-batch", "300000"});
  no_quarantine.reset();  // only the server started here runs without one
  ASSERT_NE(s.port(), 0) << s.log();
  constexpr std::size_t kLines = 200'000;
  std::string body;
  for (std::size_t i = 1; i <= kLines; ++i) {
    body += batch_line(i);
    body += i % 1000 == 0 ? "\n\n  \r\n" : "\n";
  }
  {  // warm up (the first batch sizes the parser's buffers)
    Streamed w(s.port());
    w.send(batch_head("Content-Length: " + std::to_string(kAllowLine.size())) + kAllowLine);
    ASSERT_TRUE(w.wait_complete());
  }
  const auto before = peak_rss(s.pid());
  Streamed c(s.port());
  std::thread sender([&] {
    c.send(batch_head("Content-Length: " + std::to_string(body.size())));
    for (std::size_t pos = 0; pos < body.size(); pos += 1 << 20) c.send(body.substr(pos, 1 << 20));
  });
  const bool complete = c.wait_complete(120000);
  sender.join();
  ASSERT_TRUE(complete) << c.lines().size() << " lines";
  EXPECT_EQ(c.status(), 200u);
  EXPECT_EQ(c.header("transfer-encoding"), "chunked");
  EXPECT_EQ(c.header("content-type"), "application/x-ndjson");
  const auto lines = c.lines();
  ASSERT_EQ(lines.size(), kLines);
  std::size_t wrong = 0;
  for (std::size_t i = 1; i <= kLines && wrong < 5; ++i)
    if (!answers_line(lines[i - 1], i)) {
      ADD_FAILURE() << answers_line(lines[i - 1], i).message();
      ++wrong;
    }
  const auto after = peak_rss(s.pid());
  EXPECT_LT(after - before, body.size() / 4) << "peak memory " << before << " -> " << after << " bytes for a body of "
                                             << body.size();
  // The decisions are counted: a third allowed, a third denied (the errors name no action).
  const auto m = Client(s.port()).get("/metrics").body;
  EXPECT_NE(m.find("treaty_decisions_total{action=\"view_ticket_field\",result=\"allow\"} " +
                   std::to_string((kLines + 2) / 3 + 1)),  // and the warm-up's
            std::string::npos);
  EXPECT_NE(m.find("treaty_decisions_total{action=\"perform\",result=\"deny\"} " + std::to_string((kLines + 1) / 3)),
            std::string::npos);
  EXPECT_NE(m.find("treaty_http_request_duration_seconds_count{endpoint=\"/v1/decide/batch\"} 2"), std::string::npos);
  EXPECT_NE(m.find("treaty_http_responses_total{endpoint=\"/v1/decide/batch\",code=\"2xx\"} 2"), std::string::npos);
  EXPECT_EQ(s.terminate(), 0) << s.log();
}

// The first answers leave before the rest of the batch was sent: a client that sends half a
// batch gets the answers to that half. One that then sends the rest gets the rest and keeps its
// connection; one that stalls holds no worker (others are served meanwhile) and is cut off at
// the request timeout with an error line that ends the response.
TEST(Streaming, HalfABatchIsAnsweredAtOnceAndAStalledClientIsCutOff) {
  ServerProcess s({kSrc + "/policies/bm365", "--request-timeout-ms", "3000", "--threads", "1"});
  ASSERT_NE(s.port(), 0) << s.log();
  std::string first, second;
  for (std::size_t i = 1; i <= 6; ++i) first += batch_line(i) + "\n";
  first += kAllowLine.substr(0, 40);  // half of line 7
  second = kAllowLine.substr(40) + "\n";
  for (std::size_t i = 8; i <= 12; ++i) second += batch_line(i) + "\n";
  const auto length = "Content-Length: " + std::to_string(first.size() + second.size());

  Streamed go_on(s.port()), stall(s.port());
  go_on.send(batch_head(length, "X-Request-ID: half-1\r\n") + first);
  stall.send(batch_head(length) + first);
  ASSERT_TRUE(go_on.wait_lines(6, 5000)) << go_on.body();
  ASSERT_TRUE(stall.wait_lines(6, 5000)) << stall.body();
  EXPECT_EQ(go_on.status(), 200u);
  EXPECT_EQ(go_on.header("x-request-id"), "half-1");
  EXPECT_FALSE(go_on.complete());
  for (std::size_t i = 1; i <= 6; ++i) EXPECT_TRUE(answers_line(go_on.lines()[i - 1], i));
  // While one client stalls, the single worker thread serves others.
  Client other(s.port());
  for (int i = 0; i < 20; ++i) EXPECT_EQ(other.request(http::verb::post, "/v1/decide", kAllowLine).j()["decision"], "allow");
  go_on.send(second);
  ASSERT_TRUE(go_on.wait_complete(5000)) << go_on.body();
  ASSERT_EQ(go_on.lines().size(), 12u) << go_on.body();
  for (std::size_t i = 1; i <= 12; ++i) EXPECT_TRUE(answers_line(go_on.lines()[i - 1], i));
  EXPECT_TRUE(stall.nothing_within(200)) << "the stalled batch is still open";
  // The finished one keeps its connection.
  go_on.next();
  go_on.send(batch_head("Content-Length: " + std::to_string(kAllowLine.size())) + kAllowLine);
  ASSERT_TRUE(go_on.wait_complete(5000));
  EXPECT_TRUE(answers_line(go_on.body(), 1)) << go_on.body();
  // The stalled one is cut off: its answers, then an error line, the end of the response, a close.
  ASSERT_TRUE(stall.wait_closed(10000));
  EXPECT_TRUE(stall.complete());
  const auto lines = stall.lines();
  ASSERT_EQ(lines.size(), 7u) << stall.body();
  EXPECT_EQ(lines.back(), R"({"error":"the request was not received in time"})");
  EXPECT_EQ(s.terminate(), 0) << s.log();
}

// A chunked request body is undone (chunks that split lines anywhere), and --max-batch-body
// counts its bytes: refused with 413 when the first chunk is too large, cut off with an error
// line once answers have gone. A request pipelined after a batch is answered after it.
TEST(Streaming, AChunkedBodyIsReadAndItsSizeLimited) {
  ServerProcess s({kSrc + "/policies/bm365", "--max-batch-body", "65536", "--max-body", "4096"});
  ASSERT_NE(s.port(), 0) << s.log();
  auto chunked = [](const std::string& data, std::size_t size) {
    std::string out;
    for (std::size_t pos = 0; pos < data.size(); pos += size) {
      const auto piece = data.substr(pos, size);
      char head[32];
      std::snprintf(head, sizeof head, "%zx\r\n", piece.size());
      out += head + piece + "\r\n";
    }
    return out;
  };
  std::string body;
  for (std::size_t i = 1; i <= 30; ++i) body += batch_line(i) + "\n";
  {
    Streamed c(s.port());
    c.send(batch_head("Transfer-Encoding: chunked") + chunked(body, 7) + "0\r\n\r\n" +
           "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(c.wait_complete());
    ASSERT_EQ(c.lines().size(), 30u) << c.body();
    for (std::size_t i = 1; i <= 30; ++i) EXPECT_TRUE(answers_line(c.lines()[i - 1], i));
    c.next();
    ASSERT_TRUE(c.wait_complete());
    EXPECT_EQ(c.status(), 200u);
    EXPECT_EQ(c.body(), R"({"status":"live"})");
  }
  {  // a first chunk over the limit: nothing was answered, so the status says it
    Streamed c(s.port());
    c.send(batch_head("Transfer-Encoding: chunked") + "20000\r\n" + std::string(1000, ' '));
    ASSERT_TRUE(c.wait_complete());
    EXPECT_EQ(c.status(), 413u);
    EXPECT_EQ(c.body(), R"({"error":"the request body is too large"})");
  }
  {  // over the limit once answers have gone: an error line, the end, a close
    Streamed c(s.port());
    c.send(batch_head("Transfer-Encoding: chunked") + chunked(body, 1000));
    ASSERT_TRUE(c.wait_lines(30)) << c.status() << " " << c.closed() << " " << c.body();
    EXPECT_EQ(c.status(), 200u);
    c.send(chunked(std::string(62000, '\n'), 62000));  // past 64 KiB in all
    ASSERT_TRUE(c.wait_closed());
    EXPECT_TRUE(c.complete());
    ASSERT_EQ(c.lines().size(), 31u);
    EXPECT_EQ(c.lines().back(), R"({"error":"the request body is too large"})");
  }
  {  // an HTTP/1.0 client: no chunks, the answers end with the connection
    Streamed c(s.port());
    c.send("POST /v1/decide/batch HTTP/1.0\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    ASSERT_TRUE(c.wait_closed());
    EXPECT_EQ(c.status(), 200u);
    EXPECT_EQ(c.header("transfer-encoding"), "");
    ASSERT_EQ(c.lines().size(), 30u) << c.body();
    for (std::size_t i = 1; i <= 30; ++i) EXPECT_TRUE(answers_line(c.lines()[i - 1], i));
  }
  EXPECT_EQ(s.terminate(), 0) << s.log();
}

// A malformed line in the middle, and lines over the line limit (--max-body), are error lines
// numbered in place; the batch goes on. A long line is not held: 300 KB with a 4 KB limit, sent
// in pieces, is answered as soon as it is over the limit, and its rest is dropped as it comes.
TEST(Streaming, BadAndOverlongLinesAreErrorLinesAndTheBatchGoesOn) {
  ServerProcess s({kSrc + "/policies/bm365", "--max-body", "4096"});
  ASSERT_NE(s.port(), 0) << s.log();
  const std::string huge = R"({"pad":")" + std::string(300000, 'x') + R"("})";
  const std::string big = R"({"pad":")" + std::string(5000, 'y') + R"("})";
  const std::string body = kAllowLine + "\n" + huge + "\n" + kDenyLine + "\nnot json\n" + big + "\n" + kAllowLine + "\n";
  Streamed c(s.port());
  c.send(batch_head("Content-Length: " + std::to_string(body.size())) + kAllowLine + "\n" + huge.substr(0, 100000));
  // The long line is answered before its end has been sent.
  ASSERT_TRUE(c.wait_lines(2)) << c.body();
  c.send(body.substr(kAllowLine.size() + 1 + 100000));
  ASSERT_TRUE(c.wait_complete());
  const auto lines = c.lines();
  ASSERT_EQ(lines.size(), 6u) << c.body();
  EXPECT_TRUE(lines[0].starts_with(R"({"decision":"allow")")) << lines[0];
  EXPECT_EQ(lines[1], R"j({"decision":"deny","determining":[],"errors":["line 2: the line is longer than 4096 bytes (--max-body)"],"misses":[]})j");
  EXPECT_TRUE(lines[2].starts_with(R"({"decision":"deny","determining":[],"errors":[])")) << lines[2];
  EXPECT_TRUE(lines[3].starts_with(R"({"decision":"deny","determining":[],"errors":["line 4: not a JSON object)")) << lines[3];
  EXPECT_EQ(lines[4], R"j({"decision":"deny","determining":[],"errors":["line 5: the line is longer than 4096 bytes (--max-body)"],"misses":[]})j");
  EXPECT_TRUE(lines[5].starts_with(R"({"decision":"allow")")) << lines[5];
  EXPECT_EQ(s.terminate(), 0) << s.log();
}

// --max-batch: a batch whose lines over the limit arrive before any answer has gone is refused
// with 413; one whose answers have begun ends with an error line after the N-th answer, and the
// connection is closed (the rest of its body is not read).
TEST(Streaming, MoreLinesThanMaxBatch) {
  ServerProcess s({kSrc + "/policies/bm365", "--max-batch", "10"});
  ASSERT_NE(s.port(), 0) << s.log();
  std::string eleven, six;
  for (std::size_t i = 1; i <= 11; ++i) eleven += batch_line(i) + "\n";
  for (std::size_t i = 1; i <= 6; ++i) six += batch_line(i) + "\n";
  {
    Streamed c(s.port());
    c.send(batch_head("Content-Length: " + std::to_string(eleven.size())) + eleven);
    ASSERT_TRUE(c.wait_complete());
    EXPECT_EQ(c.status(), 413u);
    EXPECT_EQ(c.body(), R"({"error":"a batch may hold at most 10 requests"})");
    EXPECT_TRUE(c.wait_closed());
  }
  {
    Streamed c(s.port());
    c.send(batch_head("Content-Length: " + std::to_string(2 * six.size())) + six);
    ASSERT_TRUE(c.wait_lines(6));
    c.send(six);
    ASSERT_TRUE(c.wait_closed());
    EXPECT_TRUE(c.complete());
    const auto lines = c.lines();
    ASSERT_EQ(lines.size(), 11u) << c.body();
    for (std::size_t i = 1; i <= 10; ++i) {
      // The second six are the first six again, numbered 7 to 12.
      const auto& a = lines[i - 1];
      if (i <= 6 || i % 3 != 0) EXPECT_TRUE(answers_line(a, i > 6 ? i - 6 : i));
      else EXPECT_TRUE(a.find("\"errors\":[\"line " + std::to_string(i) + ": ") != std::string::npos) << a;
    }
    EXPECT_EQ(lines.back(), R"({"error":"a batch may hold at most 10 requests"})");
  }
  {  // ten are fine
    Streamed c(s.port());
    c.send(batch_head("Content-Length: " + std::to_string(eleven.size() - batch_line(11).size() - 1)) +
           eleven.substr(0, eleven.size() - batch_line(11).size() - 1));
    ASSERT_TRUE(c.wait_complete());
    EXPECT_EQ(c.status(), 200u);
    EXPECT_EQ(c.lines().size(), 10u);
  }
  EXPECT_EQ(s.terminate(), 0) << s.log();
}

// Tokens are checked before the body is read (refused and closed); the request id is echoed on
// the streamed answer; every line of the batch is in the decision log with it.
TEST(Streaming, TokensRequestIdAndTheDecisionLog) {
  const auto dir = fs::temp_directory_path() / ("treaty_stream_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "tokens") << "decider-0123456789abcdef decide\n";
  const auto log = dir / "decisions.jsonl";
  std::string body;
  for (std::size_t i = 1; i <= 3000; ++i) body += batch_line(i) + "\n";
  {
    ServerProcess s({kSrc + "/policies/bm365", "--auth-tokens", (dir / "tokens").string(), "--decision-log",
                     log.string(), "--max-body", "1024"});
    ASSERT_NE(s.port(), 0) << s.log();
    {
      Streamed c(s.port());
      c.send(batch_head("Content-Length: " + std::to_string(body.size())) + body);
      ASSERT_TRUE(c.wait_complete());
      EXPECT_EQ(c.status(), 401u);
      EXPECT_TRUE(c.wait_closed());
    }
    Streamed c(s.port());
    c.send(batch_head("Content-Length: " + std::to_string(body.size()),
                      "Authorization: Bearer decider-0123456789abcdef\r\nX-Request-ID: batch-7\r\n") +
           body);
    ASSERT_TRUE(c.wait_complete());
    EXPECT_EQ(c.status(), 200u);
    EXPECT_EQ(c.header("x-request-id"), "batch-7");
    ASSERT_EQ(c.lines().size(), 3000u);
    for (std::size_t i = 1; i <= 3000; ++i) EXPECT_TRUE(answers_line(c.lines()[i - 1], i));
    // Lines that are no request: not JSON, and over the line limit (not kept).
    c.next();
    const std::string odd = "not \"json\n" + std::string(2000, 'x') + "\n";
    c.send(batch_head("Content-Length: " + std::to_string(odd.size()),
                      "Authorization: Bearer decider-0123456789abcdef\r\nX-Request-ID: batch-8\r\n") +
           odd);
    ASSERT_TRUE(c.wait_complete());
    EXPECT_EQ(c.lines().size(), 2u) << c.body();
    const auto m = Client(s.port()).get("/metrics").body;
    EXPECT_NE(m.find("treaty_http_responses_total{endpoint=\"/v1/decide/batch\",code=\"4xx\"} 1"), std::string::npos);
    EXPECT_NE(m.find("treaty_http_responses_total{endpoint=\"/v1/decide/batch\",code=\"2xx\"} 2"), std::string::npos);
    EXPECT_EQ(s.terminate(), 0) << s.log();
  }
  std::ifstream in(log);
  std::size_t n = 0;
  for (std::string line; n < 3000 && std::getline(in, line); ++n) {
    const auto j = json::parse(line);
    EXPECT_EQ(j["request_id"], "batch-7");
    EXPECT_EQ(j["request"], json::parse(batch_line(n + 1))) << line;
    EXPECT_EQ(j["decision"], (n + 1) % 3 == 1) << line;
    if ((n + 1) % 3 == 0) {
      EXPECT_TRUE(j["error"].get<std::string>().starts_with("line " + std::to_string(n + 1) + ": ")) << line;
    }
  }
  EXPECT_EQ(n, 3000u);
  // Every log line is JSON: a line that was not is logged as a string, one not kept as null.
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  auto j = json::parse(line);
  EXPECT_EQ(j["request_id"], "batch-8");
  EXPECT_EQ(j["request"], "not \"json");
  EXPECT_TRUE(j["error"].get<std::string>().starts_with("line 1: not a JSON object")) << line;
  ASSERT_TRUE(std::getline(in, line));
  j = json::parse(line);
  EXPECT_TRUE(j["request"].is_null()) << line;
  EXPECT_TRUE(j["error"].get<std::string>().starts_with("line 2: the line is longer than 1024 bytes")) << line;
  EXPECT_FALSE(std::getline(in, line)) << line;
  fs::remove_all(dir);
}

/// A fresh DIR/policy holding the certification fixture and DIR/tokens with an admin token, for
/// tests that reload a policy.
void make_reload_dir(const fs::path& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir / "policy");
  fs::copy_file(kCert + "/fixture.treaty", dir / "policy" / "fixture.treaty");
  std::ofstream(dir / "tokens") << "admin-0123456789abcdef admin,decide\n";
}

// A batch is decided by the policy it began with: lines that arrive after a reload (which the
// same worker thread has already used for another request) still get the old policy's answers;
// the next batch gets the new one's.
TEST(Streaming, ABatchKeepsThePolicyItBeganWithAcrossAReload) {
  const auto dir = fs::temp_directory_path() / ("treaty_stream_reload_" + std::to_string(getpid()));
  make_reload_dir(dir);
  ServerProcess s({(dir / "policy").string(), "--auth-tokens", (dir / "tokens").string(), "--watch-interval-ms", "0",
                   "--threads", "1"});
  ASSERT_NE(s.port(), 0) << s.log();
  const std::string auth = "Authorization: Bearer admin-0123456789abcdef\r\n";
  const std::string bob_write =
      R"({"principal":{"type":"user","id":"bob"},"action":{"name":"write"},"resource":{"type":"record","id":"record-1"}})";
  std::string half;
  for (int i = 0; i < 3; ++i) half += bob_write + "\n";
  Streamed c(s.port());
  c.send(batch_head("Content-Length: " + std::to_string(2 * half.size()), auth) + half);
  ASSERT_TRUE(c.wait_lines(3));
  std::ofstream(dir / "policy" / "extra.treaty")
      << "permit admins_write_anything\n  principal u: user\n  action write\n  resource record\n"
         "  when u.role == \"admin\";\n";
  Client admin(s.port());
  const std::map<std::string, std::string> headers = {{"Content-Type", "application/json"},
                                                      {"Authorization", "Bearer admin-0123456789abcdef"}};
  ASSERT_EQ(admin.request(http::verb::post, "/v1/admin/reload", "", headers).status, 200u);
  EXPECT_EQ(admin.request(http::verb::post, "/v1/decide", bob_write, headers).j()["decision"], "allow");
  c.send(half);
  ASSERT_TRUE(c.wait_complete());
  ASSERT_EQ(c.lines().size(), 6u) << c.body();
  for (const auto& l : c.lines()) EXPECT_TRUE(l.starts_with(R"({"decision":"deny")")) << l;
  c.next();
  c.send(batch_head("Content-Length: " + std::to_string(bob_write.size()), auth) + bob_write);
  ASSERT_TRUE(c.wait_complete());
  EXPECT_TRUE(c.body().starts_with(R"({"decision":"allow")")) << c.body();
  EXPECT_EQ(s.terminate(), 0) << s.log();
  fs::remove_all(dir);
}

// A client that asks to be told before it sends its body (`Expect: 100-continue`, as curl does
// for a body over 1 MiB) is told at once, on a batch and on a single request; one whose body is
// over the limit is refused instead.
TEST(Streaming, ExpectContinueIsAnsweredBeforeTheBody) {
  ServerProcess s({kSrc + "/policies/bm365", "--max-body", "4096"});
  ASSERT_NE(s.port(), 0) << s.log();
  const std::string body = kAllowLine + "\n" + kDenyLine + "\n" + kErrorLine + "\n";
  Streamed c(s.port());
  c.send(batch_head("Content-Length: " + std::to_string(body.size()), "Expect: 100-continue\r\n"));
  ASSERT_TRUE(c.wait([&] { return c.status() != 0; }, 5000)) << "no 100 Continue";
  EXPECT_EQ(c.status(), 100u);
  c.next();
  c.send(body);
  ASSERT_TRUE(c.wait_complete());
  EXPECT_EQ(c.status(), 200u);
  ASSERT_EQ(c.lines().size(), 3u) << c.body();
  for (std::size_t i = 1; i <= 3; ++i) EXPECT_TRUE(answers_line(c.lines()[i - 1], i));
  c.next();
  c.send("POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
         "Content-Length: " + std::to_string(kAllowLine.size()) + "\r\n\r\n");
  ASSERT_TRUE(c.wait([&] { return c.status() != 0; }, 5000)) << "no 100 Continue";
  EXPECT_EQ(c.status(), 100u);
  c.next();
  c.send(kAllowLine);
  ASSERT_TRUE(c.wait_complete());
  EXPECT_EQ(c.status(), 200u);
  EXPECT_TRUE(answers_line(c.body(), 1)) << c.body();
  Streamed big(s.port());
  big.send("POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
           "Content-Length: 10000\r\n\r\n");
  ASSERT_TRUE(big.wait_complete(5000));
  EXPECT_EQ(big.status(), 413u);
  EXPECT_EQ(s.terminate(), 0) << s.log();
}

// ---------------------------------------------------------------------------------------------
// Metrics, parsed as Prometheus text
// ---------------------------------------------------------------------------------------------
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

/// A strict reader of the Prometheus text format (version 0.0.4): HELP and TYPE comments,
/// `name{label="value",...} number` lines; every sample's family must have been TYPEd.
std::vector<Sample> parse_prometheus(const std::string& text, std::string& error) {
  std::vector<Sample> out;
  std::map<std::string, std::string> types;
  static const std::regex sample_re(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([-+]?[0-9.eE+-]+|\+Inf|NaN)$)");
  static const std::regex label_re(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)")re");
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.starts_with("# TYPE ")) {
      std::istringstream ls(line.substr(7));
      std::string name, type;
      ls >> name >> type;
      if (type != "counter" && type != "gauge" && type != "histogram") error += "line " + std::to_string(n) + ": type\n";
      types[name] = type;
      continue;
    }
    if (line.starts_with("# HELP ") || line.empty()) continue;
    std::smatch m;
    if (!std::regex_match(line, m, sample_re)) {
      error += "line " + std::to_string(n) + ": " + line + "\n";
      continue;
    }
    Sample s{m[1], {}, std::stod(m[4])};
    const std::string labels = m[3];
    for (auto it = std::sregex_iterator(labels.begin(), labels.end(), label_re); it != std::sregex_iterator(); ++it)
      s.labels[(*it)[1]] = (*it)[2];
    std::string family = s.name;
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (family.ends_with(suffix) && types.count(family.substr(0, family.size() - std::strlen(suffix))))
        family = family.substr(0, family.size() - std::strlen(suffix));
    if (!types.count(family)) error += "line " + std::to_string(n) + ": untyped " + s.name + "\n";
    out.push_back(std::move(s));
  }
  return out;
}

TEST(Metrics, PrometheusTextFormat) {
  ServerProcess s({kCert});
  ASSERT_NE(s.port(), 0) << s.log();
  Client c(s.port());
  for (int i = 0; i < 3; ++i) c.post("/access/v1/evaluation", kAliceRead);
  c.post("/access/v1/evaluation", json::parse(R"({"subject":{"type":"user","id":"bob"},"action":{"name":"write"},
    "resource":{"type":"record","id":"record-1"}})"));
  c.request(http::verb::post, "/access/v1/evaluation", "{");
  auto r = c.get("/metrics");
  ASSERT_EQ(r.status, 200u);
  EXPECT_TRUE(r.headers["Content-Type"].starts_with("text/plain"));
  std::string error;
  const auto samples = parse_prometheus(r.body, error);
  EXPECT_EQ(error, "");
  auto value = [&](const std::string& name, std::map<std::string, std::string> labels) {
    for (const auto& x : samples)
      if (x.name == name && x.labels == labels) return x.value;
    return -1.0;
  };
  EXPECT_EQ(value("treaty_decisions_total", {{"action", "read"}, {"result", "allow"}}), 3);
  EXPECT_EQ(value("treaty_decisions_total", {{"action", "write"}, {"result", "deny"}}), 1);
  EXPECT_EQ(value("treaty_http_responses_total", {{"endpoint", "/access/v1/evaluation"}, {"code", "4xx"}}), 1);
  EXPECT_EQ(value("treaty_http_request_duration_seconds_count", {{"endpoint", "/access/v1/evaluation"}}), 5);
  EXPECT_EQ(value("treaty_http_request_duration_seconds_bucket", {{"endpoint", "/access/v1/evaluation"}, {"le", "+Inf"}}), 5);
  // Buckets are cumulative.
  double last = 0;
  for (const auto& x : samples)
    if (x.name == "treaty_http_request_duration_seconds_bucket" && x.labels.at("endpoint") == "/access/v1/evaluation") {
      EXPECT_GE(x.value, last);
      last = x.value;
    }
  EXPECT_EQ(value("treaty_reloads_total", {{"result", "ok"}}), 1);
  EXPECT_EQ(value("treaty_decision_log_lines_total", {{"outcome", "dropped"}}), 0);
}

// ---------------------------------------------------------------------------------------------
// Hot reload
// ---------------------------------------------------------------------------------------------
TEST(Reload, AdminSighupAndFileChangesKeepTheOldPolicyOnFailure) {
  const auto dir = fs::temp_directory_path() / ("treaty_reload_" + std::to_string(getpid()));
  make_reload_dir(dir);
  ServerProcess s({(dir / "policy").string(), "--auth-tokens", (dir / "tokens").string(), "--watch-interval-ms", "100"});
  ASSERT_NE(s.port(), 0) << s.log();
  Client c(s.port());
  const std::map<std::string, std::string> auth = {{"Content-Type", "application/json"},
                                                   {"Authorization", "Bearer admin-0123456789abcdef"}};
  const std::string bob_write =
      R"({"subject":{"type":"user","id":"bob"},"action":{"name":"write"},"resource":{"type":"record","id":"record-1"}})";
  EXPECT_FALSE(decision(c.request(http::verb::post, "/access/v1/evaluation", bob_write, auth)));
  const auto checksum0 = c.get("/v1/status").j()["policy"]["checksum"];

  // A broken policy: the reload fails, the old engine keeps serving, status reports why.
  std::ofstream(dir / "policy" / "broken.treaty") << "permit oops principal p: nosuchtype action read resource r: record;\n";
  auto r = c.request(http::verb::post, "/v1/admin/reload", "", auth);
  EXPECT_EQ(r.status, 422u) << r.body;
  EXPECT_NE(r.j()["error"].get<std::string>().find("nosuchtype"), std::string::npos) << r.body;
  EXPECT_FALSE(decision(c.request(http::verb::post, "/access/v1/evaluation", bob_write, auth)));
  auto st = c.get("/v1/status").j();
  EXPECT_EQ(st["policy"]["checksum"], checksum0);
  EXPECT_NE(st["last_reload_error"].get<std::string>().find("nosuchtype"), std::string::npos);

  // A good change, picked up by the file watcher: bob may now write active records.
  fs::remove(dir / "policy" / "broken.treaty");
  std::ofstream(dir / "policy" / "extra.treaty")
      << "permit admins_write_anything\n  principal u: user\n  action write\n  resource record\n"
         "  when u.role == \"admin\";\n";
  bool changed = false;
  for (int i = 0; i < 100 && !changed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    changed = decision(c.request(http::verb::post, "/access/v1/evaluation", bob_write, auth));
  }
  EXPECT_TRUE(changed) << s.log();
  st = c.get("/v1/status").j();
  EXPECT_NE(st["policy"]["checksum"], checksum0);
  EXPECT_TRUE(st["last_reload_error"].is_null());

  // SIGHUP reloads too (the reload count goes up).
  const auto ok_before = st["reloads"]["ok"].get<int>();
  kill(s.pid(), SIGHUP);
  bool reloaded = false;
  for (int i = 0; i < 100 && !reloaded; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    reloaded = c.get("/v1/status").j()["reloads"]["ok"].get<int>() > ok_before;
  }
  EXPECT_TRUE(reloaded);
  EXPECT_EQ(s.terminate(), 0);
  fs::remove_all(dir);
}

TEST(Lifecycle, SigtermDrainsAnInFlightRequestAndExitsZero) {
  ServerProcess s({kCert});
  ASSERT_NE(s.port(), 0) << s.log();
  // A request whose body is still arriving when SIGTERM comes is answered, then the server exits.
  const int fd = raw_connect(s.port());
  const std::string body = kAliceRead.dump();
  raw_send(fd, "POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 10));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  kill(s.pid(), SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  raw_send(fd, body.substr(10));
  const auto answer = raw_read_all(fd, 3000);
  EXPECT_NE(answer.find(" 200 "), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"decision\":true"), std::string::npos) << answer;
  close(fd);
  EXPECT_EQ(s.terminate(), 0);
}

}  // namespace
