// Request decoder harness: any bytes as a JSON request (with inline entities) against the 4me
// library with its fixture world. A bad request is an error; a good one is decided, never crashes.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  auto& lib = treaty::fuzz::library("4me");
  auto j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  treaty::Overlay overlay(lib.engine->program());
  treaty::Request r;
  std::string error;
  if (!lib.engine->request_from_json(j, overlay, r, error)) return 0;
  const auto d = lib.engine->decide(r, true);
  (void)lib.engine->explain(d, r, &lib.sm);
  (void)lib.engine->to_json(d, &lib.sm);
  return 0;
}
