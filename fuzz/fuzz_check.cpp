// Checker and compiler harness: a program (seeded from policies/ and the golden files, mutated
// with the keyword dictionary, so most inputs parse) is checked, compiled to a bundle, loaded
// back, and its tests are run. Nothing may crash; a clean program must round-trip its bundle.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "treaty/compile.hpp"
#include "treaty/runtime.hpp"
#include "treaty/test_runner.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  treaty::SourceManager sm;
  treaty::Diagnostics diags;
  treaty::CompileOptions opts;
  opts.limits = treaty::EngineLimits{100000};
  const auto c = treaty::compile(
      sm, treaty::Sources::from_texts({{"fuzz.treaty", std::string(reinterpret_cast<const char*>(data), size)}}), diags,
      opts);
  if (!c.engine) return 0;  // a syntax or check error stops the pipeline before the engine
  const treaty::Engine& engine = *c.engine;
  const std::string bytes = treaty::write_bundle(engine.program(), sm);
  (void)treaty::run_tests(engine, sm);
  treaty::SourceManager sm2;
  std::string error;
  auto loaded = treaty::read_bundle(bytes, sm2, error);
  if (!loaded) std::abort();  // a bundle we wrote must load
  return 0;
}
