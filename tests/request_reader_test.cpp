// The request hot path (RequestReader, DecisionWriter) against the engine's own reader and JSON:
// the same requests, the same decisions, the same bytes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/engine_util.hpp"
#include "treaty/request_reader.hpp"

using namespace treaty;
using namespace treaty::testing;

namespace {

const char* kPolicy = R"(
enum Kind { approval, project }
enum Role { admin, staff }
entity Account {}
entity Person { account: Account, roles: Set<Role> }
inline entity Doc { account: Account, secret: Bool }
action view principal Person resource Doc;
action act(kind: Kind, urgent: Bool, level: Int?, note: String?) principal Person resource Doc;
Account::"a" {}
Person::"ann" { account: "a", roles: {admin} }
Person::"b\"o\\b" { account: "a", roles: {staff} }
Doc::"d1" { account: "a", secret: false }
Doc::"d2" { account: "a", secret: true }
/// Same account.
permit same_account principal p: Person action view resource d: Doc when p.account == d.account;
forbid secrets principal p: Person action view resource d: Doc when d.secret unless admin in p.roles;
permit act_approval principal p: Person action act(kind == approval) resource d: Doc
  when urgent and level > 2
  when level == 3;
permit act_admin principal p: Person action act resource d: Doc when admin in p.roles;
)";

// Plain requests the reader takes, and others it must decline (the engine's reader then answers).
const char* kPlain[] = {
    R"({"principal":{"type":"Person","id":"ann"},"action":{"name":"view"},"resource":{"type":"Doc","id":"d1"}})",
    R"({"resource":{"id":"d2","type":"Doc"},"action":{"name":"view"},"principal":{"type":"Person","id":"b\"o\\b"}})",
    R"({"principal":{"type":"Person","id":"b\"o\\b"},"action":{"name":"act","args":{"kind":"approval","urgent":true,"level":3}},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Person","id":"b\"o\\b"},"action":{"name":"act","args":{"urgent":false,"kind":"project"}},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Person","id":"ann"},"action":{"name":"act","args":{"urgent":false,"kind":"project"}},"resource":{"type":"Doc","id":"d2"}})",
    R"( {"principal":{"type":"Person","id":"ann"},"action":{"name":"view","args":{}},"resource":{"type":"Doc","id":"d2"}} )",
};
const char* kDeclined[] = {
    R"({"principal":{"type":"Person","id":"ann"},"action":{"name":"view"},"resource":{"type":"Doc","id":"d1"},"entities":[]})",
    R"({"principal":{"type":"Person","id":"nobody"},"action":{"name":"view"},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Persona","id":"ann"},"action":{"name":"view"},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Person","id":"ann"},"action":{"name":"edit"},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Person","id":"ann","x":1},"action":{"name":"view"},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Person","id":"ann"},"action":{"name":"view","argz":{}},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Person","id":"ann"},"action":{"name":"view"},"resource":{"type":"Doc","id":"d1"},"x":1})",
    R"({"principal":{"type":"Person","id":"ann"},"action":{"name":"act","args":{"kind":"approval"}},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Person","id":"ann"},"action":{"name":"act","args":{"kind":"nope","urgent":true}},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Person","id":"ann"},"action":{"name":"act","args":{"kind":"approval","urgent":1}},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Person","id":"ann"},"action":{"name":"act","args":{"kind":"approval","urgent":true,"note":"n"}},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Person","id":"ann"},"action":{"name":"act","args":{"kind":"approval","urgent":true,"level":null}},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Person","id":"ann"},"action":{"name":"act","args":{"kind":"approval","kind":"project","urgent":true}},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Person","id":"ann"},"principal":{"type":"Person","id":"ann"},"action":{"name":"view"},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Doc","id":"d1"},"action":{"name":"view"},"resource":{"type":"Doc","id":"d1"}})",
    R"({"principal":{"type":"Person","id":"ann"},"action":{"name":"view"}})",
    R"({"principal": tru})",
    R"([1, 2])",
};

/// The engine's reader and JSON, as `treaty eval` answered before the hot path.
std::string slow(const Engine& e, const SourceManager& sm, std::string_view text, bool explain) {
  Overlay o(e.program());
  Request r;
  std::string error;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return "bad json";
  if (!e.request_from_json(j, o, r, error)) return "error: " + error;
  return e.to_json(e.decide(r, explain), &sm).dump();
}

TEST(RequestReader, SameRequestsDecisionsAndBytesAsTheEngine) {
  auto l = engine_from_texts({kPolicy});
  ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
  const Engine& e = *l->engine;
  RequestReader reader(e);
  const DecisionWriter writer(e, &l->sm);
  Request r;
  for (bool explain : {false, true})
    for (const char* text : kPlain) {
      ASSERT_TRUE(reader.read(text, r)) << text;
      EXPECT_EQ(r.overlay, nullptr);
      std::string out;
      writer.write(e.decide(r, explain), out);
      EXPECT_EQ(out, slow(e, l->sm, text, explain)) << text;
    }
  for (const char* text : kDeclined) EXPECT_FALSE(reader.read(text, r)) << text;
}

TEST(RequestReader, WriterEscapesAsNlohmann) {
  for (std::string s : {std::string("plain"), std::string("q\"b\\s/"), std::string("\b\f\n\r\t\x01\x1f\x7f"),
                        std::string("caf\xc3\xa9"), std::string("nul\0in", 6)}) {
    std::string out;
    append_json_string(out, s);
    EXPECT_EQ(out, nlohmann::json(s).dump());
  }
  // Ill-formed UTF-8 (a request's bytes in an error message) as dump() with `replace` writes it:
  // each bad byte U+FFFD, the well-formed sequences around it kept; the text stays JSON.
  for (std::string s : {std::string("t_\xff\xfe"), std::string("\xc3"), std::string("\xc0\xaf overlong"),
                        std::string("\xed\xa0\x80 surrogate"), std::string("\xf4\x90\x80\x80 too high"),
                        std::string("ok \xe2\x82\xac \xf0\x9f\x98\x80 then \xe2\x82")}) {
    std::string out;
    append_json_string(out, s);
    EXPECT_EQ(out, nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) << s;
    EXPECT_FALSE(nlohmann::json::parse(out, nullptr, false).is_discarded()) << out;
  }
  std::string out;
  DecisionWriter::write_error("f.jsonl:3: unknown \"x\"", out);
  EXPECT_EQ(out, (nlohmann::json{{"decision", "error"}, {"errors", {"f.jsonl:3: unknown \"x\""}}}.dump()));
}

}  // namespace
