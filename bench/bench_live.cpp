// Live facts benchmarks (issue 23), in one process on one world (scripts/bench_live.sh):
//   - write throughput in batches of 1, 100 and 10,000 upserts, durable (write-ahead log with
//     fdatasync, group commit) and in memory;
//   - decision latency p50/p99 idle and while a writer keeps 10,000 upserts/s going, in the same
//     run (the ratio is the figure);
//   - time from a write's acknowledgement to the first decision that sees it;
//   - resident memory after 10 million updates of the same 100,000 entities, against the start.
// Usage: bench_live FACTS.json REQUESTS.jsonl STATE_DIR [UPDATES]  (prints JSON lines)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "treaty/compile.hpp"
#include "treaty/data/wal.hpp"
#include "treaty/data/world.hpp"
#include "treaty/live.hpp"
#include "treaty/runtime.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

long rss_kb() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * 4;
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

class WalJournal : public treaty::Journal {
 public:
  explicit WalJournal(treaty::WriteAheadLog& w) : w_(w) {}
  std::uint64_t enqueue(std::uint64_t r, std::string p) override { return w_.enqueue(r, std::move(p)); }
  bool wait_durable(std::uint64_t t, std::string& e) override { return w_.wait_durable(t, e); }

 private:
  treaty::WriteAheadLog& w_;
};

/// Upserts of `ids` persons (their facts with the roles toggled by `flip`), in batches.
struct Updates {
  std::vector<json> base;  ///< each person's entity JSON
  json batch(std::size_t first, std::size_t n, std::uint64_t flip) const {
    json up = json::array();
    for (std::size_t i = 0; i < n; ++i) {
      json e = base[(first + i) % base.size()];
      auto& roles = e["attrs"]["roles"];
      if ((flip + first + i) % 2) roles.push_back("specialist");
      else roles = json::array({"key_contact"});
      up.push_back(std::move(e));
    }
    return {{"upsert", std::move(up)}};
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: bench_live FACTS.json REQUESTS.jsonl STATE_DIR [UPDATES]\n";
    return 2;
  }
  const std::string facts = argv[1], reqs = argv[2], state = argv[3];
  const std::size_t updates = argc > 4 ? std::stoull(argv[4]) : 10'000'000;
  treaty::SourceManager sm;
  treaty::Diagnostics d;
  treaty::CompileOptions opts;
  opts.check.data_files = {facts};
  opts.check.lints = false;
  opts.last = treaty::Step::load;
  const auto tc = Clock::now();
  auto c = treaty::compile(sm, treaty::Sources::from_paths({TREATY_SOURCE_DIR "/policies/4me/lib"}), d, opts);
  if (!c.engine) {
    std::cerr << treaty::render_human(sm, d.all());
    return 1;
  }
  const double compile_s = std::chrono::duration<double>(Clock::now() - tc).count();
  std::shared_ptr<const treaty::Engine> base(std::move(c.engine));
  const auto& p = base->program();
  std::cout << json{{"bench", "world"}, {"entities", p.world().size()}, {"compile_s", compile_s}}.dump() << std::endl;

  // 100,000 persons to update (their current facts), and requests to decide.
  Updates u;
  const auto person = *p.schema.find_entity("Person");
  for (treaty::EntityId e : p.world().of_type(person)) {
    if (u.base.size() == 100'000) break;
    u.base.push_back(treaty::entity_json(*base, e));
  }
  std::vector<treaty::Request> requests;
  {
    std::ifstream in(reqs);
    std::string line, error;
    treaty::Overlay none(*base);
    while (requests.size() < 20'000 && std::getline(in, line)) {
      treaty::Request r;
      if (!base->request_from_json(json::parse(line), none, r, error)) continue;
      r.overlay = nullptr;  // no inline entities: `none` does not outlive this block
      requests.push_back(r);
    }
  }

  std::filesystem::remove_all(state);
  std::filesystem::create_directories(state);
  // Write throughput, durable: each size on fresh live facts with its own log.
  for (const std::size_t size : {std::size_t{1}, std::size_t{100}, std::size_t{10'000}}) {
    for (const bool durable : {true, false}) {
      treaty::LiveFacts live(base);
      treaty::WalRecovery rec;
      std::string error;
      auto wal = treaty::WriteAheadLog::open(state + "/tp" + std::to_string(size) + (durable ? "d" : "m") + ".wal", rec,
                                             error);
      WalJournal j(*wal);
      if (durable) live.set_journal(&j);
      const std::size_t total = size == 1 ? 2'000 : size == 100 ? 100'000 : 200'000;
      std::vector<json> batches;
      for (std::size_t k = 0; k < total / size; ++k) batches.push_back(u.batch(k * size, size, k));
      const auto t0 = Clock::now();
      std::size_t ok = 0;
      for (const auto& b : batches) ok += live.write(b).ok;
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      std::cout << json{{"bench", "write_throughput"}, {"batch", size}, {"durable", durable},
                        {"batches", batches.size()}, {"ok", ok}, {"upserts_per_s", static_cast<double>(total) / s},
                        {"batches_per_s", static_cast<double>(batches.size()) / s}, {"syncs", wal->syncs()},
                        {"delta_entities", live.delta_size()}}
                       .dump()
                << std::endl;
    }
  }

  // Decisions idle and under 10,000 upserts/s (batches of 100 every 10 ms), same run.
  {
    treaty::LiveFacts live(base);
    treaty::WalRecovery rec;
    std::string error;
    auto wal = treaty::WriteAheadLog::open(state + "/load.wal", rec, error);
    WalJournal j(*wal);
    live.set_journal(&j);
    auto measure = [&](double seconds) {
      std::vector<double> ns;
      ns.reserve(4'000'000);
      std::shared_ptr<const treaty::Engine> e = live.current();
      std::uint64_t seen = e->revision();
      const auto end = Clock::now() + std::chrono::duration<double>(seconds);
      std::size_t i = 0;
      while (Clock::now() < end) {
        if (live.revision() != seen) {
          e = live.current();
          seen = e->revision();
        }
        const auto t0 = Clock::now();
        const bool a = e->decide(requests[i++ % requests.size()], false).allow;
        const auto t1 = Clock::now();
        asm volatile("" : : "r"(a));
        ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
      }
      return ns;
    };
    for (int round = 0; round < 2; ++round) {
      auto idle = measure(2.0);
      std::atomic<bool> stop{false};
      std::size_t written = 0;
      std::thread writer([&] {
        auto next = Clock::now();
        std::uint64_t k = 0;
        while (!stop) {
          live.write(u.batch(k * 100, 100, k));
          written += 100;
          ++k;
          next += std::chrono::milliseconds(10);
          std::this_thread::sleep_until(next);
        }
      });
      const auto tw = Clock::now();
      auto busy = measure(2.0);
      const double ws = std::chrono::duration<double>(Clock::now() - tw).count();
      stop = true;
      writer.join();
      const double ip50 = pct(idle, 0.5), ip99 = pct(idle, 0.99), bp50 = pct(busy, 0.5), bp99 = pct(busy, 0.99);
      std::cout << json{{"bench", "decide_under_writes"}, {"round", round}, {"idle_p50_ns", ip50}, {"idle_p99_ns", ip99},
                        {"writing_p50_ns", bp50}, {"writing_p99_ns", bp99}, {"p50_ratio", bp50 / ip50},
                        {"p99_ratio", bp99 / ip99}, {"upserts_per_s", static_cast<double>(written) / ws},
                        {"delta_entities", live.delta_size()}}
                       .dump()
                << std::endl;
    }
  }

  // Acknowledgement to visible: a reader polls the revision as a server's worker does.
  {
    treaty::LiveFacts live(base);
    std::atomic<std::uint64_t> want{0};
    std::atomic<bool> stop{false};
    std::vector<double> ns;
    std::atomic<long long> acked_at{0};
    std::thread reader([&] {
      std::uint64_t seen = 0;
      while (!stop) {
        const auto r = live.revision();
        if (r != seen && r == want.load()) {
          const auto e = live.current();
          const bool a = e->decide(requests[r % requests.size()], false).allow;
          asm volatile("" : : "r"(a));
          ns.push_back(static_cast<double>(Clock::now().time_since_epoch().count() - acked_at.load()));
          seen = r;
        }
      }
    });
    for (std::uint64_t k = 0; k < 2000; ++k) {
      auto b = u.batch(k, 1, k);
      want = k + 1;
      const auto r = live.write(b);
      acked_at = Clock::now().time_since_epoch().count();
      if (!r.ok) break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    stop = true;
    reader.join();
    std::cout << json{{"bench", "ack_to_visible"}, {"samples", ns.size()}, {"p50_ns", pct(ns, 0.5)},
                      {"p99_ns", pct(ns, 0.99)}, {"max_ns", pct(ns, 1.0)}}
                     .dump()
              << std::endl;
  }

  // Memory: `updates` updates of the same 100,000 entities, in batches of 10,000 (in memory: the
  // log's size on disk is not the question here).
  {
    treaty::LiveFacts live(base);
    live.write(u.batch(0, 10'000, 0));  // warm: the delta's tables exist
    const long start = rss_kb();
    const auto t0 = Clock::now();
    std::size_t done = 0;
    for (std::uint64_t k = 0; done < updates; ++k) {
      live.write(u.batch(k * 10'000, 10'000, k));
      done += 10'000;
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    const long end = rss_kb();
    std::cout << json{{"bench", "memory_after_updates"}, {"updates", done}, {"rss_start_kb", start}, {"rss_end_kb", end},
                      {"ratio", static_cast<double>(end) / static_cast<double>(start)},
                      {"upserts_per_s", static_cast<double>(done) / s}, {"delta_entities", live.delta_size()}}
                     .dump()
              << std::endl;
  }
  std::filesystem::remove_all(state);
  return 0;
}
