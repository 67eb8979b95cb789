// Deterministic generator of synthetic 4me worlds (Treaty JSON facts) and request streams
// (JSON Lines) for the benchmarks.
//
//   gen_world --accounts N [--seed S] --facts FILE [--requests FILE --count K]
//
// Per account: about 40 persons, 4 teams, 3 trusts to other accounts, 2 SLAs (one service
// each), role assignments through shared roles, requests and CIs. Requests: about a third are
// allowed; two thirds involve accounts linked by a trust.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <string>

namespace {

const char* kRoles[] = {"account_administrator", "service_desk_analyst", "specialist", "key_contact",
                        "change_manager", "project_manager"};
const char* kOptions[] = {"change_tasks_to_key_contacts_and_specialists", "approval_tasks_to_anyone",
                          "project_tasks_to_key_contacts_and_specialists", "register_requests_for_specialists"};
const char* kKinds[] = {"approval", "risk_and_impact", "implementation", "project"};

struct Gen {
  std::mt19937_64 rng;
  long accounts;
  explicit Gen(std::uint64_t seed, long n) : rng(seed), accounts(n) {}
  long pick(long lo, long hi) { return std::uniform_int_distribution<long>(lo, hi)(rng); }
  bool coin(int one_in) { return pick(0, one_in - 1) == 0; }
  // Trust partners of account a: the next three accounts (deterministic, so requests can find them).
  long partner(long a, int k) const { return (a + 1 + k * 7) % accounts; }
};

std::string acc(long a) { return "a" + std::to_string(a); }
std::string person(long a, long p) { return "a" + std::to_string(a) + "p" + std::to_string(p); }

}  // namespace

int main(int argc, char** argv) {
  long n = 100, count = 0;
  std::uint64_t seed = 1;
  std::string facts, requests;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "gen_world: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--accounts") n = std::stol(next());
    else if (a == "--seed") seed = std::stoull(next());
    else if (a == "--facts") facts = next();
    else if (a == "--requests") requests = next();
    else if (a == "--count") count = std::stol(next());
    else {
      std::cerr << "usage: gen_world --accounts N [--seed S] --facts FILE [--requests FILE --count K]\n";
      return 2;
    }
  }
  if (n < 4 || facts.empty()) {
    std::cerr << "gen_world: --accounts (at least 4) and --facts are required\n";
    return 2;
  }
  Gen g(seed, n);
  std::ofstream out(facts, std::ios::binary);
  out << "{\"entities\": [\n";
  bool first = true;
  auto ent = [&](const std::string& type, const std::string& id, const std::string& attrs) {
    out << (first ? "" : ",\n") << "{\"type\":\"" << type << "\",\"id\":\"" << id << "\",\"attrs\":{" << attrs << "}}";
    first = false;
  };
  const long persons = 40;
  for (long a = 0; a < n; ++a) {
    const bool premium = g.coin(2);
    ent("Account", acc(a),
        std::string("\"kind\":\"standard\",\"plan\":\"") + (premium ? "premium" : "essential") +
            "\",\"modules\":[\"change_management\",\"project_management\"],\"directory\":null");
    for (int t = 0; t < 4; ++t) ent("Team", acc(a) + "t" + std::to_string(t), "\"account\":\"" + acc(a) + "\"");
    for (long p = 0; p < persons; ++p) {
      // Person p always holds role p % 6, and others at random.
      std::string roles = std::string("\"") + kRoles[p % 6] + "\"";
      for (int r = 0; r < 6; ++r)
        if (r != p % 6 && g.coin(4)) roles += std::string(",\"") + kRoles[r] + "\"";
      std::string teams = g.coin(2) ? "\"" + acc(a) + "t" + std::to_string(g.pick(0, 3)) + "\"" : "";
      ent("Person", person(a, p), "\"account\":\"" + acc(a) + "\",\"roles\":[" + roles + "],\"teams\":[" + teams + "]");
    }
    ent("Service", acc(a) + "s", "\"provider\":\"" + acc(a) + "\"");
  }
  for (long a = 0; a < n; ++a) {
    for (int k = 0; k < 3; ++k) {
      const long b = g.partner(a, k);
      std::string opts;
      for (int o = 0; o < 4; ++o)
        if (g.coin(2)) opts += std::string(opts.empty() ? "" : ",") + "\"" + kOptions[o] + "\"";
      const bool share = k == 0;
      ent("Trust", acc(a) + "-" + acc(b),
          "\"grantor\":\"" + acc(a) + "\",\"grantee\":\"" + acc(b) + "\",\"accepted\":" + (g.coin(5) ? "false" : "true") +
              ",\"options\":[" + opts + "],\"shared_roles\":[" + (share ? "\"service_desk_analyst\"" : "") + "]");
      if (share)
        for (int r = 0; r < 2; ++r)
          ent("RoleAssignment", acc(a) + "-" + acc(b) + "r" + std::to_string(r),
              "\"person\":\"" + person(b, g.pick(0, persons - 1)) + "\",\"role\":\"service_desk_analyst\",\"account\":\"" +
                  acc(a) + "\"");
    }
    for (int s = 0; s < 2; ++s) {
      const long prov = g.partner(a, s);
      ent("Sla", acc(a) + "sla" + std::to_string(s),
          "\"provider\":\"" + acc(prov) + "\",\"customer\":\"" + acc(a) + "\",\"service\":\"" + acc(prov) +
              "s\",\"accepted\":true,\"active\":" + (g.coin(4) ? "false" : "true") + ",\"representatives\":[\"" +
              person(a, g.pick(0, persons - 1)) + "\"]");
    }
    for (int r = 0; r < 4; ++r)
      ent("Request", acc(a) + "req" + std::to_string(r),
          "\"account\":\"" + acc(a) + "\",\"requested_for\":\"" + person(a, g.pick(0, persons - 1)) + "\",\"service\":\"" +
              acc(g.partner(a, 0)) + "s\"");
    ent("Ci", acc(a) + "ci", "\"owner\":\"" + acc(a) + "\",\"support_team\":\"" + acc(g.partner(a, 0)) + "t0\"");
  }
  out << "\n]}\n";
  if (!out) {
    std::cerr << "gen_world: cannot write " << facts << "\n";
    return 1;
  }
  if (!requests.empty()) {
    std::ofstream rq(requests, std::ios::binary);
    for (long i = 0; i < count; ++i) {
      const long a = g.pick(0, n - 1);
      if (g.coin(3)) {
        // Allowed by construction: a specialist (p % 6 == 2) or service desk analyst (1) views a
        // request of their own account, or a person switches to their own account.
        const long k = g.pick(0, persons / 6 - 1) * 6 + (g.coin(2) ? 1 : 2);
        if (g.coin(2))
          rq << "{\"principal\":{\"type\":\"Person\",\"id\":\"" << person(a, k) << "\"},\"action\":{\"name\":\"view\"},"
             << "\"resource\":{\"type\":\"Request\",\"id\":\"" << acc(a) << "req" << g.pick(0, 3) << "\"}}\n";
        else
          rq << "{\"principal\":{\"type\":\"Person\",\"id\":\"" << person(a, k) << "\"},\"action\":{\"name\":\"switch_to\"},"
             << "\"resource\":{\"type\":\"Account\",\"id\":\"" << acc(a) << "\"}}\n";
        continue;
      }
      // Two thirds between trust partners (the interesting region), a third anywhere.
      const long b = g.coin(3) ? g.pick(0, n - 1) : g.partner(a, static_cast<int>(g.pick(0, 2)));
      const std::string p = person(b, g.pick(0, persons - 1)), q = person(a, g.pick(0, persons - 1));
      switch (g.pick(0, 3)) {
        case 0:
          rq << "{\"principal\":{\"type\":\"Person\",\"id\":\"" << p << "\"},\"action\":{\"name\":\"assign_task\",\"args\":{\"kind\":\""
             << kKinds[g.pick(0, 3)] << "\"}},\"resource\":{\"type\":\"Person\",\"id\":\"" << q << "\"}}\n";
          break;
        case 1:
          rq << "{\"principal\":{\"type\":\"Person\",\"id\":\"" << p << "\"},\"action\":{\"name\":\"register_request\"},"
             << "\"resource\":{\"type\":\"Person\",\"id\":\"" << q << "\"}}\n";
          break;
        case 2:
          rq << "{\"principal\":{\"type\":\"Person\",\"id\":\"" << p << "\"},\"action\":{\"name\":\"view\"},"
             << "\"resource\":{\"type\":\"Request\",\"id\":\"" << acc(a) << "req" << g.pick(0, 3) << "\"}}\n";
          break;
        default:
          rq << "{\"principal\":{\"type\":\"Person\",\"id\":\"" << p << "\"},\"action\":{\"name\":\"switch_to\"},"
             << "\"resource\":{\"type\":\"Account\",\"id\":\"" << acc(a) << "\"}}\n";
      }
    }
  }
  return 0;
}
