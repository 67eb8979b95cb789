// Parsed package -> checked program (names, types, facts, lints), in named passes. The
// converters of facts, requests and JSON it uses are the data layer's (treaty/convert.hpp).
#pragma once

#include <cstdint>
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
/// predicates, requirements, tests and properties to the IR: every pass of kCheckPasses, in
/// order. Every problem goes to `diags`; the program is complete only when no error was
/// reported. Requirements are evaluated by the runtime (`check_requirements`), which needs the
/// evaluator: compile() (treaty/compile.hpp) runs the whole pipeline.
[[nodiscard]] std::unique_ptr<Program> check_package(SourceManager& sm, const Package& pkg, Diagnostics& diags,
                                                     const CheckOptions& opts = {});

/// The checker's passes, in the order they run. compile() (treaty/compile.hpp) runs each as a
/// named step of the pipeline; pipeline/compile.cpp says why the order is what it is.
enum class CheckPass : std::uint8_t {
  collect,  ///< every declaration by name, package-wide; duplicates
  schema,   ///< enum values, entity types with attributes and keys, actions with parameters
  world,    ///< the package's facts and its JSON data, through the data layer's loader
  lower,    ///< predicates, rules, requirements, tests and properties typed and lowered to the IR
  indexes,  ///< the indexes the `exists` probes use, and the rules each action can meet
  lints,    ///< warnings W06xx, on a program without errors (when CheckOptions::lints)
};

struct CheckPassInfo {
  CheckPass pass;
  std::string_view name;
};

/// Every pass of the checker, in order.
inline constexpr CheckPassInfo kCheckPasses[] = {
    {CheckPass::collect, "collect"}, {CheckPass::schema, "schema"},   {CheckPass::world, "world"},
    {CheckPass::lower, "lower"},     {CheckPass::indexes, "indexes"}, {CheckPass::lints, "lints"},
};

/// The data layer's form of a constant written in source (treaty/program.hpp): literals, entity
/// references, enum values bare or qualified and sets of them, each part with its span; any other
/// expression is kept as a non-constant kind for the converter to refuse with its reason. The one
/// translation from the syntax tree to what convert_constant and RequestConverter::arg take (the
/// checker and `treaty eval`'s flags use it).
[[nodiscard]] Constant to_constant(const syntax::Expr& e);
/// The same for a fact (a package's or a test's `given`), for EntityLoader::add_fact.
[[nodiscard]] FactSpec to_fact_spec(const syntax::FactDecl& f);

namespace detail {
class Checker;
}

/// A package checked one pass at a time, for a driver that does something between the passes
/// (compile() times each). `sm`, `pkg` and `diags` are borrowed and must outlive the checker;
/// `opts` is copied. Each pass runs once, in kCheckPasses order.
class PackageChecker {
 public:
  PackageChecker(SourceManager& sm, const Package& pkg, Diagnostics& diags, CheckOptions opts = {});
  ~PackageChecker();
  PackageChecker(const PackageChecker&) = delete;
  PackageChecker& operator=(const PackageChecker&) = delete;

  /// Runs `pass`, which must be the next in kCheckPasses order (std::logic_error otherwise: a
  /// pass reads what the passes before it made).
  void run(CheckPass pass);
  /// The program, complete when every pass ran and no error was reported. Ends the check: no
  /// pass runs after it.
  [[nodiscard]] std::unique_ptr<Program> take();

 private:
  CheckOptions opts_;
  std::unique_ptr<Program> program_;
  std::unique_ptr<detail::Checker> checker_;
  std::size_t next_ = 0;  ///< index in kCheckPasses of the pass to run next
};

}  // namespace treaty
