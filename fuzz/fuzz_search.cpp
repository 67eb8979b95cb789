// AuthZEN Search harness: any bytes as the body of POST /access/v1/search/{subject,resource,action},
// answered by the server's handlers in process, over the search interop scenario's policy or the
// certification scenario's. The first byte picks the endpoint, the policy and ?explain.
//
// Invariants: every answer is JSON; a refusal (not 200) has an "error"; a page holds "count"
// results, at most its limit; every result is sound: the evaluation of the request with that
// result in the searched place is allowed (checked for the first results of a page); the next
// page (when there is a token) repeats no result of the first.
#include <cstdint>
#include <set>
#include <string>

#include "fuzz_server.hpp"

namespace {

using treaty::fuzz::require;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  static auto search = treaty::fuzz::compile_policy("policies/examples/authzen_search");
  static auto cert = treaty::fuzz::compile_policy("policies/examples/authzen_certification");
  static auto s_search = treaty::fuzz::make_server(search);
  static auto s_cert = treaty::fuzz::make_server(cert);
  const std::uint8_t sel = data[0];
  auto& srv = (sel & 4) ? *s_cert : *s_search;
  static const char* kinds[] = {"subject", "resource", "action"};
  const char* kind = kinds[(sel & 3) % 3];
  const std::string base = std::string("/access/v1/search/") + kind;
  const std::string target = (sel & 8) ? base + "?explain=true" : base;
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto x = treaty::fuzz::post(srv, target, body);
  treaty::fuzz::require_error_shape(body, x);
  if (x.status != 200) return 0;
  const auto j = treaty::fuzz::body_json(body, x);
  require(j.is_object() && j.contains("results") && j["results"].is_array() && j.contains("page") &&
              j["page"].is_object() && j["page"].contains("count") && j["page"]["count"] == j["results"].size(),
          "a page holds \"count\" results", body, x);
  const auto asked = nlohmann::json::parse(body, nullptr, false);
  require(asked.is_object(), "a request answered 200 is a JSON object", body, x);
  std::size_t limit = 50;
  if (asked.contains("page") && asked["page"].contains("limit") && asked["page"]["limit"].is_number_unsigned() &&
      asked["page"]["limit"].get<std::uint64_t>() > 0)
    limit = std::min<std::size_t>(limit, asked["page"]["limit"].get<std::uint64_t>());
  const bool paging = asked.contains("page") && asked["page"].contains("token");
  if (!paging) require(j["results"].size() <= limit, "a page holds at most its limit", body, x);
  // Soundness: each result, put in the searched place, is allowed.
  std::size_t checked = 0;
  std::set<std::string> seen;
  for (const auto& r : j["results"]) {
    seen.insert(r.dump());
    if (checked++ >= 6) continue;
    nlohmann::json ev = {{"subject", asked.value("subject", nlohmann::json())},
                         {"action", asked.value("action", nlohmann::json())},
                         {"resource", asked.value("resource", nlohmann::json())}};
    if (asked.contains("context")) ev["context"] = asked["context"];
    ev[kind] = r;
    const std::string evs = ev.dump();
    const auto e = treaty::fuzz::post(srv, "/access/v1/evaluation", evs);
    require(e.status == 200, "a search result can be evaluated", body + "\n=> " + evs, e);
    const auto d = treaty::fuzz::body_json(evs, e);
    require(d.is_object() && d.value("decision", false) == true, "a search result is allowed", body + "\n=> " + evs, e);
  }
  // The next page repeats nothing of this one.
  const std::string token = j["page"].value("next_token", "");
  if (!token.empty() && !paging) {
    // In the order written (the token is tied to the request's text, minified); a request whose
    // text does not survive the round trip (escapes, number spellings) is refused as another one.
    auto next = nlohmann::ordered_json::parse(body, nullptr, false);
    next["page"]["token"] = token;
    const std::string ns = next.dump();
    const auto y = treaty::fuzz::post(srv, target, ns);
    treaty::fuzz::require_error_shape(ns, y);
    if (y.status != 200) return 0;
    const auto k = treaty::fuzz::body_json(ns, y);
    for (const auto& r : k["results"]) require(!seen.count(r.dump()), "pages do not overlap", ns, y);
  }
  return 0;
}
