// Parser harness: any bytes must parse to diagnostics or an AST without crashing, and whatever
// parses cleanly must survive the formatter with its meaning unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "treaty/format.hpp"
#include "treaty/parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  treaty::SourceManager sm;
  const auto id = sm.add("fuzz.treaty", std::string(reinterpret_cast<const char*>(data), size));
  treaty::Diagnostics diags;
  auto file = treaty::parse_file(sm, id, diags);
  if (!diags.empty()) return 0;
  const std::string out = treaty::format_file(sm, file);
  treaty::SourceManager sm2;
  const auto id2 = sm2.add("fmt.treaty", out);
  treaty::Diagnostics diags2;
  auto again = treaty::parse_file(sm2, id2, diags2);
  if (!diags2.empty() || !(again == file)) std::abort();  // fmt changed meaning or broke syntax
  return 0;
}
