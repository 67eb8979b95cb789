// Native API harness: any bytes as the body of POST /v1/decide, /v1/decide/batch (streamed) or
// /v1/mask, answered by the server's handlers in process, over the 4me library with its facts.
// The first byte picks the endpoint and ?explain; the rest is the body.
//
// Invariants: a refusal (not 200) has an "error" and never allows; a decision is "allow" or
// "deny", and "allow" only without errors; the server agrees with the engine's own JSON reader
// (Engine::request_from_json, then decide): the server allows only what the engine allows, and
// allows what the engine allows; a batch answers each non-blank line with one line, each such a
// decision, agreeing with the engine likewise; every value a mask allows is allowed by deciding
// the request with that value.
#include <cstdint>
#include <string>

#include "fuzz_server.hpp"
#include "treaty/convert.hpp"

namespace {

using treaty::fuzz::require;
using Exchange = treaty::server::Server::Exchange;

/// The engine's own decision of a native request, or nullopt when it does not read it.
std::optional<bool> engine_decides(const treaty::Engine& e, std::string_view text) {
  nlohmann::json j;  // read as the engine's callers read JSON: strictly (parse_json)
  if (treaty::parse_json(text, j) || !j.is_object()) return std::nullopt;
  treaty::Overlay overlay(e);
  treaty::Request r;
  std::string error;
  try {
    if (!e.request_from_json(j, overlay, r, error)) return std::nullopt;
    const auto d = e.decide(r, false);
    return d.allow && d.errors.empty();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void check_decision(const treaty::Engine& e, const nlohmann::json& d, std::string_view line, std::string_view req,
                    const Exchange& x) {
  require(d.is_object() && d.contains("decision") && (d["decision"] == "allow" || d["decision"] == "deny"),
          "a decision is \"allow\" or \"deny\"", req, x);
  const bool allow = d["decision"] == "allow";
  if (allow)
    require(!d.contains("errors") || (d["errors"].is_array() && d["errors"].empty()), "an allow has no errors", req, x);
  const auto ref = engine_decides(e, line);
  if (allow) require(ref && *ref, "the server allows only what the engine allows", req, x);
  if (ref && *ref) require(allow, "the server allows what the engine allows", req, x);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  static auto lib = treaty::fuzz::compile_policy("policies/4me");
  static auto srv = treaty::fuzz::make_server(lib);
  const treaty::Engine& eng = *lib->engine;
  const std::uint8_t sel = data[0];
  static const char* targets[] = {"/v1/decide", "/v1/decide/batch", "/v1/mask"};
  std::string target = targets[(sel & 3) % 3];
  if (sel & 4) target += "?explain=true";
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto x = treaty::fuzz::post(*srv, target, body);
  treaty::fuzz::require_error_shape(body, x);
  if (x.status != 200) return 0;
  switch ((sel & 3) % 3) {
    case 0: check_decision(eng, treaty::fuzz::body_json(body, x), body, body, x); break;
    case 1: {
      // One answer line per non-blank request line, in order; past --max-batch, the first
      // kMaxBatch lines are answered and an error line ends the batch (a finding of the campaign:
      // the invariant once ignored the limit).
      std::vector<std::string_view> asked, answered;
      auto lines = [](std::string_view s, std::vector<std::string_view>& out) {
        while (!s.empty()) {
          const auto nl = s.find('\n');
          auto line = s.substr(0, nl);
          while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
          if (line.find_first_not_of(" \t") != std::string_view::npos) out.push_back(line);
          if (nl == std::string_view::npos) break;
          s.remove_prefix(nl + 1);
        }
      };
      lines(body, asked);
      lines(x.body, answered);
      if (asked.size() > treaty::fuzz::kMaxBatch) {
        require(answered.size() == treaty::fuzz::kMaxBatch + 1 &&
                    answered.back() == "{\"error\":\"a batch may hold at most " +
                                           std::to_string(treaty::fuzz::kMaxBatch) + " requests\"}",
                "a batch over the limit answers the limit's lines, then an error line", body, x);
        asked.resize(treaty::fuzz::kMaxBatch);
        answered.pop_back();
      }
      require(asked.size() == answered.size(), "a batch answers each line once", body, x);
      for (std::size_t i = 0; i < asked.size() && i < 16; ++i) {
        const auto d = nlohmann::json::parse(answered[i], nullptr, false);
        require(!d.is_discarded(), "a batch line is JSON", body, x);
        check_decision(eng, d, asked[i], body, x);
      }
      break;
    }
    case 2: {
      const auto j = treaty::fuzz::body_json(body, x);
      require(j.is_object() && j.contains("allowed") && j["allowed"].is_array() && j.contains("parameter"),
              "a mask answers the values allowed", body, x);
      auto req = nlohmann::json::parse(body);
      const std::string param = j["parameter"];
      req.erase("mask");
      for (const auto& v : j["allowed"]) {
        req["action"]["args"][param] = v;
        const auto r = engine_decides(eng, req.dump());
        require(r && *r, "a value the mask allows is allowed", req.dump(), x);
      }
      break;
    }
  }
  return 0;
}
