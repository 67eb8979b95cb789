// The `treaty` command's report writers (output.hpp): one place for every format.
#include "output.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <ctime>
#include <map>
#include <iostream>
#include <nlohmann/json.hpp>

#ifndef TREATY_VERSION
#define TREATY_VERSION "0.0.0"
#endif

namespace treaty::cli {

CLI::Option* add_format_option(CLI::App& app, std::string& target, const std::vector<std::string>& allowed) {
  std::string help = "Output format: ";
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    help += i == 0 ? "" : i + 1 == allowed.size() ? " or " : ", ";
    help += allowed[i];
    if (allowed[i] == "sarif") help += " (SARIF 2.1.0)";
    if (allowed[i] == "junit") help += " (JUnit XML)";
    if (allowed[i] == "svg") help += " (through Graphviz's `dot`)";
  }
  return app.add_option("--format", target, help)->check(CLI::IsMember(allowed));
}

bool use_color(bool to_stdout) {
  if (std::getenv("NO_COLOR")) return false;
  return isatty(to_stdout ? 1 : 2) != 0;
}

void print_diagnostics(const SourceManager& sm, Diagnostics& diags, const std::string& format, bool to_stderr) {
  diags.sort();
  std::ostream& out = to_stderr ? std::cerr : std::cout;
  if (format == "json") {
    write_json(out, sm, diags.all());
    out << "\n";
  } else if (format == "sarif") {
    write_sarif(out, sm, diags.all(), TREATY_VERSION);
    out << "\n";
  } else {
    render_human(out, sm, diags.all(), {use_color(!to_stderr)});
  }
}

void print_errors(const SourceManager& sm, Diagnostics& diags) {
  diags.sort();
  render_human(std::cerr, sm, diags.all(), {use_color(false)});
}

void write_test_report(std::ostream& out, const TestReport& report, const Engine& engine, const SourceManager& sm,
                       const std::string& format) {
  auto where = [&](Span s) {
    const auto lc = sm.line_col(s.file, s.begin);
    return sm.file(s.file).path + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.column);
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
                              {"expected", r.expected_violation ? "violation" : r.expected_allow ? "allow" : "deny"},
                              {"decision", engine.to_json(r.decision, &sm)},
                              {"failure", r.failure}});
    }
    out << j.dump(2) << "\n";
  } else if (format == "junit") {
    out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out << "<testsuites tests=\"" << report.results.size() << "\" failures=\"" << report.failed << "\">\n";
    out << "  <testsuite name=\"treaty\" tests=\"" << report.results.size() << "\" failures=\"" << report.failed
        << "\">\n";
    for (const auto& r : report.results) {
      out << "    <testcase classname=\"" << xml_escape(r.test) << "\" name=\"" << xml_escape(r.request)
          << "\" file=\"" << xml_escape(sm.file(r.span.file).path) << "\" line=\""
          << sm.line_col(r.span.file, r.span.begin).line << "\"";
      if (r.passed) {
        out << "/>\n";
      } else {
        out << ">\n      <failure message=\"" << xml_escape(r.failure) << "\">" << xml_escape(r.explanation)
            << "</failure>\n    </testcase>\n";
      }
    }
    out << "  </testsuite>\n</testsuites>\n";
  } else {
    for (const auto& r : report.results) {
      if (r.passed) continue;
      out << where(r.span) << ": FAIL in test \"" << r.test << "\"\n  " << r.request << "\n  " << r.failure
          << "\n";
      if (!r.explanation.empty()) out << "  " << indent_lines(r.explanation, "  ");
      out << "\n";
    }
    out << report.passed << " passed, " << report.failed << " failed\n";
  }
}

void write_verify_report(std::ostream& out, const VerifyReport& report, const SourceManager& sm,
                         const std::string& format) {
  auto where = [&](Span s) {
    const auto lc = sm.line_col(s.file, s.begin);
    return sm.file(s.file).path + ":" + std::to_string(lc.line);
  };
  std::size_t failed = 0;
  for (const auto& p : report.properties) failed += !p.passed;
  if (format == "json") {
    nlohmann::json j;
    if (report.facts) j["over"] = "facts";
    else j["seed"] = report.seed;
    j["properties"] = nlohmann::json::array();
    for (const auto& p : report.properties) {
      nlohmann::json r{{"name", p.name},     {"location", where(p.span)}, {"passed", p.passed},
                       {"worlds", p.worlds}, {"requests", p.requests},    {"discarded_worlds", p.discarded_worlds}};
      if (!p.warning.empty()) r["warning"] = p.warning;
      if (p.counterexample) {
        r["counterexample"] = {{"test", p.counterexample->test_block},
                               {"explanation", p.counterexample->explanation},
                               {"entities", p.counterexample->entities}};
      }
      j["properties"].push_back(r);
    }
    out << j.dump(2) << "\n";
  } else {
    for (const auto& p : report.properties) {
      out << (p.passed ? "passed " : "FAILED ") << p.name << " (" << where(p.span) << "): ";
      if (report.facts) out << p.requests << " requests over the package's facts\n";
      else out << p.worlds << " worlds, " << p.requests << " requests\n";
      if (!p.warning.empty()) out << "  warning: " << p.warning << "\n";
      if (p.counterexample) {
        if (report.facts) out << "  counterexample in the package's facts; paste this test:\n\n";
        else out << "  counterexample, shrunk to " << p.counterexample->entities << " entities; paste this test:\n\n";
        out
            << p.counterexample->test_block << "\n  the wrong decision:\n";
        out << "    " << indent_lines(p.counterexample->explanation, "    ") << "\n";
      }
    }
    out << report.properties.size() - failed << " passed, " << failed << " failed";
    if (report.facts) out << " (over the package's facts)\n";
    else out << " (seed " << report.seed << "; rerun with --seed " << report.seed << ")\n";
  }
}

void append_decision(std::string& out, const Engine& engine, const SourceManager& sm, const DecisionWriter& w,
                     const Decision& d, const Request& r, const std::string& format, bool explain) {
  if (format == "json") {
    w.write(d, out);
    out.push_back('\n');
  } else if (explain) {
    out += engine.explain(d, r, &sm);
  } else {
    out += d.allow ? "allow\n" : "deny\n";
  }
}

namespace {
std::string trim_blanks(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

nlohmann::json where_json(const SourceManager& sm, Span s) {
  const auto lc = sm.line_col(s.file, s.begin);
  return {{"path", sm.file(s.file).path}, {"line", lc.line}, {"column", lc.column}};
}

std::string where_text(const SourceManager& sm, Span s) {
  const auto lc = sm.line_col(s.file, s.begin);
  return sm.file(s.file).path + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.column);
}

/// The declaration's text, from the start of its first line when only blanks precede it there (so
/// continuation lines keep their indentation relative to it).
std::string decl_text(const SourceManager& sm, Span s) {
  const auto lc = sm.line_col(s.file, s.begin);
  Span from{s.file, s.begin - (lc.column - 1), s.end};
  if (!trim_blanks(sm.text(Span{s.file, from.begin, s.begin})).empty()) from.begin = s.begin;
  return std::string(sm.text(from));
}
}  // namespace

void write_explain_report(std::ostream& out, const SourceManager& sm, const std::string& name,
                          const std::vector<ExplainMatch>& matches, const std::string& format) {
  auto source_line = [&](Span s) {
    return trim_blanks(sm.line_text(s.file, sm.line_col(s.file, s.begin).line));
  };
  auto tick = [](std::string_view s) { return "`" + std::string(s) + "`"; };
  if (format == "json") {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& m : matches) {
      nlohmann::json uses = nlohmann::json::array();
      for (const auto& u : m.uses) {
        auto j = where_json(sm, u.span);
        j["use"] = u.what;
        j["in"] = u.in;
        j["source"] = source_line(u.span);
        uses.push_back(std::move(j));
      }
      all.push_back({{"kind", m.kind},
                     {"name", m.name},
                     {"doc", m.doc.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.doc)},
                     {"location", where_json(sm, m.location)},
                     {"declaration", decl_text(sm, m.text)},
                     {"uses", std::move(uses)}});
    }
    out << nlohmann::json{{"name", name}, {"matches", std::move(all)}}.dump(2) << "\n";
    return;
  }
  if (matches.size() > 1) out << tick(name) << " names " << matches.size() << " declarations:\n\n";
  bool first = true;
  for (const auto& m : matches) {
    if (!first) out << "\n";
    first = false;
    out << m.kind << " " << tick(m.name) << " at " << where_text(sm, m.location) << "\n";
    if (!m.doc.empty()) out << "\n" << indent_lines("  /// " + m.doc, "  /// ") << "\n";
    out << "\n" << indent_lines("  " + decl_text(sm, m.text), "  ") << "\n";
    out << "\n" << m.uses.size() << (m.uses.size() == 1 ? " use" : " uses") << (m.uses.empty() ? "" : ":") << "\n";
    for (const auto& u : m.uses)
      out << "  " << where_text(sm, u.span) << ": " << u.what << " in " << u.in << "\n      " << source_line(u.span)
          << "\n";
  }
}

namespace {
/// Per file, per line: the fewest hits of the items that start on it (a line counts as covered
/// only when everything written on it is).
std::map<std::string, std::map<std::uint32_t, std::size_t>> coverage_lines(const CoverageReport& c,
                                                                          const SourceManager& sm) {
  std::map<std::string, std::map<std::uint32_t, std::size_t>> files;
  for (const auto& i : c.items) {
    if (!i.span.valid()) continue;
    const auto line = sm.line_col(i.span.file, i.span.begin).line;
    auto& lines = files[sm.file(i.span.file).path];
    auto [it, fresh] = lines.try_emplace(line, i.hits);
    if (!fresh) it->second = std::min(it->second, i.hits);
  }
  return files;
}

std::string percent_text(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", p);
  return buf;
}

/// What an uncovered item never did, for the text report.
std::string never(const CoverageItem& i, const SourceManager& sm) {
  const auto tick = [](std::string_view s) { return "`" + std::string(s) + "`"; };
  std::string text = trim_blanks(sm.text(i.span));
  if (auto nl = text.find('\n'); nl != std::string::npos) text = text.substr(0, nl) + " ...";
  if (text.size() > 72) text = text.substr(0, 69) + "...";
  switch (i.kind) {
    case CoverageItem::Kind::rule_decides: return "rule " + tick(i.owner) + " never decided an expectation";
    case CoverageItem::Kind::rule_fails:
      return "rule " + tick(i.owner) + " never failed (no expectation met it without it applying)";
    case CoverageItem::Kind::condition_fails:
      return "a condition of " + tick(i.owner) + " was never the first to fail: " + tick(text);
    case CoverageItem::Kind::exists_fails: return "an `exists` in " + tick(i.owner) + " never failed: " + tick(text);
  }
  return {};
}
}  // namespace

void write_coverage_report(std::ostream& out, const CoverageReport& c, const SourceManager& sm,
                           const std::string& format) {
  using Kind = CoverageItem::Kind;
  constexpr Kind kinds[] = {Kind::rule_decides, Kind::rule_fails, Kind::condition_fails, Kind::exists_fails};
  if (format == "json") {
    nlohmann::json j{{"covered", c.covered()}, {"total", c.items.size()}, {"percent", c.percent()}};
    j["by_kind"] = nlohmann::json::object();
    for (Kind k : kinds) {
      std::size_t n = 0, hit = 0;
      for (const auto& i : c.items)
        if (i.kind == k) n += 1, hit += i.hits > 0;
      j["by_kind"][coverage_kind_name(k)] = {{"covered", hit}, {"total", n}};
    }
    j["items"] = nlohmann::json::array();
    for (const auto& i : c.items) {
      nlohmann::json e = where_json(sm, i.span);
      e["kind"] = coverage_kind_name(i.kind);
      e["owner"] = i.owner;
      e["hits"] = i.hits;
      j["items"].push_back(std::move(e));
    }
    out << j.dump(2) << "\n";
    return;
  }
  if (format == "lcov") {
    const auto files = coverage_lines(c, sm);
    for (const auto& [path, lines] : files) {
      out << "TN:\nSF:" << path << "\n";
      std::size_t fnf = 0, fnh = 0;
      for (const auto& i : c.items) {
        if (i.kind != Kind::rule_decides || !i.span.valid() || sm.file(i.span.file).path != path) continue;
        out << "FN:" << sm.line_col(i.span.file, i.span.begin).line << "," << i.owner << "\n";
        out << "FNDA:" << i.hits << "," << i.owner << "\n";
        ++fnf;
        fnh += i.hits > 0;
      }
      out << "FNF:" << fnf << "\nFNH:" << fnh << "\n";
      std::size_t lh = 0;
      for (const auto& [line, hits] : lines) {
        out << "DA:" << line << "," << hits << "\n";
        lh += hits > 0;
      }
      out << "LF:" << lines.size() << "\nLH:" << lh << "\nend_of_record\n";
    }
    return;
  }
  if (format == "cobertura") {
    const auto files = coverage_lines(c, sm);
    std::size_t valid = 0, covered = 0;
    for (const auto& [path, lines] : files)
      for (const auto& [line, hits] : lines) valid += 1, covered += hits > 0;
    auto rate = [](std::size_t a, std::size_t b) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.4f", b ? static_cast<double>(a) / static_cast<double>(b) : 1.0);
      return std::string(buf);
    };
    out << "<?xml version=\"1.0\" ?>\n"
        << "<!DOCTYPE coverage SYSTEM \"http://cobertura.sourceforge.net/xml/coverage-04.dtd\">\n"
        << "<coverage line-rate=\"" << rate(covered, valid) << "\" branch-rate=\"0\" lines-covered=\"" << covered
        << "\" lines-valid=\"" << valid << "\" branches-covered=\"0\" branches-valid=\"0\" complexity=\"0\""
        << " version=\"treaty\" timestamp=\"" << static_cast<long long>(std::time(nullptr)) * 1000 << "\">\n"
        << "  <sources>\n    <source>.</source>\n  </sources>\n  <packages>\n"
        << "    <package name=\"policies\" line-rate=\"" << rate(covered, valid)
        << "\" branch-rate=\"0\" complexity=\"0\">\n      <classes>\n";
    for (const auto& [path, lines] : files) {
      std::size_t h = 0;
      for (const auto& [line, hits] : lines) h += hits > 0;
      out << "        <class name=\"" << xml_escape(path) << "\" filename=\"" << xml_escape(path) << "\" line-rate=\""
          << rate(h, lines.size()) << "\" branch-rate=\"0\" complexity=\"0\">\n          <methods/>\n          <lines>\n";
      for (const auto& [line, hits] : lines)
        out << "            <line number=\"" << line << "\" hits=\"" << hits << "\" branch=\"false\"/>\n";
      out << "          </lines>\n        </class>\n";
    }
    out << "      </classes>\n    </package>\n  </packages>\n</coverage>\n";
    return;
  }
  out << "coverage: " << c.covered() << " of " << c.items.size() << " (" << percent_text(c.percent()) << ")\n";
  for (Kind k : kinds) {
    std::size_t n = 0, hit = 0;
    for (const auto& i : c.items)
      if (i.kind == k) n += 1, hit += i.hits > 0;
    std::string name = coverage_kind_name(k);
    name.resize(std::max<std::size_t>(name.size(), 22), ' ');
    out << "  " << name << " " << hit << " of " << n << "\n";
  }
  const std::size_t missing = c.items.size() - c.covered();
  if (missing == 0) return;
  out << "not covered (" << missing << "):\n";
  for (const auto& i : c.items)
    if (i.hits == 0) out << "  " << where_text(sm, i.span) << ": " << never(i, sm) << "\n";
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

std::string indent_lines(std::string text, const std::string& pad) {
  std::size_t pos = 0;
  while ((pos = text.find('\n', pos)) != std::string::npos && pos + 1 < text.size()) {
    text.insert(++pos, pad);
    pos += pad.size();
  }
  return text;
}

bool is_picture_format(const std::string& format) {
  return format == "dot" || format == "svg" || format == "mermaid" || format == "json";
}

namespace {
/// A temporary file removed when it goes out of scope.
struct TempFile {
  std::string path;
  explicit TempFile(const char* suffix) {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern = std::string(dir && *dir ? dir : "/tmp") + "/treaty-graph-XXXXXX" + suffix;
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    const int fd = mkstemps(buf.data(), static_cast<int>(std::strlen(suffix)));
    if (fd >= 0) {
      ::close(fd);
      path = buf.data();
    }
  }
  ~TempFile() {
    if (!path.empty()) std::remove(path.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
};

std::string slurp_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}
}  // namespace

bool dot_to_svg(const std::string& dot_text, std::string& svg, std::string& error) {
  TempFile in(".dot"), out(".svg"), err(".txt");
  if (in.path.empty() || out.path.empty() || err.path.empty()) {
    error = std::string("cannot create a temporary file for Graphviz: ") + std::strerror(errno);
    return false;
  }
  {
    std::ofstream f(in.path, std::ios::binary);
    f << dot_text;
    if (!f.flush()) {
      error = "cannot write the temporary file " + in.path;
      return false;
    }
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, err.path.c_str(), O_WRONLY | O_TRUNC, 0);
  std::string a0 = "dot", a1 = "-Tsvg", a2 = "-o", a3 = out.path, a4 = in.path;
  char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "dot", &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    error = rc == ENOENT ? "Graphviz's `dot` is not on PATH: SVG is drawn by it; install Graphviz (Debian: apt-get "
                           "install graphviz, which scripts/setup.sh does), or use --format dot or mermaid"
                         : std::string("cannot run Graphviz's `dot`: ") + std::strerror(rc);
    return false;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      error = std::string("waiting for Graphviz's `dot`: ") + std::strerror(errno);
      return false;
    }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string why = slurp_file(err.path);
    while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
    error = "Graphviz's `dot -Tsvg` failed" +
            (WIFEXITED(status) ? " (exit " + std::to_string(WEXITSTATUS(status)) + ")" : std::string(" (killed)")) +
            (why.empty() ? std::string() : ": " + why);
    return false;
  }
  svg = slurp_file(out.path);
  if (svg.empty()) {
    error = "Graphviz's `dot -Tsvg` wrote nothing";
    return false;
  }
  return true;
}

bool render_picture(const Graph& g, const std::string& format, std::string& out, std::string& error) {
  if (format == "svg") return dot_to_svg(to_dot(g), out, error);
  if (render_graph(g, format, out)) return true;
  error = "unknown picture format `" + format + "` (dot, svg, mermaid or json)";
  return false;
}

// --- treaty diff -------------------------------------------------------------------------------

namespace {

nlohmann::json diff_outcome_json(const DiffOutcome& o) {
  nlohmann::json j{{"decision", o.allow ? "allow" : "deny"}, {"rules", o.rules}};
  if (o.error) j["error"] = true;
  if (o.missing) j["missing"] = true;
  return j;
}

/// `kind: approval`, or empty for an action asked without arguments.
std::string diff_args_text(const std::string& param, const std::string& value) {
  return param.empty() ? "" : "(" + param + ": " + value + ")";
}

/// What decided: "allowed by `a`, `b`", "denied by `f`", "no permit (default deny)", ...
std::string diff_outcome_text(const DiffOutcome& o, const char* quote) {
  if (o.missing) return "cannot be asked (not in this version): deny";
  std::string rules;
  for (const auto& r : o.rules) rules += (rules.empty() ? "" : ", ") + std::string(quote) + r + quote;
  if (o.error) return "deny (evaluation error)";
  if (o.allow) return "allow by " + rules;
  return rules.empty() ? "deny (no permit applies)" : "deny by " + rules;
}

std::string diff_entity_text(const DiffEntity& e) { return e.type + "::" + quote_string(e.id); }

}  // namespace

nlohmann::json diff_json(const DiffReport& r) {
  nlohmann::json j;
  j["changed"] = r.changed;
  j["gained"] = r.gained;
  j["lost"] = r.lost;
  nlohmann::json rules = nlohmann::json::array();
  for (const auto& c : r.rules) rules.push_back({{"rule", c.rule}, {"change", c.change}, {"kind", c.forbid ? "forbid" : "permit"}});
  j["rules"] = rules;
  j["facts"] = {{"added", r.facts_added}, {"removed", r.facts_removed}, {"modified", r.facts_modified}};
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : r.groups) {
    nlohmann::json x{{"action", g.action}};
    if (!g.param.empty()) x["args"] = {{g.param, g.value}};
    x["before"] = diff_outcome_json(g.before);
    x["after"] = diff_outcome_json(g.after);
    x["count"] = g.count;
    x["digest"] = g.digest;
    nlohmann::json ex = nlohmann::json::array();
    for (const auto& [p, res] : g.examples)
      ex.push_back({{"principal", {{"type", p.type}, {"id", p.id}}}, {"resource", {{"type", res.type}, {"id", res.id}}}});
    x["examples"] = ex;
    groups.push_back(std::move(x));
  }
  j["groups"] = groups;
  nlohmann::json actions = nlohmann::json::array();
  for (const auto& a : r.actions) {
    nlohmann::json x{{"action", a.action}};
    if (!a.param.empty()) x["args"] = {{a.param, a.value}};
    x["principal_type"] = a.principal_type;
    x["resource_type"] = a.resource_type;
    x["candidates"] = a.candidates;
    x["decisions"] = a.decisions;
    x["scan"] = a.scan;
    x["how"] = a.how;
    actions.push_back(std::move(x));
  }
  j["actions"] = actions;
  j["skipped"] = r.skipped;
  j["brute_force"] = r.brute_force;
  return j;
}

void write_diff_report(std::ostream& out, const DiffReport& r, const std::string& format, const std::string& old_name,
                       const std::string& new_name) {
  if (format == "json") {
    out << diff_json(r).dump(2) << "\n";
    return;
  }
  const bool md = format == "markdown";
  const char* q = md ? "`" : "`";
  std::string rules;
  for (const auto& c : r.rules)
    rules += (rules.empty() ? "" : ", ") + std::string(q) + c.rule + q + " (" + c.change + " " + (c.forbid ? "forbid" : "permit") + ")";
  const std::size_t facts = r.facts_added + r.facts_removed + r.facts_modified;
  std::string facts_text = std::to_string(r.facts_added) + " added, " + std::to_string(r.facts_removed) + " removed, " +
                           std::to_string(r.facts_modified) + " modified";
  const std::string headline = std::to_string(r.changed) + (r.changed == 1 ? " decision differs" : " decisions differ") +
                               " (" + std::to_string(r.gained) + " now allowed, " + std::to_string(r.lost) + " now denied)";
  if (md) {
    out << "### Policy impact: " << headline << "\n\n";
    out << "`" << old_name << "` → `" << new_name << "`\n\n";
    out << "- **Rules changed:** " << (rules.empty() ? "none" : rules) << "\n";
    out << "- **Facts changed:** " << (facts == 0 ? "none" : facts_text) << "\n";
    if (!r.skipped.empty()) {
      out << "- **Not compared** (parameters that cannot be enumerated):";
      for (const auto& s : r.skipped) out << " `" << s << "`";
      out << "\n";
    }
    out << "\n";
    if (!r.groups.empty()) {
      out << "| action | before | after | decisions | examples (principal → resource) |\n";
      out << "|---|---|---|---:|---|\n";
      for (const auto& g : r.groups) {
        std::string ex;
        for (const auto& [p, res] : g.examples)
          ex += (ex.empty() ? "" : "<br>") + std::string("`") + diff_entity_text(p) + "` → `" + diff_entity_text(res) + "`";
        out << "| `" << g.action << diff_args_text(g.param, g.value) << "` | " << diff_outcome_text(g.before, "`")
            << " | " << diff_outcome_text(g.after, "`") << " | " << g.count << " | " << ex << " |\n";
      }
      out << "\n";
    } else {
      out << "No decision changes.\n\n";
    }
    if (!r.actions.empty()) {
      out << "<details><summary>How the candidates were found</summary>\n\n";
      for (const auto& a : r.actions) {
        out << "- `" << a.action << diff_args_text(a.param, a.value) << "` (" << a.principal_type << " → "
            << a.resource_type << "): " << a.candidates << " candidates, " << a.decisions << " decisions"
            << (a.scan ? ", **scanned**" : "") << "\n";
        for (const auto& h : a.how) out << "  - " << h << "\n";
      }
      out << "\n</details>\n";
    }
    return;
  }
  out << "treaty diff " << old_name << " -> " << new_name << ": " << headline << "\n";
  out << "rules changed: " << (rules.empty() ? "none" : rules) << "\n";
  out << "facts changed: " << (facts == 0 ? "none" : facts_text) << "\n";
  for (const auto& g : r.groups) {
    out << "\n" << g.action << diff_args_text(g.param, g.value) << ": " << g.count
        << (g.count == 1 ? " decision" : " decisions") << "\n";
    out << "  before: " << diff_outcome_text(g.before, "`") << "\n";
    out << "  after:  " << diff_outcome_text(g.after, "`") << "\n";
    for (const auto& [p, res] : g.examples) out << "  e.g. " << diff_entity_text(p) << " on " << diff_entity_text(res) << "\n";
  }
  if (!r.skipped.empty()) {
    out << "\nnot compared (parameters that cannot be enumerated):";
    for (const auto& s : r.skipped) out << " " << s;
    out << "\n";
  }
  if (!r.actions.empty()) {
    out << "\nsearch:\n";
    for (const auto& a : r.actions) {
      out << "  " << a.action << diff_args_text(a.param, a.value) << " (" << a.principal_type << " -> " << a.resource_type
          << "): " << a.candidates << " candidates, " << a.decisions << " decisions" << (a.scan ? ", scanned" : "") << "\n";
      for (const auto& h : a.how) out << "    " << h << "\n";
    }
  }
}

}  // namespace treaty::cli
