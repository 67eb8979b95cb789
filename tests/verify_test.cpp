// treaty verify finds planted bugs in the 4me and bm365 libraries, shrinks them, and stays quiet
// on the correct libraries.
#include <gtest/gtest.h>

#include "support/engine_util.hpp"
#include "treaty/verify.hpp"

#include <cstring>

using namespace treaty;
using namespace treaty::testing;

namespace {

struct Mutant {
  const char* name;
  const char* library;   ///< policies/<library>/lib
  const char* file;      ///< file of the library to change
  const char* from;      ///< text replaced (must occur)
  const char* to;
  const char* property;  ///< the property that must fail
  const char* from2 = nullptr;  ///< an optional second replacement in the same file
  const char* to2 = nullptr;
};

const Mutant kMutants[] = {
    {"option check ignores acceptance", "4me", "predicates.treaty",
     "t.grantee == p and t.accepted and o in t.options", "t.grantee == p and o in t.options",
     "no_task_without_an_option_or_an_sla"},
    {"has_role: and turned into or", "4me", "predicates.treaty", "(p.account == a and r in p.roles)",
     "(p.account == a or r in p.roles)", "outsiders_register_requests_only_through_a_trust"},
    {"CI financials: forbid removed and the general-fields permit opened to every field", "4me", "cis.treaty",
     "when p.account != c.owner;", "when false;", "providers_never_see_ci_financials",
     "action view_ci_field(field == general)", "action view_ci_field"},
    {"revocations ignored", "bm365", "permissions.treaty", "not (p in e.revokes) and ", "",
     "revocation_always_wins"},
    {"hidden client objects not forbidden", "bm365", "rules.treaty", "when r.client in e.hidden_clients;",
     "when false;", "hidden_client_tickets_are_never_allowed"},
};

std::unique_ptr<LoadedEngine> load_library(const std::string& library, const std::string& file = {},
                                           const std::string& from = {}, const std::string& to = {},
                                           const char* from2 = nullptr, const char* to2 = nullptr) {
  auto l = std::make_unique<LoadedEngine>();
  std::vector<std::pair<std::string, std::string>> texts;
  const std::string dir = source_dir() + "/policies/" + library + "/lib";
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::directory_iterator(dir)) paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  bool replaced = from.empty();
  for (const auto& path : paths) {
    std::string text = slurp(path);
    if (!file.empty() && std::filesystem::path(path).filename() == file) {
      const auto at = text.find(from);
      if (at != std::string::npos) {
        text.replace(at, from.size(), to);
        replaced = true;
      }
      if (from2) {
        const auto at2 = text.find(from2);
        EXPECT_NE(at2, std::string::npos) << from2;
        if (at2 != std::string::npos) text.replace(at2, std::strlen(from2), to2);
      }
    }
    texts.emplace_back(path, std::move(text));
  }
  EXPECT_TRUE(replaced) << "the mutant's text was not found in " << file;
  CompileOptions opts;  // as `treaty verify` checks: without facts (so without requirements) and lints
  opts.check.facts = false;
  opts.check.lints = false;
  l->engine = compile(l->sm, Sources::from_texts(std::move(texts)), l->diags, opts).engine;
  return l;
}

class PlantedBug : public ::testing::TestWithParam<Mutant> {};

TEST_P(PlantedBug, VerifyFindsAndShrinksACounterexample) {
  const Mutant& m = GetParam();
  auto l = load_library(m.library, m.file, m.from, m.to, m.from2, m.to2);
  ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
  // A fixed budget: verify must find each planted bug within it (it stops at the first).
  VerifyOptions o;
  o.runs = 1000;
  o.max_size = 20;
  o.seed = 20261123;
  o.filter = m.property;
  const auto report = verify(*l->engine, l->sm, o);
  ASSERT_EQ(report.properties.size(), 1u);
  const auto& r = report.properties[0];
  ASSERT_FALSE(r.passed) << m.name << ": no counterexample in " << r.worlds << " worlds";
  ASSERT_TRUE(r.counterexample);
  EXPECT_LE(r.counterexample->entities, 8u) << r.counterexample->test_block;
  EXPECT_NE(r.counterexample->test_block.find("test \"counterexample to " + std::string(m.property)), std::string::npos);
  // The printed test parses: it is ready to paste.
  auto parsed = parse_text(r.counterexample->test_block);
  EXPECT_TRUE(parsed.diags.empty()) << render(parsed) << r.counterexample->test_block;
}

std::string mutant_name(const ::testing::TestParamInfo<Mutant>& info) {
  std::string n = std::string(info.param.library) + "_" + info.param.property;
  for (auto& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n + "_" + std::to_string(info.index);
}

INSTANTIATE_TEST_SUITE_P(Mutants, PlantedBug, ::testing::ValuesIn(kMutants), mutant_name);

TEST(Verify, CorrectLibrariesHaveNoCounterexample) {
  for (const auto& [lib, properties] : {std::pair<const char*, std::size_t>{"4me", 10}, {"bm365", 5}}) {
    auto l = load_library(lib);
    ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
    for (std::uint64_t seed : {1u, 2u, 3u}) {
      VerifyOptions o;
      o.runs = 300;
      o.seed = seed;
      const auto report = verify(*l->engine, l->sm, o);
      EXPECT_EQ(report.properties.size(), properties) << lib;
      for (const auto& p : report.properties) {
        EXPECT_TRUE(p.passed) << lib << " " << p.name << " seed " << seed << "\n"
                              << (p.counterexample ? p.counterexample->test_block : "");
        EXPECT_GT(p.requests, 100u) << lib << " " << p.name << ": too few requests satisfied the where";
      }
    }
  }
}

TEST(Verify, SameSeedSameResult) {
  auto l = load_library("4me", "predicates.treaty", "t.grantee == p and t.accepted and o in t.options",
                        "t.grantee == p and o in t.options");
  ASSERT_TRUE(l->engine);
  VerifyOptions o;
  o.runs = 300;
  o.seed = 99;
  o.filter = "no_task";
  const auto a = verify(*l->engine, l->sm, o), b = verify(*l->engine, l->sm, o);
  ASSERT_TRUE(a.properties[0].counterexample && b.properties[0].counterexample);
  EXPECT_EQ(a.properties[0].counterexample->test_block, b.properties[0].counterexample->test_block);
}

// A requirement that no generated world can satisfy is reported, not silently passed.
TEST(Verify, HopelessRequirementIsReported) {
  auto l = engine_from_texts({R"(
entity P { n: Int }
action see principal P resource P;
permit r principal a: P action see resource b: P when a.n == b.n;
require impossible ensure exists x: P where x.n == 1000 message "never";
property p forall principal a: P, action see, resource b: P expect allow;
)"});
  // Checking with facts keeps the requirement failing: build the engine without the checker's
  // requirement pass (verify does not use package facts).
  ASSERT_TRUE(l->engine);
  VerifyOptions o;
  o.runs = 50;
  o.seed = 5;
  const auto report = verify(*l->engine, l->sm, o);
  ASSERT_EQ(report.properties.size(), 1u);
  EXPECT_NE(report.properties[0].warning.find("impossible"), std::string::npos) << report.properties[0].warning;
  EXPECT_EQ(report.properties[0].worlds, 0u);
}

}  // namespace

namespace {

// `verify --facts`: a property checked against the package's own world, on every request it
// ranges over. The rule below is wrong only on these facts (it trusts account "b" by name), so
// random worlds, whose ids are generated, would not meet it.
const char* kFactsPackage = R"(
entity Account { name: String }
entity Trust { grantor: Account, grantee: Account }
entity Person { account: Account }
entity Doc { owner: Account }
enum Level { low, high }
action view(level: Level) principal Person resource Doc;
action stamp(note: String) principal Person resource Doc;
permit own principal p: Person action view resource d: Doc when p.account == d.owner;
permit trusted principal p: Person action view resource d: Doc
  when exists t: Trust where t.grantor == d.owner and t.grantee == p.account;
permit favourite principal p: Person action view(level == low) resource d: Doc
  when p.account.name == "B";
permit stamp principal p: Person action stamp resource d: Doc when p.account == d.owner;
Account::"a" { name: "A" }
Account::"b" { name: "B" }
Account::"c" { name: "C" }
Trust::"ac" { grantor: "a", grantee: "c" }
Person::"pa" { account: "a" }
Person::"pb" { account: "b" }
Person::"pc" { account: "c" }
Doc::"d" { owner: "a" }
property no_view_without_trust
  forall principal p: Person, action view, resource d: Doc
  where p.account != d.owner and not exists t: Trust where t.grantor == d.owner and t.grantee == p.account
  expect deny;
property owners_view
  forall principal p: Person, action view, resource d: Doc where p.account == d.owner
  expect allow;
property owners_stamp
  forall principal p: Person, action stamp, resource d: Doc where p.account == d.owner
  expect allow;
)";

TEST(VerifyFacts, FindsTheCounterexampleInThePackagesOwnFacts) {
  auto l = engine_from_texts({kFactsPackage});
  ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
  VerifyOptions o;
  o.facts = true;
  const auto report = verify(*l->engine, l->sm, o);
  ASSERT_EQ(report.properties.size(), 3u);
  EXPECT_TRUE(report.facts);
  const auto& bad = report.properties[0];
  EXPECT_FALSE(bad.passed);
  ASSERT_TRUE(bad.counterexample);
  // pb on d, at level low: the only request of the property the `favourite` rule allows. Levels
  // are tried in order, so `low` comes first.
  EXPECT_EQ(bad.counterexample->test_block,
            "test \"counterexample to no_view_without_trust (over the package's facts)\" {\n"
            "  expect deny principal Person::\"pb\" action view(level: low) resource Doc::\"d\";\n}\n");
  EXPECT_NE(bad.counterexample->explanation.find("favourite"), std::string::npos) << bad.counterexample->explanation;
  // Owners: pa on d, both levels.
  EXPECT_TRUE(report.properties[1].passed);
  EXPECT_EQ(report.properties[1].requests, 2u);
  // A String parameter cannot be listed: the action is left unchecked, and said so.
  EXPECT_TRUE(report.properties[2].passed);
  EXPECT_EQ(report.properties[2].requests, 0u);
  EXPECT_NE(report.properties[2].warning.find("`stamp` (its parameter `note`"), std::string::npos)
      << report.properties[2].warning;
}

TEST(VerifyFacts, StopsAtTheRequestLimitAndSaysSo) {
  auto l = engine_from_texts({kFactsPackage});
  ASSERT_TRUE(l->engine);
  VerifyOptions o;
  o.facts = true;
  o.max_requests = 2;
  o.filter = "owners_view";
  const auto report = verify(*l->engine, l->sm, o);
  ASSERT_EQ(report.properties.size(), 1u);
  EXPECT_NE(report.properties[0].warning.find("not exhaustive"), std::string::npos) << report.properties[0].warning;
}

}  // namespace
