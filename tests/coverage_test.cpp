// Test coverage: what `treaty test --coverage` counts, checked on small packages whose answers
// are known, and on mutations that must show up.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "support/engine_util.hpp"
#include "treaty/coverage.hpp"
#include "treaty/test_runner.hpp"

namespace treaty::testing {
namespace {

const char* kBase = R"(
entity Account { name: String }
entity Trust { grantor: Account, grantee: Account, accepted: Bool }
entity Person { account: Account }
entity Doc { owner: Account, secret: Bool }
action view principal Person resource Doc;

predicate trusted(c: Account, p: Account) =
  exists t: Trust where t.grantor == c and t.grantee == p and t.accepted;

permit own principal p: Person action view resource d: Doc
  when p.account == d.owner;

permit provider principal p: Person action view resource d: Doc
  when trusted(d.owner, p.account);

forbid secrets principal p: Person action view resource d: Doc
  when d.secret
  unless p.account == d.owner;

Account::"a" { name: "A" }
Account::"b" { name: "B" }
Account::"c" { name: "C" }
Trust::"ab" { grantor: "a", grantee: "b", accepted: true }
Person::"pa" { account: "a" }
Person::"pb" { account: "b" }
Person::"pc" { account: "c" }
Doc::"d" { owner: "a", secret: false }
Doc::"s" { owner: "a", secret: true }
)";

const char* kTests = R"(
test "views" {
  expect allow principal Person::"pa" action view resource Doc::"d";
  expect allow principal Person::"pb" action view resource Doc::"d";
  expect deny principal Person::"pc" action view resource Doc::"d";
  expect deny principal Person::"pb" action view resource Doc::"s";
  expect allow principal Person::"pa" action view resource Doc::"s";
}
)";

struct Covered {
  std::unique_ptr<LoadedEngine> l;
  CoverageReport c;
};

Covered cover(const std::string& text) {
  Covered out;
  out.l = engine_from_texts({text});
  EXPECT_TRUE(out.l->engine) << render_human(out.l->sm, out.l->diags.all());
  if (!out.l->engine) return out;
  RunTestsOptions o;
  o.coverage = true;
  const TestReport r = run_tests(*out.l->engine, out.l->sm, o);
  EXPECT_EQ(r.failed, 0u);
  out.c = coverage_of(out.l->engine->program(), r);
  return out;
}

const CoverageItem* find(const Covered& cv, CoverageItem::Kind k, const std::string& owner, const std::string& text = {}) {
  for (const auto& i : cv.c.items)
    if (i.kind == k && i.owner == owner && (text.empty() || cv.l->sm.text(i.span) == text)) return &i;
  return nullptr;
}

TEST(Coverage, CountsWhatEachExpectationExercised) {
  const auto cv = cover(std::string(kBase) + kTests);
  using K = CoverageItem::Kind;
  // `own` decides for pa on d and on s; `provider` for pb on d.
  ASSERT_TRUE(find(cv, K::rule_decides, "own"));
  EXPECT_EQ(find(cv, K::rule_decides, "own")->hits, 2u);
  EXPECT_EQ(find(cv, K::rule_decides, "provider")->hits, 1u);
  // The forbid decides pb on s (allowed by `provider` otherwise), and fails when its `unless`
  // holds (pa on s) or when the document is not secret (the other three).
  EXPECT_EQ(find(cv, K::rule_decides, "secrets")->hits, 1u);
  EXPECT_EQ(find(cv, K::rule_fails, "secrets")->hits, 4u);
  EXPECT_EQ(find(cv, K::condition_fails, "secrets", "d.secret")->hits, 3u);
  EXPECT_EQ(find(cv, K::condition_fails, "secrets", "p.account == d.owner")->hits, 1u);
  // pc on d: no trust from a to c, so the predicate's `exists` is where `provider` failed.
  const auto* ex = find(cv, K::exists_fails, "trusted");
  ASSERT_TRUE(ex);
  EXPECT_EQ(cv.l->sm.text(ex->span), "exists t: Trust where t.grantor == c and t.grantee == p and t.accepted");
  EXPECT_GE(ex->hits, 1u);
  EXPECT_EQ(cv.c.covered(), cv.c.items.size());
  EXPECT_DOUBLE_EQ(cv.c.percent(), 100.0);
}

TEST(Coverage, AnUntestedRuleShowsUp) {
  // The mutation: a new permit whose condition never holds on the tests' requests.
  const std::string rule = R"(
permit named principal p: Person action view resource d: Doc
  when p.account.name == "nobody";
)";
  const auto cv = cover(std::string(kBase) + rule + kTests);
  using K = CoverageItem::Kind;
  ASSERT_TRUE(find(cv, K::rule_decides, "named"));
  EXPECT_EQ(find(cv, K::rule_decides, "named")->hits, 0u);
  // It is met (and fails) on every request it matches, so only its deciding is uncovered.
  EXPECT_GT(find(cv, K::rule_fails, "named")->hits, 0u);
  EXPECT_EQ(cv.c.items.size() - cv.c.covered(), 1u);
  EXPECT_LT(cv.c.percent(), 100.0);
}

TEST(Coverage, FewerExpectationsCoverLess) {
  // Only pb's requests: `provider` applies to both (a trusts b), so it never fails, nothing
  // narrows into `trusted`, and `own` never decides.
  const std::string tests = R"(
test "provider only" {
  expect allow principal Person::"pb" action view resource Doc::"d";
  expect deny principal Person::"pb" action view resource Doc::"s";
}
)";
  const auto cv = cover(std::string(kBase) + tests);
  using K = CoverageItem::Kind;
  EXPECT_EQ(find(cv, K::exists_fails, "trusted")->hits, 0u);
  EXPECT_EQ(find(cv, K::rule_fails, "provider")->hits, 0u);
  EXPECT_EQ(find(cv, K::condition_fails, "provider")->hits, 0u);
  EXPECT_EQ(find(cv, K::rule_decides, "own")->hits, 0u);
  EXPECT_EQ(find(cv, K::rule_fails, "own")->hits, 2u);
  EXPECT_LT(cv.c.percent(), 100.0);
}

TEST(Coverage, WithoutCoverageNoOutcomesAreRecorded) {
  auto l = engine_from_texts({std::string(kBase) + kTests});
  ASSERT_TRUE(l->engine);
  const TestReport r = run_tests(*l->engine, l->sm);
  for (const auto& e : r.results) EXPECT_TRUE(e.outcomes.empty());
}

}  // namespace
}  // namespace treaty::testing
