// Fact write harness: any bytes as up to 8 batches of POST /v1/facts (one a line), written in turn
// into a fresh server over the 4me library with its facts (a new server per input, so an input
// replays alone), then a decision.
//
// Invariants: every answer is JSON; a refusal has an "error"; an accepted batch takes the next
// revision, and afterwards every entity it upserted is found (GET /v1/facts/TYPE/ID) and every one
// it deleted (and did not upsert) is not; a rejected batch changes nothing: the revision stays and
// every entity it names reads back as before; decisions still answer after the writes.
#include <cstdint>
#include <set>
#include <string>

#include "fuzz_server.hpp"

namespace {

using treaty::fuzz::require;

std::string pct(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out.push_back(static_cast<char>(c));
    else out += {'%', hex[c >> 4], hex[c & 15]};
  }
  return out;
}

std::uint64_t revision(treaty::server::Server& s) {
  const auto x = treaty::fuzz::get(s, "/v1/status");
  const auto j = treaty::fuzz::body_json("GET /v1/status", x);
  return j["facts"]["revision"].get<std::uint64_t>();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  static auto lib = treaty::fuzz::compile_policy("policies/4me");
  auto srv = treaty::fuzz::make_server(lib);
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::uint64_t rev = 0;
  for (int n = 0; n < 8 && !in.empty(); ++n) {
    const auto nl = in.find('\n');
    const std::string body(in.substr(0, nl));
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    // The entities the batch names, and how each reads before it.
    std::vector<std::pair<std::string, std::string>> named;  // (path, "u" or "d")
    const auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_object())
      for (const char* part : {"upsert", "delete"})
        if (j.contains(part) && j[part].is_array())
          for (const auto& e : j[part])
            if (named.size() < 8 && e.is_object() && e.contains("type") && e["type"].is_string() && e.contains("id") &&
                e["id"].is_string())
              named.emplace_back("/v1/facts/" + pct(e["type"]) + "/" + pct(e["id"]), part[0] == 'u' ? "u" : "d");
    std::vector<treaty::server::Server::Exchange> before;
    for (const auto& [path, _] : named) before.push_back(treaty::fuzz::get(*srv, path));
    const auto x = treaty::fuzz::post(*srv, "/v1/facts", body);
    treaty::fuzz::require_error_shape(body, x);
    require(x.status == 200 || x.status == 400 || x.status == 422, "a write is accepted (200) or rejected (400, 422)",
            body, x);
    if (x.status == 200) {
      const auto a = treaty::fuzz::body_json(body, x);
      require(a.value("revision", std::uint64_t{0}) == rev + 1, "an accepted batch takes the next revision", body, x);
      rev = rev + 1;
      require(revision(*srv) == rev, "the status reports the revision written", body, x);
      std::set<std::string> upserted;
      for (const auto& [path, what] : named)
        if (what == "u") upserted.insert(path);
      for (const auto& [path, what] : named) {
        const auto g = treaty::fuzz::get(*srv, path);
        if (what == "u") require(g.status == 200, "an upserted entity is found", body + "\n" + path, g);
        else if (!upserted.count(path)) require(g.status == 404, "a deleted entity is gone", body + "\n" + path, g);
      }
    } else {
      require(revision(*srv) == rev, "a rejected batch keeps the revision", body, x);
      for (std::size_t i = 0; i < named.size(); ++i) {
        const auto g = treaty::fuzz::get(*srv, named[i].first);
        require(g.status == before[i].status && g.body == before[i].body, "a rejected batch changes nothing",
                body + "\n" + named[i].first, g);
      }
    }
  }
  static const std::string req =
      R"({"principal": {"type": "Person", "id": "t_cm2"}, "action": {"name": "assign_task", "args": {"kind": "approval"}}, "resource": {"type": "Person", "id": "t_dirperson"}})";
  const auto d = treaty::fuzz::post(*srv, "/v1/decide", req);
  treaty::fuzz::require_error_shape(req, d);
  if (d.status == 200) {
    const auto j = treaty::fuzz::body_json(req, d);
    require(j.contains("decision") && (j["decision"] == "allow" || j["decision"] == "deny"),
            "decisions answer after the writes", req, d);
  }
  return 0;
}
