// Runs the `test` blocks of a checked program (LANGUAGE.md section 9).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "treaty/graph.hpp"
#include "treaty/runtime.hpp"

namespace treaty {

struct ExpectationResult {
  std::string test;         ///< the test's name
  std::string request;      ///< `principal ... action ... resource ...` as written
  bool expected_allow = false;
  bool expected_violation = false;  ///< `expect violation R` (request holds its text)
  bool passed = false;
  Decision decision;
  std::string failure;      ///< why it failed (wrong decision, missing `because` rule, bad `given`)
  std::string explanation;  ///< Engine::explain of the decision
  Span span;
  /// With RunTestsOptions::coverage: how each candidate rule of the decision fared.
  std::vector<RuleOutcome> outcomes;
  /// With RunTestsOptions::pictures, for a failed expectation that was decided: the decision as
  /// a picture of the facts it read (treaty/graph.hpp), drawn while the test's `given` exists.
  std::optional<Graph> picture;
};

struct TestReport {
  std::vector<ExpectationResult> results;
  std::size_t passed = 0;
  std::size_t failed = 0;
  std::size_t tests = 0;  ///< `test` blocks run
};

struct RunTestsOptions {
  std::string filter;     ///< only tests whose name contains it (all when empty)
  bool coverage = false;  ///< record each decision's rule outcomes (ExpectationResult::outcomes)
  bool pictures = false;  ///< draw each failed expectation's decision (ExpectationResult::picture)
};

/// Runs every expectation of every test whose name contains `filter` (all when empty).
[[nodiscard]] TestReport run_tests(const Engine& engine, const SourceManager& sm, std::string_view filter = {});
[[nodiscard]] TestReport run_tests(const Engine& engine, const SourceManager& sm, const RunTestsOptions& options);

}  // namespace treaty
