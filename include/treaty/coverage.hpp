// Test coverage: which rules, conditions and `exists` the expectations of a package's tests
// exercise (`treaty test --coverage`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "treaty/program.hpp"
#include "treaty/test_runner.hpp"

namespace treaty {

/// One thing a test suite can exercise, and how many expectations did.
struct CoverageItem {
  enum class Kind : std::uint8_t {
    rule_decides,     ///< a rule some expectation's decision names among its determining rules
    rule_fails,       ///< a rule whose action and types some expectation matched, and that did not apply
    condition_fails,  ///< a rule's condition that was the first of its rule to fail
    exists_fails,     ///< an `exists` (in a rule or a predicate) that was the conjunct a failure narrowed to
  };
  Kind kind = Kind::rule_decides;
  std::string owner;  ///< the rule or predicate it is written in
  Span span;          ///< the rule's name, the condition, or the `exists`
  std::size_t hits = 0;
};

struct CoverageReport {
  std::vector<CoverageItem> items;  ///< in source order within each kind
  [[nodiscard]] std::size_t covered() const;
  /// Covered items in percent of all (100 when there are none).
  [[nodiscard]] double percent() const;
};

/// What the expectations of `report` exercised of `p`'s rules. Needs a report run with
/// RunTestsOptions::coverage (each expectation's rule outcomes).
[[nodiscard]] CoverageReport coverage_of(const Program& p, const TestReport& report);

/// A kind as the reports name it: "rule decides", "rule fails", ...
[[nodiscard]] const char* coverage_kind_name(CoverageItem::Kind k);

}  // namespace treaty
