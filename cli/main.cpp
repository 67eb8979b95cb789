// The `treaty` command: check, fmt, compile, eval, test, verify.
//
// Exit codes: 0 success; 1 problems found (diagnostics, unformatted files); 2 usage or I/O error.
#include <sys/stat.h>
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

#include "treaty/check.hpp"
#include "treaty/diagnostics.hpp"
#include "treaty/runtime.hpp"
#include "treaty/test_runner.hpp"
#include "treaty/verify.hpp"
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

const std::vector<std::string> kVerbs = {"check", "fmt", "compile", "eval", "test", "verify"};

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

/// Parse, check and (when clean) load a package and its data into an engine.
struct Loaded {
  treaty::SourceManager sm;
  treaty::Diagnostics diags;
  treaty::Package pkg;
  std::unique_ptr<treaty::Engine> engine;
};

void load(Loaded& l, const std::vector<std::string>& paths, const std::vector<std::string>& data, bool lints,
          const std::string& bundle = {}, bool facts = true) {
  if (!bundle.empty()) {
    treaty::StageTimer t("load");
    std::string bytes, err;
    if (!treaty::read_file(bundle, bytes, err)) {
      l.diags.add(treaty::DiagId::io_error, treaty::Span{}, "cannot read bundle `" + bundle + "`: " + err);
      return;
    }
    auto program = treaty::read_bundle(bytes, l.sm, err);
    if (!program) {
      l.diags.add(treaty::DiagId::io_error, treaty::Span{}, "cannot load bundle `" + bundle + "`: " + err);
      return;
    }
    l.engine = std::make_unique<treaty::Engine>(std::move(program));
    t.set_result(std::to_string(l.engine->program().rules.size()) + " rules, " +
                 std::to_string(l.engine->program().world.size()) + " facts");
    return;
  }
  {
    treaty::StageTimer t("parse");
    l.pkg = treaty::parse_package(l.sm, paths, l.diags);
    t.set_result(std::to_string(l.pkg.files.size()) + " files, " + std::to_string(l.pkg.declaration_count()) +
                 " declarations");
  }
  if (l.diags.has_errors()) return;
  std::unique_ptr<treaty::Program> program;
  {
    treaty::StageTimer t("check");
    treaty::CheckOptions opts;
    opts.data_files = data;
    opts.lints = lints;
    opts.facts = facts;
    program = treaty::check_package(l.sm, l.pkg, l.diags, opts);
    t.set_result(std::to_string(program->rules.size()) + " rules, " + std::to_string(program->world.size()) +
                 " facts, " + std::to_string(l.diags.all().size()) + " diagnostics");
  }
  if (l.diags.has_errors()) return;
  {
    treaty::StageTimer t("load");
    l.engine = std::make_unique<treaty::Engine>(std::move(program));
    t.set_result(std::to_string(l.engine->program().indexes.size()) + " indexes");
  }
  if (facts) {
    treaty::StageTimer t("requirements");
    l.engine->check_requirements(l.diags);
    t.set_result(std::to_string(l.engine->program().requirements.size()) + " requirements");
  }
}

int exit_for(const treaty::Diagnostics& diags) {
  if (!diags.has_errors()) return kOk;
  return only_input_errors(diags) ? kUsage : kProblems;
}

int run_check(const std::vector<std::string>& paths, const std::vector<std::string>& data, const std::string& format,
              bool strict) {
  Loaded l;
  load(l, paths, data, true);
  if (strict) l.diags.promote_warnings();
  print_diagnostics(l.sm, l.diags, format);
  const auto errors = l.diags.count(treaty::Severity::error);
  const auto warnings = l.diags.count(treaty::Severity::warning);
  if (format == "text") {
    std::cerr << "checked " << l.pkg.files.size() << " file" << (l.pkg.files.size() == 1 ? "" : "s") << ": " << errors
              << " error" << (errors == 1 ? "" : "s") << ", " << warnings << " warning" << (warnings == 1 ? "" : "s")
              << "\n";
  }
  return exit_for(l.diags);
}

/// Writes `text` to `path` atomically (defined below).
bool write_atomically(const std::string& path, const std::string& text, std::string& error);

int run_compile(const std::vector<std::string>& paths, const std::vector<std::string>& data, const std::string& out) {
  Loaded l;
  load(l, paths, data, false);
  if (l.diags.has_errors()) {
    l.diags.sort();
    std::cerr << treaty::render_human(l.sm, l.diags.all(), {use_color(false)});
    std::cerr << "treaty: nothing written: the policy has errors\n";
    return exit_for(l.diags);
  }
  std::string bytes;
  {
    treaty::StageTimer t("compile");
    bytes = treaty::write_bundle(l.engine->program(), l.sm);
    t.set_result(std::to_string(bytes.size()) + " bytes");
  }
  std::string err;
  if (!write_atomically(out, bytes, err)) {
    std::cerr << "treaty: error: cannot write " << out << ": " << err << "\n";
    return kUsage;
  }
  std::cerr << "compiled " << l.engine->program().rules.size() << " rules and " << l.engine->program().world.size()
            << " facts into " << out << " (" << bytes.size() << " bytes)\n";
  return kOk;
}

/// Loads for `eval` and `test`: diagnostics go to stderr; only errors stop the run.
bool load_or_report(Loaded& l, const std::vector<std::string>& paths, const std::vector<std::string>& data,
                    const std::string& bundle = {}) {
  load(l, paths, data, false, bundle);
  if (!l.diags.has_errors()) return true;
  l.diags.sort();
  std::cerr << treaty::render_human(l.sm, l.diags.all(), {use_color(false)});
  std::cerr << "treaty: the policy has errors; run `treaty check` for details\n";
  return false;
}

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') o += ' '; else o += c;
    }
  }
  return o;
}

int run_test(const std::vector<std::string>& paths, const std::vector<std::string>& data, const std::string& format,
             const std::string& filter) {
  Loaded l;
  if (!load_or_report(l, paths, data)) return exit_for(l.diags);
  treaty::TestReport report;
  {
    treaty::StageTimer t("evaluate");
    report = treaty::run_tests(*l.engine, l.sm, filter);
    t.set_result(std::to_string(report.results.size()) + " expectations");
  }
  auto where = [&](treaty::Span s) {
    const auto lc = l.sm.line_col(s.file, s.begin);
    return l.sm.file(s.file).path + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.column);
  };
  if (format == "json") {
    nlohmann::json j;
    j["passed"] = report.passed;
    j["failed"] = report.failed;
    j["results"] = nlohmann::json::array();
    for (const auto& r : report.results) {
      j["results"].push_back({{"test", r.test},
                              {"request", r.request},
                              {"location", where(r.span)},
                              {"passed", r.passed},
                              {"expected", r.expected_allow ? "allow" : "deny"},
                              {"decision", l.engine->to_json(r.decision, &l.sm)},
                              {"failure", r.failure}});
    }
    std::cout << j.dump(2) << "\n";
  } else if (format == "junit") {
    std::cout << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    std::cout << "<testsuites tests=\"" << report.results.size() << "\" failures=\"" << report.failed << "\">\n";
    std::cout << "  <testsuite name=\"treaty\" tests=\"" << report.results.size() << "\" failures=\"" << report.failed
              << "\">\n";
    for (const auto& r : report.results) {
      std::cout << "    <testcase classname=\"" << xml_escape(r.test) << "\" name=\"" << xml_escape(r.request)
                << "\" file=\"" << xml_escape(l.sm.file(r.span.file).path) << "\" line=\""
                << l.sm.line_col(r.span.file, r.span.begin).line << "\"";
      if (r.passed) {
        std::cout << "/>\n";
      } else {
        std::cout << ">\n      <failure message=\"" << xml_escape(r.failure) << "\">" << xml_escape(r.explanation)
                  << "</failure>\n    </testcase>\n";
      }
    }
    std::cout << "  </testsuite>\n</testsuites>\n";
  } else {
    for (const auto& r : report.results) {
      if (r.passed) continue;
      std::cout << where(r.span) << ": FAIL in test \"" << r.test << "\"\n  " << r.request << "\n  " << r.failure
                << "\n";
      std::string ex = r.explanation;
      std::size_t pos = 0;
      while ((pos = ex.find('\n', pos)) != std::string::npos && pos + 1 < ex.size()) ex.insert(++pos, "  ");
      if (!ex.empty()) std::cout << "  " << ex;
      std::cout << "\n";
    }
    std::cout << report.passed << " passed, " << report.failed << " failed\n";
  }
  return report.failed ? kProblems : kOk;
}

int run_verify(const std::vector<std::string>& paths, std::uint64_t runs, std::uint64_t seed, std::uint32_t max_size,
               const std::string& format, const std::string& filter) {
  Loaded l;
  load(l, paths, {}, false, {}, false);
  if (l.diags.has_errors()) {
    l.diags.sort();
    std::cerr << treaty::render_human(l.sm, l.diags.all(), {use_color(false)});
    std::cerr << "treaty: the policy has errors (verify checks it without its facts: rules may not name facts)\n";
    return exit_for(l.diags);
  }
  treaty::VerifyOptions opts;
  opts.runs = runs;
  opts.seed = seed;
  opts.max_size = max_size;
  opts.filter = filter;
  const auto& props = l.engine->program().properties;
  const bool tty = isatty(2) != 0 && format == "text";
  if (tty)
    opts.progress = [&](std::size_t i, std::uint64_t n) {
      if (n % 10 == 0 || n == runs) std::cerr << "\r\033[Kverify: " << props[i].name << ": " << n << "/" << runs << " worlds" << std::flush;
    };
  treaty::VerifyReport report;
  {
    treaty::StageTimer t("verify");
    report = treaty::verify(*l.engine, l.sm, opts);
    t.set_result(std::to_string(report.properties.size()) + " properties");
  }
  if (tty) std::cerr << "\r\033[K";
  auto where = [&](treaty::Span s) {
    const auto lc = l.sm.line_col(s.file, s.begin);
    return l.sm.file(s.file).path + ":" + std::to_string(lc.line);
  };
  std::size_t failed = 0;
  for (const auto& p : report.properties) failed += !p.passed;
  if (format == "json") {
    nlohmann::json j;
    j["seed"] = report.seed;
    j["properties"] = nlohmann::json::array();
    for (const auto& p : report.properties) {
      nlohmann::json r{{"name", p.name},      {"location", where(p.span)},     {"passed", p.passed},
                       {"worlds", p.worlds},  {"requests", p.requests},        {"discarded_worlds", p.discarded_worlds}};
      if (!p.warning.empty()) r["warning"] = p.warning;
      if (p.counterexample) {
        r["counterexample"] = {{"test", p.counterexample->test_block},
                               {"explanation", p.counterexample->explanation},
                               {"entities", p.counterexample->entities}};
      }
      j["properties"].push_back(r);
    }
    std::cout << j.dump(2) << "\n";
  } else {
    for (const auto& p : report.properties) {
      std::cout << (p.passed ? "passed " : "FAILED ") << p.name << " (" << where(p.span) << "): " << p.worlds
                << " worlds, " << p.requests << " requests\n";
      if (!p.warning.empty()) std::cout << "  warning: " << p.warning << "\n";
      if (p.counterexample) {
        std::cout << "  counterexample, shrunk to " << p.counterexample->entities << " entities; paste this test:\n\n"
                  << p.counterexample->test_block << "\n  the wrong decision:\n";
        std::string ex = p.counterexample->explanation;
        std::size_t pos = 0;
        while ((pos = ex.find('\n', pos)) != std::string::npos && pos + 1 < ex.size()) ex.insert(++pos, "    ");
        std::cout << "    " << ex << "\n";
      }
    }
    std::cout << report.properties.size() - failed << " passed, " << failed << " failed (seed " << report.seed
              << "; rerun with --seed " << report.seed << ")\n";
  }
  return failed ? kProblems : kOk;
}

/// Parses `--principal T::"id" --action 'name(arg: v)' --resource T::"id"` through the grammar
/// of a test expectation, so the flags accept exactly what a `test` block does.
bool request_from_flags(Loaded& l, const std::string& principal, const std::string& action,
                        const std::string& resource, treaty::Overlay& overlay, treaty::Request& out,
                        const std::string& mask = {}, std::uint32_t* mask_index = nullptr) {
  const std::string text = "test \"command line\" { expect allow principal " + principal + " action " + action +
                           " resource " + resource + "; }";
  const auto id = l.sm.add("<command line>", text);
  treaty::Diagnostics d;
  auto file = treaty::parse_file(l.sm, id, d);
  if (!d.empty() || file.decls.size() != 1) {
    std::cerr << treaty::render_human(l.sm, d.all());
    std::cerr << "treaty: error: cannot read the request flags; write them as in a test: --principal 'Person::\"alice\"' "
                 "--action 'assign_task(kind: approval)' --resource 'Person::\"bob\"'\n";
    return false;
  }
  const auto& ex = std::get<treaty::syntax::TestDecl>(file.decls[0]).expects.at(0).request;
  const auto& p = l.engine->program();
  auto pt = p.schema.find_entity(ex.principal.name);
  auto rt = p.schema.find_entity(ex.resource.name);
  auto a = p.schema.find_action(ex.action.name);
  std::string error;
  if (!pt) error = "unknown entity type `" + ex.principal.name + "`";
  else if (!rt) error = "unknown entity type `" + ex.resource.name + "`";
  else if (!a) error = "unknown action `" + ex.action.name + "`";
  if (error.empty()) {
    const auto& act = p.schema.actions[*a];
    std::vector<treaty::Value> args(act.params.size());
    std::vector<bool> given(act.params.size(), false);
    for (const auto& arg : ex.args) {
      std::size_t idx = act.params.size();
      for (std::size_t i = 0; i < act.params.size(); ++i)
        if (act.params[i].name == arg.name.name) idx = i;
      if (idx == act.params.size()) {
        error = "action `" + act.name + "` has no parameter `" + arg.name.name + "`";
        break;
      }
      treaty::OverlayResolver res(overlay);
      treaty::Span sp;
      if (!treaty::convert_constant(p.schema, arg.value, act.params[idx].type, res, args[idx], error, sp)) {
        error = "argument `" + arg.name.name + "`: " + error;
        break;
      }
      given[idx] = true;
    }
    if (error.empty() && !mask.empty()) {
      std::size_t idx = act.params.size();
      for (std::size_t i = 0; i < act.params.size(); ++i)
        if (act.params[i].name == mask) idx = i;
      if (idx == act.params.size()) {
        error = "action `" + act.name + "` has no parameter `" + mask + "` to mask";
      } else if (act.params[idx].type.base != treaty::Base::enum_ || act.params[idx].type.set) {
        error = "--mask needs an enum parameter; `" + mask + "` is `" + p.schema.type_name(act.params[idx].type) + "`";
      } else if (given[idx]) {
        error = "--mask " + mask + ": leave the masked parameter out of --action";
      } else {
        given[idx] = true;
        args[idx] = treaty::Value::enumv(act.params[idx].type.enum_id, 0);
        *mask_index = static_cast<std::uint32_t>(idx);
      }
    }
    if (error.empty() &&
        l.engine->make_request(*pt, ex.principal.str, *a, std::move(args), std::move(given), *rt, ex.resource.str,
                               &overlay, out, error))
      return true;
  }
  std::cerr << "treaty: error: bad request: " << error << "\n";
  return false;
}

void print_decision(Loaded& l, const treaty::Decision& d, const treaty::Request& r, const std::string& format,
                    bool explain) {
  if (format == "json") {
    std::cout << l.engine->to_json(d, &l.sm).dump() << "\n";
  } else if (explain) {
    std::cout << l.engine->explain(d, r, &l.sm);
  } else {
    std::cout << (d.allow ? "allow" : "deny") << "\n";
  }
}

int run_eval(const std::vector<std::string>& paths, const std::vector<std::string>& data, const std::string& request,
             const std::string& requests, const std::string& principal, const std::string& action,
             const std::string& resource, bool explain, const std::string& format, const std::string& mask,
             const std::string& bundle) {
  if (bundle.empty() == paths.empty()) {
    std::cerr << "treaty: error: give either policy PATHs or --bundle FILE\n";
    return kUsage;
  }
  if (!bundle.empty() && !data.empty()) {
    std::cerr << "treaty: error: --data goes into the bundle at `treaty compile`; it cannot be added to --bundle\n";
    return kUsage;
  }
  const int sources = !request.empty() + !requests.empty() + !(principal.empty() && action.empty() && resource.empty());
  if (sources != 1) {
    std::cerr << "treaty: error: give exactly one of --request FILE, --requests FILE or --principal/--action/--resource\n";
    return kUsage;
  }
  if (!mask.empty() && principal.empty()) {
    std::cerr << "treaty: error: --mask goes with --principal, --action and --resource\n";
    return kUsage;
  }
  if (request.empty() && requests.empty() && (principal.empty() || action.empty() || resource.empty())) {
    std::cerr << "treaty: error: --principal, --action and --resource go together\n";
    return kUsage;
  }
  Loaded l;
  if (!load_or_report(l, paths, data, bundle)) return exit_for(l.diags);
  treaty::StageTimer t("evaluate");
  if (!principal.empty()) {
    treaty::Overlay overlay(l.engine->program());
    treaty::Request r;
    std::uint32_t mask_index = 0;
    if (!request_from_flags(l, principal, action, resource, overlay, r, mask, &mask_index)) return kUsage;
    if (!mask.empty()) {
      // A field mask: every value of the parameter that would be allowed, in one call.
      const auto& p = l.engine->program();
      const auto& ptype = p.schema.actions[r.action].params[mask_index].type;
      nlohmann::json allowed = nlohmann::json::array();
      for (auto v : l.engine->allowed_values(r, mask_index)) allowed.push_back(p.schema.enums[ptype.enum_id].values[v]);
      if (format == "json") {
        std::cout << nlohmann::json{{"parameter", mask}, {"allowed", allowed}}.dump() << "\n";
      } else {
        std::string line;
        for (const auto& v : allowed) line += (line.empty() ? "" : ", ") + v.get<std::string>();
        std::cout << mask << ": " << (line.empty() ? "(none)" : line) << "\n";
      }
      return kOk;
    }
    const auto d = l.engine->decide(r, true);
    print_decision(l, d, r, format, explain);
    t.set_result(std::string("1 request: ") + (d.allow ? "allow" : "deny"));
    return kOk;
  }
  const std::string& path = request.empty() ? requests : request;
  std::string text, err;
  if (!treaty::read_file(path, text, err)) {
    std::cerr << "treaty: error: cannot read " << path << ": " << err << "\n";
    return kUsage;
  }
  std::vector<std::pair<std::size_t, std::string>> docs;
  if (!request.empty()) {
    docs.emplace_back(1, text);
  } else {
    std::size_t line = 0, pos = 0;
    while (pos <= text.size()) {
      const auto nl = text.find('\n', pos);
      std::string ln = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      ++line;
      if (ln.find_first_not_of(" \t\r") != std::string::npos) docs.emplace_back(line, ln);
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
  }
  int rc = kOk;
  std::size_t n = 0;
  for (const auto& [line, doc] : docs) {
    ++n;
    std::string at = path + (requests.empty() ? "" : ":" + std::to_string(line));
    auto j = nlohmann::json::parse(doc, nullptr, false);
    treaty::Overlay overlay(l.engine->program());
    treaty::Request r;
    std::string error;
    if (j.is_discarded()) {
      // Where and why, as for a facts file: path:line:column of the first bad character.
      const auto bad = treaty::json_error(doc).value_or(treaty::JsonError{0, "not one JSON document"});
      treaty::SourceManager where;
      const auto lc = where.line_col(where.add(path, doc), static_cast<std::uint32_t>(std::min(bad.offset, doc.size())));
      at = path + ":" + std::to_string(line + lc.line - 1) + ":" + std::to_string(lc.column);
      error = "invalid JSON: " + bad.message;
    } else if (!l.engine->request_from_json(j, overlay, r, error)) {}
    if (!error.empty()) {
      // A bad request is an error, never a deny; in a batch it is answered in place.
      if (format == "json")
        std::cout << nlohmann::json{{"decision", "error"}, {"errors", {at + ": " + error}}}.dump() << "\n";
      else
        std::cout << "error: " << at << ": " << error << "\n";
      std::cerr << "treaty: error: " << at << ": bad request: " << error << "\n";
      rc = kUsage;
      continue;
    }
    const auto d = l.engine->decide(r, explain || format == "json");
    print_decision(l, d, r, format, explain);
  }
  t.set_result(std::to_string(n) + " requests");
  return rc;
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
    // Keep the mode of the file replaced; a new file gets 0666 less the umask, like any other.
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

  std::vector<std::string> paths, data;
  std::string format = "text";
  bool strict = false;
  auto* check = app.add_subcommand("check", "Check every .treaty file under PATH...: syntax, names, types, facts, requirements, lints");
  check->add_option("paths", paths, "Files or directories (searched recursively for .treaty files)")->required();
  check->add_option("--data", data, "JSON facts file (repeatable)");
  check->add_option("--format", format, "Output format: text, json or sarif (SARIF 2.1.0)")
      ->check(CLI::IsMember({"text", "json", "sarif"}));
  check->add_flag("--strict", strict, "Treat warnings as errors");

  bool fmt_check = false, fmt_stdout = false;
  auto* fmt = app.add_subcommand("fmt", "Rewrite .treaty files in the canonical style (atomically, in place)");
  fmt->add_option("paths", paths, "Files or directories")->required();
  fmt->add_flag("--check", fmt_check, "Write nothing; list unformatted files and exit 1 if there are any");
  fmt->add_flag("--stdout", fmt_stdout, "Print the formatted text instead of writing files");

  std::string filter;
  auto* test = app.add_subcommand("test", "Run every `test` block; exit 1 on any failure");
  test->add_option("paths", paths, "Files or directories")->required();
  test->add_option("--data", data, "JSON facts file (repeatable)");
  test->add_option("--format", format, "Output format: text, json or junit (JUnit XML)")
      ->check(CLI::IsMember({"text", "json", "junit"}));
  test->add_option("--filter", filter, "Run only tests whose name contains TEXT");

  std::string request, requests, principal, action, resource;
  bool explain = false;
  std::string out;
  auto* compile = app.add_subcommand("compile", "Check and compile a package and its data into a binary bundle");
  compile->add_option("paths", paths, "Files or directories")->required();
  compile->add_option("--data", data, "JSON facts file (repeatable)");
  compile->add_option("-o,--output", out, "The bundle to write (atomically)")->required();

  std::string bundle;
  auto* eval = app.add_subcommand("eval", "Decide requests: allow or deny, with the rules that decided");
  eval->add_option("paths", paths, "Files or directories (or --bundle)");
  eval->add_option("--bundle", bundle, "A bundle written by `treaty compile`, instead of PATHs");
  eval->add_option("--data", data, "JSON facts file (repeatable)");
  eval->add_option("--request", request, "A JSON request file");
  eval->add_option("--requests", requests, "A JSON Lines file of requests, answered in order");
  eval->add_option("--principal", principal, "The principal, as `Type::\"id\"`");
  eval->add_option("--action", action, "The action, as `name` or `name(param: value)`");
  eval->add_option("--resource", resource, "The resource, as `Type::\"id\"`");
  eval->add_flag("--explain", explain, "Explain the decision in words (text format)");
  std::string mask;
  eval->add_option("--mask", mask,
                   "With --principal/--action/--resource: list the values of this enum parameter (left out of "
                   "--action) that would be allowed, e.g. --mask field");
  eval->add_option("--format", format, "Output format: text or json")->check(CLI::IsMember({"text", "json"}));

  std::uint64_t runs = 1000, seed = 0;
  std::uint32_t max_size = 20;
  auto* verify = app.add_subcommand("verify", "Search random worlds for counterexamples to every `property`");
  verify->add_option("paths", paths, "Files or directories")->required();
  verify->add_option("--runs", runs, "Worlds to try per property (default 1000)")->check(CLI::Range(1, 10000000));
  verify->add_option("--seed", seed, "Random seed, to reproduce a run (default: from the clock, printed)");
  verify->add_option("--max-size", max_size, "Most entities of one type in a world (default 20)")
      ->check(CLI::Range(1, 1000));
  verify->add_option("--format", format, "Output format: text or json")->check(CLI::IsMember({"text", "json"}));
  verify->add_option("--filter", filter, "Verify only properties whose name contains TEXT");

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
    if (check->parsed()) return run_check(paths, data, format, strict);
    if (test->parsed()) return run_test(paths, data, format, filter);
    if (eval->parsed()) return run_eval(paths, data, request, requests, principal, action, resource, explain, format, mask, bundle);
    if (compile->parsed()) return run_compile(paths, data, out);
    if (verify->parsed()) return run_verify(paths, runs, seed, max_size, format, filter);
    if (fmt->parsed()) return run_fmt(paths, fmt_check, fmt_stdout);
  } catch (const std::exception& e) {
    std::cerr << "treaty: internal error: " << e.what() << "\n";
    return kUsage;
  }
  return kUsage;
}
