// Reverse queries (Engine::search_*) on policies/4me/lib over a gen_world world, against brute
// force (deciding every person), for the seeds' questions:
//   subjects   "who can register requests for our specialists?": register_request on a specialist
//   resources  "which of the customer's people may this change manager pick as approver?":
//              assign_task(kind: approval) for a change manager
//   actions    "what may this consultant do in our account?": every action of a person of another
//              account on people of the account they act in
//
//   bench_query --data WORLD.json [--queries N] [--brute N] [--no-search-indexes]
//
// One JSON line per question: queries run, mean latency per query and per result, mean results,
// candidates and decisions, and brute force's mean latency (over --brute known sides) with the
// speedup. Every search is checked against brute force on the brute-force sample.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "treaty/compile.hpp"
#include "treaty/data/world.hpp"
#include "treaty/runtime.hpp"

using namespace treaty;
using Clock = std::chrono::steady_clock;

namespace {
double us_since(Clock::time_point t) { return std::chrono::duration<double, std::micro>(Clock::now() - t).count(); }
}  // namespace

int main(int argc, char** argv) {
  std::string data;
  std::size_t queries = 200, brute = 5;
  bool search_indexes = true;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--no-search-indexes") search_indexes = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--no-search-indexes") {
      --i;
      continue;
    }
    if (a == "--data") data = argv[i + 1];
    else if (a == "--queries") queries = std::stoul(argv[i + 1]);
    else if (a == "--brute") brute = std::stoul(argv[i + 1]);
  }
  if (data.empty()) {
    std::cerr << "usage: bench_query --data WORLD.json [--queries N] [--brute N]\n";
    return 2;
  }
  SourceManager sm;
  Diagnostics diags;
  CompileOptions opts;
  opts.check.data_files = {data};
  opts.last = Step::load;
  opts.limits.search_indexes = search_indexes;
  const auto t_load = Clock::now();
  auto engine = compile(sm, Sources::from_paths({std::string(TREATY_SOURCE_DIR) + "/policies/4me/lib"}), diags, opts).engine;
  if (!engine) {
    std::cerr << "bench_query: the package did not load\n";
    return 1;
  }
  const Engine& e = *engine;
  const auto& s = e.program().schema;
  const TypeId person = *s.find_entity("Person");
  std::vector<EntityId> people;
  e.for_each_entity(person, [&](EntityId x) { people.push_back(x); });
  std::cerr << "loaded " << people.size() << " persons in " << us_since(t_load) / 1e6 << " s; world "
            << e.program().world().memory_bytes() << " bytes" << (search_indexes ? "" : " (no search indexes)") << "\n";
  const auto roles_col = static_cast<std::uint32_t>(s.entities[person].column(*s.find_attr_name("roles")));
  const auto role_enum = *s.find_enum("Role");
  auto role = [&](const char* name) {
    const auto& v = s.enums[role_enum].values;
    return Value::enumv(role_enum, static_cast<std::uint32_t>(std::find(v.begin(), v.end(), name) - v.begin()));
  };
  auto holding = [&](const char* r) {
    std::vector<EntityId> out;
    const Value want = role(r);
    for (EntityId x : people)
      if (set_contains(e.attr_of(x, roles_col), want)) out.push_back(x);
    return out;
  };
  const auto kinds = *s.find_enum("TaskKind");
  const auto& kv = s.enums[kinds].values;
  const Value approval =
      Value::enumv(kinds, static_cast<std::uint32_t>(std::find(kv.begin(), kv.end(), "approval") - kv.begin()));

  auto brute_force = [&](int side, EntityId known, std::uint32_t action, const std::vector<Value>& args) {
    std::vector<EntityId> out;
    Request r;
    r.action = action;
    r.args = args;
    (side == 0 ? r.resource : r.principal) = known;
    for (EntityId x : people) {
      (side == 0 ? r.principal : r.resource) = x;
      if (e.decide(r, false).allow) out.push_back(x);
    }
    return out;
  };

  struct Question {
    const char* name;
    int side;
    std::uint32_t action;
    std::vector<Value> args;
    std::vector<EntityId> known;
  };
  std::vector<Question> qs = {
      {"subjects register_request on a specialist", 0, *s.find_action("register_request"), {}, holding("specialist")},
      {"resources assign_task(kind: approval) for a change manager", 1, *s.find_action("assign_task"), {approval},
       holding("change_manager")},
  };
  int rc = 0;
  for (auto& q : qs) {
    // Known sides spread over the world, deterministically.
    std::vector<EntityId> sample;
    const std::size_t step = std::max<std::size_t>(1, q.known.size() / std::max<std::size_t>(queries, 1));
    for (std::size_t i = 0; i < q.known.size() && sample.size() < queries; i += step) sample.push_back(q.known[i]);
    double total_us = 0, results = 0, candidates = 0, decides = 0, max_us = 0;
    std::size_t max_results = 0;
    for (EntityId k : sample) {
      const auto t = Clock::now();
      const auto r = q.side == 0 ? e.search_subjects(person, q.action, q.args, k) : e.search_resources(k, q.action, q.args, person);
      const double us = us_since(t);
      total_us += us;
      max_us = std::max(max_us, us);
      results += static_cast<double>(r.entities.size());
      max_results = std::max(max_results, r.entities.size());
      candidates += static_cast<double>(r.stats.candidates);
      decides += static_cast<double>(r.stats.decides);
    }
    double brute_us = 0;
    std::size_t nbrute = 0;
    for (std::size_t i = 0; i < sample.size() && nbrute < brute; i += std::max<std::size_t>(1, sample.size() / brute), ++nbrute) {
      const auto t = Clock::now();
      const auto want = brute_force(q.side, sample[i], q.action, q.args);
      brute_us += us_since(t);
      const auto got = q.side == 0 ? e.search_subjects(person, q.action, q.args, sample[i])
                                   : e.search_resources(sample[i], q.action, q.args, person);
      if (got.entities != want) {
        std::cerr << "MISMATCH: " << q.name << " for " << e.entity_name(sample[i], nullptr) << "\n";
        rc = 1;
      }
    }
    const double n = static_cast<double>(std::max<std::size_t>(sample.size(), 1));
    const double mean = total_us / n, bmean = nbrute ? brute_us / static_cast<double>(nbrute) : 0;
    nlohmann::json j{{"question", q.name},
                     {"persons", people.size()},
                     {"queries", sample.size()},
                     {"mean_us", mean},
                     {"max_us", max_us},
                     {"mean_results", results / n},
                     {"max_results", max_results},
                     {"us_per_result", results > 0 ? total_us / results : 0.0},
                     {"mean_candidates", candidates / n},
                     {"mean_decides", decides / n},
                     {"brute_force_mean_us", bmean},
                     {"speedup", mean > 0 ? bmean / mean : 0.0}};
    std::cout << j.dump() << std::endl;
  }
  // Actions: a change manager or analyst of one account on people of an account it holds a role
  // in through a trust (its search_resources answers give such people).
  {
    const auto analysts = holding("service_desk_analyst");
    const auto reg = *s.find_action("register_request");
    double total_us = 0, found = 0, decides = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < analysts.size() && n < queries; i += std::max<std::size_t>(1, analysts.size() / queries)) {
      const auto targets = e.search_resources(analysts[i], reg, {}, person, 1);
      if (targets.entities.empty()) continue;
      const auto t = Clock::now();
      const auto r = e.search_actions(analysts[i], targets.entities[0]);
      total_us += us_since(t);
      found += static_cast<double>(r.actions.size());
      decides += static_cast<double>(r.stats.decides);
      ++n;
    }
    const double dn = static_cast<double>(std::max<std::size_t>(n, 1));
    std::cout << nlohmann::json{{"question", "actions of an analyst on a person they may register for"},
                                {"persons", people.size()},
                                {"queries", n},
                                {"mean_us", total_us / dn},
                                {"mean_results", found / dn},
                                {"mean_decides", decides / dn}}
                     .dump()
              << std::endl;
  }
  return rc;
}
