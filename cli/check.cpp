// `treaty check`: every problem of a package, in text, JSON or SARIF.
#include <iostream>

#include "common.hpp"

namespace treaty::cli {

namespace {
struct CheckOptions {
  LoadOptions load;
  std::string format = "text";
  bool strict = false;
};

int run_check(const CheckOptions& o) {
  // The package is kept to the end of the process, not destroyed: freeing a syntax tree and a
  // program node by node took a tenth of the time of checking 100,000 rules, and the process
  // exits next. (Reachable from this static, so leak checkers do not report it.)
  static Loaded* kept = nullptr;
  kept = new Loaded;
  Loaded& l = *kept;
  load(l, o.load);
  if (o.strict) l.diags.promote_warnings();
  print_diagnostics(l.sm, l.diags, o.format);
  const auto errors = l.diags.count(Severity::error);
  const auto warnings = l.diags.count(Severity::warning);
  if (o.format == "text") {
    std::cerr << "checked " << l.pkg.files.size() << " file" << (l.pkg.files.size() == 1 ? "" : "s") << ": " << errors
              << " error" << (errors == 1 ? "" : "s") << ", " << warnings << " warning" << (warnings == 1 ? "" : "s")
              << "\n";
  }
  return exit_for(l.diags);
}
}  // namespace

std::function<int()> setup_check(CLI::App& app) {
  auto o = std::make_shared<CheckOptions>();
  o->load.lints = true;
  app.add_option("paths", o->load.paths, "Files or directories (searched recursively for .treaty files)")->required();
  app.add_option("--data", o->load.data, "JSON facts file (repeatable)");
  app.add_option("--format", o->format, "Output format: text, json or sarif (SARIF 2.1.0)")
      ->check(CLI::IsMember({"text", "json", "sarif"}));
  app.add_flag("--strict", o->strict, "Treat warnings as errors");
  return [o] { return run_check(*o); };
}

}  // namespace treaty::cli
