// The `treaty` command. Each verb lives in a file of its own (check.cpp, eval.cpp, ...) and
// is listed once, in verbs() below; common.hpp holds what they share.
//
// Exit codes: 0 success; 1 problems found (diagnostics, failed tests, unformatted files); 2 usage
// or I/O error.
#include <iostream>

#include "common.hpp"
#include "treaty/check.hpp"
#include "treaty/log.hpp"

namespace treaty::cli {

std::function<int()> setup_serve(CLI::App& app);  // cli/serve.cpp
std::function<int()> setup_lsp(CLI::App& app);    // cli/lsp.cpp
std::function<int()> setup_schema(CLI::App& app); // cli/schema.cpp

const std::vector<Verb>& verbs() {
  static const std::vector<Verb> all = {
      {"check", "Check every .treaty file under PATH...: syntax, names, types, facts, requirements, lints", setup_check},
      {"fmt", "Rewrite .treaty files in the canonical style (atomically, in place)", setup_fmt},
      {"test", "Run every `test` block; exit 1 on any failure", setup_test},
      {"compile", "Check and compile a package and its data into a binary bundle", setup_compile},
      {"eval", "Decide requests: allow or deny, with the rules that decided", setup_eval},
      {"query", "Reverse queries: who may (subjects), on what (resources), which actions, exactly as eval decides",
       setup_query},
      {"verify", "Search random worlds for counterexamples to every `property`", setup_verify},
      {"diff", "The decisions that differ between two versions (packages or bundles) over their facts; exit 1 if any",
       setup_diff},
      {"explain", "Explain a name: its declaration, `///` documentation and every use in the package", setup_explain},
      {"graph", "Draw the facts: entities as nodes, references and trusts as edges (DOT, SVG, Mermaid, JSON)",
       setup_graph},
      {"schema", "`schema sql PATH...`: the PostgreSQL DDL of the package's schema, for `serve --facts postgresql://...`",
       setup_schema},
      {"serve", "Serve decisions over HTTP: AuthZEN 1.0 and the native API, with hot reload", setup_serve},
      {"lsp", "Language server for editors (LSP over stdio): diagnostics, hover, definition, formatting, ...",
       setup_lsp},
  };
  return all;
}

namespace {

/// An unknown verb gets a clear message (and a suggestion) rather than CLI11's generic one.
bool known_verb_or_report(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--log-level") {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] == '-') continue;
    for (const auto& v : verbs())
      if (a == v.name) return true;
    std::cerr << "treaty: error: unknown verb `" << a << "`";
    std::vector<std::string> names;
    for (const auto& v : verbs()) names.emplace_back(v.name);
    if (auto c = closest_name(a, names)) std::cerr << "; did you mean `" << *c << "`?";
    std::cerr << "\nRun `treaty --help` for the list of verbs.\n";
    return false;
  }
  return true;
}

int run(int argc, char** argv) {
  CLI::App app{"Treaty: policy as code for organizations that work together through trusts.", "treaty"};
  app.set_version_flag("--version", std::string("treaty ") + TREATY_VERSION);
  app.footer(
      "Exit status: 0 success, 1 problems found, 2 usage or I/O error.\n"
      "Language reference: docs/language.md. Run `treaty VERB --help` for a verb's options.");
  bool verbose = false;
  std::string log_level = "warn";
  // The global options are also accepted after the verb (`treaty check -v ...`): subcommands
  // pass options they do not know up to the app.
  app.add_flag("-v,--verbose", verbose, "Log each stage (parse, check, ...) with counts and timings to stderr");
  app.add_option("--log-level", log_level, "Log level on stderr: trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.require_subcommand(1, 1);
  std::vector<std::pair<CLI::App*, std::function<int()>>> subs;
  for (const auto& v : verbs()) {
    auto* sub = app.add_subcommand(v.name, v.help);
    sub->fallthrough();
    subs.emplace_back(sub, v.setup(*sub));
  }
  if (!known_verb_or_report(argc, argv)) return kUsage;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "treaty: error: " << e.what() << "\nRun `treaty --help` for usage.\n";
    return kUsage;
  }
  if (!setup_logging(verbose && log_level == "warn" ? "info" : log_level)) {
    std::cerr << "treaty: error: unknown log level `" << log_level << "`\n";
    return kUsage;
  }
  for (auto& [sub, runner] : subs)
    if (sub->parsed()) return runner();
  return kUsage;
}

}  // namespace
}  // namespace treaty::cli

int main(int argc, char** argv) {
  try {
    return treaty::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "treaty: internal error: " << e.what() << "\n";
    return treaty::cli::kUsage;
  }
}
