// Golden tests: tests/golden/<stage>/NAME.treaty with NAME.expected next to it.
//   parse/  the rendered diagnostics of parsing the file (empty for a clean file)
//   fmt/    the formatted file
//   check/  the rendered diagnostics of checking the file (names, types, facts, requirements, lints)
//   dump/   the dumps of `treaty check --dump=STAGE` (GoldenDump below): NAME_STAGE.expected for
//           every stage of each dump/NAME.treaty, and 4me_ir / 4me_indexes for policies/4me/lib
// Run with TREATY_UPDATE_GOLDENS=1 to rewrite the .expected files from the current output.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "support/test_util.hpp"
#include "treaty/compile.hpp"
#include "treaty/dump.hpp"
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
    (void)compile(p.sm, pkg, p.diags);  // every step after parse, requirements included
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

// ---------------------------------------------------------------------------------------------
// Dumps: what `treaty check --dump=STAGE PATH...` prints, run from the source directory, so the
// paths in them are relative (tests/cli/run.sh checks the command prints the same bytes).
// ---------------------------------------------------------------------------------------------
struct DumpCase {
  std::string name;                 ///< NAME of tests/golden/dump/NAME.expected
  std::vector<std::string> inputs;  ///< relative to the source directory
  std::string stage;
};

void PrintTo(const DumpCase& c, std::ostream* os) { *os << c.name << " (--dump=" << c.stage << ")"; }

std::vector<DumpCase> dump_cases() {
  const fs::path src(treaty::testing::source_dir());
  std::vector<DumpCase> out;
  for (const auto& f : treaty::testing::treaty_files_under(src / "tests" / "golden" / "dump"))
    for (const auto& st : kDumpStages)
      out.push_back({f.stem().string() + "_" + std::string(st.name), {fs::relative(f, src).generic_string()},
                     std::string(st.name)});
  // Lowering and index choice of the 4me library: a change to either shows in review.
  out.push_back({"4me_ir", {"policies/4me/lib"}, "ir"});
  out.push_back({"4me_indexes", {"policies/4me/lib"}, "indexes"});
  return out;
}

/// Parses, checks and dumps as `treaty check --dump` does: files found as parse_package finds
/// them, each named by its path relative to the source directory.
std::string run_dump(const DumpCase& c) {
  const fs::path src(treaty::testing::source_dir());
  SourceManager sm;
  Diagnostics diags;
  std::vector<std::string> abs;
  for (const auto& in : c.inputs) abs.push_back((src / in).string());
  std::vector<std::pair<std::string, std::string>> texts;
  for (const auto& f : collect_treaty_files(abs, diags)) {
    std::string text, error;
    if (!read_file(f, text, error)) return "cannot read " + f + ": " + error;
    texts.emplace_back(fs::relative(f, src).generic_string(), std::move(text));
  }
  CompileOptions opts;
  if (c.stage == "syntax") opts.last = Step::parse;
  const Compiled out = compile(sm, Sources::from_texts(std::move(texts)), diags, opts);
  if (c.stage == "syntax") return dump_syntax(sm, out.pkg);
  if (diags.has_errors()) {
    const char* stage = out.reached == Step::parse ? "parse" : out.engine ? "requirement" : "check";
    return std::string(stage) + " errors:\n" + render_human(sm, diags.all());
  }
  // What the command dumps: the program the engine loaded.
  if (c.stage == "checked") return dump_checked(sm, out.engine->program());
  if (c.stage == "ir") return dump_ir(sm, out.engine->program());
  return dump_indexes(sm, out.engine->program());
}

class GoldenDump : public ::testing::TestWithParam<DumpCase> {};

TEST_P(GoldenDump, MatchesExpected) {
  const DumpCase& c = GetParam();
  const fs::path expected = fs::path(treaty::testing::source_dir()) / "tests" / "golden" / "dump" / (c.name + ".expected");
  const std::string actual = run_dump(c);
  if (std::getenv("TREATY_UPDATE_GOLDENS")) {
    std::ofstream(expected, std::ios::binary) << actual;
    return;
  }
  ASSERT_TRUE(fs::exists(expected)) << "missing " << expected << "; run with TREATY_UPDATE_GOLDENS=1";
  EXPECT_EQ(actual, treaty::testing::slurp(expected))
      << "dump mismatch for " << c.name << ": if the change in " << c.stage
      << " is intended, rerun with TREATY_UPDATE_GOLDENS=1 and review the diff";
  // A dump is of a clean package and names its files as given (relative), never /work/... .
  EXPECT_EQ(actual.find("errors:\n"), std::string::npos) << actual.substr(0, 2000);
  EXPECT_EQ(actual.find(treaty::testing::source_dir()), std::string::npos) << "an absolute path in " << c.name;
}

std::string dump_case_name(const ::testing::TestParamInfo<DumpCase>& info) {
  std::string n = info.param.name;
  for (auto& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Files, GoldenDump, ::testing::ValuesIn(dump_cases()), dump_case_name);

TEST(GoldenDumps, EveryExpectedFileHasACase) {
  // A golden left behind by a renamed input would pass forever unread.
  std::set<std::string> names;
  for (const auto& c : dump_cases()) names.insert(c.name + ".expected");
  for (const auto& e : fs::directory_iterator(fs::path(treaty::testing::source_dir()) / "tests" / "golden" / "dump"))
    if (e.path().extension() == ".expected") {
      EXPECT_TRUE(names.count(e.path().filename().string())) << e.path();
    }
}

TEST(GoldenDumps, AreDeterministicAndTheSameFromABundle) {
  // Two runs give the same bytes; and the program read back from a bundle dumps the same index
  // choices (the bundle keeps nodes, probes and indexes; only node types are not stored).
  const DumpCase ir{"4me_ir", {"policies/4me/lib"}, "ir"};
  EXPECT_EQ(run_dump(ir), run_dump(ir));
  const fs::path src(treaty::testing::source_dir());
  SourceManager sm;
  Diagnostics diags;
  CompileOptions opts;
  opts.last = Step::lints;  // the checked program, not loaded
  auto program = compile(sm, Sources::from_paths({(src / "policies" / "4me" / "lib").string()}), diags, opts).program;
  ASSERT_FALSE(diags.has_errors());
  const std::string direct = dump_indexes(sm, *program);
  const std::string bytes = write_bundle(*program, sm);
  SourceManager sm2;
  std::string error;
  auto loaded = read_bundle(bytes, sm2, error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(dump_indexes(sm2, *loaded), direct);
  EXPECT_TRUE(loaded->node_types.empty());
  EXPECT_EQ(program->node_types.size(), program->nodes.size());
}

TEST(GoldenCorpus, HasAtLeastFortyDistinctCheckErrorsAndEveryLint) {
  std::set<std::string> errors, lints;
  for (const auto& c : cases()) {
    if (c.stage != "check") continue;
    const std::string out = run_stage(c);
    for (std::size_t i = out.find("error[E0"); i != std::string::npos; i = out.find("error[E0", i + 1))
      if (out.compare(i + 6, 3, "E01") != 0) errors.insert(out.substr(i + 6, 5));
    // A lint is a warning, or a note (W0610) that `--strict` leaves alone.
    for (const std::string head : {"warning[", "note["})
      for (std::size_t i = out.find(head + "W"); i != std::string::npos; i = out.find(head + "W", i + 1))
        lints.insert(out.substr(i + head.size(), 5));
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
