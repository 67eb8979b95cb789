// The oracle's random programs and worlds (tests/oracle_test.cpp, fuzz/fuzz_differential.cpp): a
// fixed schema, and well-typed rules (every expression form of LANGUAGE.md section 6) and facts
// drawn by `Picks` (pick(lo, hi): an int in [lo, hi]), a seeded generator or a fuzzer's bytes.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace treaty::testing {

inline constexpr const char* kOracleSchema = R"(
enum Level { low, mid, high }
entity Org { tier: Int, tags: Set<Level> }
entity Person { org: Org, level: Level, manager: Person?, name: String, orgs: Set<Org> }
entity Doc { org: Org, owner: Person, level: Level, secret: Bool, labels: Set<Level> }
action read principal Person resource Doc;
action edit(level: Level) principal Person resource Doc;
predicate senior(x: Person) = x.level == high or x.org.tier > 2;
predicate same_org(x: Person, d: Doc) = x.org == d.org;
)";

template <class Picks>
class BasicProgramGen {
 public:
  explicit BasicProgramGen(Picks picks) : picks_(std::move(picks)) {}

  std::string program() {
    std::string out;
    const int n = pick(1, 5);
    for (int i = 0; i < n; ++i) out += rule(i);
    return out;
  }

  std::string world() {
    std::string out;
    for (int o = 1; o <= 3; ++o)
      out += "Org::\"o" + std::to_string(o) + "\" { tier: " + std::to_string(pick(0, 3)) + ", tags: " + level_set() + " }\n";
    for (int u = 1; u <= 4; ++u) {
      std::string manager = pick(0, 2) == 0 ? "none" : "\"u" + std::to_string(pick(1, 4)) + "\"";
      out += "Person::\"u" + std::to_string(u) + "\" { org: \"o" + std::to_string(pick(1, 3)) + "\", level: " + level() +
             ", manager: " + manager + ", name: \"" + (pick(0, 1) ? "a" : "b") + "\", orgs: " + org_set() + " }\n";
    }
    for (int d = 1; d <= 4; ++d)
      out += "Doc::\"d" + std::to_string(d) + "\" { org: \"o" + std::to_string(pick(1, 3)) + "\", owner: \"u" +
             std::to_string(pick(1, 4)) + "\", level: " + level() + ", secret: " + (pick(0, 1) ? "true" : "false") +
             ", labels: " + level_set() + " }\n";
    return out;
  }

 private:
  int pick(int lo, int hi) { return picks_.pick(lo, hi); }
  std::string level() { return std::vector<std::string>{"low", "mid", "high"}[static_cast<std::size_t>(pick(0, 2))]; }
  std::string level_set() {
    std::string s;
    for (const char* l : {"low", "mid", "high"})
      if (pick(0, 1)) s += (s.empty() ? "" : ", ") + std::string(l);
    return "{" + s + "}";
  }
  std::string org_set() {
    std::string s;
    for (int o = 1; o <= 3; ++o)
      if (pick(0, 1)) s += (s.empty() ? "" : ", ") + std::string("\"o") + std::to_string(o) + "\"";
    return "{" + s + "}";
  }

  struct Ctx {
    bool has_level_param = false;
    std::vector<std::string> persons = {"p", "r.owner"};
    std::vector<std::string> levels_vars;
    int fresh = 0;
    /// `exists` around this point: bounded (kMaxExists), since the reference evaluator scans
    /// every entity for each one, so k nested ones cost it 4^k (a fuzzer's bytes nest them
    /// as deep as they last).
    int exists_depth = 0;
  };
  static constexpr int kMaxExists = 3;

  std::string of(const std::vector<std::string>& v) { return v[static_cast<std::size_t>(pick(0, static_cast<int>(v.size()) - 1))]; }

  std::string person(Ctx& c) {
    std::vector<std::string> v = c.persons;
    v.push_back(of(c.persons) + ".manager");  // optional
    return of(v);
  }
  std::string org(Ctx& c) { return pick(0, 3) == 0 ? "r.org" : person(c) + ".org"; }
  std::string level_expr(Ctx& c) {
    std::vector<std::string> v = {"r.level", person(c) + ".level"};
    if (c.has_level_param) v.push_back("level");
    for (const auto& l : c.levels_vars) v.push_back(l);
    return of(v);
  }
  std::string int_expr(Ctx& c) { return pick(0, 2) == 0 ? std::to_string(pick(0, 3)) : org(c) + ".tier"; }

  std::string atom(Ctx& c) {
    switch (pick(0, 19)) {
      case 0: return person(c) + (pick(0, 1) ? " == " : " != ") + person(c);
      case 1: return org(c) + " == " + org(c);
      case 2: return level_expr(c) + " == " + (pick(0, 1) ? level() : level_expr(c));
      case 3: return int_expr(c) + std::vector<std::string>{" < ", " <= ", " > ", " >= "}[static_cast<std::size_t>(pick(0, 3))] + int_expr(c);
      case 4: return person(c) + ".name" + (pick(0, 1) ? " == \"a\"" : " < " + person(c) + ".name");
      case 5: return "r.secret";
      case 6: return level_expr(c) + " in " + std::vector<std::string>{"r.labels", org(c) + ".tags", level_set()}[static_cast<std::size_t>(pick(0, 2))];
      case 7: return org(c) + " in " + person(c) + ".orgs";
      case 8: return person(c) + ".orgs.contains_any({" + org(c) + ", " + org(c) + "})";
      case 9: return "r.labels.contains_all(" + level_set() + ")";
      case 10: return org(c) + ".tags.is_empty()";
      case 11: return person(c) + " is Person";
      case 12: return "senior(" + person(c) + ")";
      case 13: return "same_org(" + person(c) + ", r)";
      case 14: return person(c) + " == none";
      case 15: case 18: case 19: {  // weighted: probes are where the indexes are
        if (c.exists_depth >= kMaxExists) return "true";
        const std::string x = "x" + std::to_string(c.fresh++);
        Ctx inner = c;
        ++inner.exists_depth;
        inner.persons.push_back(x);
        // Often of the shapes the compiler turns into an index probe: on one attribute, or on a
        // pair (a composite probe; `manager` is optional, so its key may be none).
        const std::string on_org = x + ".org == " + org(c) + " and ";
        const std::string on_level = level_expr(c) + " == " + x + ".level and ";
        const std::string on_manager = x + ".manager == " + person(c) + " and ";
        const std::string probe = std::vector<std::string>{
            "", on_org, on_org + on_level, on_manager + on_org, on_level + on_manager}[static_cast<std::size_t>(pick(0, 4))];
        return "(exists " + x + ": Person where " + probe + cond(inner, 1) + ")";
      }
      case 16: {
        if (c.exists_depth >= kMaxExists) return "true";
        const std::string l = "l" + std::to_string(c.fresh++);
        Ctx inner = c;
        ++inner.exists_depth;
        inner.levels_vars.push_back(l);
        return "(exists " + l + " in r.labels where " + cond(inner, 1) + ")";
      }
      default: return "true";
    }
  }

  std::string cond(Ctx& c, int depth) {
    if (depth <= 0) return atom(c);
    switch (pick(0, 5)) {
      case 0: return "not (" + cond(c, depth - 1) + ")";
      case 1: return "(" + cond(c, depth - 1) + " and " + cond(c, depth - 1) + ")";
      case 2: return "(" + cond(c, depth - 1) + " or " + cond(c, depth - 1) + ")";
      default: return atom(c);
    }
  }

  std::string rule(int i) {
    Ctx c;
    std::string action;
    switch (pick(0, 4)) {
      case 0: action = "read"; break;
      case 1: action = "edit"; c.has_level_param = true; break;
      case 2: action = std::string("edit(level ") + (pick(0, 1) ? "== " + level() : "in " + level_set()) + ")";
        c.has_level_param = true;
        break;
      case 3: action = "{read, edit}"; break;
      default: action = "any"; break;
    }
    std::string s = std::string(pick(0, 2) == 0 ? "forbid" : "permit") + " rule" + std::to_string(i) +
                    " principal p: Person action " + action + " resource r: Doc";
    const int n = pick(0, 2);
    for (int k = 0; k < n; ++k) s += std::string(pick(0, 3) == 0 ? " unless " : " when ") + cond(c, 2);
    return s + ";\n";
  }

  Picks picks_;
};

}  // namespace treaty::testing
