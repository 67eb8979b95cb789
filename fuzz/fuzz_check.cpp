// Checker and compiler harness: a program (seeded from policies/ and the golden files, mutated
// with the keyword dictionary, so most inputs parse) is checked, compiled to a bundle, loaded
// back, and its tests are run. Nothing may crash; a clean program must round-trip its bundle.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "treaty/check.hpp"
#include "treaty/parse.hpp"
#include "treaty/runtime.hpp"
#include "treaty/test_runner.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  treaty::SourceManager sm;
  const auto id = sm.add("fuzz.treaty", std::string(reinterpret_cast<const char*>(data), size));
  treaty::Diagnostics diags;
  treaty::Package pkg;
  pkg.files.push_back(treaty::parse_file(sm, id, diags));
  if (diags.has_errors()) return 0;
  auto program = treaty::check_package(sm, pkg, diags);
  if (diags.has_errors()) return 0;
  const std::string bytes = treaty::write_bundle(*program, sm);
  treaty::Engine engine(std::move(program), treaty::EngineLimits{100000});
  engine.check_requirements(diags);
  (void)treaty::run_tests(engine, sm);
  treaty::SourceManager sm2;
  std::string error;
  auto loaded = treaty::read_bundle(bytes, sm2, error);
  if (!loaded) std::abort();  // a bundle we wrote must load
  return 0;
}
