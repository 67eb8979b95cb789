#include "treaty/diagnostics.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
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

std::string_view indefinite_article(std::string_view word) {
  const auto lower = [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); };
  const char c = word.empty() ? 'x' : lower(word.front() == '`' && word.size() > 1 ? word[1] : word.front());
  return std::string_view("aeiou").find(c) != std::string_view::npos ? "an" : "a";
}

namespace {

std::string location(const SourceManager& sm, Span s) {
  if (!s.valid() || s.file >= sm.size()) return "<unknown>";
  const auto lc = sm.line_col(s.file, s.begin);
  return sm.file(s.file).path + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.column);
}

bool utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Renders the first line of the span with a caret underline, e.g.
//    3 | permit x principal
//      |          ^^^^^^^^^
// A line longer than `max_width` bytes is cut to a window of that width around the span's
// start (from the line's start when the span starts in its first two thirds, else from a third
// of the width before the span), never inside a UTF-8 sequence, with `...` on each side that was
// cut; the carets stop at the window's end. A snippet's cost is bounded whatever the line's length.
void render_snippet(std::ostream& out, const SourceManager& sm, Span s, const char* color, const char* reset,
                    std::size_t max_width) {
  if (!s.valid() || s.file >= sm.size()) return;
  const auto lc = sm.line_col(s.file, s.begin);
  const auto line = sm.line_text(s.file, lc.line);
  const std::size_t col0 = std::min<std::size_t>(lc.column - 1, line.size());
  std::size_t width = 1;
  if (s.end > s.begin) {
    const auto end_lc = sm.line_col(s.file, s.end);
    width = (end_lc.line == lc.line) ? (end_lc.column - lc.column) : (line.size() > col0 ? line.size() - col0 : 1);
    width = std::max<std::size_t>(width, 1);
  }
  std::size_t ws = 0, we = line.size();
  if (max_width > 0 && line.size() > max_width) {
    ws = col0 > max_width - max_width / 3 ? col0 - max_width / 3 : 0;  // keep the line's start when the span is near it
    we = std::min(line.size(), ws + max_width);
    if (we == line.size()) ws = line.size() > max_width ? line.size() - max_width : 0;
    while (ws > 0 && ws < line.size() && utf8_continuation(line[ws])) ++ws;
    while (we < line.size() && we > ws && utf8_continuation(line[we])) --we;
  }
  const bool cut_left = ws > 0, cut_right = we < line.size();
  const std::string num = std::to_string(lc.line);
  const std::string pad(num.size(), ' ');
  std::string text;
  text.reserve(we - ws + 8);
  if (cut_left) text += "...";
  for (std::size_t i = ws; i < we; ++i) text += line[i] == '\t' ? ' ' : line[i];
  if (cut_right) text += "...";
  out << ' ' << num << " | " << text << '\n';
  const std::size_t caret_at = (cut_left ? 3 : 0) + (col0 >= ws ? col0 - ws : 0);
  if (cut_right) width = std::min(width, we > col0 ? we - col0 : 1);
  out << ' ' << pad << " | " << std::string(caret_at, ' ') << color << std::string(width, '^') << reset << '\n';
}

// 299990 -> "299,990".
std::string with_commas(std::size_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

void render_human(std::ostream& out, const SourceManager& sm, const std::vector<Diagnostic>& ds, RenderOptions opts) {
  // How many diagnostics each (file, code) has, so the last one shown can say how many follow.
  std::map<std::pair<FileId, DiagId>, std::pair<std::size_t, std::size_t>> seen;  // total, shown
  if (opts.max_per_code > 0)
    for (const auto& d : ds) ++seen[{d.span.valid() ? d.span.file : kNoFile, d.id}].first;
  bool first = true;
  for (const auto& d : ds) {
    std::size_t more = 0;
    if (opts.max_per_code > 0) {
      auto& [total, shown] = seen[{d.span.valid() ? d.span.file : kNoFile, d.id}];
      if (shown == opts.max_per_code) continue;
      if (++shown == opts.max_per_code) more = total - shown;
    }
    if (!first) out << '\n';
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
    out << bold << (located ? location(sm, d.span) + ": " : std::string()) << reset << color << severity_name(d.severity)
        << '[' << d.code() << ']' << reset << bold << ": " << d.message << reset << '\n';
    render_snippet(out, sm, d.span, color, reset, opts.max_line_width);
    for (const auto& n : d.notes) {
      if (n.span.valid()) {
        out << "note: " << location(sm, n.span) << ": " << n.message << '\n';
        render_snippet(out, sm, n.span, color, reset, opts.max_line_width);
      } else {
        out << "note: " << n.message << '\n';
      }
    }
    if (d.help) out << "help: " << *d.help << '\n';
    if (d.fix) out << "fix: replace with `" << d.fix->replacement << "`\n";
    if (more > 0) out << "... and " << with_commas(more) << " more like this\n";
  }
}

std::string render_human(const SourceManager& sm, const std::vector<Diagnostic>& ds, RenderOptions opts) {
  std::ostringstream out;
  render_human(out, sm, ds, opts);
  return std::move(out).str();
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

namespace {
nlohmann::json diag_json(const SourceManager& sm, const Diagnostic& d) {
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
  return j;
}

nlohmann::json sarif_result(const SourceManager& sm, const Diagnostic& d) {
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
  return r;
}

// The SARIF log without its results.
nlohmann::json sarif_skeleton(const std::vector<Diagnostic>& ds, std::string_view tool_version) {
  auto rules = nlohmann::json::array();
  std::vector<bool> seen(all_diagnostics().size(), false);
  for (const auto& d : ds) {
    if (seen[static_cast<std::size_t>(d.id)]) continue;
    seen[static_cast<std::size_t>(d.id)] = true;
    const auto& info = diag_info(d.id);
    rules.push_back({{"id", info.code},
                     {"name", info.name},
                     {"shortDescription", {{"text", info.message}}},
                     {"defaultConfiguration", {{"level", info.severity == Severity::warning ? "warning" : "error"}}}});
  }
  return {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
          {"version", "2.1.0"},
          {"runs", nlohmann::json::array({{{"tool", {{"driver", {{"name", "treaty"}, {"version", std::string(tool_version)}, {"rules", rules}}}}}, {"results", nlohmann::json::array()}}})}};
}

// Writes the elements of a JSON array as `dump(2)` would at nesting `indent` (the spaces before
// the array's closing bracket): "[", each element indented by two more, "]".
template <class Each>
void write_array(std::ostream& out, std::size_t count, std::size_t indent, Each&& element) {
  if (count == 0) {
    out << "[]";
    return;
  }
  const std::string pad(indent + 2, ' ');
  out << "[\n";
  for (std::size_t i = 0; i < count; ++i) {
    if (i) out << ",\n";
    const std::string text = element(i).dump(2);  // JSON strings hold no raw newline
    std::string indented = pad;
    indented.reserve(text.size() + text.size() / 8);
    for (char c : text) {
      indented += c;
      if (c == '\n') indented += pad;
    }
    out << indented;
  }
  out << '\n' << std::string(indent, ' ') << ']';
}
}  // namespace

nlohmann::json render_json(const SourceManager& sm, const std::vector<Diagnostic>& ds) {
  auto arr = nlohmann::json::array();
  for (const auto& d : ds) arr.push_back(diag_json(sm, d));
  return arr;
}

void write_json(std::ostream& out, const SourceManager& sm, const std::vector<Diagnostic>& ds) {
  write_array(out, ds.size(), 0, [&](std::size_t i) { return diag_json(sm, ds[i]); });
}

nlohmann::json render_sarif(const SourceManager& sm, const std::vector<Diagnostic>& ds, std::string_view tool_version) {
  auto log = sarif_skeleton(ds, tool_version);
  auto& results = log["runs"][0]["results"];
  for (const auto& d : ds) results.push_back(sarif_result(sm, d));
  return log;
}

void write_sarif(std::ostream& out, const SourceManager& sm, const std::vector<Diagnostic>& ds,
                 std::string_view tool_version) {
  const std::string skeleton = sarif_skeleton(ds, tool_version).dump(2);
  const std::string marker = "\"results\": []";
  const auto at = skeleton.find(marker);  // once: no registered text holds it
  const auto line_start = skeleton.rfind('\n', at) + 1;
  out.write(skeleton.data(), static_cast<std::streamsize>(at + marker.size() - 2));
  write_array(out, ds.size(), at - line_start, [&](std::size_t i) { return sarif_result(sm, ds[i]); });
  out.write(skeleton.data() + at + marker.size(), static_cast<std::streamsize>(skeleton.size() - at - marker.size()));
}

std::string tick(std::string_view name) { return "`" + std::string(name) + "`"; }

std::string quote_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[16];
          std::snprintf(buf, sizeof buf, "\\u{%x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace treaty
