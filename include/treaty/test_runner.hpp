// Runs the `test` blocks of a checked program (LANGUAGE.md section 9).
#pragma once

#include <string>
#include <string_view>
#include <vector>

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
};

struct TestReport {
  std::vector<ExpectationResult> results;
  std::size_t passed = 0;
  std::size_t failed = 0;
  std::size_t tests = 0;  ///< `test` blocks run
};

/// Runs every expectation of every test whose name contains `filter` (all when empty).
[[nodiscard]] TestReport run_tests(const Engine& engine, const SourceManager& sm, std::string_view filter = {});

}  // namespace treaty
