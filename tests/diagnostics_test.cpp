#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "support/test_util.hpp"
#include "treaty/compile.hpp"
#include "treaty/package.hpp"

using namespace treaty;
using treaty::testing::parse_text;

namespace {

TEST(Registry, CodesAreUniqueAndMessagesFollowTheStyle) {
  std::set<std::string_view> codes, names;
  for (const auto& d : all_diagnostics()) {
    EXPECT_TRUE(codes.insert(d.code).second) << d.code;
    EXPECT_TRUE(names.insert(d.name).second) << d.name;
    ASSERT_FALSE(d.message.empty()) << d.code;
    EXPECT_FALSE(d.message.back() == '.') << d.code << ": no final period";
    EXPECT_TRUE(std::islower(static_cast<unsigned char>(d.message.front())) || d.message.front() == '`') << d.code;
    EXPECT_EQ(d.message.find('\n'), std::string_view::npos) << d.code;
    EXPECT_EQ(find_diagnostic(d.code), &d);
  }
}

// Every registered code is pinned by a golden or end-to-end expectation, so no message drifts
// unseen (Carbon's coverage test).
TEST(Registry, EveryCodeHasAGoldenTest) {
  std::string corpus;
  for (const auto* dir : {"/tests/golden", "/tests/cli"})
    for (const auto& e : std::filesystem::recursive_directory_iterator(treaty::testing::source_dir() + dir))
      if (e.is_regular_file()) corpus += treaty::testing::slurp(e.path());
  // Codes that cannot be written as a source file, each covered by a named unit test instead.
  const std::set<std::string_view> unit_tested = {
      "E0002",  // ParserLimits.FileSizeLimit
      "E0004",  // ParserBytes.InvalidUtf8AndNulAreLocated
      "E0199",  // the converter's guard against a grammar/converter mismatch; unreachable by design
      "E0800",  // Limits.TooManyFactsIsAnError (a golden would need the limit's worth of facts)
      "E0801",  // Limits.SetLargerThanTheLimitIsAnError (likewise)
  };
  for (const auto& d : all_diagnostics()) {
    if (unit_tested.count(d.code)) continue;
    EXPECT_NE(corpus.find("[" + std::string(d.code) + "]"), std::string::npos)
        << d.code << " (" << d.name << ") has no golden test";
  }
}

TEST(Render, HumanFormatHasLocationSourceLineAndCaret) {
  auto p = parse_text("enum Role { a, b }\npermit r when x\n", "pol.treaty");
  ASSERT_EQ(p.diags.all().size(), 1u);
  EXPECT_EQ(treaty::testing::render(p),
            "pol.treaty:3:1: error[E0136]: expected `;` after the rule, found end of file\n"
            " 3 | \n"
            "   | ^\n");
}

TEST(Render, CaretCoversTheWholeToken) {
  auto p = parse_text("enum Role { a b }", "pol.treaty");
  EXPECT_EQ(treaty::testing::render(p),
            "pol.treaty:1:15: error[E0112]: expected an enum value name or `}`, found `b`\n"
            " 1 | enum Role { a b }\n"
            "   |               ^\n");
}

TEST(Render, JsonCarriesCodeSpanAndMessage) {
  auto p = parse_text("permit r when ;", "pol.treaty");
  const auto j = render_json(p.sm, p.diags.all());
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["code"], "E0139");
  EXPECT_EQ(j[0]["severity"], "error");
  EXPECT_EQ(j[0]["file"], "pol.treaty");
  EXPECT_EQ(j[0]["line"], 1);
  EXPECT_EQ(j[0]["column"], 15);
  EXPECT_EQ(j[0]["end_column"], 16);
}

TEST(Render, SarifIsAValidLogShape) {
  auto p = parse_text("permit r when ;", "pol.treaty");
  const auto s = render_sarif(p.sm, p.diags.all(), "1.2.3");
  EXPECT_EQ(s["version"], "2.1.0");
  const auto& run = s["runs"][0];
  EXPECT_EQ(run["tool"]["driver"]["name"], "treaty");
  EXPECT_EQ(run["tool"]["driver"]["rules"][0]["id"], "E0139");
  const auto& r = run["results"][0];
  EXPECT_EQ(r["ruleId"], "E0139");
  EXPECT_EQ(r["level"], "error");
  EXPECT_EQ(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "pol.treaty");
  EXPECT_EQ(r["locations"][0]["physicalLocation"]["region"]["startLine"], 1);
}

TEST(Diagnostics, SortIsDeterministicAndStrictPromotesWarnings) {
  Diagnostics d;
  d.add(DiagId::expected_rule_semicolon, Span{1, 5, 6});
  d.add(DiagId::expected_enum_name, Span{0, 9, 10});
  d.add(DiagId::expected_type, Span{0, 2, 3});
  d.sort();
  EXPECT_EQ(d.all()[0].code(), "E0117");
  EXPECT_EQ(d.all()[1].code(), "E0110");
  EXPECT_EQ(d.all()[2].code(), "E0136");
  Diagnostic w = make_diagnostic(DiagId::expected_type, Span{});
  w.severity = Severity::warning;
  d.add(w);
  EXPECT_EQ(d.count(Severity::warning), 1u);
  d.promote_warnings();
  EXPECT_EQ(d.count(Severity::warning), 0u);
  EXPECT_EQ(d.count(Severity::error), 4u);
}

TEST(Messages, TheArticleBeforeATypeNameFollowsItsFirstLetter) {
  EXPECT_EQ(indefinite_article("Account"), "an");
  EXPECT_EQ(indefinite_article("`Employee`"), "an");
  EXPECT_EQ(indefinite_article("item"), "an");
  EXPECT_EQ(indefinite_article("Person"), "a");
  EXPECT_EQ(indefinite_article(""), "a");
  auto p = parse_text(
      "entity Account {}\nentity Person {}\naction view principal Person resource Person;\n"
      "test \"t\" { given { Account::\"w\" {} Person::\"p\" {} }\n"
      "  expect deny principal Account::\"w\" action view resource Person::\"p\"; }\n");
  ASSERT_FALSE(p.diags.has_errors());
  Package pkg;
  pkg.files.push_back(std::move(p.file));
  CompileOptions opts;
  opts.last = Step::lints;
  (void)compile(p.sm, pkg, p.diags, opts);
  const std::string out = treaty::testing::render(p);
  EXPECT_NE(out.find("does not accept an `Account` as its principal"), std::string::npos) << out;
}

}  // namespace
