// Golden tests: tests/golden/<stage>/NAME.treaty with NAME.expected next to it.
//   parse/  the rendered diagnostics of parsing the file (empty for a clean file)
//   fmt/    the formatted file
//   check/  the rendered diagnostics of checking the file (names, types, facts, requirements, lints)
// Run with TREATY_UPDATE_GOLDENS=1 to rewrite the .expected files from the current output.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "support/test_util.hpp"
#include "treaty/check.hpp"
#include "treaty/format.hpp"
#include "treaty/runtime.hpp"

namespace fs = std::filesystem;
using namespace treaty;

namespace {

struct Case {
  std::string stage;
  fs::path input;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  const fs::path root = fs::path(treaty::testing::source_dir()) / "tests" / "golden";
  for (const char* stage : {"parse", "fmt", "check"})
    for (const auto& f : treaty::testing::treaty_files_under(root / stage)) out.push_back({stage, f});
  return out;
}

std::string run_stage(const Case& c) {
  const fs::path root = fs::path(treaty::testing::source_dir()) / "tests" / "golden";
  const std::string rel = fs::relative(c.input, root).generic_string();
  auto p = treaty::testing::parse_text(treaty::testing::slurp(c.input), rel);
  if (c.stage == "parse") return treaty::testing::render(p);
  if (c.stage == "check") {
    if (p.diags.has_errors()) return treaty::testing::render(p);
    Package pkg;
    pkg.files.push_back(std::move(p.file));
    auto program = check_package(p.sm, pkg, p.diags);
    if (!p.diags.has_errors()) Engine(std::move(program)).check_requirements(p.diags);
    return treaty::testing::render(p);
  }
  if (!p.diags.empty()) return treaty::testing::render(p);
  return format_file(p.sm, p.file);
}

class Golden : public ::testing::TestWithParam<Case> {};

TEST_P(Golden, MatchesExpected) {
  const Case& c = GetParam();
  fs::path expected = c.input;
  expected.replace_extension(".expected");
  const std::string actual = run_stage(c);
  if (std::getenv("TREATY_UPDATE_GOLDENS")) {
    std::ofstream(expected, std::ios::binary) << actual;
    return;
  }
  ASSERT_TRUE(fs::exists(expected)) << "missing " << expected << "; run with TREATY_UPDATE_GOLDENS=1";
  EXPECT_EQ(actual, treaty::testing::slurp(expected)) << "golden mismatch for " << c.input;
  if (c.stage != "fmt" && c.input.filename().string().rfind("fail_", 0) == 0) {
    EXPECT_FALSE(actual.empty()) << "a fail_ golden must produce a diagnostic";
  }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string n = info.param.stage + "_" + info.param.input.stem().string();
  for (auto& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Files, Golden, ::testing::ValuesIn(cases()), case_name);

TEST(GoldenCorpus, HasAtLeastFortyDistinctCheckErrorsAndEveryLint) {
  std::set<std::string> errors, lints;
  for (const auto& c : cases()) {
    if (c.stage != "check") continue;
    const std::string out = run_stage(c);
    for (std::size_t i = out.find("error[E0"); i != std::string::npos; i = out.find("error[E0", i + 1))
      if (out.compare(i + 6, 3, "E01") != 0) errors.insert(out.substr(i + 6, 5));
    for (std::size_t i = out.find("warning[W"); i != std::string::npos; i = out.find("warning[W", i + 1))
      lints.insert(out.substr(i + 8, 5));
  }
  EXPECT_GE(errors.size(), 40u);
  for (const auto& d : all_diagnostics()) {
    if (d.code[0] == 'W') {
      EXPECT_TRUE(lints.count(std::string(d.code))) << d.code << " has no check golden";
    }
  }
}

TEST(GoldenCorpus, HasAtLeastThirtyDistinctSyntaxErrors) {
  std::set<std::string> codes;
  for (const auto& c : cases()) {
    if (c.stage != "parse") continue;
    const std::string out = run_stage(c);
    for (std::size_t i = out.find("error[E01"); i != std::string::npos; i = out.find("error[E01", i + 1))
      codes.insert(out.substr(i + 6, 5));
  }
  EXPECT_GE(codes.size(), 30u);
}

}  // namespace
