// The compile pipeline (treaty/compile.hpp): a named list of steps, run in order.
#include "treaty/compile.hpp"

#include <chrono>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace treaty {

namespace {

/// One run of the pipeline: what the steps read and what they make.
struct Run {
  SourceManager& sm;
  Diagnostics& diags;
  const CompileOptions& opts;
  const Sources* sources;  ///< null: the package was parsed before
  const Package* pkg;      ///< what the checker reads: the run's own package or the caller's
  const std::string* bundle_path;
  Compiled& out;
  std::optional<PackageChecker> checker;
};

void parse(Run& r) {
  r.out.pkg = parse_package(r.sm, r.sources->paths, r.diags, r.opts.parse);
  for (const auto& [name, text] : r.sources->texts)
    r.out.pkg.files.push_back(parse_file(r.sm, r.sm.add(name, text), r.diags, r.opts.parse));
}

/// A pass of the checker. The checker is made by the first; the program is taken from it after
/// the last (or where the run stops).
template <CheckPass P>
void check(Run& r) {
  if (!r.checker) r.checker.emplace(r.sm, *r.pkg, r.diags, r.opts.check);
  r.checker->run(P);
  if (P == CheckPass::lints) r.out.program = r.checker->take();
}

void load(Run& r) { r.out.engine = std::make_unique<Engine>(std::move(r.out.program), r.opts.limits); }

void requirements(Run& r) { r.out.engine->check_requirements(r.diags); }

void bundle(Run& r) {
  std::string bytes, err;
  if (!read_file(*r.bundle_path, bytes, err)) {
    r.diags.add(DiagId::io_error, Span{}, "cannot read bundle `" + *r.bundle_path + "`: " + err);
    return;
  }
  r.out.program = read_bundle(bytes, r.sm, err);
  if (!r.out.program) r.diags.add(DiagId::io_error, Span{}, "cannot load bundle `" + *r.bundle_path + "`: " + err);
}

/// When a step runs.
enum class Needs : std::uint8_t {
  nothing,    ///< always (it runs on what the steps before made, errors or not)
  no_errors,  ///< only when no error was reported before it; otherwise the run stops here
};

struct StepDef {
  Step step;
  Needs needs;
  void (*run)(Run&);
  bool (*skip)(const Run&);  ///< null, or true when the step has nothing to do in this run
};

bool no_sources(const Run& r) { return r.sources == nullptr; }
bool no_facts(const Run& r) { return !r.opts.check.facts; }
/// CompileOptions::load_for_requirements_only: no engine when there is nothing to evaluate.
bool nothing_to_evaluate(const Run& r) {
  return r.opts.load_for_requirements_only && (no_facts(r) || !r.out.program || r.out.program->requirements.empty());
}
bool not_loaded(const Run& r) { return !r.out.engine || no_facts(r); }

// The steps of compile(), in order, and why this order:
//
// - parse: everything after it reads the syntax tree. A package with a syntax error stops here:
//   the checker would report the consequences of what the parser could not read.
// - collect: every declaration by name before any name is resolved, since declarations are
//   package-wide and their order (within a file or across files) never matters.
// - schema: needs every type name (an attribute's type is an entity declared anywhere); it fixes
//   the attribute and parameter ids everything after it uses.
// - world: facts are converted against the schema's attribute types and keys; it comes before
//   lowering because entity literals (`Account::"acme"`) lower to the entity's id, and a test's
//   expectations and `given` facts resolve against the facts.
// - lower: predicates first and callees before callers (so a call to a small predicate is
//   inlined), then rules, requirements, tests and properties. Each `exists` gets its index probe
//   as it is lowered, because inlining copies a lowered body with its probes (indexes.cpp).
// - indexes: the program's list of indexes and its rules by action, over the complete IR.
// - lints: over the complete program, and only without errors, which they would mostly repeat.
// - load: the Engine lays the IR out for evaluation and builds the indexes over the facts; only a
//   program without errors is loaded.
//   A caller that needs the engine only for the requirements (`treaty check`) skips it when
//   there are none: laying out 100,000 rules for nothing was a tenth of that check's memory.
// - requirements: evaluated over the facts with the runtime's evaluator, so after load; skipped
//   when the run has no facts (`treaty verify` checks properties over generated worlds) or no
//   engine.
constexpr StepDef kSteps[] = {
    {Step::parse, Needs::nothing, parse, no_sources},
    {Step::collect, Needs::no_errors, check<CheckPass::collect>, nullptr},
    {Step::schema, Needs::nothing, check<CheckPass::schema>, nullptr},
    {Step::world, Needs::nothing, check<CheckPass::world>, nullptr},
    {Step::lower, Needs::nothing, check<CheckPass::lower>, nullptr},
    {Step::indexes, Needs::nothing, check<CheckPass::indexes>, nullptr},
    {Step::lints, Needs::nothing, check<CheckPass::lints>, nullptr},
    {Step::load, Needs::no_errors, load, nothing_to_evaluate},
    {Step::requirements, Needs::nothing, requirements, not_loaded},
};

// A bundle holds a checked program: it is decoded (and validated), then loaded as above.
constexpr StepDef kBundleStepDefs[] = {
    {Step::bundle, Needs::nothing, bundle, nullptr},
    {Step::load, Needs::no_errors, load, nullptr},
    {Step::requirements, Needs::nothing, requirements, nullptr},
};

// The public table names the same steps in the same order.
constexpr bool same_order() {
  if (std::size(kSteps) != std::size(kCompileSteps) || std::size(kBundleStepDefs) != std::size(kBundleSteps))
    return false;
  for (std::size_t i = 0; i < std::size(kSteps); ++i)
    if (kSteps[i].step != kCompileSteps[i].step) return false;
  for (std::size_t i = 0; i < std::size(kBundleStepDefs); ++i)
    if (kBundleStepDefs[i].step != kBundleSteps[i].step) return false;
  for (std::size_t i = 0; i < std::size(kCheckPasses); ++i)
    if (kCompileSteps[1 + i].name != kCheckPasses[i].name) return false;
  return true;
}
static_assert(same_order(), "kCompileSteps, kBundleSteps and kCheckPasses must list the steps kSteps runs");

template <std::size_t N>
void run_steps(Run& r, const StepDef (&steps)[N]) {
  using Clock = std::chrono::steady_clock;
  for (const StepDef& s : steps) {
    if (s.step != Step::bundle && s.step > r.opts.last) break;
    if (s.needs == Needs::no_errors && r.diags.has_errors()) break;
    if (s.skip && s.skip(r)) continue;
    const auto t0 = Clock::now();
    s.run(r);
    r.out.reached = s.step;
    if (r.opts.on_step)
      r.opts.on_step(s.step, std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), r.out);
  }
  // A run stopped inside the checker keeps what it made.
  if (r.checker && !r.out.program && !r.out.engine) r.out.program = r.checker->take();
}

}  // namespace

std::string_view step_name(Step step) {
  for (const auto& s : kCompileSteps)
    if (s.step == step) return s.name;
  return kBundleSteps[0].name;
}

Compiled compile(SourceManager& sm, const Sources& sources, Diagnostics& diags, const CompileOptions& opts) {
  Compiled out;
  Run r{sm, diags, opts, &sources, &out.pkg, nullptr, out, std::nullopt};
  run_steps(r, kSteps);
  return out;
}

Compiled compile(SourceManager& sm, const Package& pkg, Diagnostics& diags, const CompileOptions& opts) {
  Compiled out;
  Run r{sm, diags, opts, nullptr, &pkg, nullptr, out, std::nullopt};
  run_steps(r, kSteps);
  return out;
}

Compiled load_bundle(SourceManager& sm, const std::string& path, Diagnostics& diags, const CompileOptions& opts) {
  Compiled out;
  Run r{sm, diags, opts, nullptr, nullptr, &path, out, std::nullopt};
  run_steps(r, kBundleStepDefs);
  return out;
}

}  // namespace treaty
