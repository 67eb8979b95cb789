#include "common.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>

#include "treaty/data/world.hpp"
#include "treaty/compile.hpp"
#include "treaty/log.hpp"

namespace treaty::cli {

namespace {
bool only_input_errors(const Diagnostics& diags) {
  for (const auto& d : diags.all())
    if (d.severity == Severity::error && d.id != DiagId::io_error && d.id != DiagId::no_treaty_files) return false;
  return true;
}
}  // namespace

int exit_for(const Diagnostics& diags) {
  if (!diags.has_errors()) return kOk;
  return only_input_errors(diags) ? kUsage : kProblems;
}

void load(Loaded& l, const LoadOptions& o) {
  CompileOptions opts;
  opts.check.data_files = o.data;
  opts.check.data_texts = o.data_texts;
  opts.check.lints = o.lints;
  opts.check.facts = o.facts;
  opts.load_for_requirements_only = o.engine_only_for_requirements;
  // The stage log of `-v`: parse, check (its passes, each at debug level), load, requirements.
  double check_ms = 0, bundle_ms = 0;
  opts.on_step = [&](Step step, double ms, const Compiled& c) {
    switch (step) {
      case Step::parse:
        log_stage("parse", std::to_string(c.pkg.files.size()) + " files, " + std::to_string(c.pkg.declaration_count()) +
                               " declarations", ms);
        return;
      case Step::collect:
      case Step::schema:
      case Step::world:
      case Step::lower:
      case Step::indexes:
      case Step::lints:
        check_ms += ms;
        log_stage("check." + std::string(step_name(step)), "done", ms, /*detail=*/true);
        if (step == Step::lints)
          log_stage("check", std::to_string(c.program->rules.size()) + " rules, " +
                                 std::to_string(c.program->world().size()) + " facts, " +
                                 std::to_string(l.diags.all().size()) + " diagnostics", check_ms);
        return;
      case Step::bundle: bundle_ms = ms; return;
      case Step::load:
        if (o.bundle.empty())
          log_stage("load", std::to_string(c.engine->program().indexes.size()) + " indexes", ms);
        else
          log_stage("load", std::to_string(c.engine->program().rules.size()) + " rules, " +
                                std::to_string(c.engine->program().world().size()) + " facts", bundle_ms + ms);
        return;
      case Step::requirements:
        log_stage("requirements", std::to_string(c.engine->program().requirements.size()) + " requirements", ms);
        return;
    }
  };
  Compiled c;
  if (!o.bundle.empty()) {
    opts.last = o.bundle_requirements ? Step::requirements : Step::load;
    c = load_bundle(l.sm, o.bundle, l.diags, opts);
  } else {
    c = compile(l.sm, Sources::from_paths(o.paths), l.diags, opts);
  }
  l.pkg = std::move(c.pkg);
  l.engine = std::move(c.engine);
  if (!l.engine && !l.diags.has_errors()) l.program = std::move(c.program);
}

bool load_or_report(Loaded& l, const LoadOptions& opts) {
  load(l, opts);
  if (!l.diags.has_errors()) return true;
  print_errors(l.sm, l.diags);
  if (!l.pkg.files.empty()) std::cerr << "treaty: the policy has errors; run `treaty check` for details\n";
  return false;
}

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
    const auto st = fs::status(target, ec);
    if (!ec && fs::exists(st)) {
      fs::permissions(tmpl, st.permissions() & fs::perms::all, ec);
    } else {
      const mode_t mask = ::umask(0);
      ::umask(mask);
      fs::permissions(tmpl, static_cast<fs::perms>(0666 & ~mask), ec);
    }
    ec.clear();
    fs::rename(tmpl, target, ec);
    ok = !ec;
  }
  if (!ok) {
    error = ec ? ec.message() : std::string("write failed: ") + std::strerror(errno);
    fs::remove(tmpl, ec);
  }
  return ok;
}

bool write_output(const std::string& path, const std::string& text, std::string& error) {
  if (!path.empty() && path != "-") return write_atomically(path, text, error);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  if (std::ferror(stdout)) {
    error = "cannot write to stdout";
    return false;
  }
  return true;
}

bool write_pictures(const std::string& dir, const std::vector<std::pair<std::string, const Graph*>>& pictures,
                    const std::string& format, std::vector<std::string>& written, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    error = "cannot create " + dir + ": " + ec.message();
    return false;
  }
  const char* ext = format == "svg" ? ".svg" : format == "mermaid" ? ".mmd" : ".dot";
  std::set<std::string> used;
  for (const auto& [name, g] : pictures) {
    // A file name of letters, digits, `-` and `_` only; a repeated name is numbered.
    std::string base;
    for (char c : name) base += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_';
    if (base.empty()) base = "picture";
    std::string file = base;
    for (int n = 2; !used.insert(file).second; ++n) file = base + "_" + std::to_string(n);
    std::string text;
    const std::string path = (std::filesystem::path(dir) / (file + ext)).string();
    if (!render_picture(*g, format, text, error) || !write_atomically(path, text, error)) return false;
    written.push_back(path);
  }
  return true;
}

bool draw_pictures(const std::string& dir, const std::vector<std::pair<std::string, const Graph*>>& pictures,
                   const std::string& format, std::string_view what) {
  std::vector<std::string> written;
  std::string error;
  if (!write_pictures(dir, pictures, format, written, error)) {
    std::cerr << "treaty: error: --pictures: " << error << "\n";
    return false;
  }
  for (const auto& w : written) std::cerr << "treaty: drew " << what << ": " << w << "\n";
  return true;
}

}  // namespace treaty::cli
