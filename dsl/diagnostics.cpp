#include "treaty/diagnostics.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <tuple>

namespace treaty {

const std::vector<DiagInfo>& all_diagnostics() {
  static const std::vector<DiagInfo> table = {
#define TREATY_DIAG(id, code, severity, message) {DiagId::id, #id, code, Severity::severity, message},
#include "treaty/diagnostic_codes.def"
#undef TREATY_DIAG
  };
  return table;
}

const DiagInfo& diag_info(DiagId id) { return all_diagnostics().at(static_cast<std::size_t>(id)); }

const DiagInfo* find_diagnostic(std::string_view code) {
  for (const auto& d : all_diagnostics())
    if (d.code == code) return &d;
  return nullptr;
}

Diagnostic make_diagnostic(DiagId id, Span span, std::string message) {
  const auto& info = diag_info(id);
  Diagnostic d{id, info.severity, message.empty() ? std::string(info.message) : std::move(message), span, {}, {}, {}};
  return d;
}

std::size_t Diagnostics::count(Severity s) const {
  return static_cast<std::size_t>(std::count_if(items_.begin(), items_.end(), [s](const Diagnostic& d) { return d.severity == s; }));
}

void Diagnostics::promote_warnings() {
  for (auto& d : items_)
    if (d.severity == Severity::warning) d.severity = Severity::error;
}

void Diagnostics::sort() {
  std::stable_sort(items_.begin(), items_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::make_tuple(a.span.file, a.span.begin, static_cast<int>(a.severity), a.code()) <
           std::make_tuple(b.span.file, b.span.begin, static_cast<int>(b.severity), b.code());
  });
}

std::string_view severity_name(Severity s) {
  switch (s) {
    case Severity::error: return "error";
    case Severity::warning: return "warning";
    case Severity::note: return "note";
  }
  return "error";
}

namespace {

std::string location(const SourceManager& sm, Span s) {
  if (!s.valid() || s.file >= sm.size()) return "<unknown>";
  const auto lc = sm.line_col(s.file, s.begin);
  return sm.file(s.file).path + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.column);
}

// Renders the first line of the span with a caret underline, e.g.
//    3 | permit x principal
//      |          ^^^^^^^^^
void render_snippet(std::string& out, const SourceManager& sm, Span s, const char* color, const char* reset) {
  if (!s.valid() || s.file >= sm.size()) return;
  const auto lc = sm.line_col(s.file, s.begin);
  const auto line = sm.line_text(s.file, lc.line);
  const std::string num = std::to_string(lc.line);
  const std::string pad(num.size(), ' ');
  out += " " + num + " | ";
  for (char c : line) out += (c == '\t') ? ' ' : c;
  out += "\n " + pad + " | ";
  const std::uint32_t col0 = lc.column - 1;
  out += std::string(std::min<std::size_t>(col0, line.size()), ' ');
  std::size_t width = 1;
  if (s.end > s.begin) {
    const auto end_lc = sm.line_col(s.file, s.end);
    width = (end_lc.line == lc.line) ? (end_lc.column - lc.column) : (line.size() > col0 ? line.size() - col0 : 1);
    width = std::max<std::size_t>(width, 1);
  }
  out += color;
  out += std::string(width, '^');
  out += reset;
  out += "\n";
}

}  // namespace

std::string render_human(const SourceManager& sm, const std::vector<Diagnostic>& ds, RenderOptions opts) {
  std::string out;
  bool first = true;
  for (const auto& d : ds) {
    if (!first) out += "\n";
    first = false;
    const char* color = "";
    const char* bold = "";
    const char* reset = "";
    if (opts.color) {
      color = d.severity == Severity::error ? "\x1b[31;1m" : (d.severity == Severity::warning ? "\x1b[33;1m" : "\x1b[36;1m");
      bold = "\x1b[1m";
      reset = "\x1b[0m";
    }
    const bool located = d.span.valid() && d.span.file < sm.size();
    out += bold + (located ? location(sm, d.span) + ": " : std::string()) + reset + color + std::string(severity_name(d.severity)) + "[" +
           std::string(d.code()) + "]" + reset + bold + ": " + d.message + reset + "\n";
    render_snippet(out, sm, d.span, color, reset);
    for (const auto& n : d.notes) {
      if (n.span.valid()) {
        out += "note: " + location(sm, n.span) + ": " + n.message + "\n";
        render_snippet(out, sm, n.span, color, reset);
      } else {
        out += "note: " + n.message + "\n";
      }
    }
    if (d.help) out += "help: " + *d.help + "\n";
    if (d.fix) out += "fix: replace with `" + d.fix->replacement + "`\n";
  }
  return out;
}

namespace {
nlohmann::json span_json(const SourceManager& sm, Span s) {
  nlohmann::json j = nlohmann::json::object();
  if (!s.valid() || s.file >= sm.size()) return j;
  const auto b = sm.line_col(s.file, s.begin);
  const auto e = sm.line_col(s.file, s.end);
  j["file"] = sm.file(s.file).path;
  j["line"] = b.line;
  j["column"] = b.column;
  j["end_line"] = e.line;
  j["end_column"] = e.column;
  return j;
}
}  // namespace

nlohmann::json render_json(const SourceManager& sm, const std::vector<Diagnostic>& ds) {
  auto arr = nlohmann::json::array();
  for (const auto& d : ds) {
    nlohmann::json j = span_json(sm, d.span);
    j["code"] = d.code();
    j["severity"] = severity_name(d.severity);
    j["message"] = d.message;
    auto notes = nlohmann::json::array();
    for (const auto& n : d.notes) {
      auto nj = span_json(sm, n.span);
      nj["message"] = n.message;
      notes.push_back(std::move(nj));
    }
    j["notes"] = std::move(notes);
    if (d.help) j["help"] = *d.help;
    if (d.fix) j["fix"] = {{"replacement", d.fix->replacement}, {"span", span_json(sm, d.fix->span)}};
    arr.push_back(std::move(j));
  }
  return arr;
}

nlohmann::json render_sarif(const SourceManager& sm, const std::vector<Diagnostic>& ds, std::string_view tool_version) {
  auto rules = nlohmann::json::array();
  std::vector<std::string_view> seen;
  for (const auto& d : ds) {
    if (std::find(seen.begin(), seen.end(), d.code()) != seen.end()) continue;
    seen.push_back(d.code());
    const auto& info = diag_info(d.id);
    rules.push_back({{"id", info.code},
                     {"name", info.name},
                     {"shortDescription", {{"text", info.message}}},
                     {"defaultConfiguration", {{"level", info.severity == Severity::warning ? "warning" : "error"}}}});
  }
  auto results = nlohmann::json::array();
  for (const auto& d : ds) {
    nlohmann::json r;
    r["ruleId"] = d.code();
    r["level"] = d.severity == Severity::error ? "error" : (d.severity == Severity::warning ? "warning" : "note");
    std::string text = d.message;
    if (d.help) text += " (help: " + *d.help + ")";
    r["message"] = {{"text", text}};
    if (d.span.valid() && d.span.file < sm.size()) {
      const auto b = sm.line_col(d.span.file, d.span.begin);
      const auto e = sm.line_col(d.span.file, std::max(d.span.end, d.span.begin));
      r["locations"] = nlohmann::json::array(
          {{{"physicalLocation",
             {{"artifactLocation", {{"uri", sm.file(d.span.file).path}}},
              {"region", {{"startLine", b.line}, {"startColumn", b.column}, {"endLine", e.line}, {"endColumn", std::max(e.column, b.column + (e.line == b.line ? 1u : 0u))}}}}}}});
    }
    results.push_back(std::move(r));
  }
  return {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
          {"version", "2.1.0"},
          {"runs", nlohmann::json::array({{{"tool", {{"driver", {{"name", "treaty"}, {"version", std::string(tool_version)}, {"rules", rules}}}}}, {"results", results}}})}};
}

}  // namespace treaty
