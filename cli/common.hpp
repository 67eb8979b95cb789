// What every verb of the `treaty` command shares: exit codes, loading a package or a bundle into
// an engine, printing diagnostics, writing files atomically, and the verb registry.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "output.hpp"
#include "treaty/diagnostics.hpp"
#include "treaty/package.hpp"
#include "treaty/runtime.hpp"
#include "treaty/source.hpp"

#ifndef TREATY_VERSION
#define TREATY_VERSION "0.0.0"
#endif

namespace treaty::cli {

constexpr int kOk = 0;
constexpr int kProblems = 1;
constexpr int kUsage = 2;

/// A verb: its name and one-line help, and `setup`, which declares its options on the verb's
/// subcommand and returns the function that runs it once the command line is parsed.
struct Verb {
  const char* name;
  const char* help;
  std::function<std::function<int()>(CLI::App&)> setup;
};

/// Every verb, in the order `treaty --help` lists them (defined in main.cpp).
const std::vector<Verb>& verbs();

// Each verb's file defines its setup.
std::function<int()> setup_check(CLI::App& app);
std::function<int()> setup_fmt(CLI::App& app);
std::function<int()> setup_test(CLI::App& app);
std::function<int()> setup_compile(CLI::App& app);
std::function<int()> setup_eval(CLI::App& app);
std::function<int()> setup_verify(CLI::App& app);
std::function<int()> setup_explain(CLI::App& app);
std::function<int()> setup_query(CLI::App& app);
std::function<int()> setup_graph(CLI::App& app);
std::function<int()> setup_diff(CLI::App& app);

/// Splits `--action name` or `name(k: v, k2: v2)` into the name and each argument's name and
/// value text (commas inside strings, sets and parentheses do not split); false with the reason
/// when the text is not of that form. The values are parsed as expressions afterwards.
bool split_action(std::string_view text, std::string& name, std::vector<std::pair<std::string, std::string>>& args,
                  std::string& why);


/// 0 without errors; 2 when the only errors are unreadable input; 1 otherwise.
int exit_for(const Diagnostics& diags);

/// A package (or bundle) parsed, checked and loaded into an engine.
struct Loaded {
  SourceManager sm;
  Diagnostics diags;
  Package pkg;
  std::unique_ptr<Engine> engine;
  /// The checked program when it was not loaded (LoadOptions::engine_only_for_requirements).
  std::unique_ptr<Program> program;
  /// The checked program, loaded or not; only when one was made without errors.
  [[nodiscard]] const Program* checked() const { return engine ? &engine->program() : program.get(); }
};

struct LoadOptions {
  std::vector<std::string> paths;
  std::vector<std::string> data;
  /// JSON facts given as text (name, text), after the files: the live facts a server reloads.
  std::vector<std::pair<std::string, std::string>> data_texts;
  std::string bundle;   ///< instead of paths
  bool lints = false;
  bool facts = true;    ///< false: check without facts and requirements (verify)
  bool bundle_requirements = false;  ///< also evaluate a bundle's requirements over its facts (serve)
  /// Build the engine only to evaluate requirements; without any, `Loaded::program` holds the
  /// checked program instead (`check`, which decides nothing).
  bool engine_only_for_requirements = false;
};

/// Runs the compile pipeline (treaty/compile.hpp) on the paths, or loads the bundle, logging each
/// stage (`-v`). Problems go to `l.diags`; `l.engine` is set once the program loaded.
void load(Loaded& l, const LoadOptions& opts);

/// Loads for `eval` and `test`: diagnostics go to stderr; only errors stop the run.
bool load_or_report(Loaded& l, const LoadOptions& opts);

/// Writes `text` to `path` atomically: a temporary file in the same directory, fsync, rename.
/// Keeps the mode of a file replaced; a new file gets 0666 less the umask.
bool write_atomically(const std::string& path, const std::string& text, std::string& error);

/// Writes each picture (a name, made a file name, and the graph) into `dir` (created if needed)
/// as NAME.dot, NAME.svg or NAME.mmd by `format` (dot, svg, mermaid), each atomically; the files
/// written go to `written`. False with the reason at the first that cannot be.
bool write_pictures(const std::string& dir, const std::vector<std::pair<std::string, const Graph*>>& pictures,
                    const std::string& format, std::vector<std::string>& written, std::string& error);
/// `--pictures DIR` of `test` and `verify`: writes them, says on stderr each file drawn ("drew
/// WHAT: FILE") or why it could not; false on an error (the verb then exits 2).
bool draw_pictures(const std::string& dir, const std::vector<std::pair<std::string, const Graph*>>& pictures,
                   const std::string& format, std::string_view what);

/// Writes `text` whole to stdout, or to `path` atomically when one is given (not empty or "-").
bool write_output(const std::string& path, const std::string& text, std::string& error);


}  // namespace treaty::cli
