// `treaty fmt`: rewrite files in the canonical style, atomically; never one whose meaning would change.
#include <iostream>

#include "common.hpp"
#include "treaty/format.hpp"
#include "treaty/parse.hpp"

namespace treaty::cli {

namespace {
struct FmtOptions {
  std::vector<std::string> paths;
  bool check_only = false;
  bool to_stdout = false;
};

int run_fmt(const FmtOptions& o) {
  SourceManager sm;
  Diagnostics diags;
  const auto files = collect_treaty_files(o.paths, diags);
  if (diags.has_errors()) {
    print_diagnostics(sm, diags, "text");
    return kUsage;
  }
  int rc = kOk;
  std::size_t changed = 0;
  for (const auto& path : files) {
    std::string text, error;
    if (read_source_file(path, ParseOptions{}.max_file_bytes, text, error) != ReadResult::ok) {
      std::cerr << "treaty: error: cannot read `" << path << "`: " << error << "\n";
      rc = kUsage;
      continue;
    }
    const auto id = sm.add(path, text);
    Diagnostics fd;
    const auto file = parse_file(sm, id, fd);
    if (fd.has_errors()) {
      print_diagnostics(sm, fd, "text");
      std::cerr << "treaty: not formatting `" << path << "`: it has syntax errors\n";
      rc = std::max(rc, kProblems);
      continue;
    }
    const std::string out = format_file(sm, file);
    if (out.size() > ParseOptions{}.max_file_bytes) {  // it could not be read back
      std::cerr << "treaty: error: not formatting `" << path << "`: formatted, it would be " << out.size()
                << " bytes, more than the limit of " << ParseOptions{}.max_file_bytes << "\n";
      rc = kUsage;
      continue;
    }
    // Never write a file whose meaning the formatter would change.
    const auto check_id = sm.add(path + " (formatted)", out);
    Diagnostics cd;
    const auto again = parse_file(sm, check_id, cd);
    if (cd.has_errors() || !(again == file)) {
      std::cerr << "treaty: internal error: formatting `" << path << "` would change its meaning; file left unchanged\n";
      rc = kUsage;
      continue;
    }
    if (o.to_stdout) {
      std::cout << out;
      continue;
    }
    if (out == text) continue;
    ++changed;
    if (o.check_only) {
      std::cout << path << "\n";
      rc = std::max(rc, kProblems);
      continue;
    }
    if (!write_atomically(path, out, error)) {
      std::cerr << "treaty: error: cannot write `" << path << "`: " << error << "\n";
      rc = kUsage;
    }
  }
  if (o.check_only && changed > 0) std::cerr << changed << " file" << (changed == 1 ? "" : "s") << " not formatted\n";
  return rc;
}
}  // namespace

std::function<int()> setup_fmt(CLI::App& app) {
  auto o = std::make_shared<FmtOptions>();
  app.add_option("paths", o->paths, "Files or directories")->required();
  app.add_flag("--check", o->check_only, "Write nothing; list unformatted files and exit 1 if there are any");
  app.add_flag("--stdout", o->to_stdout, "Print the formatted text instead of writing files");
  return [o] { return run_fmt(*o); };
}

}  // namespace treaty::cli
