// JSON facts loader harness: any bytes as a data file for the 4me schema.
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 256 * 1024) return 0;
  auto& lib = treaty::fuzz::library("4me/lib");
  treaty::SourceManager sm = [] {
    treaty::SourceManager s;
    return s;
  }();
  // Re-check the library's files with this data (the package's source is shared read-only).
  for (treaty::FileId f = 0; f < lib.sm.size(); ++f) sm.add(lib.sm.file(f).path, lib.sm.file(f).text);
  treaty::Diagnostics d;
  treaty::CompileOptions opts;  // every step after parse, requirements included
  opts.check.data_texts.emplace_back("fuzz.json", std::string(reinterpret_cast<const char*>(data), size));
  (void)treaty::compile(sm, lib.pkg, d, opts);
  return 0;
}
