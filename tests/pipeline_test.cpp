// The compile pipeline (treaty/compile.hpp): its steps run by name and in order, each only when
// the steps it needs succeeded, and the options say how far a run goes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include "support/test_util.hpp"
#include "treaty/data/world.hpp"
#include "treaty/compile.hpp"
#include "treaty/dump.hpp"

using namespace treaty;
using namespace treaty::testing;

namespace {

const char* kPolicy = R"(
entity Account { name: String }
entity Person { account: Account }
action view principal Person resource Account;
permit own principal p: Person action view resource a: Account when p.account == a;
require named forall a: Account ensure a.name != "B" message "account {a} is called {a.name}";
Account::"a" { name: "A" }
Account::"b" { name: "B" }
Person::"ann" { account: "a" }
)";

struct Ran {
  std::vector<std::string> steps;
  CompileOptions opts;
  Ran() {
    opts.on_step = [this](Step s, double ms, const Compiled&) {
      EXPECT_GE(ms, 0.0);
      steps.emplace_back(step_name(s));
    };
  }
};

std::vector<std::string> all_steps() {
  std::vector<std::string> v;
  for (const auto& s : kCompileSteps) v.emplace_back(s.name);
  return v;
}

TEST(Pipeline, RunsEveryStepInOrderAndEvaluatesTheRequirements) {
  EXPECT_EQ(all_steps(), (std::vector<std::string>{"parse", "collect", "schema", "world", "lower", "indexes", "lints",
                                                   "load", "requirements"}));
  Ran ran;
  SourceManager sm;
  Diagnostics d;
  Compiled c = compile(sm, Sources::from_texts({{"p.treaty", kPolicy}}), d, ran.opts);
  EXPECT_EQ(ran.steps, all_steps());
  ASSERT_TRUE(c.engine);
  EXPECT_FALSE(c.program) << "the engine took the program";
  EXPECT_EQ(c.pkg.files.size(), 1u);
  EXPECT_EQ(c.reached, Step::requirements);
  ASSERT_EQ(d.all().size(), 1u);
  EXPECT_EQ(d.all()[0].message, "account b is called B (requirement `named`)");
}

TEST(Pipeline, ASyntaxErrorStopsAfterParse) {
  Ran ran;
  SourceManager sm;
  Diagnostics d;
  Compiled c = compile(sm, Sources::from_texts({{"p.treaty", "entity {"}}), d, ran.opts);
  EXPECT_EQ(ran.steps, (std::vector<std::string>{"parse"}));
  EXPECT_TRUE(d.has_errors());
  EXPECT_EQ(c.pkg.files.size(), 1u) << "the package is kept for --dump=syntax";
  EXPECT_FALSE(c.program);
  EXPECT_FALSE(c.engine);
}

TEST(Pipeline, ACheckErrorRunsEveryPassAndLoadsNothing) {
  Ran ran;
  SourceManager sm;
  Diagnostics d;
  const std::string dangling = std::string(kPolicy) + "Person::\"x\" { account: \"zz\" }\n";
  Compiled c = compile(sm, Sources::from_texts({{"p.treaty", dangling}}), d, ran.opts);
  EXPECT_EQ(ran.steps, (std::vector<std::string>{"parse", "collect", "schema", "world", "lower", "indexes", "lints"}));
  EXPECT_TRUE(d.has_errors());
  EXPECT_TRUE(c.program) << "the checked program, errors and all";
  EXPECT_FALSE(c.engine);
  EXPECT_EQ(c.reached, Step::lints);
}

TEST(Pipeline, OptionsSayHowFarARunGoes) {
  {
    Ran ran;
    ran.opts.last = Step::lints;  // treaty explain: the checked program only
    SourceManager sm;
    Diagnostics d;
    Compiled c = compile(sm, Sources::from_texts({{"p.treaty", kPolicy}}), d, ran.opts);
    EXPECT_EQ(ran.steps.back(), "lints");
    EXPECT_TRUE(c.program);
    EXPECT_FALSE(c.engine);
    EXPECT_FALSE(d.has_errors());
  }
  {
    Ran ran;
    ran.opts.last = Step::load;  // an engine; its requirements not evaluated
    SourceManager sm;
    Diagnostics d;
    Compiled c = compile(sm, Sources::from_texts({{"p.treaty", kPolicy}}), d, ran.opts);
    EXPECT_EQ(ran.steps.back(), "load");
    EXPECT_TRUE(c.engine);
    EXPECT_TRUE(d.empty());
  }
  {
    Ran ran;
    ran.opts.check.facts = false;  // treaty verify: no facts, so no requirements step
    ran.opts.check.lints = false;
    SourceManager sm;
    Diagnostics d;
    Compiled c = compile(sm, Sources::from_texts({{"p.treaty", kPolicy}}), d, ran.opts);
    EXPECT_EQ(ran.steps.back(), "load");
    ASSERT_TRUE(c.engine);
    EXPECT_EQ(c.engine->program().world().size(), 0u);
    EXPECT_TRUE(d.empty());
  }
  {
    Ran ran;
    ran.opts.last = Step::world;  // a run may stop inside the checker and keeps what it made
    SourceManager sm;
    Diagnostics d;
    Compiled c = compile(sm, Sources::from_texts({{"p.treaty", kPolicy}}), d, ran.opts);
    EXPECT_EQ(ran.steps, (std::vector<std::string>{"parse", "collect", "schema", "world"}));
    ASSERT_TRUE(c.program);
    EXPECT_EQ(c.program->world().size(), 3u);
    EXPECT_TRUE(c.program->rules.empty());
  }
}

TEST(Pipeline, APackageParsedBeforeIsCheckedAsTheSameSourceIs) {
  SourceManager sm;
  Diagnostics d;
  Package pkg;
  pkg.files.push_back(parse_file(sm, sm.add("p.treaty", kPolicy), d));
  Ran ran;
  ran.opts.last = Step::lints;
  Compiled c = compile(sm, pkg, d, ran.opts);
  EXPECT_EQ(ran.steps.front(), "collect") << "no parse step";
  EXPECT_TRUE(c.pkg.files.empty());
  ASSERT_TRUE(c.program);
  SourceManager sm2;
  Diagnostics d2;
  CompileOptions o;
  o.last = Step::lints;
  Compiled c2 = compile(sm2, Sources::from_texts({{"p.treaty", kPolicy}}), d2, o);
  ASSERT_TRUE(c2.program);
  EXPECT_EQ(dump_ir(sm, *c.program), dump_ir(sm2, *c2.program));
  // check_package runs the same passes.
  Diagnostics d3;
  auto direct = check_package(sm, pkg, d3);
  EXPECT_EQ(dump_checked(sm, *direct), dump_checked(sm, *c.program));
}

TEST(Pipeline, TheCheckerRefusesAPassOutOfOrder) {
  SourceManager sm;
  Diagnostics d;
  Package pkg;
  pkg.files.push_back(parse_file(sm, sm.add("p.treaty", kPolicy), d));
  PackageChecker pc(sm, pkg, d);
  EXPECT_THROW(pc.run(CheckPass::schema), std::logic_error);
  pc.run(CheckPass::collect);
  EXPECT_THROW(pc.run(CheckPass::collect), std::logic_error);
  pc.run(CheckPass::schema);
}

TEST(Pipeline, ABundleIsDecodedLoadedAndItsRequirementsEvaluated) {
  SourceManager sm;
  Diagnostics d;
  Compiled c = compile(sm, Sources::from_texts({{"p.treaty", kPolicy}}), d, {});
  ASSERT_TRUE(c.engine);
  const auto path =
      std::filesystem::temp_directory_path() / ("treaty-pipeline-" + std::to_string(::getpid()) + ".bundle");
  std::ofstream(path, std::ios::binary) << write_bundle(c.engine->program(), sm);
  {
    Ran ran;
    SourceManager bsm;
    Diagnostics bd;
    Compiled b = load_bundle(bsm, path.string(), bd, ran.opts);
    EXPECT_EQ(ran.steps, (std::vector<std::string>{"bundle", "load", "requirements"}));
    ASSERT_TRUE(b.engine);
    ASSERT_EQ(bd.all().size(), 1u);
    EXPECT_EQ(bd.all()[0].message, "account b is called B (requirement `named`)");
  }
  {
    CompileOptions o;
    o.last = Step::load;
    SourceManager bsm;
    Diagnostics bd;
    Compiled b = load_bundle(bsm, path.string(), bd, o);
    EXPECT_TRUE(b.engine);
    EXPECT_TRUE(bd.empty());
  }
  std::filesystem::remove(path);
  SourceManager bsm;
  Diagnostics bd;
  Compiled b = load_bundle(bsm, path.string(), bd);
  EXPECT_FALSE(b.engine);
  ASSERT_EQ(bd.all().size(), 1u);
  EXPECT_EQ(bd.all()[0].id, DiagId::io_error);
  EXPECT_NE(bd.all()[0].message.find("cannot read bundle"), std::string::npos) << bd.all()[0].message;
}

}  // namespace
