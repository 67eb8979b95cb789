// Sources (or a bundle) -> an engine ready to decide: the one compile pipeline. Every caller runs
// it: each verb of the `treaty` command (and so the server's reload), the tests, verify, the
// fuzzers, the benchmarks and the embedding example of docs/api.md.
//
// compile() runs a named list of steps in a fixed order (kCompileSteps; pipeline/compile.cpp
// says why the order is what it is): parse the files, run the checker's passes
// (treaty/check.hpp), load the checked program into an Engine, which builds the indexes it
// chose, and evaluate the requirements over the facts. That last step needs the runtime's
// evaluator, so it cannot be a pass of the compiler (compiler and runtime are siblings over the
// data layer); the pipeline is the library above both.
//
// Every problem of every step is a diagnostic in `diags`; no step throws for bad input. A step
// runs only when the steps it needs succeeded: nothing is checked after a syntax error, nothing
// is loaded after an error of the checker. CompileOptions says how far to go and with what.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "treaty/check.hpp"
#include "treaty/diagnostics.hpp"
#include "treaty/package.hpp"
#include "treaty/parse.hpp"
#include "treaty/program.hpp"
#include "treaty/runtime.hpp"
#include "treaty/source.hpp"

namespace treaty {

/// A step of the pipeline. compile() runs parse to requirements; load_bundle() runs bundle, load
/// and requirements.
enum class Step : std::uint8_t { parse, collect, schema, world, lower, indexes, lints, load, requirements, bundle };

struct StepInfo {
  Step step;
  std::string_view name;
  std::string_view what;  ///< one line
};

/// The steps of compile(), in the order they run. The checker's passes (collect to lints) are
/// kCheckPasses of treaty/check.hpp, in its order.
inline constexpr StepInfo kCompileSteps[] = {
    {Step::parse, "parse", "read every .treaty file and parse it into a syntax tree"},
    {Step::collect, "collect", "every declaration by name, package-wide; duplicates"},
    {Step::schema, "schema", "enum values, entity types with attributes and keys, actions with parameters"},
    {Step::world, "world", "the package's facts and its JSON data, converted against the schema"},
    {Step::lower, "lower", "predicates, rules, requirements, tests and properties typed and lowered to the IR"},
    {Step::indexes, "indexes", "the indexes the `exists` probes use, and the rules each action can meet"},
    {Step::lints, "lints", "warnings W06xx, on a program without errors"},
    {Step::load, "load", "the checked program into an Engine, which builds its indexes over the facts"},
    {Step::requirements, "requirements", "every `require` evaluated over the facts"},
};

/// The steps of load_bundle(), in order: the bundle read and decoded, then load and requirements.
inline constexpr StepInfo kBundleSteps[] = {
    {Step::bundle, "bundle", "read a bundle and decode its program (validated; no source is parsed)"},
    kCompileSteps[7],
    kCompileSteps[8],
};

/// The name of a step: parse, collect, ..., requirements, bundle.
[[nodiscard]] std::string_view step_name(Step step);

/// What a run made; each part is there once the step that makes it succeeded.
struct Compiled {
  /// The package as parsed (also with syntax errors, so `--dump=syntax` can show what was read).
  /// Empty when compile() was given a package parsed before, and for a bundle.
  Package pkg;
  /// The checked program, after the checker's last pass (complete only without errors), until
  /// the `load` step moves it into the engine.
  std::unique_ptr<Program> program;
  /// The program loaded, when every step up to `load` ran without an error. The requirements
  /// step adds its violations to the diagnostics and leaves the engine in place.
  std::unique_ptr<Engine> engine;
  /// The last step that ran; nullopt when none did.
  std::optional<Step> reached;
};

/// Where compile() reads the package: the files under `paths` (searched as parse_package
/// searches them, each named by its path), then one file per entry of `texts` (name, text).
struct Sources {
  std::vector<std::string> paths;
  std::vector<std::pair<std::string, std::string>> texts;

  /// The files under `paths`.
  [[nodiscard]] static Sources from_paths(std::vector<std::string> paths) { return {std::move(paths), {}}; }
  /// One file per (name, text), as a test or a fuzzer holds them.
  [[nodiscard]] static Sources from_texts(std::vector<std::pair<std::string, std::string>> texts) {
    return {{}, std::move(texts)};
  }
};

struct CompileOptions {
  /// The parser's limits (file size, nesting depth).
  ParseOptions parse;
  /// The checker's: data files and texts, lints on or off, facts on or off (off: no facts, no
  /// tests and no requirements step, as `treaty verify` checks), the most facts.
  CheckOptions check;
  /// The engine's, for every decision it makes.
  EngineLimits limits;
  /// The last step to run: `lints` stops with the checked program (`treaty explain`, a tool that
  /// only reads it), `load` with the engine, its requirements not evaluated.
  Step last = Step::requirements;
  /// Load only to evaluate requirements: with none (or no facts), the run ends with the checked
  /// program in Compiled::program and no engine. For callers that read the program and report
  /// (`treaty check`), not for ones that decide.
  bool load_for_requirements_only = false;
  /// Called after each step that ran, with the step, its wall time in milliseconds and what the
  /// run has made so far (the command's stage log). Not called for steps that did not run.
  std::function<void(Step step, double ms, const Compiled& so_far)> on_step;
};

/// Parses `sources` into `sm` and runs every step up to `opts.last`. The result's engine is set
/// when the package (with its data) had no error up to the load; problems are in `diags`.
/// `sm` must outlive the result: the program's spans and the engine's explanations point into it.
[[nodiscard]] Compiled compile(SourceManager& sm, const Sources& sources, Diagnostics& diags,
                               const CompileOptions& opts = {});

/// The same for a package parsed before (into `sm`): the parse step does not run, and the result
/// holds no package. `pkg` is read, never changed; it must outlive the call only.
[[nodiscard]] Compiled compile(SourceManager& sm, const Package& pkg, Diagnostics& diags,
                               const CompileOptions& opts = {});

/// Reads the bundle at `path` (its sources go to `sm`) and runs load and, when `opts.last` is
/// `requirements`, the requirements over its facts. A file that cannot be read or decoded is an
/// `io_error` diagnostic. `opts.check` and `opts.parse` do not apply.
[[nodiscard]] Compiled load_bundle(SourceManager& sm, const std::string& path, Diagnostics& diags,
                                   const CompileOptions& opts = {});

}  // namespace treaty
