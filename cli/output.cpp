// The `treaty` command's report writers (output.hpp): one place for every format.
#include "output.hpp"

#include <unistd.h>

#include <cstdlib>
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
    j["seed"] = report.seed;
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
      out << (p.passed ? "passed " : "FAILED ") << p.name << " (" << where(p.span) << "): " << p.worlds
          << " worlds, " << p.requests << " requests\n";
      if (!p.warning.empty()) out << "  warning: " << p.warning << "\n";
      if (p.counterexample) {
        out << "  counterexample, shrunk to " << p.counterexample->entities << " entities; paste this test:\n\n"
            << p.counterexample->test_block << "\n  the wrong decision:\n";
        out << "    " << indent_lines(p.counterexample->explanation, "    ") << "\n";
      }
    }
    out << report.properties.size() - failed << " passed, " << failed << " failed (seed " << report.seed
        << "; rerun with --seed " << report.seed << ")\n";
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

}  // namespace treaty::cli
