// Property-based verification of trust rules (LANGUAGE.md section 9, `property`).
//
// For each property, random worlds are generated from the checked schema (every entity type,
// values of the right types, references that resolve, keys respected, every `require`
// satisfied), then random requests satisfying the property's `forall ... where`, biased toward
// entities related through the facts. A wrong decision is shrunk to a minimal world and request
// and printed as a ready-to-paste `test` block. The program must be checked without its facts
// (CheckOptions::facts = false): properties hold over every world, not only the package's. With
// VerifyOptions::facts, each property is instead checked against the package's own world, on
// every request it ranges over.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "treaty/graph.hpp"
#include "treaty/runtime.hpp"

namespace treaty {

struct VerifyOptions {
  std::uint64_t runs = 1000;     ///< worlds tried per property
  std::uint64_t seed = 0;        ///< 0: derived from the clock (and reported)
  std::uint32_t max_size = 20;   ///< largest number of entities of one type
  std::uint32_t requests_per_world = 32;
  std::string filter;            ///< only properties whose name contains this
  /// Check each property against the program's own world (its facts and data) instead of random
  /// worlds: every request the property ranges over, exhaustively (the program must then be
  /// checked with its facts). Runs, seed and sizes do not apply.
  bool facts = false;
  /// With `facts`: most requests formed per property (in its scope or not); beyond it the check
  /// stops with a warning.
  std::uint64_t max_requests = 10'000'000;
  /// Called after each world (property index, worlds tried so far); for progress displays.
  std::function<void(std::size_t, std::uint64_t)> progress;
  /// Draw each counterexample (Counterexample::picture).
  bool pictures = false;
};

struct Counterexample {
  std::string test_block;   ///< a ready-to-paste `test` block
  std::string explanation;  ///< Engine::explain of the wrong decision
  std::size_t entities = 0; ///< entities in the shrunk world
  std::size_t shrink_steps = 0;
  /// With VerifyOptions::pictures: the wrong decision as a picture of the facts it read, over
  /// the whole shrunk world (treaty/graph.hpp).
  std::optional<Graph> picture;
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
  bool facts = false;  ///< checked against the package's own facts (VerifyOptions::facts)
  std::vector<PropertyResult> properties;
  [[nodiscard]] bool passed() const {
    for (const auto& p : properties)
      if (!p.passed) return false;
    return true;
  }
};

[[nodiscard]] VerifyReport verify(const Engine& engine, const SourceManager& sm, const VerifyOptions& opts);

}  // namespace treaty
