// Parsed package -> checked program (names, types, facts, lints). The converters of facts,
// requests and JSON it uses are the data layer's (treaty/convert.hpp).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "treaty/convert.hpp"
#include "treaty/diagnostics.hpp"
#include "treaty/package.hpp"
#include "treaty/program.hpp"

namespace treaty {

struct CheckOptions {
  /// JSON facts files (LANGUAGE.md section 10) loaded beside the package's own facts.
  std::vector<std::string> data_files;
  /// JSON facts given as text (name, text), after the files; for embedding and fuzzing.
  std::vector<std::pair<std::string, std::string>> data_texts;
  /// Report lints (warnings W06xx).
  bool lints = true;
  /// Load the package's facts and data. `treaty verify` turns this off: it checks properties
  /// over generated worlds only.
  bool facts = true;
  /// Most facts a package and its data may hold (E0800).
  std::size_t max_facts = 50'000'000;
};

/// Resolves every name, checks every type, builds the world of facts and lowers rules,
/// predicates, requirements, tests and properties to the IR. Every problem goes to `diags`; the
/// program is complete only when no error was reported. Requirements are evaluated by the runtime
/// (`check_requirements`), which needs the evaluator.
[[nodiscard]] std::unique_ptr<Program> check_package(SourceManager& sm, const Package& pkg, Diagnostics& diags,
                                                     const CheckOptions& opts = {});

}  // namespace treaty
