// AuthZEN harness: any bytes as the body of POST /access/v1/evaluation or /access/v1/evaluations,
// answered by the server's handlers in process (Server::exchange), over the certification
// scenario's policy or the Todo scenario's (with its `user` type alias). The first byte picks the
// endpoint, the policy and ?explain; the rest is the body.
//
// Invariants: every answer is JSON; a refusal (not 200) has an "error" and never allows; a
// decision is a boolean, and false whenever its context reports an error; an evaluations answer
// holds one result per evaluation asked, at most, in order; the same request answered twice gets
// the same answer (no state leaks between requests).
#include <cstdint>
#include <string>

#include "fuzz_server.hpp"

namespace {

using treaty::fuzz::require;

void check_decision(const nlohmann::json& d, std::string_view req, const treaty::server::Server::Exchange& x) {
  require(d.is_object() && d.contains("decision") && d["decision"].is_boolean(), "a decision is a boolean", req, x);
  if (d.contains("context") && d["context"].is_object() && d["context"].contains("error"))
    require(d["decision"] == false, "a decision with an error is false", req, x);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  static auto cert = treaty::fuzz::compile_policy("policies/examples/authzen_certification");
  static auto todo = treaty::fuzz::compile_policy("policies/examples/authzen_todo");
  static auto s_cert = treaty::fuzz::make_server(cert);
  static auto s_todo = treaty::fuzz::make_server(todo, {{"user", "todo_user"}});
  const std::uint8_t sel = data[0];
  auto& srv = (sel & 2) ? *s_todo : *s_cert;
  std::string target = (sel & 1) ? "/access/v1/evaluations" : "/access/v1/evaluation";
  if (sel & 4) target += "?explain=true";
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto x = treaty::fuzz::post(srv, target, body, (sel & 8) ? "text/plain" : "application/json");
  treaty::fuzz::require_error_shape(body, x);
  if (x.status == 200) {
    const auto j = treaty::fuzz::body_json(body, x);
    if (j.contains("evaluations")) {
      require(j["evaluations"].is_array(), "\"evaluations\" is an array", body, x);
      const auto asked = nlohmann::json::parse(body, nullptr, false);
      require(!asked.is_discarded() && asked.contains("evaluations") && asked["evaluations"].is_array() &&
                  j["evaluations"].size() <= asked["evaluations"].size() && !j["evaluations"].empty(),
              "one result per evaluation asked, at most", body, x);
      for (const auto& d : j["evaluations"]) check_decision(d, body, x);
    } else {
      check_decision(j, body, x);
    }
  }
  const auto again = treaty::fuzz::post(srv, target, body, (sel & 8) ? "text/plain" : "application/json");
  require(again.status == x.status && again.body == x.body, "the same request gets the same answer", body, again);
  return 0;
}
