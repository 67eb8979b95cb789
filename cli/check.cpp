// `treaty check`: every problem of a package, in text, JSON or SARIF; with --dump=STAGE, also
// what a stage made of it (the syntax tree, the checked program, its IR or its index choices).
#include <iostream>

#include "common.hpp"
#include "treaty/dump.hpp"

namespace treaty::cli {

namespace {
struct CheckOptions {
  LoadOptions load;
  std::string format = "text";
  bool strict = false;
  std::string dump;  ///< a stage of kDumpStages, or empty
};

std::string dump_stage(const std::string& stage, const Loaded& l) {
  if (stage == "syntax") return dump_syntax(l.sm, l.pkg);
  const Program& p = *l.checked();
  if (stage == "checked") return dump_checked(l.sm, p);
  if (stage == "ir") return dump_ir(l.sm, p);
  return dump_indexes(l.sm, p);
}

int run_check(const CheckOptions& o) {
  // The package is kept to the end of the process, not destroyed: freeing a syntax tree and a
  // program node by node took a tenth of the time of checking 100,000 rules, and the process
  // exits next. (Reachable from this static, so leak checkers do not report it.)
  static Loaded* kept = nullptr;
  kept = new Loaded;
  Loaded& l = *kept;
  // Without requirements nothing is evaluated, so no engine is built (a tenth of the memory of
  // checking 100,000 rules); a dump shows the program as the engine holds it, indexes built.
  LoadOptions lo = o.load;
  lo.engine_only_for_requirements = o.dump.empty();
  load(l, lo);
  // A stage past `syntax` needs a program checked without errors; warnings made errors by
  // --strict do not take the program away.
  const bool program_ok = !l.diags.has_errors() && l.checked();
  if (o.strict) l.diags.promote_warnings();
  const bool dumping = !o.dump.empty();
  // With --dump, stdout carries the dump and the diagnostics go to stderr.
  print_diagnostics(l.sm, l.diags, o.format, dumping);
  const auto errors = l.diags.count(Severity::error);
  const auto warnings = l.diags.count(Severity::warning);
  if (o.format == "text") {
    std::cerr << "checked " << l.pkg.files.size() << " file" << (l.pkg.files.size() == 1 ? "" : "s") << ": " << errors
              << " error" << (errors == 1 ? "" : "s") << ", " << warnings << " warning" << (warnings == 1 ? "" : "s")
              << "\n";
  }
  const int rc = exit_for(l.diags);
  if (!dumping) return rc;
  const auto stage = find_dump_stage(o.dump);
  if (!stage) return kUsage;  // CLI11 accepts only known stages
  if (stage->needs_program && !program_ok) {
    std::cerr << "treaty: error: cannot produce --dump=" << o.dump
              << " because the package has errors: no checked program exists until they are fixed"
                 " (--dump=syntax prints what was parsed)\n";
    return rc == kOk ? kProblems : rc;
  }
  std::cout << dump_stage(o.dump, l) << std::flush;
  return rc;
}
}  // namespace

std::function<int()> setup_check(CLI::App& app) {
  auto o = std::make_shared<CheckOptions>();
  o->load.lints = true;
  app.add_option("paths", o->load.paths, "Files or directories (searched recursively for .treaty files)")->required();
  app.add_option("--data", o->load.data, "JSON facts file (repeatable)");
  add_format_option(app, o->format, {"text", "json", "sarif"});
  app.add_flag("--strict", o->strict, "Treat warnings as errors");
  std::vector<std::string> names;
  std::string help =
      "Also print what STAGE made of the package, as stable text, to stdout\n"
      "(diagnostics then go to stderr; the exit status is unchanged; a stage\n"
      "after `syntax` is refused while the package has errors). STAGE:";
  for (const auto& s : kDumpStages) {
    names.emplace_back(s.name);
    help += "\n  " + std::string(s.name) + ": " + std::string(s.what);
  }
  app.add_option("--dump", o->dump, help)->option_text("STAGE")->check(CLI::IsMember(names));
  return [o] { return run_check(*o); };
}

}  // namespace treaty::cli
