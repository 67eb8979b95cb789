// The `treaty` command: check, fmt (and, as they land, compile, eval, test, verify).
//
// Exit codes: 0 success; 1 problems found (diagnostics, unformatted files); 2 usage or I/O error.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "treaty/diagnostics.hpp"
#include "treaty/format.hpp"
#include "treaty/log.hpp"
#include "treaty/package.hpp"
#include "treaty/parse.hpp"

#ifndef TREATY_VERSION
#define TREATY_VERSION "0.0.0"
#endif

namespace {

constexpr int kOk = 0;
constexpr int kProblems = 1;
constexpr int kUsage = 2;

const std::vector<std::string> kVerbs = {"check", "fmt"};

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool use_color(bool to_stdout) {
  if (std::getenv("NO_COLOR")) return false;
  return isatty(to_stdout ? 1 : 2) != 0;
}

/// Prints diagnostics in the chosen format to stdout.
void print_diagnostics(const treaty::SourceManager& sm, treaty::Diagnostics& diags, const std::string& format) {
  diags.sort();
  if (format == "json") {
    std::cout << treaty::render_json(sm, diags.all()).dump(2) << "\n";
  } else if (format == "sarif") {
    std::cout << treaty::render_sarif(sm, diags.all(), TREATY_VERSION).dump(2) << "\n";
  } else {
    std::cout << treaty::render_human(sm, diags.all(), {use_color(true)});
  }
}

bool only_input_errors(const treaty::Diagnostics& diags) {
  for (const auto& d : diags.all())
    if (d.severity == treaty::Severity::error && d.id != treaty::DiagId::io_error && d.id != treaty::DiagId::no_treaty_files)
      return false;
  return true;
}

int run_check(const std::vector<std::string>& paths, const std::string& format, bool strict) {
  treaty::SourceManager sm;
  treaty::Diagnostics diags;
  treaty::Package pkg;
  {
    treaty::StageTimer t("parse");
    pkg = treaty::parse_package(sm, paths, diags);
    t.set_result(std::to_string(pkg.files.size()) + " files, " + std::to_string(pkg.declaration_count()) + " declarations");
  }
  if (strict) diags.promote_warnings();
  print_diagnostics(sm, diags, format);
  const auto errors = diags.count(treaty::Severity::error);
  const auto warnings = diags.count(treaty::Severity::warning);
  if (format == "text") {
    std::cerr << "checked " << pkg.files.size() << " file" << (pkg.files.size() == 1 ? "" : "s") << ": " << errors
              << " error" << (errors == 1 ? "" : "s") << ", " << warnings << " warning" << (warnings == 1 ? "" : "s") << "\n";
  }
  if (errors > 0 && only_input_errors(diags)) return kUsage;
  return errors > 0 ? kProblems : kOk;
}

/// Writes `text` to `path` atomically: a temporary file in the same directory, then rename.
bool write_atomically(const std::string& path, const std::string& text, std::string& error) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmpl = (dir / ("." + target.filename().string() + ".treaty-fmt-XXXXXX")).string();
  const int fd = mkstemp(tmpl.data());
  if (fd < 0) {
    error = std::string("cannot create a temporary file: ") + std::strerror(errno);
    return false;
  }
  bool ok = true;
  std::size_t off = 0;
  while (ok && off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) ok = false; else off += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  std::error_code ec;
  if (ok) {
    fs::permissions(tmpl, fs::status(target, ec).permissions(), ec);
    fs::rename(tmpl, target, ec);
    ok = !ec;
  }
  if (!ok) {
    error = ec ? ec.message() : std::string("write failed: ") + std::strerror(errno);
    fs::remove(tmpl, ec);
  }
  return ok;
}

int run_fmt(const std::vector<std::string>& paths, bool check_only, bool to_stdout) {
  treaty::SourceManager sm;
  treaty::Diagnostics diags;
  const auto files = treaty::collect_treaty_files(paths, diags);
  if (diags.has_errors()) {
    print_diagnostics(sm, diags, "text");
    return kUsage;
  }
  int rc = kOk;
  std::size_t changed = 0;
  for (const auto& path : files) {
    std::string text, error;
    if (!treaty::read_file(path, text, error)) {
      std::cerr << "treaty: error: cannot read `" << path << "`: " << error << "\n";
      rc = kUsage;
      continue;
    }
    const auto id = sm.add(path, text);
    treaty::Diagnostics fd;
    const auto file = treaty::parse_file(sm, id, fd);
    if (fd.has_errors()) {
      print_diagnostics(sm, fd, "text");
      std::cerr << "treaty: not formatting `" << path << "`: it has syntax errors\n";
      rc = std::max(rc, kProblems);
      continue;
    }
    const std::string out = treaty::format_file(sm, file);
    // Never write a file whose meaning the formatter would change.
    const auto check_id = sm.add(path + " (formatted)", out);
    treaty::Diagnostics cd;
    const auto again = treaty::parse_file(sm, check_id, cd);
    if (cd.has_errors() || !(again == file)) {
      std::cerr << "treaty: internal error: formatting `" << path << "` would change its meaning; file left unchanged\n";
      rc = kUsage;
      continue;
    }
    if (to_stdout) {
      std::cout << out;
      continue;
    }
    if (out == text) continue;
    ++changed;
    if (check_only) {
      std::cout << path << "\n";
      rc = std::max(rc, kProblems);
      continue;
    }
    if (!write_atomically(path, out, error)) {
      std::cerr << "treaty: error: cannot write `" << path << "`: " << error << "\n";
      rc = kUsage;
    }
  }
  if (check_only && changed > 0) std::cerr << changed << " file" << (changed == 1 ? "" : "s") << " not formatted\n";
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Treaty: policy as code for organizations that work together through trusts.", "treaty"};
  app.set_version_flag("--version", std::string("treaty ") + TREATY_VERSION);
  app.footer(
      "Exit status: 0 success, 1 problems found, 2 usage or I/O error.\n"
      "Language reference: docs/language.md. Run `treaty VERB --help` for a verb's options.");
  bool verbose = false;
  std::string log_level = "warn";
  app.add_flag("-v,--verbose", verbose, "Log each stage (parse, check, ...) with counts and timings to stderr");
  app.add_option("--log-level", log_level, "Log level on stderr: trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.require_subcommand(1, 1);

  std::vector<std::string> paths;
  std::string format = "text";
  bool strict = false;
  auto* check = app.add_subcommand("check", "Parse every .treaty file under PATH... and report every problem found");
  check->add_option("paths", paths, "Files or directories (searched recursively for .treaty files)")->required();
  check->add_option("--format", format, "Output format: text, json or sarif (SARIF 2.1.0)")
      ->check(CLI::IsMember({"text", "json", "sarif"}));
  check->add_flag("--strict", strict, "Treat warnings as errors");

  bool fmt_check = false, fmt_stdout = false;
  auto* fmt = app.add_subcommand("fmt", "Rewrite .treaty files in the canonical style (atomically, in place)");
  fmt->add_option("paths", paths, "Files or directories")->required();
  fmt->add_flag("--check", fmt_check, "Write nothing; list unformatted files and exit 1 if there are any");
  fmt->add_flag("--stdout", fmt_stdout, "Print the formatted text instead of writing files");

  // An unknown verb gets a clear message (and a suggestion) rather than CLI11's generic one.
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--log-level") { ++i; continue; }
    if (!a.empty() && a[0] == '-') continue;
    if (std::find(kVerbs.begin(), kVerbs.end(), a) == kVerbs.end()) {
      std::cerr << "treaty: error: unknown verb `" << a << "`";
      for (const auto& v : kVerbs)
        if (edit_distance(a, v) <= 2) std::cerr << "; did you mean `" << v << "`?";
      std::cerr << "\nRun `treaty --help` for the list of verbs.\n";
      return kUsage;
    }
    break;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "treaty: error: " << e.what() << "\nRun `treaty --help` for usage.\n";
    return kUsage;
  }
  if (!treaty::setup_logging(verbose && log_level == "warn" ? "info" : log_level)) {
    std::cerr << "treaty: error: unknown log level `" << log_level << "`\n";
    return kUsage;
  }
  try {
    if (check->parsed()) return run_check(paths, format, strict);
    if (fmt->parsed()) return run_fmt(paths, fmt_check, fmt_stdout);
  } catch (const std::exception& e) {
    std::cerr << "treaty: internal error: " << e.what() << "\n";
    return kUsage;
  }
  return kUsage;
}
