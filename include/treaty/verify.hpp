// Property-based verification of trust rules (LANGUAGE.md section 9, `property`).
//
// For each property, random worlds are generated from the checked schema (every entity type,
// values of the right types, references that resolve, keys respected, every `require`
// satisfied), then random requests satisfying the property's `forall ... where`, biased toward
// entities related through the facts. A wrong decision is shrunk to a minimal world and request
// and printed as a ready-to-paste `test` block. The program must be checked without its facts
// (CheckOptions::facts = false): properties hold over every world, not only the package's.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "treaty/runtime.hpp"

namespace treaty {

struct VerifyOptions {
  std::uint64_t runs = 1000;     ///< worlds tried per property
  std::uint64_t seed = 0;        ///< 0: derived from the clock (and reported)
  std::uint32_t max_size = 20;   ///< largest number of entities of one type
  std::uint32_t requests_per_world = 32;
  std::string filter;            ///< only properties whose name contains this
  /// Called after each world (property index, worlds tried so far); for progress displays.
  std::function<void(std::size_t, std::uint64_t)> progress;
};

struct Counterexample {
  std::string test_block;   ///< a ready-to-paste `test` block
  std::string explanation;  ///< Engine::explain of the wrong decision
  std::size_t entities = 0; ///< entities in the shrunk world
  std::size_t shrink_steps = 0;
};

struct PropertyResult {
  std::string name;
  Span span;
  bool passed = true;
  std::uint64_t worlds = 0;        ///< worlds generated that satisfy every requirement
  std::uint64_t requests = 0;      ///< requests that satisfied the `where` and were decided
  std::uint64_t discarded_worlds = 0;
  std::optional<Counterexample> counterexample;
  std::string warning;             ///< e.g. generation hopeless because of a requirement
};

struct VerifyReport {
  std::uint64_t seed = 0;
  std::vector<PropertyResult> properties;
  [[nodiscard]] bool passed() const {
    for (const auto& p : properties)
      if (!p.passed) return false;
    return true;
  }
};

[[nodiscard]] VerifyReport verify(const Engine& engine, const SourceManager& sm, const VerifyOptions& opts);

}  // namespace treaty
