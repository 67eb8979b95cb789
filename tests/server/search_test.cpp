// The AuthZEN Search APIs of `treaty serve` end to end (`/access/v1/search/{subject,resource,
// action}`): the certification scenario's Search level (C.4) against
// policies/examples/authzen_certification, the search interop scenario's every request against
// policies/examples/authzen_search, and what the specification leaves to the PDP: pages tied to
// one revision of the live facts, request-supplied properties, tokens and limits. Each test starts
// its own server on a free loopback port and stops it by PID.
#include <utility>  // before Asio under GCC 12

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "process.hpp"

namespace {

using namespace treaty_test;
namespace fs = std::filesystem;
namespace http = boost::beast::http;
using json = nlohmann::json;

const std::string kSrc = TREATY_SOURCE_DIR;
const std::string kCert = kSrc + "/policies/examples/authzen_certification";
const std::string kSearch = kSrc + "/policies/examples/authzen_search";

/// The interop scenario's names mapped onto the example's (its README says why they differ).
std::vector<std::string> search_args(std::vector<std::string> more = {}) {
  std::vector<std::string> a{kSearch,           "--authzen-type",   "user=search_user",
                             "--authzen-type",  "record=search_record", "--authzen-action",
                             "view=search_view", "--authzen-action", "edit=search_edit",
                             "--authzen-action", "delete=search_delete"};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

/// The ids of a search response's results, sorted, after checking each result's shape: an
/// object with `type` (the type asked) and a string `id`.
std::vector<std::string> ids_of(const json& j, const std::string& type) {
  std::vector<std::string> out;
  for (const auto& r : j.at("results")) {
    EXPECT_EQ(r.at("type"), type) << r;
    out.push_back(r.at("id").get<std::string>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The action names of an action search's results, sorted.
std::vector<std::string> names_of(const json& j) {
  std::vector<std::string> out;
  for (const auto& r : j.at("results")) out.push_back(r.at("name").get<std::string>());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

using Names = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// Certification scenario: Search (C.4) and the search endpoints' Discovery (C.6)
// ---------------------------------------------------------------------------------------------
class CertificationSearch : public ::testing::Test {
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
  Reply subjects(const std::string& body) { return client_->request(http::verb::post, "/access/v1/search/subject", body); }
  Reply resources(const std::string& body) { return client_->request(http::verb::post, "/access/v1/search/resource", body); }
  Reply actions(const std::string& body) { return client_->request(http::verb::post, "/access/v1/search/action", body); }
  static ServerProcess* server_;
  std::unique_ptr<Client> client_;
};
ServerProcess* CertificationSearch::server_ = nullptr;

TEST_F(CertificationSearch, SubjectSearchCore) {
  // C.4.2.1: every user reads record-1 (C.1.4 rules 1 and 3): exactly alice and bob.
  auto r = subjects(R"({"subject":{"type":"user"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.headers["Content-Type"].starts_with("application/json"));
  EXPECT_EQ(ids_of(r.j(), "user"), (Names{"alice", "bob"}));
  EXPECT_EQ(r.j()["page"]["next_token"], "");
  EXPECT_EQ(r.j()["page"]["count"], 2);
  EXPECT_EQ(r.headers["X-Treaty-Revision"], "0");
  // C.4.2.2: with context, the same.
  r = subjects(R"({"subject":{"type":"user"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"},
    "context":{"time":"2025-06-27T18:03-07:00","ip":"192.168.1.1"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(ids_of(r.j(), "user"), (Names{"alice", "bob"}));
  // C.4.2.3: a subject id is ignored: bob is still found.
  r = subjects(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(ids_of(r.j(), "user"), (Names{"alice", "bob"}));
  // C.1.4 rules 2 and 4: of the two, only alice writes record-1.
  r = subjects(R"({"subject":{"type":"user"},"action":{"name":"write"},"resource":{"type":"record","id":"record-1"}})");
  EXPECT_EQ(ids_of(r.j(), "user"), (Names{"alice"}));
}

TEST_F(CertificationSearch, ResourceSearchCore) {
  // C.4.3.1: alice reads every record.
  auto r = resources(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(ids_of(r.j(), "record"), (Names{"record-1", "record-2"}));
  // C.4.3.2: with context.
  r = resources(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record"},
    "context":{"time":"2025-06-27T18:03-07:00","ip":"192.168.1.1"}})");
  EXPECT_EQ(ids_of(r.j(), "record"), (Names{"record-1", "record-2"}));
  // C.4.3.3: a resource id does not narrow the search.
  r = resources(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})");
  EXPECT_EQ(ids_of(r.j(), "record"), (Names{"record-1", "record-2"}));
  // alice (not an admin) writes the active record only.
  r = resources(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"write"},"resource":{"type":"record"}})");
  EXPECT_EQ(ids_of(r.j(), "record"), (Names{"record-1"}));
}

TEST_F(CertificationSearch, ActionSearchCore) {
  // C.4.4.1 and C.4.4.2: alice reads and writes record-1. `delete` takes a Bool, which an action
  // search cannot enumerate: it is named in context.skipped, not answered.
  for (const char* body :
       {R"({"subject":{"type":"user","id":"alice"},"resource":{"type":"record","id":"record-1"}})",
        R"({"subject":{"type":"user","id":"alice"},"resource":{"type":"record","id":"record-1"},
            "context":{"time":"2025-06-27T18:03-07:00","ip":"192.168.1.1"}})"}) {
    const auto r = actions(body);
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(names_of(r.j()), (Names{"read", "write"})) << r.body;
    EXPECT_EQ(r.j()["context"]["skipped"], json::parse(R"(["delete"])")) << r.body;
  }
  // bob, an admin, reads record-1 but does not write it.
  const auto r = actions(R"({"subject":{"type":"user","id":"bob"},"resource":{"type":"record","id":"record-1"}})");
  EXPECT_EQ(names_of(r.j()), (Names{"read"})) << r.body;
}

TEST_F(CertificationSearch, SearchProperties) {
  // C.4.2.4 (S4): who writes record-2, archived: bob (rule 6), not alice (rule 5).
  auto r = subjects(R"({"subject":{"type":"user"},"action":{"name":"write"},
    "resource":{"type":"record","id":"record-2","properties":{"status":"archived"}}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(ids_of(r.j(), "user"), (Names{"bob"})) << r.body;
  // C.4.3.4 (S5): what bob, an admin, writes: the archived record-2.
  r = resources(R"({"subject":{"type":"user","id":"bob","properties":{"role":"admin"}},"action":{"name":"write"},
    "resource":{"type":"record"}})");
  EXPECT_EQ(ids_of(r.j(), "record"), (Names{"record-2"})) << r.body;
  // C.4.4.3 (S6): what bob may do to record-2: read and write.
  r = actions(R"({"subject":{"type":"user","id":"bob","properties":{"role":"admin"}},
    "resource":{"type":"record","id":"record-2","properties":{"status":"archived"}}})");
  EXPECT_EQ(names_of(r.j()), (Names{"read", "write"})) << r.body;
  // Properties that disagree with the facts answer nothing, and say why (an evaluation's
  // decision false with context.error).
  r = subjects(R"({"subject":{"type":"user"},"action":{"name":"write"},
    "resource":{"type":"record","id":"record-2","properties":{"status":"active"}}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.j()["results"].empty()) << r.body;
  EXPECT_NE(r.j()["context"]["error"].get<std::string>().find("the facts of record::\"record-2\""), std::string::npos)
      << r.body;
  // A record that is no fact comes with the request (`inline entity record`): its status decides.
  r = subjects(R"({"subject":{"type":"user"},"action":{"name":"write"},
    "resource":{"type":"record","id":"record-3","properties":{"status":"archived"}}})");
  EXPECT_EQ(ids_of(r.j(), "user"), (Names{"bob"})) << r.body;
  r = subjects(R"({"subject":{"type":"user"},"action":{"name":"write"},
    "resource":{"type":"record","id":"record-3","properties":{"status":"active"}}})");
  EXPECT_EQ(ids_of(r.j(), "user"), (Names{"alice"})) << r.body;
  // Action properties are the action's arguments (C.1.4 rules 7 and 8).
  r = subjects(R"({"subject":{"type":"user"},"action":{"name":"delete","properties":{"soft":true}},
    "resource":{"type":"record","id":"record-1"}})");
  EXPECT_EQ(ids_of(r.j(), "user"), (Names{"alice", "bob"})) << r.body;
  r = subjects(R"({"subject":{"type":"user"},"action":{"name":"delete","properties":{"soft":false}},
    "resource":{"type":"record","id":"record-1"}})");
  EXPECT_TRUE(r.j()["results"].empty()) << r.body;
  r = resources(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"delete"},"resource":{"type":"record"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.j()["results"].empty()) << r.body;
  EXPECT_NE(r.j()["context"]["error"].get<std::string>().find("needs parameter `soft`"), std::string::npos) << r.body;
  r = resources(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"delete","properties":{"soft":"yes"}},
    "resource":{"type":"record"}})");
  EXPECT_TRUE(r.j()["results"].empty()) << r.body;
  EXPECT_TRUE(r.j()["context"].contains("error")) << r.body;
}

TEST_F(CertificationSearch, Pagination) {
  // C.4.5.1: a page of one, and a token (there is a second result).
  const std::string q = R"("subject":{"type":"user"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"})";
  auto r = subjects("{" + q + R"(,"page":{"limit":1}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_EQ(r.j()["results"].size(), 1u) << r.body;
  EXPECT_EQ(r.j()["page"]["count"], 1);
  const std::string token = r.j()["page"]["next_token"];
  ASSERT_FALSE(token.empty()) << r.body;
  Names seen = ids_of(r.j(), "user");
  // C.4.5.2: the token, without the limit (as the scenario sends it): the last page.
  r = subjects("{" + q + R"(,"page":{"token":")" + token + R"("}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_EQ(r.j()["results"].size(), 1u) << r.body;
  EXPECT_EQ(r.j()["page"]["next_token"], "") << "no more results: an empty next_token";
  seen.push_back(r.j()["results"][0]["id"]);
  EXPECT_EQ(sorted(seen), (Names{"alice", "bob"})) << "every result once";
  // The same token with the same limit is fine; with another limit, or another request, not.
  EXPECT_EQ(subjects("{" + q + R"(,"page":{"token":")" + token + R"(","limit":1}})").status, 200u);
  r = subjects("{" + q + R"(,"page":{"token":")" + token + R"(","limit":5}})");
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_NE(r.j()["error"].get<std::string>().find("page.limit must stay 1"), std::string::npos) << r.body;
  r = subjects(R"({"subject":{"type":"user"},"action":{"name":"write"},"resource":{"type":"record","id":"record-1"},
    "page":{"token":")" + token + R"("}})");
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_NE(r.j()["error"].get<std::string>().find("another request"), std::string::npos) << r.body;
  r = resources(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record"},
    "page":{"token":")" + token + R"("}})");
  EXPECT_EQ(r.status, 400u) << r.body;
  r = subjects("{" + q + R"(,"page":{"token":"a3M9NDU2O3N6PTI="}})");
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_NE(r.j()["error"].get<std::string>().find("not a token"), std::string::npos) << r.body;
  // The action search pages too.
  const std::string aq = R"("subject":{"type":"user","id":"alice"},"resource":{"type":"record","id":"record-1"})";
  r = actions("{" + aq + R"(,"page":{"limit":1}})");
  ASSERT_EQ(r.j()["results"].size(), 1u) << r.body;
  Names acts = names_of(r.j());
  const std::string atoken = r.j()["page"]["next_token"];
  ASSERT_FALSE(atoken.empty()) << r.body;
  r = actions("{" + aq + R"(,"page":{"token":")" + atoken + R"("}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["page"]["next_token"], "");
  for (const auto& n : names_of(r.j())) acts.push_back(n);
  EXPECT_EQ(sorted(acts), (Names{"read", "write"}));
  // A limit of 0 is no limit of the PEP's: the server's page.
  r = subjects("{" + q + R"(,"page":{"limit":0}})");
  EXPECT_EQ(ids_of(r.j(), "user"), (Names{"alice", "bob"})) << r.body;
}

TEST_F(CertificationSearch, EmptyResults) {
  // C.4.6.1: an unknown subject of an action search.
  auto r = actions(R"({"subject":{"type":"user","id":"nonexistent-user"},"resource":{"type":"record","id":"record-1"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.j()["results"].is_array() && r.j()["results"].empty()) << r.body;
  // C.4.6.2: an unknown searched type, on every endpoint.
  r = subjects(R"({"subject":{"type":"spaceship"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.j()["results"].is_array() && r.j()["results"].empty()) << r.body;
  r = resources(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"spaceship"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.j()["results"].empty()) << r.body;
  r = actions(R"({"subject":{"type":"user","id":"alice"},"resource":{"type":"spaceship","id":"x"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.j()["results"].empty()) << r.body;
  // Unknown identifiers and actions on the other two.
  r = subjects(R"({"subject":{"type":"user"},"action":{"name":"read"},"resource":{"type":"record","id":"record-9"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.j()["results"].empty()) << r.body;
  r = resources(R"({"subject":{"type":"user","id":"nobody"},"action":{"name":"read"},"resource":{"type":"record"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.j()["results"].empty()) << r.body;
  r = resources(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"fly"},"resource":{"type":"record"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.j()["results"].empty()) << r.body;
  // A type the action does not take: nothing of it may.
  r = subjects(R"({"subject":{"type":"record"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.j()["results"].empty()) << r.body;
}

TEST_F(CertificationSearch, ErrorHandling) {
  auto bad = [&](Reply r, const std::string& what) {
    EXPECT_EQ(r.status, 400u) << what << ": " << r.body;
    if (r.status == 400u) {
      EXPECT_TRUE(r.j()["error"].is_string()) << r.body;
    }
  };
  // C.4.7.1: missing required fields.
  bad(subjects(R"({"subject":{"type":"user"},"resource":{"type":"record","id":"record-1"}})"), "subject search without action");
  bad(resources(R"({"action":{"name":"read"},"resource":{"type":"record"}})"), "resource search without subject");
  bad(actions(R"({"subject":{"type":"user","id":"alice"}})"), "action search without resource");
  bad(subjects(R"({"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})"), "subject search without subject");
  // C.4.7.2: an input entity without its id; the same body is fine where that entity is searched.
  const std::string both_typed = R"({"subject":{"type":"user"},"action":{"name":"read"},"resource":{"type":"record"}})";
  bad(subjects(both_typed), "subject search, input resource without id");
  bad(resources(both_typed), "resource search, input subject without id");
  bad(actions(R"({"subject":{"type":"user"},"resource":{"type":"record","id":"record-1"}})"), "action search, subject without id");
  bad(actions(R"({"subject":{"type":"user","id":"alice"},"resource":{"type":"record"}})"), "action search, resource without id");
  // Ill-typed fields, bodies and pages.
  bad(subjects(R"({"subject":{"type":5},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})"), "type 5");
  bad(subjects(R"({"subject":"user","action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})"), "subject a string");
  bad(subjects(R"({"subject":{"type":"user"},"action":{"name":1},"resource":{"type":"record","id":"record-1"}})"), "name 1");
  bad(resources(R"({"subject":{"type":"user","id":7},"action":{"name":"read"},"resource":{"type":"record"}})"), "id 7");
  const std::string q = R"("subject":{"type":"user"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"})";
  bad(subjects("{" + q + R"(,"page":5})"), "page 5");
  bad(subjects("{" + q + R"(,"page":{"limit":-1}})"), "limit -1");
  bad(subjects("{" + q + R"(,"page":{"limit":"2"}})"), "limit \"2\"");
  bad(subjects("{" + q + R"(,"page":{"token":5}})"), "token 5");
  bad(subjects("{" + q), "not JSON");
  bad(subjects(""), "empty body");
  bad(subjects("[]"), "not an object");
  bad(client_->request(http::verb::post, "/access/v1/search/subject", "{" + q + "}", {{"Content-Type", "text/plain"}}),
      "Content-Type text/plain");
  // Unknown fields are ignored (C.5.5), and so is an action given to an action search.
  auto r = subjects("{" + q + R"(,"extra":{"x":1}})");
  EXPECT_EQ(r.status, 200u) << r.body;
  r = actions(R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})");
  EXPECT_EQ(names_of(r.j()), (Names{"read", "write"})) << r.body;
  // Only POST.
  EXPECT_EQ(client_->get("/access/v1/search/subject").status, 405u);
}

TEST_F(CertificationSearch, HeadersAndDiscovery) {
  // C.5.4: X-Request-ID is echoed.
  const auto r = client_->request(http::verb::post, "/access/v1/search/resource",
                                  R"({"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record"}})",
                                  {{"Content-Type", "application/json"}, {"X-Request-ID", "search-1"}});
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.headers.at("X-Request-ID"), "search-1");
  // C.6: the metadata names the three search endpoints.
  const auto j = client_->get("/.well-known/authzen-configuration").j();
  const auto base = "http://127.0.0.1:" + std::to_string(server_->port());
  EXPECT_EQ(j["search_subject_endpoint"], base + "/access/v1/search/subject");
  EXPECT_EQ(j["search_resource_endpoint"], base + "/access/v1/search/resource");
  EXPECT_EQ(j["search_action_endpoint"], base + "/access/v1/search/action");
  // ?explain=true says how the search found its candidates.
  const auto e = client_->request(http::verb::post, "/access/v1/search/subject?explain=true",
                                  R"({"subject":{"type":"user"},"action":{"name":"write"},"resource":{"type":"record","id":"record-1"}})");
  ASSERT_EQ(e.status, 200u) << e.body;
  EXPECT_TRUE(e.j()["context"]["search"]["rules"].is_array()) << e.body;
  EXPECT_GE(e.j()["context"]["search"]["decides"].get<int>(), 1) << e.body;
}

// ---------------------------------------------------------------------------------------------
// The search interop scenario (interop-search-scenario.md), every request
// ---------------------------------------------------------------------------------------------
struct Expected {
  std::string a, b;  ///< subject search: record, action; resource: user, action; action: user, record
  Names want;
};

// The search interop scenario's expected results (interop-search-scenario.md, "Response Payload"),
// copied as the scenario states them.
const std::vector<Expected> kSubjectSearches = {
    {"101", "view", {"alice", "bob", "carol", "dan"}},
    {"101", "edit", {"alice"}},
    {"101", "delete", {"alice"}},
    {"102", "view", {"alice", "bob", "carol", "dan"}},
    {"102", "edit", {"bob"}},
    {"102", "delete", {"bob"}},
    {"103", "view", {"alice", "bob", "carol", "dan"}},
    {"103", "edit", {"carol"}},
    {"103", "delete", {"carol"}},
    {"104", "view", {"alice", "dan", "felix"}},
    {"104", "edit", {"dan"}},
    {"104", "delete", {"dan"}},
    {"105", "view", {"alice", "bob", "carol", "dan", "erin"}},
    {"105", "edit", {"erin"}},
    {"105", "delete", {"erin"}},
    {"106", "view", {"alice", "dan", "felix"}},
    {"106", "edit", {"felix"}},
    {"106", "delete", {"felix"}},
    {"107", "view", {"alice", "dan"}},
    {"107", "edit", {"alice"}},
    {"107", "delete", {"alice"}},
    {"108", "view", {"alice", "bob", "carol", "dan"}},
    {"108", "edit", {"bob"}},
    {"108", "delete", {"bob"}},
    {"109", "view", {"alice", "carol", "dan", "felix"}},
    {"109", "edit", {"carol"}},
    {"109", "delete", {"carol"}},
    {"110", "view", {"alice", "dan"}},
    {"110", "edit", {"alice", "dan"}},
    {"110", "delete", {"dan"}},
    {"111", "view", {"alice", "dan", "erin", "felix"}},
    {"111", "edit", {"erin"}},
    {"111", "delete", {"erin"}},
    {"112", "view", {"alice", "bob", "carol", "dan", "felix"}},
    {"112", "edit", {"felix"}},
    {"112", "delete", {"felix"}},
    {"113", "view", {"alice", "dan"}},
    {"113", "edit", {"alice"}},
    {"113", "delete", {"alice"}},
    {"114", "view", {"alice", "bob", "dan", "felix"}},
    {"114", "edit", {"bob"}},
    {"114", "delete", {"bob"}},
    {"115", "view", {"alice", "carol", "dan", "erin"}},
    {"115", "edit", {"carol", "dan"}},
    {"115", "delete", {"carol"}},
    {"116", "view", {"alice", "bob", "carol", "dan"}},
    {"116", "edit", {"dan"}},
    {"116", "delete", {"dan"}},
    {"117", "view", {"alice", "bob", "carol", "dan", "erin"}},
    {"117", "edit", {"erin"}},
    {"117", "delete", {"erin"}},
    {"118", "view", {"alice", "dan", "felix"}},
    {"118", "edit", {"felix"}},
    {"118", "delete", {"felix"}},
    {"119", "view", {"alice", "bob", "carol", "dan"}},
    {"119", "edit", {"alice"}},
    {"119", "delete", {"alice"}},
    {"120", "view", {"alice", "bob", "dan", "felix"}},
    {"120", "edit", {"bob"}},
    {"120", "delete", {"bob"}},
};
const std::vector<Expected> kResourceSearches = {
    {"alice", "view", {"101", "102", "103", "104", "105", "106", "107", "108", "109", "110", "111", "112", "113", "114", "115", "116", "117", "118", "119", "120"}},
    {"alice", "edit", {"101", "107", "110", "113", "119"}},
    {"alice", "delete", {"101", "107", "113", "119"}},
    {"bob", "view", {"101", "102", "103", "105", "108", "112", "114", "116", "117", "119", "120"}},
    {"bob", "edit", {"102", "108", "114", "120"}},
    {"bob", "delete", {"102", "108", "114", "120"}},
    {"carol", "view", {"101", "102", "103", "105", "108", "109", "112", "115", "116", "117", "119"}},
    {"carol", "edit", {"103", "109", "115"}},
    {"carol", "delete", {"103", "109", "115"}},
    {"dan", "view", {"101", "102", "103", "104", "105", "106", "107", "108", "109", "110", "111", "112", "113", "114", "115", "116", "117", "118", "119", "120"}},
    {"dan", "edit", {"104", "110", "115", "116"}},
    {"dan", "delete", {"104", "110", "116"}},
    {"erin", "view", {"105", "111", "115", "117"}},
    {"erin", "edit", {"105", "111", "117"}},
    {"erin", "delete", {"105", "111", "117"}},
    {"felix", "view", {"104", "106", "109", "111", "112", "114", "118", "120"}},
    {"felix", "edit", {"106", "112", "118"}},
    {"felix", "delete", {"106", "112", "118"}},
};
/// (user, record) -> actions; a pair the table leaves out yields none.
const std::vector<Expected> kActionSearches = {
    {"alice", "101", {"view", "edit", "delete"}},
    {"alice", "102", {"view"}},
    {"alice", "103", {"view"}},
    {"alice", "104", {"view"}},
    {"alice", "105", {"view"}},
    {"alice", "106", {"view"}},
    {"alice", "107", {"view", "edit", "delete"}},
    {"alice", "108", {"view"}},
    {"alice", "109", {"view"}},
    {"alice", "110", {"view", "edit"}},
    {"alice", "111", {"view"}},
    {"alice", "112", {"view"}},
    {"alice", "113", {"view", "edit", "delete"}},
    {"alice", "114", {"view"}},
    {"alice", "115", {"view"}},
    {"alice", "116", {"view"}},
    {"alice", "117", {"view"}},
    {"alice", "118", {"view"}},
    {"alice", "119", {"view", "edit", "delete"}},
    {"alice", "120", {"view"}},
    {"bob", "101", {"view"}},
    {"bob", "102", {"view", "edit", "delete"}},
    {"bob", "103", {"view"}},
    {"bob", "105", {"view"}},
    {"bob", "108", {"view", "edit", "delete"}},
    {"bob", "112", {"view"}},
    {"bob", "114", {"view", "edit", "delete"}},
    {"bob", "116", {"view"}},
    {"bob", "117", {"view"}},
    {"bob", "119", {"view"}},
    {"bob", "120", {"view", "edit", "delete"}},
    {"carol", "101", {"view"}},
    {"carol", "102", {"view"}},
    {"carol", "103", {"view", "edit", "delete"}},
    {"carol", "105", {"view"}},
    {"carol", "108", {"view"}},
    {"carol", "109", {"view", "edit", "delete"}},
    {"carol", "112", {"view"}},
    {"carol", "115", {"view", "edit", "delete"}},
    {"carol", "116", {"view"}},
    {"carol", "117", {"view"}},
    {"carol", "119", {"view"}},
    {"dan", "101", {"view"}},
    {"dan", "102", {"view"}},
    {"dan", "103", {"view"}},
    {"dan", "104", {"view", "edit", "delete"}},
    {"dan", "105", {"view"}},
    {"dan", "106", {"view"}},
    {"dan", "107", {"view"}},
    {"dan", "108", {"view"}},
    {"dan", "109", {"view"}},
    {"dan", "110", {"view", "edit", "delete"}},
    {"dan", "111", {"view"}},
    {"dan", "112", {"view"}},
    {"dan", "113", {"view"}},
    {"dan", "114", {"view"}},
    {"dan", "115", {"view", "edit"}},
    {"dan", "116", {"view", "edit", "delete"}},
    {"dan", "117", {"view"}},
    {"dan", "118", {"view"}},
    {"dan", "119", {"view"}},
    {"dan", "120", {"view"}},
    {"erin", "105", {"view", "edit", "delete"}},
    {"erin", "111", {"view", "edit", "delete"}},
    {"erin", "115", {"view"}},
    {"erin", "117", {"view", "edit", "delete"}},
    {"felix", "104", {"view"}},
    {"felix", "106", {"view", "edit", "delete"}},
    {"felix", "109", {"view"}},
    {"felix", "111", {"view"}},
    {"felix", "112", {"view", "edit", "delete"}},
    {"felix", "114", {"view"}},
    {"felix", "118", {"view", "edit", "delete"}},
    {"felix", "120", {"view"}},
};

const Names kUsers = {"alice", "bob", "carol", "dan", "erin", "felix"};

TEST(InteropSearch, EveryRequestOfTheScenario) {
  ServerProcess s(search_args());
  ASSERT_NE(s.port(), 0) << s.log();
  Client c(s.port());
  ASSERT_EQ(kSubjectSearches.size(), 60u);
  for (const auto& x : kSubjectSearches) {
    const json body{{"subject", {{"type", "user"}}}, {"action", {{"name", x.b}}}, {"resource", {{"type", "record"}, {"id", x.a}}}};
    const auto r = c.post("/access/v1/search/subject", body);
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(ids_of(r.j(), "user"), sorted(x.want)) << "who can " << x.b << " record " << x.a;
    EXPECT_EQ(r.j()["page"]["next_token"], "");
  }
  ASSERT_EQ(kResourceSearches.size(), 18u);
  for (const auto& x : kResourceSearches) {
    const json body{{"subject", {{"type", "user"}, {"id", x.a}}}, {"action", {{"name", x.b}}}, {"resource", {{"type", "record"}}}};
    const auto r = c.post("/access/v1/search/resource", body);
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(ids_of(r.j(), "record"), sorted(x.want)) << "which records can " << x.a << " " << x.b;
  }
  // Every (user, record) pair: the table's actions, or none for a pair it leaves out.
  std::map<std::pair<std::string, std::string>, Names> actions;
  for (const auto& x : kActionSearches) actions[{x.a, x.b}] = x.want;
  std::size_t nonempty = 0;
  for (const auto& u : kUsers)
    for (int rec = 101; rec <= 120; ++rec) {
      const std::string id = std::to_string(rec);
      const json body{{"subject", {{"type", "user"}, {"id", u}}}, {"resource", {{"type", "record"}, {"id", id}}}};
      const auto r = c.post("/access/v1/search/action", body);
      ASSERT_EQ(r.status, 200u) << r.body;
      const auto it = actions.find({u, id});
      const Names want = it == actions.end() ? Names{} : sorted(it->second);
      nonempty += !want.empty();
      EXPECT_EQ(names_of(r.j()), want) << "which actions can " << u << " do on record " << id;
      const json answer = r.j();  // r.j() parses a new value: iterating inside the temporary dangles
      for (const auto& a : answer["results"]) EXPECT_EQ(a.size(), 1u) << "an action is its name: " << a;
    }
  EXPECT_EQ(nonempty, kActionSearches.size());
  // The scenario's own examples, in full: "who can view record 105?", "which records can Erin
  // view?", "which actions can Erin do on record 117?" (and on 118: none).
  auto r = c.post("/access/v1/search/subject", json::parse(R"({"subject":{"type":"user"},"action":{"name":"view"},"resource":{"type":"record","id":"105"}})"));
  EXPECT_EQ(ids_of(r.j(), "user"), (Names{"alice", "bob", "carol", "dan", "erin"}));
  r = c.post("/access/v1/search/resource", json::parse(R"({"subject":{"type":"user","id":"erin"},"action":{"name":"view"},"resource":{"type":"record"}})"));
  EXPECT_EQ(ids_of(r.j(), "record"), (Names{"105", "111", "115", "117"}));
  r = c.post("/access/v1/search/action", json::parse(R"({"subject":{"type":"user","id":"erin"},"resource":{"type":"record","id":"117"}})"));
  EXPECT_EQ(names_of(r.j()), (Names{"delete", "edit", "view"}));
  r = c.post("/access/v1/search/action", json::parse(R"({"subject":{"type":"user","id":"erin"},"resource":{"type":"record","id":"118"}})"));
  EXPECT_EQ(r.j()["results"], json::array());
  // "Any other value should lead to a valid empty response."
  for (const auto& [path, body] : std::vector<std::pair<std::string, std::string>>{
           {"/access/v1/search/subject", R"({"subject":{"type":"user"},"action":{"name":"view"},"resource":{"type":"record","id":"121"}})"},
           {"/access/v1/search/subject", R"({"subject":{"type":"user"},"action":{"name":"print"},"resource":{"type":"record","id":"101"}})"},
           {"/access/v1/search/resource", R"({"subject":{"type":"user","id":"zoe"},"action":{"name":"view"},"resource":{"type":"record"}})"},
           {"/access/v1/search/resource", R"({"subject":{"type":"user","id":"alice"},"action":{"name":"print"},"resource":{"type":"record"}})"}}) {
    r = c.request(http::verb::post, path, body);
    EXPECT_EQ(r.status, 200u) << body << ": " << r.body;
    EXPECT_EQ(r.j()["results"], json::array()) << body << ": " << r.body;
  }
}

// ---------------------------------------------------------------------------------------------
// Pages, revisions, tokens and limits
// ---------------------------------------------------------------------------------------------
const std::string kWriter = "writer-0123456789abcdef";
const std::string kReader = "reader-0123456789abcdef";
const std::string kDecider = "decider-0123456789abcdef";

std::map<std::string, std::string> bearer(const std::string& token) {
  return {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}};
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/treaty-search-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

TEST(SearchServer, PagesBelongToOneRevision) {
  TempDir dir;
  std::ofstream(dir.path / "tokens") << kWriter << " write\n" << kDecider << " decide\n";
  ServerProcess s(search_args({"--auth-tokens", (dir.path / "tokens").string(), "--max-search-results", "8",
                               "--max-revision-wait-ms", "200", "--watch-interval-ms", "0"}));
  ASSERT_NE(s.port(), 0) << s.log();
  Client c(s.port());
  const std::string q = R"("subject":{"type":"user","id":"alice"},"action":{"name":"view"},"resource":{"type":"record"})";
  // The same scopes as the evaluation endpoints: `decide`.
  EXPECT_EQ(c.request(http::verb::post, "/access/v1/search/resource", "{" + q + "}").status, 401u);
  EXPECT_EQ(c.request(http::verb::post, "/access/v1/search/resource", "{" + q + "}", bearer(kWriter)).status, 403u);
  EXPECT_EQ(c.request(http::verb::post, "/access/v1/search/action",
                      R"({"subject":{"type":"user","id":"alice"},"resource":{"type":"record","id":"101"}})", bearer("nope-0123456789abcdef"))
                .status,
            401u);

  // alice, a manager, views all twenty records: pages of at most 8 (the server's limit, also
  // when the PEP asks for more), every record once.
  Names all;
  std::string token;
  int pages = 0;
  do {
    const std::string page = token.empty() ? R"({"limit":50})" : R"({"limit":50,"token":")" + token + "\"}";
    const auto r = c.request(http::verb::post, "/access/v1/search/resource", "{" + q + R"(,"page":)" + page + "}",
                             bearer(kDecider));
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_LE(r.j()["results"].size(), 8u);
    EXPECT_FALSE(r.j()["results"].empty()) << "no empty page";
    for (const auto& id : ids_of(r.j(), "record")) all.push_back(id);
    token = r.j()["page"]["next_token"];
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(all.size(), 20u);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 20u) << "no record twice";

  // A first page at revision 0, then a write: alice now owns record 121 (a new one of Sales).
  auto first = c.request(http::verb::post, "/access/v1/search/resource", "{" + q + R"(,"page":{"limit":5}})",
                         bearer(kDecider));
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(first.headers["X-Treaty-Revision"], "0");
  const std::string stale = first.j()["page"]["next_token"];
  ASSERT_FALSE(stale.empty());
  const auto w = c.request(http::verb::post, "/v1/facts", R"({"upsert":[{"type":"search_record","id":"121",
      "attrs":{"title":"Pericles","department":"Sales","owner":"alice"}}]})", bearer(kWriter));
  ASSERT_EQ(w.status, 200u) << w.body;
  ASSERT_EQ(w.j()["revision"], 1);
  // The token of revision 0 is refused, clearly, rather than skipping or repeating a record.
  auto r = c.request(http::verb::post, "/access/v1/search/resource", "{" + q + R"(,"page":{"token":")" + stale + "\"}}",
                     bearer(kDecider));
  EXPECT_EQ(r.status, 409u) << r.body;
  EXPECT_NE(r.j()["error"].get<std::string>().find("revision 0"), std::string::npos) << r.body;
  EXPECT_NE(r.j()["error"].get<std::string>().find("start the search again"), std::string::npos) << r.body;
  // Started again, the search sees revision 1: 121 is alice's to view and to delete.
  r = c.request(http::verb::post, "/access/v1/search/subject",
                R"({"subject":{"type":"user"},"action":{"name":"delete"},"resource":{"type":"record","id":"121"}})",
                bearer(kDecider));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.headers["X-Treaty-Revision"], "1");
  EXPECT_EQ(ids_of(r.j(), "user"), (Names{"alice"}));
  r = c.request(http::verb::post, "/access/v1/search/action",
                R"({"subject":{"type":"user","id":"dan"},"resource":{"type":"record","id":"121"}})", bearer(kDecider));
  EXPECT_EQ(names_of(r.j()), (Names{"view"})) << "dan manages Finance, not Sales: " << r.body;
  // An action search's token is tied to the revision as well.
  const std::string aq = R"("subject":{"type":"user","id":"alice"},"resource":{"type":"record","id":"121"})";
  r = c.request(http::verb::post, "/access/v1/search/action", "{" + aq + R"(,"page":{"limit":1}})", bearer(kDecider));
  ASSERT_EQ(r.j()["results"].size(), 1u) << r.body;
  const std::string atoken = r.j()["page"]["next_token"];
  ASSERT_FALSE(atoken.empty()) << r.body;
  ASSERT_EQ(c.request(http::verb::post, "/v1/facts", R"({"delete":[{"type":"search_record","id":"121"}]})", bearer(kWriter))
                .status,
            200u);
  r = c.request(http::verb::post, "/access/v1/search/action", "{" + aq + R"(,"page":{"token":")" + atoken + "\"}}",
                bearer(kDecider));
  EXPECT_EQ(r.status, 409u) << r.body;
  // A revision not yet there is waited for (bounded), as for evaluations: header and context.
  r = c.request(http::verb::post, "/access/v1/search/resource", "{" + q + R"(,"context":{"treaty_min_revision":9}})",
                bearer(kDecider));
  EXPECT_EQ(r.status, 503u) << r.body;
  auto h = bearer(kDecider);
  h["X-Treaty-Min-Revision"] = "9";
  EXPECT_EQ(c.request(http::verb::post, "/access/v1/search/resource", "{" + q + "}", h).status, 503u);
  h["X-Treaty-Min-Revision"] = "2";
  r = c.request(http::verb::post, "/access/v1/search/resource", "{" + q + "}", h);
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["results"].size(), 8u) << "the 20 records again, in pages of 8";
}

}  // namespace
