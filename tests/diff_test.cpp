// `treaty diff` (treaty/diff.hpp): the decisions that differ between two versions are exactly
// those that deciding every request in both gives (brute force), on random programs with
// mutated rules and random worlds with mutated facts, and on mutations of the 4me library over
// generated 4me worlds; a mutated rule shows up in the diff and in test coverage.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/engine_util.hpp"
#include "treaty/coverage.hpp"
#include "treaty/diff.hpp"
#include "treaty/test_runner.hpp"

namespace treaty::testing {
namespace {

const char* kSchema = R"(
enum Role { admin, analyst, viewer }
enum Kind { read, write, sign }
entity Account { parent: Account? }
entity Person { account: Account, roles: Set<Role>, boss: Person? }
entity Doc { account: Account, owner: Person?, readers: Set<Person> }
entity Grant { person: Person, doc: Doc, kind: Kind }
action view principal Person resource Doc;
action edit(kind: Kind) principal Person resource Doc;
action manage principal Person resource Person;
action ping principal Person resource Person | Doc;

predicate same_place(a: Person, b: Person) = a.account == b.account or a.account == b.account.parent;
)";

/// Each rule and a mutant of it (the same name, another condition): a version takes neither, the
/// rule or its mutant. Their conditions pin through indexes, joins, paths, sets and predicates,
/// or not at all (scans); the forbids deny through `when`, `unless` and `exists`.
struct Variant {
  const char* rule;
  const char* mutant;
};
const Variant kRules[] = {
    {R"(permit same_account principal p: Person action view resource d: Doc when p.account == d.account and analyst in p.roles;)",
     R"(permit same_account principal p: Person action view resource d: Doc when p.account == d.account and admin in p.roles;)"},
    {R"(permit owner principal p: Person action {view, edit} resource d: Doc when d.owner == p;)",
     R"(permit owner principal p: Person action {view, edit} resource d: Doc when d.owner == p.boss;)"},
    {R"(permit reader principal p: Person action view resource d: Doc when p in d.readers;)",
     R"(permit reader principal p: Person action view resource d: Doc when p in d.readers and viewer in p.roles;)"},
    {R"(permit granted principal p: Person action edit resource d: Doc when exists g: Grant where g.doc == d and g.person == p and g.kind == kind;)",
     R"(permit granted principal p: Person action edit resource d: Doc when exists g: Grant where g.doc == d and g.person == p and g.kind != kind;)"},
    {R"(permit admins principal p: Person action view resource d: Doc when admin in p.roles;)",
     R"(permit admins principal p: Person action view resource d: Doc when viewer in p.roles;)"},
    {R"(permit parent_account principal p: Person action view resource d: Doc when exists a: Account where a.parent == d.account and p.account == a;)",
     R"(permit parent_account principal p: Person action view resource d: Doc when exists a: Account where a.parent == p.account and d.account == a;)"},
    {R"(forbid viewers principal p: Person action any resource d: Doc when viewer in p.roles unless admin in p.roles;)",
     R"(forbid viewers principal p: Person action any resource d: Doc when viewer in p.roles unless analyst in p.roles;)"},
    {R"(permit manage_boss principal p: Person action manage resource q: Person when q.boss == p or (p.account == q.account and admin in p.roles);)",
     R"(permit manage_boss principal p: Person action manage resource q: Person when p.boss == q or (p.account == q.account and admin in p.roles);)"},
    {R"(permit manage_place principal p: Person action manage resource q: Person when same_place(p, q);)",
     R"(permit manage_place principal p: Person action manage resource q: Person when same_place(q, p);)"},
    {R"(permit edit_bossless principal p: Person action edit resource d: Doc when p.boss == d.owner and kind != sign;)",
     R"(permit edit_bossless principal p: Person action edit resource d: Doc when p.boss == d.owner and kind == sign;)"},
    {R"(permit ping_any principal p: Person action ping resource x when p.account.parent == none;)",
     R"(permit ping_any principal p: Person action ping resource x when p.account.parent != none;)"},
    {R"(permit ping_docs principal p: Person action ping resource d: Doc when d.account == p.account;)",
     R"(permit ping_docs principal p: Person action ping resource d: Doc when d.account.parent == p.account;)"},
    {R"(permit owner_peers principal p: Person action edit resource d: Doc when d.owner.account == p.boss.account;)",
     R"(permit owner_peers principal p: Person action edit resource d: Doc when d.owner.account == p.account;)"},
    {R"(forbid signed principal p: Person action edit resource d: Doc when exists g: Grant where g.person == p and g.doc == d and g.kind == sign;)",
     R"(forbid signed principal p: Person action edit resource d: Doc when exists g: Grant where g.person == p and g.doc == d and g.kind == read;)"},
    {R"(forbid need_grant principal p: Person action manage resource q: Person unless admin in p.roles or exists g: Grant where g.person == p;)",
     R"(forbid need_grant principal p: Person action manage resource q: Person unless admin in p.roles or exists g: Grant where g.person == q;)"},
};
constexpr int kRuleCount = sizeof(kRules) / sizeof(kRules[0]);

struct World {
  int accounts = 1, persons = 0, docs = 0, grants = 0;
  std::vector<int> parent, p_account, p_roles, p_boss, d_account, d_owner, d_readers, g_person, g_doc, g_kind;
};

nlohmann::json facts(const World& w) {
  nlohmann::json ents = nlohmann::json::array();
  const char* roles[] = {"admin", "analyst", "viewer"};
  const char* kinds[] = {"read", "write", "sign"};
  auto roleset = [&](int mask) {
    nlohmann::json s = nlohmann::json::array();
    for (int i = 0; i < 3; ++i)
      if (mask & (1 << i)) s.push_back(roles[i]);
    return s;
  };
  auto ref = [](const char* prefix, int i) { return i < 0 ? nlohmann::json(nullptr) : nlohmann::json(prefix + std::to_string(i)); };
  for (int i = 0; i < w.accounts; ++i)
    ents.push_back({{"type", "Account"}, {"id", "a" + std::to_string(i)}, {"attrs", {{"parent", ref("a", w.parent[i])}}}});
  for (int i = 0; i < w.persons; ++i)
    ents.push_back({{"type", "Person"},
                    {"id", "p" + std::to_string(i)},
                    {"attrs", {{"account", ref("a", w.p_account[i])}, {"roles", roleset(w.p_roles[i])}, {"boss", ref("p", w.p_boss[i])}}}});
  for (int i = 0; i < w.docs; ++i) {
    nlohmann::json readers = nlohmann::json::array();
    for (int k = 0; k < w.persons && k < 8; ++k)
      if (w.d_readers[i] & (1 << k)) readers.push_back("p" + std::to_string(k));
    ents.push_back({{"type", "Doc"},
                    {"id", "d" + std::to_string(i)},
                    {"attrs", {{"account", ref("a", w.d_account[i])}, {"owner", ref("p", w.d_owner[i])}, {"readers", readers}}}});
  }
  for (int i = 0; i < w.grants; ++i)
    ents.push_back({{"type", "Grant"},
                    {"id", "g" + std::to_string(i)},
                    {"attrs", {{"person", ref("p", w.g_person[i])}, {"doc", ref("d", w.g_doc[i])}, {"kind", kinds[w.g_kind[i]]}}}});
  return {{"entities", ents}};
}

rc::Gen<World> gen_world() {
  return rc::gen::exec([] {
    World w;
    w.accounts = *rc::gen::inRange(1, 5);
    w.persons = *rc::gen::inRange(1, 9);
    w.docs = *rc::gen::inRange(1, 6);
    w.grants = *rc::gen::inRange(0, 7);
    auto pick = [](int n, bool optional) { return *rc::gen::inRange(optional ? -1 : 0, n); };
    for (int i = 0; i < w.accounts; ++i) w.parent.push_back(*rc::gen::inRange(-1, i));  // acyclic
    for (int i = 0; i < w.persons; ++i) {
      w.p_account.push_back(pick(w.accounts, false));
      w.p_roles.push_back(*rc::gen::inRange(0, 8));
      w.p_boss.push_back(pick(w.persons, true));
    }
    for (int i = 0; i < w.docs; ++i) {
      w.d_account.push_back(pick(w.accounts, false));
      w.d_owner.push_back(pick(w.persons, true));
      w.d_readers.push_back(*rc::gen::inRange(0, 256));
    }
    for (int i = 0; i < w.grants; ++i) {
      w.g_person.push_back(pick(w.persons, false));
      w.g_doc.push_back(pick(w.docs, false));
      w.g_kind.push_back(*rc::gen::inRange(0, 3));
    }
    return w;
  });
}

/// `w` with one random change to its facts: an attribute of some entity, a new person, a new or
/// a removed grant.
World mutate(World w) {
  switch (*rc::gen::inRange(0, 9)) {
    case 0: {
      const int i = *rc::gen::inRange(0, w.persons);
      w.p_roles[static_cast<std::size_t>(i)] = *rc::gen::inRange(0, 8);
      break;
    }
    case 1: {
      const int i = *rc::gen::inRange(0, w.persons);
      w.p_account[static_cast<std::size_t>(i)] = *rc::gen::inRange(0, w.accounts);
      break;
    }
    case 2: {
      const int i = *rc::gen::inRange(0, w.persons);
      w.p_boss[static_cast<std::size_t>(i)] = *rc::gen::inRange(-1, w.persons);
      break;
    }
    case 3: {
      const int i = *rc::gen::inRange(0, w.docs);
      w.d_owner[static_cast<std::size_t>(i)] = *rc::gen::inRange(-1, w.persons);
      w.d_readers[static_cast<std::size_t>(i)] = *rc::gen::inRange(0, 256);
      break;
    }
    case 4: {
      const int i = *rc::gen::inRange(0, w.accounts);
      w.parent[static_cast<std::size_t>(i)] = *rc::gen::inRange(-1, i);
      break;
    }
    case 5:
      if (w.grants > 0) {
        const int i = *rc::gen::inRange(0, w.grants);
        w.g_kind[static_cast<std::size_t>(i)] = *rc::gen::inRange(0, 3);
        w.g_person[static_cast<std::size_t>(i)] = *rc::gen::inRange(0, w.persons);
      }
      break;
    case 6:
      if (w.grants > 0) {
        --w.grants;
        w.g_person.pop_back();
        w.g_doc.pop_back();
        w.g_kind.pop_back();
      }
      break;
    case 7:
      ++w.grants;
      w.g_person.push_back(*rc::gen::inRange(0, w.persons));
      w.g_doc.push_back(*rc::gen::inRange(0, w.docs));
      w.g_kind.push_back(*rc::gen::inRange(0, 3));
      break;
    default:
      ++w.persons;
      w.p_account.push_back(*rc::gen::inRange(0, w.accounts));
      w.p_roles.push_back(*rc::gen::inRange(0, 8));
      w.p_boss.push_back(*rc::gen::inRange(-1, w.persons));
      break;
  }
  return w;
}

std::unique_ptr<LoadedEngine> load(const std::vector<std::pair<std::string, std::string>>& files, const std::string& data,
                                   const std::vector<std::string>& data_files = {}) {
  auto l = std::make_unique<LoadedEngine>();
  CompileOptions opts;
  if (!data.empty()) opts.check.data_texts = {{"data.json", data}};
  opts.check.data_files = data_files;
  opts.last = Step::load;
  l->engine = compile(l->sm, Sources::from_texts(files), l->diags, opts).engine;
  return l;
}

/// The groups of a report as comparable text: action, value, both outcomes, count and digest.
std::vector<std::string> groups(const DiffReport& r) {
  std::vector<std::string> out;
  for (const auto& g : r.groups) {
    std::string s = g.action + "(" + g.param + ":" + g.value + ") ";
    for (const auto* o : {&g.before, &g.after}) {
      s += o->allow ? "allow[" : "deny[";
      for (const auto& n : o->rules) s += n + ",";
      s += std::string(o->missing ? "missing" : "") + (o->error ? "error" : "") + "] ";
    }
    s += std::to_string(g.count) + " " + g.digest;
    out.push_back(s);
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The fast diff equals brute force: the same counts and the same groups (whose digests cover
/// the exact requests).
void expect_exact(const Engine& a, const Engine& b, const char* what) {
  const DiffReport fast = diff(a, b);
  DiffOptions brute_opts;
  brute_opts.brute_force = true;
  const DiffReport brute = diff(a, b, brute_opts);
  EXPECT_EQ(fast.changed, brute.changed) << what;
  EXPECT_EQ(fast.gained, brute.gained) << what;
  EXPECT_EQ(fast.lost, brute.lost) << what;
  EXPECT_EQ(groups(fast), groups(brute)) << what;
}

/// Every decision of `e` by name, computed here, apart from diff(): for every action (with no
/// arguments, or once per value of a single enum parameter), every pair of entities of the
/// types it accepts. The key is "action(value) Type::id Type::id".
std::map<std::string, bool> every_decision(const Engine& e) {
  std::map<std::string, bool> out;
  const Program& p = e.program();
  const auto& w = p.world();
  for (std::uint32_t a = 0; a < p.schema.actions.size(); ++a) {
    const auto& act = p.schema.actions[a];
    std::vector<std::pair<std::string, std::vector<Value>>> modes;
    if (act.params.empty()) modes.push_back({"", {}});
    else if (act.params.size() == 1 && act.params[0].type.base == Base::enum_ && !act.params[0].type.set)
      for (std::uint32_t v = 0; v < p.schema.enums[act.params[0].type.enum_id].values.size(); ++v)
        modes.push_back({p.schema.enums[act.params[0].type.enum_id].values[v], {Value::enumv(act.params[0].type.enum_id, v)}});
    auto types = [&](const std::vector<TypeId>& ts) {
      std::vector<TypeId> all;
      for (TypeId t = 0; t < p.schema.entities.size(); ++t)
        if (ts.empty() || std::find(ts.begin(), ts.end(), t) != ts.end()) all.push_back(t);
      return all;
    };
    for (const auto& [value, args] : modes)
      for (TypeId pt : types(act.principals))
        for (TypeId rt : types(act.resources))
          for (EntityId pe : w.of_type(pt))
            for (EntityId re : w.of_type(rt)) {
              const std::string key = act.name + "(" + value + ") " + p.schema.entities[pt].name + "::" +
                                      std::string(w.id(pe)) + " " + p.schema.entities[rt].name + "::" + std::string(w.id(re));
              out[key] = e.decide(Request{pe, a, args, re, nullptr}, false).allow;
            }
  }
  return out;
}

/// The decisions that differ between two engines, by every_decision() (missing = deny):
/// (gained, lost).
std::pair<std::size_t, std::size_t> oracle_counts(const Engine& a, const Engine& b) {
  const auto x = every_decision(a), y = every_decision(b);
  std::size_t gained = 0, lost = 0;
  for (const auto& [k, allow] : x) {
    auto it = y.find(k);
    const bool after = it != y.end() && it->second;
    if (allow && !after) ++lost;
  }
  for (const auto& [k, allow] : y) {
    auto it = x.find(k);
    const bool before = it != x.end() && it->second;
    if (allow && !before) ++gained;
  }
  return {gained, lost};
}

/// `rule` with its kind flipped: a permit becomes a forbid and a forbid a permit.
std::string flipped(const std::string& rule) {
  if (rule.rfind("permit ", 0) == 0) return "forbid " + rule.substr(7);
  return "permit " + rule.substr(7);
}

RC_GTEST_PROP(DiffProperty, EqualsDecidingEveryRequestOnMutatedProgramsAndWorlds, ()) {
  const World w = *gen_world();
  const World w2 = *rc::gen::arbitrary<bool>() ? mutate(w) : w;
  std::string before = kSchema, after = kSchema;
  for (int i = 0; i < kRuleCount; ++i) {
    // 0 absent, 1 the rule, 2 its mutant, 3 the rule as the other kind (permit / forbid)
    const int a = *rc::gen::inRange(0, 3);
    const int b = *rc::gen::inRange(0, 4) == 0 ? *rc::gen::inRange(0, 4) : a;
    auto text = [&](int which) {
      return which == 1 ? std::string(kRules[i].rule) : which == 2 ? std::string(kRules[i].mutant) : flipped(kRules[i].rule);
    };
    if (a) before += text(a) + "\n";
    if (b) after += text(b) + "\n";
  }
  auto la = load({{"p.treaty", before}}, facts(w).dump());
  auto lb = load({{"p.treaty", after}}, facts(w2).dump());
  RC_ASSERT(la->engine != nullptr);
  RC_ASSERT(lb->engine != nullptr);
  const DiffReport fast = diff(*la->engine, *lb->engine);
  DiffOptions brute_opts;
  brute_opts.brute_force = true;
  const DiffReport brute = diff(*la->engine, *lb->engine, brute_opts);
  RC_ASSERT(fast.changed == brute.changed);
  RC_ASSERT(fast.gained == brute.gained);
  RC_ASSERT(groups(fast) == groups(brute));
  // And both equal deciding every request of each version here, by name.
  const auto [gained, lost] = oracle_counts(*la->engine, *lb->engine);
  RC_ASSERT(fast.gained == gained);
  RC_ASSERT(fast.lost == lost);
  RC_ASSERT(fast.changed == gained + lost);
  // Same rules and facts: nothing differs, and nothing is looked at.
  if (before == after && w2.persons == w.persons) {
    const DiffReport same = diff(*la->engine, *load({{"p.treaty", before}}, facts(w).dump())->engine);
    RC_ASSERT(same.changed == 0u);
    RC_ASSERT(same.actions.empty());
  }
}

TEST(Diff, RulesAreComparedByStructureNotText) {
  // The same rules reordered, reformatted and commented: no rule differs, nothing is decided.
  const std::string a = std::string(kSchema) + kRules[0].rule + "\n" + kRules[3].rule + "\n";
  const std::string b = std::string(kSchema) + "// reordered\n" + kRules[3].rule + "\n\n" +
                        "permit same_account\n  principal p: Person\n  action view\n  resource d: Doc\n"
                        "  when p.account == d.account\n    and analyst in p.roles;\n";
  World w;
  w.accounts = 1;
  w.parent = {-1};
  w.persons = 2;
  w.p_account = {0, 0};
  w.p_roles = {2, 1};
  w.p_boss = {-1, 0};
  w.docs = 1;
  w.d_account = {0};
  w.d_owner = {0};
  w.d_readers = {1};
  auto la = load({{"a.treaty", a}}, facts(w).dump());
  auto lb = load({{"b.treaty", b}}, facts(w).dump());
  ASSERT_TRUE(la->engine && lb->engine);
  const DiffReport r = diff(*la->engine, *lb->engine);
  EXPECT_TRUE(r.rules.empty());
  EXPECT_EQ(r.changed, 0u);
  EXPECT_TRUE(r.actions.empty()) << "no action was looked at";
  // The mutant of one rule: that rule, and only its action, is looked at.
  const std::string c = std::string(kSchema) + kRules[0].mutant + "\n" + kRules[3].rule + "\n";
  auto lc = load({{"c.treaty", c}}, facts(w).dump());
  ASSERT_TRUE(lc->engine);
  const DiffReport m = diff(*la->engine, *lc->engine);
  ASSERT_EQ(m.rules.size(), 1u);
  EXPECT_EQ(m.rules[0].rule, "same_account");
  EXPECT_EQ(m.rules[0].change, "modified");
  // p1 (analyst) loses view on d0, p0 (admin) gains it.
  EXPECT_EQ(m.changed, 2u);
  EXPECT_EQ(m.gained, 1u);
  EXPECT_EQ(m.lost, 1u);
  for (const auto& st : m.actions) EXPECT_EQ(st.action, "view");
  expect_exact(*la->engine, *lc->engine, "same_account mutant");
}

// --- the 4me library over generated worlds -------------------------------------------------------

std::vector<std::pair<std::string, std::string>> library(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& f : std::filesystem::directory_iterator(source_dir() + "/" + dir)) {
    if (f.path().extension() != ".treaty") continue;
    std::ifstream in(f.path());
    std::stringstream ss;
    ss << in.rdbuf();
    files.emplace_back(f.path().filename().string(), ss.str());
  }
  std::sort(files.begin(), files.end());
  return files;
}

/// `files` with `from` replaced by `to` in the file named `file` (which must hold it).
std::vector<std::pair<std::string, std::string>> mutated(std::vector<std::pair<std::string, std::string>> files,
                                                         const std::string& file, const std::string& from,
                                                         const std::string& to) {
  bool done = false;
  for (auto& [name, text] : files)
    if (name == file) {
      const auto at = text.find(from);
      EXPECT_NE(at, std::string::npos) << file << " has no `" << from << "`";
      if (at != std::string::npos) text.replace(at, from.size(), to), done = true;
    }
  EXPECT_TRUE(done) << file;
  return files;
}

std::string gen_world_file(int accounts) {
  // One file per test: ctest runs the tests of this file side by side.
  const std::string path = ::testing::TempDir() + "diff_4me_" + std::to_string(accounts) + "_" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".json";
  const std::string cmd = std::string(TREATY_GEN_WORLD) + " --accounts " + std::to_string(accounts) +
                          " --seed 7 --facts " + path + " > /dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return path;
}

struct Mutation {
  const char* file;
  const char* from;
  const char* to;
};

TEST(Diff4me, MutatedRulesShowUpExactly) {
  const std::string world = gen_world_file(5);
  // The library with the facts of its tests (directories, single-module accounts) as well as a
  // generated world: every mutation below changes some decision over them.
  auto lib = library("policies/4me/lib");
  for (auto& f : library("policies/4me/tests")) lib.push_back(f);
  auto base = load(lib, "", {world});
  ASSERT_TRUE(base->engine) << render_human(base->sm, base->diags.all());
  const Mutation mutations[] = {
      // A permit's role (T7), a permit's module (T3), a forbid's condition (T6), a predicate
      // every rule asks (T1), a condition dropped (T11), a permit's side (T12), a forbid's
      // exception narrowed (T15).
      {"requests.treaty", "and has_role(analyst, service_desk_analyst, t.grantee);\n\n/// T7: \"checking",
       "and has_role(analyst, specialist, t.grantee);\n\n/// T7: \"checking"},
      {"tasks.treaty", "    and trust_option(t.grantor, t.grantee, approval_tasks_to_anyone)\n    and change_management",
       "    and trust_option(t.grantor, t.grantee, approval_tasks_to_anyone)\n    and project_management"},
      {"tasks.treaty",
       "  unless acts_in_an_account_with(manager, change_management)\n    or acts_in_an_account_with(manager, project_management);",
       "  unless acts_in_an_account_with(manager, change_management)\n    and acts_in_an_account_with(manager, project_management);"},
      {"predicates.treaty", "t.grantor == c and t.grantee == p and t.accepted and o in t.options",
       "t.grantor == c and t.grantee == p and o in t.options"},
      {"roles.treaty", "when p.account.directory == a and has_any_role(p, a);", "when p.account.directory == a;"},
      {"requests.treaty", "  when s.customer == p.account;", "  when s.provider == p.account;"},
      {"cis.treaty", "  unless has_any_role(p, c.owner)\n  when p.account != c.owner;",
       "  unless p.account == c.owner\n  when p.account != c.owner;"},
  };
  for (const auto& m : mutations) {
    auto mut = load(mutated(lib, m.file, m.from, m.to), "", {world});
    ASSERT_TRUE(mut->engine) << m.to << ": " << render_human(mut->sm, mut->diags.all());
    const DiffReport r = diff(*base->engine, *mut->engine);
    EXPECT_FALSE(r.rules.empty()) << m.to;
    EXPECT_GT(r.changed, 0u) << "the mutation `" << m.to << "` shows up";
    expect_exact(*base->engine, *mut->engine, m.to);
  }
  std::remove(world.c_str());
}

/// The world's JSON with `edit` applied to the first entity of `type` that `pick` accepts.
std::string edited(const std::string& path, const std::string& type, const std::function<bool(nlohmann::json&)>& edit) {
  std::ifstream in(path);
  nlohmann::json j = nlohmann::json::parse(in);
  for (auto& e : j["entities"])
    if (e["type"] == type && edit(e)) break;
  const std::string out = path + "." + type + ".json";
  std::ofstream(out) << j.dump();
  return out;
}

TEST(Diff4me, ChangedFactsShowUpExactlyAndAreSeeded) {
  const std::string world = gen_world_file(5);
  const auto lib = library("policies/4me/lib");
  auto base = load(lib, "", {world});
  ASSERT_TRUE(base->engine);
  struct Edit {
    const char* what;
    std::string type;
    std::function<bool(nlohmann::json&)> edit;
  };
  const Edit edits[] = {
      {"a trust option ticked", "Trust",
       [](nlohmann::json& e) {
         auto& o = e["attrs"]["options"];
         for (const auto& x : o)
           if (x == "register_requests_for_specialists") return false;
         if (e["attrs"]["accepted"] != true) return false;
         o.push_back("register_requests_for_specialists");
         return true;
       }},
      {"a trust unaccepted", "Trust",
       [](nlohmann::json& e) {
         if (e["attrs"]["accepted"] != true || e["attrs"]["shared_roles"].empty()) return false;
         e["attrs"]["accepted"] = false;
         return true;
       }},
      {"a person's roles", "Person",
       [](nlohmann::json& e) {
         e["attrs"]["roles"] = nlohmann::json::array({"change_manager", "specialist"});
         return true;
       }},
      {"an account's modules", "Account",
       [](nlohmann::json& e) {
         e["attrs"]["modules"] = nlohmann::json::array({"project_management"});
         return true;
       }},
      {"an SLA deactivated", "Sla",
       [](nlohmann::json& e) {
         if (e["attrs"]["active"] != true) return false;
         e["attrs"]["active"] = false;
         return true;
       }},
  };
  for (const auto& ed : edits) {
    const std::string path = edited(world, ed.type, ed.edit);
    auto changed = load(lib, "", {path});
    ASSERT_TRUE(changed->engine) << ed.what << ": " << render_human(changed->sm, changed->diags.all());
    const DiffReport r = diff(*base->engine, *changed->engine);
    EXPECT_TRUE(r.rules.empty()) << ed.what;
    EXPECT_EQ(r.facts_modified, 1u) << ed.what;
    EXPECT_GT(r.changed, 0u) << ed.what << " changes some decision";
    expect_exact(*base->engine, *changed->engine, ed.what);
    std::remove(path.c_str());
  }
  // A changed trust option is driven from the trust, not by scanning every person.
  {
    const std::string path = edited(world, "Trust", edits[0].edit);
    auto changed = load(lib, "", {path});
    ASSERT_TRUE(changed->engine);
    const DiffReport r = diff(*base->engine, *changed->engine);
    std::size_t persons = base->engine->program().world().of_type(*base->engine->program().schema.find_entity("Person")).size();
    for (const auto& st : r.actions) {
      if (st.action != "register_request") continue;
      EXPECT_FALSE(st.scan);
      // Seeded from the trust, not every pair enumerated (not far fewer: in the 5-account world
      // each account trusts most others; the test below takes a sparser one).
      EXPECT_LT(st.candidates, persons * persons * 3 / 4) << "fewer candidates than every pair";
    }
    std::remove(path.c_str());
  }
  std::remove(world.c_str());
}

// Every `exists` over trusts that a changed trust reaches is planned from the trust itself, those
// inside predicates called with other arguments too: `role_shared(a, p.account, r)` inside
// has_role's `exists g: RoleAssignment` takes `a` and `p.account` from the trust's grantor and
// grantee, where a plan of the conditions holding would take every assignment of the role. On a
// world of 60 accounts (2,400 persons, 5.8 M pairs an action) each action's candidates stay
// within a few per person.
TEST(Diff4me, AChangedTrustIsSeededThroughThePredicatesThatReadIt) {
  const std::string world = gen_world_file(60);
  const auto lib = library("policies/4me/lib");
  auto base = load(lib, "", {world});
  ASSERT_TRUE(base->engine);
  const std::string path = edited(world, "Trust", [](nlohmann::json& e) {
    auto& o = e["attrs"]["options"];
    for (const auto& x : o)
      if (x == "register_requests_for_specialists") return false;
    if (e["attrs"]["accepted"] != true || e["attrs"]["shared_roles"].empty()) return false;
    o.push_back("register_requests_for_specialists");
    e["attrs"]["shared_roles"] = nlohmann::json::array();  // and every role unshared
    return true;
  });
  auto changed = load(lib, "", {path});
  ASSERT_TRUE(changed->engine);
  const DiffReport r = diff(*base->engine, *changed->engine);
  EXPECT_EQ(r.facts_modified, 1u);
  EXPECT_GT(r.changed, 0u);
  const auto& p = base->engine->program();
  const std::size_t persons = p.world().of_type(*p.schema.find_entity("Person")).size();
  ASSERT_GT(persons, 2000u);
  for (const auto& st : r.actions) {
    EXPECT_FALSE(st.scan) << st.action;
    EXPECT_LT(st.candidates, persons * 10) << st.action << " " << st.value;
    for (const auto& h : st.how) EXPECT_EQ(h.find("no seeded plan"), std::string::npos) << st.action << ": " << h;
  }
  std::remove(path.c_str());
  std::remove(world.c_str());
}

TEST(Diff4me, AChangedRuleIsDrivenByItsPlanNotEveryPair) {
  const std::string world = gen_world_file(5);
  const auto lib = library("policies/4me/lib");
  auto base = load(lib, "", {world});
  auto mut = load(mutated(lib, "requests.treaty", "and has_role(analyst, service_desk_analyst, t.grantee);\n\n/// T7: \"checking",
                          "and has_role(analyst, specialist, t.grantee);\n\n/// T7: \"checking"),
                  "", {world});
  ASSERT_TRUE(base->engine && mut->engine);
  const DiffReport r = diff(*base->engine, *mut->engine);
  const auto& p = base->engine->program();
  const std::size_t persons = p.world().of_type(*p.schema.find_entity("Person")).size();
  bool seen = false;
  for (const auto& st : r.actions) {
    EXPECT_EQ(st.action, "register_request") << "only the changed rule's action is looked at";
    seen = true;
    EXPECT_FALSE(st.scan);
    // The plan takes each analyst to the persons of the accounts trusting theirs: in the dense
    // 5-account world (each account trusts most others) that is still most pairs, but not all.
    EXPECT_LT(st.candidates, persons * persons * 3 / 4) << "candidates come from the plan";
    EXPECT_LE(st.decisions, 2 * st.candidates);
  }
  EXPECT_TRUE(seen);
  std::remove(world.c_str());
}

// --- bm365 -----------------------------------------------------------------------------------------

TEST(DiffBm365, MutatedRulesShowUpExactly) {
  auto files = library("policies/bm365/lib");
  for (auto& f : library("policies/bm365/tests")) files.push_back(f);
  auto base = load(files, "");
  ASSERT_TRUE(base->engine) << render_human(base->sm, base->diags.all());
  // Drop a whole rule file's first permit by renaming it into a forbid: every request it allowed
  // is denied now, or allowed by another permit.
  const auto& p = base->engine->program();
  std::string first_permit;
  for (const auto& r : p.rules)
    if (!r.forbid) {
      first_permit = r.name;
      break;
    }
  ASSERT_FALSE(first_permit.empty());
  auto mut = load(mutated(files, "rules.treaty", "permit " + first_permit, "forbid " + first_permit), "");
  ASSERT_TRUE(mut->engine) << render_human(mut->sm, mut->diags.all());
  const DiffReport r = diff(*base->engine, *mut->engine);
  EXPECT_GT(r.changed, 0u);
  expect_exact(*base->engine, *mut->engine, "bm365 permit turned forbid");
}

// --- coverage of a mutation ------------------------------------------------------------------------

TEST(DiffCoverage, AMutationTheTestsMissShowsUpInCoverageAndInTheDiff) {
  const std::string base = R"(
entity Account { name: String }
entity Person { account: Account }
entity Doc { owner: Account }
action view principal Person resource Doc;
permit own principal p: Person action view resource d: Doc when p.account == d.owner;
Account::"a" { name: "A" }
Account::"z" { name: "Z" }
Person::"pa" { account: "a" }
Person::"pz" { account: "z" }
Doc::"d" { owner: "a" }
Doc::"dz" { owner: "z" }
test "views" {
  expect allow principal Person::"pa" action view resource Doc::"d";
  expect deny principal Person::"pa" action view resource Doc::"dz";
}
)";
  std::string mutant = base;
  const std::string from = "when p.account == d.owner;";
  mutant.replace(mutant.find(from), from.size(), "when p.account == d.owner\n  when p.account.name != \"Z\";");
  auto a = engine_from_texts({base});
  auto b = engine_from_texts({mutant});
  ASSERT_TRUE(a->engine && b->engine);
  // The tests still pass: only coverage says that the new condition never decided...
  RunTestsOptions o;
  o.coverage = true;
  const TestReport tr = run_tests(*b->engine, b->sm, o);
  EXPECT_EQ(tr.failed, 0u);
  const CoverageReport c = coverage_of(b->engine->program(), tr);
  bool uncovered = false;
  for (const auto& i : c.items)
    if (i.kind == CoverageItem::Kind::condition_fails && i.owner == "own" && i.hits == 0 &&
        b->sm.text(i.span).find("\"Z\"") != std::string::npos)
      uncovered = true;
  EXPECT_TRUE(uncovered) << "the mutated condition is listed as never the first to fail";
  EXPECT_LT(c.percent(), 100.0);
  // ... and the diff, over the facts, that pz lost access to dz.
  const DiffReport r = diff(*a->engine, *b->engine);
  ASSERT_EQ(r.changed, 1u);
  ASSERT_EQ(r.groups.size(), 1u);
  EXPECT_EQ(r.groups[0].examples[0].first.id, "pz");
  EXPECT_EQ(r.groups[0].examples[0].second.id, "dz");
  EXPECT_EQ(r.groups[0].before.rules, std::vector<std::string>{"own"});
  EXPECT_TRUE(r.groups[0].after.rules.empty());
  EXPECT_TRUE(r.groups[0].before.allow);
  EXPECT_FALSE(r.groups[0].after.allow);
}

}  // namespace
}  // namespace treaty::testing
