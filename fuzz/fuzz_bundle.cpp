// Bundle loader harness: mutated valid bundles (seeded by `treaty compile` of the libraries). A
// bundle either loads and decides every request without crashing, or is refused.
#include <cstdint>
#include <cstring>
#include <string>

#include "treaty/data/world.hpp"
#include "treaty/program.hpp"
#include "treaty/runtime.hpp"

namespace {
std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  // Most mutations would only break the checksum (unit tests cover that path): reseal the header
  // so the mutated payload reaches the decoder and its validation, as a crafted file would.
  if (bytes.size() >= 28 && bytes.compare(0, 7, "TREATYB") == 0) {
    const std::uint64_t len = bytes.size() - 28, sum = fnv1a(std::string_view(bytes).substr(28));
    std::memcpy(bytes.data() + 12, &len, 8);
    std::memcpy(bytes.data() + 20, &sum, 8);
  }
  treaty::SourceManager sm;
  std::string error;
  auto p = treaty::read_bundle(bytes, sm, error);
  if (!p) return 0;
  treaty::Engine e(std::move(p), treaty::EngineLimits{100000});
  const auto& prog = e.program();
  for (std::uint32_t a = 0; a < prog.schema.actions.size(); ++a)
    for (treaty::EntityId x = 0; x < prog.world().size() && x < 6; ++x)
      for (treaty::EntityId y = 0; y < prog.world().size() && y < 6; ++y) {
        treaty::Request r;
        r.principal = x;
        r.resource = y;
        r.action = a;
        r.args.assign(prog.schema.actions[a].params.size(), treaty::Value::none());
        (void)e.decide(r, true);
      }
  return 0;
}
