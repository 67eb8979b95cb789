// Decision benchmarks against policies/4me/lib on synthetic worlds (see scripts/bench.sh).
//
// Environment: TREATY_BENCH_WORLDS="S=facts.json:requests.jsonl,M=...": the worlds to load.
// Each world gets: single-decision latency (median and p99 counters), a one-hash-probe baseline
// measured in the same run, decisions with an inline entity, field masks, and batch throughput
// on one and two threads. Rule-count scaling uses synthetic rule sets on a fixed small world.
// Compile and load times, peak memory and resident bytes per fact are one-shot measurements.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <unordered_map>
#include <nlohmann/json.hpp>

#include "treaty/data/world.hpp"
#include "treaty/compile.hpp"
#include "treaty/runtime.hpp"

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

long rss_kb() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * 4;
}

long peak_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

struct World {
  std::string name;
  treaty::SourceManager sm;
  std::unique_ptr<treaty::Engine> engine;
  std::vector<treaty::Request> requests;
  std::vector<std::string> principal_ids;  ///< for the hash-probe baseline
  double compile_s = 0, load_s = 0;
  long rss_before_kb = 0, rss_after_kb = 0, peak_kb = 0;
  std::size_t bundle_bytes = 0;
};

std::vector<std::unique_ptr<World>>& worlds() {
  static std::vector<std::unique_ptr<World>> w;
  return w;
}

std::unique_ptr<World> load_world(const std::string& name, const std::string& facts, const std::string& reqs) {
  auto w = std::make_unique<World>();
  w->name = name;
  treaty::Diagnostics d;
  w->rss_before_kb = rss_kb();
  const auto t0 = std::chrono::steady_clock::now();
  treaty::CompileOptions opts;
  opts.check.data_files = {facts};
  opts.check.lints = false;
  opts.last = treaty::Step::lints;  // the checked program, written to a bundle below
  auto compiled = treaty::compile(w->sm, treaty::Sources::from_paths({TREATY_SOURCE_DIR "/policies/4me/lib"}), d, opts);
  if (d.has_errors()) {
    std::cerr << treaty::render_human(w->sm, d.all());
    std::exit(1);
  }
  const std::string bytes = treaty::write_bundle(*compiled.program, w->sm);
  const auto t1 = std::chrono::steady_clock::now();
  compiled.program.reset();
  w->bundle_bytes = bytes.size();
  // Load the bundle, as a server would.
  treaty::SourceManager sm2;
  std::string error;
  const auto t2 = std::chrono::steady_clock::now();
  auto loaded = treaty::read_bundle(bytes, sm2, error);
  if (!loaded) {
    std::cerr << error << "\n";
    std::exit(1);
  }
  w->engine = std::make_unique<treaty::Engine>(std::move(loaded));
  const auto t3 = std::chrono::steady_clock::now();
  w->sm = std::move(sm2);
  w->compile_s = std::chrono::duration<double>(t1 - t0).count();
  w->load_s = std::chrono::duration<double>(t3 - t2).count();
  w->rss_after_kb = rss_kb();
  w->peak_kb = peak_kb();
  std::istringstream in(slurp(reqs));
  std::string line;
  treaty::Overlay none(w->engine->program());
  while (std::getline(in, line)) {
    treaty::Request r;
    if (!w->engine->request_from_json(nlohmann::json::parse(line), none, r, error)) continue;
    r.overlay = nullptr;
    w->requests.push_back(r);
    w->principal_ids.emplace_back(w->engine->program().world().id(r.principal));
  }
  return w;
}

/// The median of empty timed intervals: the part of each per-decision figure that is the clock
/// itself (two steady_clock reads; tens of nanoseconds on a virtual machine).
double clock_overhead_ns() {
  std::vector<double> ns(20000);
  for (auto& x : ns) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto t1 = std::chrono::steady_clock::now();
    x = std::chrono::duration<double, std::nano>(t1 - t0).count();
  }
  std::sort(ns.begin(), ns.end());
  return ns[ns.size() / 2];
}

void BM_Decide(benchmark::State& state, World* w) {
  state.counters["clock_p50_ns"] = clock_overhead_ns();
  std::vector<double> ns;
  ns.reserve(1 << 20);
  std::size_t i = 0, allowed = 0;
  for (auto _ : state) {
    const auto& r = w->requests[i++ % w->requests.size()];
    const auto t0 = std::chrono::steady_clock::now();
    const bool a = w->engine->decide(r, false).allow;
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(a);
    allowed += a;
    if (ns.size() < ns.capacity()) ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  std::sort(ns.begin(), ns.end());
  if (!ns.empty()) {
    state.counters["p50_ns"] = ns[ns.size() / 2];
    state.counters["p99_ns"] = ns[ns.size() * 99 / 100];
  }
  state.counters["allowed_pct"] = 100.0 * static_cast<double>(allowed) / static_cast<double>(std::max<std::size_t>(1, i));
}

void BM_HashProbeBaseline(benchmark::State& state, World* w) {
  std::unordered_map<std::string, std::uint32_t> table;
  const auto& world = w->engine->program().world();
  for (treaty::EntityId e = 0; e < world.size(); ++e) table.emplace(std::string(world.id(e)), e);
  std::vector<double> ns;
  ns.reserve(1 << 20);
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& id = w->principal_ids[i++ % w->principal_ids.size()];
    const auto t0 = std::chrono::steady_clock::now();
    auto it = table.find(id);
    benchmark::DoNotOptimize(it);
    const auto t1 = std::chrono::steady_clock::now();
    if (ns.size() < ns.capacity()) ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  std::sort(ns.begin(), ns.end());
  if (!ns.empty()) {
    state.counters["p50_ns"] = ns[ns.size() / 2];
    state.counters["p99_ns"] = ns[ns.size() * 99 / 100];
  }
}

void BM_DecideInlineEntity(benchmark::State& state, World* w) {
  const auto inline_json = nlohmann::json::parse(
      R"([{"type": "Request", "id": "new-request", "attrs": {"account": "a1", "requested_for": "a1p1", "service": null}}])");
  const auto& s = w->engine->program().schema;
  std::size_t i = 0;
  for (auto _ : state) {
    treaty::Overlay o(w->engine->program());
    std::string error;
    o.add_json(inline_json, error);
    treaty::Request r = w->requests[i++ % w->requests.size()];
    r.action = s.find_action("view").value();
    r.args.clear();
    r.resource = o.find(s.find_entity("Request").value(), "new-request").value();
    r.overlay = &o;
    benchmark::DoNotOptimize(w->engine->decide(r, false).allow);
  }
}

void BM_FieldMask(benchmark::State& state, World* w) {
  const auto action = w->engine->program().schema.find_action("assign_task").value();
  std::vector<treaty::Request> rs;
  for (const auto& r : w->requests)
    if (r.action == action) rs.push_back(r);
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(w->engine->allowed_values(rs[i++ % rs.size()], 0));
}

void BM_Batch(benchmark::State& state, World* w) {
  const std::size_t n = w->requests.size();
  const std::size_t per = n / static_cast<std::size_t>(state.threads());
  const std::size_t from = per * static_cast<std::size_t>(state.thread_index());
  for (auto _ : state)
    for (std::size_t i = from; i < from + per; ++i) benchmark::DoNotOptimize(w->engine->decide(w->requests[i], false).allow);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per));
}

/// The same stream through Engine::decide_all, which prefetches a few requests ahead.
void BM_DecideAll(benchmark::State& state, World* w) {
  std::size_t allowed = 0;
  for (auto _ : state) {
    const auto ds = w->engine->decide_all(w->requests, false);
    allowed = static_cast<std::size_t>(std::count_if(ds.begin(), ds.end(), [](const treaty::Decision& d) { return d.allow; }));
    benchmark::DoNotOptimize(allowed);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * w->requests.size()));
  state.counters["allowed_pct"] = 100.0 * static_cast<double>(allowed) / static_cast<double>(std::max<std::size_t>(1, w->requests.size()));
}

// Rule-count scaling: N synthetic rules over N/10 synthetic actions (10 rules each, several
// conditions), on the 4me schema and a small fixed world.
std::unique_ptr<treaty::Engine> synthetic(int n, treaty::Request& r) {
  std::string text = slurp(TREATY_SOURCE_DIR "/policies/4me/lib/schema.treaty") +
                     slurp(TREATY_SOURCE_DIR "/policies/4me/lib/predicates.treaty");
  const int actions = std::max(1, n / 10);
  for (int a = 0; a < actions; ++a) text += "action syn" + std::to_string(a) + "(kind: TaskKind) principal Person resource Person;\n";
  const char* roles[] = {"specialist", "key_contact", "change_manager", "project_manager"};
  for (int i = 0; i < n; ++i) {
    const int a = i % actions;
    text += std::string(i % 7 == 0 ? "forbid" : "permit") + " syn_rule" + std::to_string(i) + " principal p: Person action syn" +
            std::to_string(a) + "(kind == " + (i % 2 ? "approval" : "project") + ") resource q: Person when " + roles[i % 4] +
            " in p.roles and (p.account == q.account or trust_option(q.account, p.account, approval_tasks_to_anyone))" +
            " unless q.teams.is_empty() and " + roles[(i + 1) % 4] + " in q.roles;\n";
  }
  text += R"(
Account::"x" { kind: standard, plan: premium, modules: {change_management}, directory: none }
Account::"y" { kind: standard, plan: premium, modules: {}, directory: none }
Trust::"x-y" { grantor: "y", grantee: "x", accepted: true, options: {approval_tasks_to_anyone}, shared_roles: {} }
Person::"m" { account: "x", roles: {specialist, change_manager}, teams: {} }
Person::"n" { account: "y", roles: {key_contact}, teams: {} }
)";
  treaty::SourceManager sm;
  treaty::Diagnostics d;
  treaty::CompileOptions opts;
  opts.check.lints = false;
  opts.last = treaty::Step::load;
  auto e = treaty::compile(sm, treaty::Sources::from_texts({{"syn.treaty", text}}), d, opts).engine;
  if (d.has_errors()) {
    std::cerr << treaty::render_human(sm, d.all());
    std::exit(1);
  }
  const auto& s = e->program().schema;
  std::string error;
  const auto kind = s.find_enum("TaskKind").value();
  e->make_request(s.find_entity("Person").value(), "m", s.find_action("syn0").value(), {treaty::Value::enumv(kind, 0)},
                  {true}, s.find_entity("Person").value(), "n", nullptr, r, error);
  return e;
}

void BM_RuleScaling(benchmark::State& state) {
  treaty::Request r;
  auto e = synthetic(static_cast<int>(state.range(0)), r);
  for (auto _ : state) benchmark::DoNotOptimize(e->decide(r, false).allow);
  state.counters["rules"] = static_cast<double>(e->program().rules.size());
}
BENCHMARK(BM_RuleScaling)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000);

void BM_CompileAndLoad(benchmark::State& state, World* w) {
  for (auto _ : state) benchmark::DoNotOptimize(w);
  const double facts = static_cast<double>(w->engine->program().world().size());
  state.counters["facts"] = facts;
  state.counters["compile_s"] = w->compile_s;
  state.counters["load_s"] = w->load_s;
  state.counters["bundle_MB"] = static_cast<double>(w->bundle_bytes) / 1e6;
  state.counters["peak_MB"] = static_cast<double>(w->peak_kb) / 1024.0;
  state.counters["resident_bytes_per_fact"] =
      static_cast<double>(w->rss_after_kb - w->rss_before_kb) * 1024.0 / std::max(1.0, facts);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const char* spec = std::getenv("TREATY_BENCH_WORLDS");
  if (spec) {
    std::string s = spec;
    std::size_t pos = 0;
    while (pos < s.size()) {
      auto comma = s.find(',', pos);
      const std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      pos = comma == std::string::npos ? s.size() : comma + 1;
      const auto eq = item.find('='), colon = item.find(':');
      if (eq == std::string::npos || colon == std::string::npos) continue;
      worlds().push_back(load_world(item.substr(0, eq), item.substr(eq + 1, colon - eq - 1), item.substr(colon + 1)));
    }
  }
  for (auto& w : worlds()) {
    World* p = w.get();
    benchmark::RegisterBenchmark(("CompileAndLoad/" + w->name).c_str(), BM_CompileAndLoad, p)->Iterations(1);
    benchmark::RegisterBenchmark(("HashProbeBaseline/" + w->name).c_str(), BM_HashProbeBaseline, p);
    benchmark::RegisterBenchmark(("Decide/" + w->name).c_str(), BM_Decide, p);
    benchmark::RegisterBenchmark(("DecideInlineEntity/" + w->name).c_str(), BM_DecideInlineEntity, p);
    benchmark::RegisterBenchmark(("FieldMask/" + w->name).c_str(), BM_FieldMask, p);
    benchmark::RegisterBenchmark(("Batch/" + w->name).c_str(), BM_Batch, p)->Threads(1)->Threads(2)->UseRealTime();
    benchmark::RegisterBenchmark(("DecideAll/" + w->name).c_str(), BM_DecideAll, p)->UseRealTime();
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
