// Front-end throughput: parsing and formatting the bundled example policy.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "treaty/format.hpp"
#include "treaty/parse.hpp"

namespace {
std::string example() {
  std::ifstream in(TREATY_SOURCE_DIR "/docs/examples/quickstart.treaty", std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void BM_Parse(benchmark::State& state) {
  const std::string text = example();
  for (auto _ : state) {
    treaty::SourceManager sm;
    const auto id = sm.add("q.treaty", text);
    treaty::Diagnostics diags;
    auto file = treaty::parse_file(sm, id, diags);
    benchmark::DoNotOptimize(file);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Parse);

void BM_Format(benchmark::State& state) {
  treaty::SourceManager sm;
  const auto id = sm.add("q.treaty", example());
  treaty::Diagnostics diags;
  const auto file = treaty::parse_file(sm, id, diags);
  for (auto _ : state) benchmark::DoNotOptimize(treaty::format_file(sm, file));
}
BENCHMARK(BM_Format);
}  // namespace

BENCHMARK_MAIN();
