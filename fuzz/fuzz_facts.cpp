// JSON facts loader harness: any bytes as a data file for the 4me schema.
//
// Invariant: the fast reader of facts documents (read_entities_fast, simdjson) reads only what
// the strict reader (parse_json) accepts as `{"entities": [...]}`, and hands on each entity as
// the value the strict reader builds (equal, and an integer where it has an integer).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "treaty/convert.hpp"

namespace {

/// Equal values of equal JSON types all the way down: an integer (signed or not: `-0` is signed
/// to nlohmann alone) is not a float (nlohmann's == calls 1 and 1.0 equal).
bool same(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number_integer() && b.is_number_integer()) return a == b;
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it)
      if (!b.contains(it.key()) || !same(it.value(), b.at(it.key()))) return false;
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i])) return false;
    return true;
  }
  return a == b;
}

[[noreturn]] void fail(const char* what, const std::string& text) {
  std::fprintf(stderr, "fuzz_facts: invariant broken: %s\n%s\n", what, text.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 256 * 1024) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<nlohmann::json> fast;
  if (treaty::read_entities_fast(text, [&](nlohmann::json& en, std::size_t i) {
        if (i != fast.size()) fail("the fast reader numbers the entities in order", text);
        fast.push_back(en);
      })) {
    nlohmann::json strict;
    if (treaty::parse_json(text, strict)) fail("the fast reader reads only what the strict reader accepts", text);
    if (!strict.is_object() || !strict.contains("entities") || !strict["entities"].is_array() ||
        strict["entities"].size() != fast.size())
      fail("the fast reader reads only {\"entities\": [...]}", text);
    for (std::size_t i = 0; i < fast.size(); ++i)
      if (!same(fast[i], strict["entities"][i])) fail("the fast reader builds what the strict reader builds", text);
  }
  auto& lib = treaty::fuzz::library("4me/lib");
  treaty::SourceManager sm;
  // Re-check the library's files with this data (the package's source is shared read-only).
  for (treaty::FileId f = 0; f < lib.sm.size(); ++f) sm.add(lib.sm.file(f).path, lib.sm.file(f).text);
  treaty::Diagnostics d;
  treaty::CompileOptions opts;  // every step after parse, requirements included
  opts.check.data_texts.emplace_back("fuzz.json", text);
  (void)treaty::compile(sm, lib.pkg, d, opts);
  return 0;
}
