// Diagnostics: problems in a policy, reported as values (never thrown).
//
// Every diagnostic has a registered code (include/treaty/diagnostic_codes.def), a severity, a
// one-line message, a primary span, optional notes with their own spans, optional help text and
// an optional suggested fix. Renderers are deterministic: diagnostics are sorted by file, offset,
// severity and code before rendering.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "treaty/source.hpp"

namespace treaty {

enum class Severity { error, warning, note };

enum class DiagId {
#define TREATY_DIAG(id, code, severity, message) id,
#include "treaty/diagnostic_codes.def"
#undef TREATY_DIAG
};

struct DiagInfo {
  DiagId id;
  std::string_view name;
  std::string_view code;
  Severity severity;
  std::string_view message;
};

/// The registry entry of `id`.
[[nodiscard]] const DiagInfo& diag_info(DiagId id);
/// Every registered diagnostic, in registry order.
[[nodiscard]] const std::vector<DiagInfo>& all_diagnostics();
/// Looks a code ("E0101") up; nullptr when unknown.
[[nodiscard]] const DiagInfo* find_diagnostic(std::string_view code);

struct DiagNote {
  Span span;  ///< may be invalid for a note that points nowhere
  std::string message;
};

struct Fix {
  Span span;
  std::string replacement;
};

struct Diagnostic {
  DiagId id;
  Severity severity;
  std::string message;
  Span span;
  std::vector<DiagNote> notes;
  std::optional<std::string> help;
  std::optional<Fix> fix;

  [[nodiscard]] std::string_view code() const { return diag_info(id).code; }
};

/// Makes a diagnostic with the registered severity; `message` defaults to the registered text.
[[nodiscard]] Diagnostic make_diagnostic(DiagId id, Span span, std::string message = {});

/// A sink that collects diagnostics from every stage of a run.
class Diagnostics {
 public:
  void add(Diagnostic d) { items_.push_back(std::move(d)); }
  Diagnostic& add(DiagId id, Span span, std::string message = {}) {
    items_.push_back(make_diagnostic(id, span, std::move(message)));
    return items_.back();
  }
  void append(const Diagnostics& other) { items_.insert(items_.end(), other.items_.begin(), other.items_.end()); }
  [[nodiscard]] const std::vector<Diagnostic>& all() const noexcept { return items_; }
  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
  [[nodiscard]] std::size_t count(Severity s) const;
  [[nodiscard]] bool has_errors() const { return count(Severity::error) > 0; }
  /// Turns every warning into an error (`--strict`).
  void promote_warnings();
  /// Sorts by file, offset, severity, code (stable for equal keys).
  void sort();

 private:
  std::vector<Diagnostic> items_;
};

struct RenderOptions {
  bool color = false;
  /// A source line longer than this many bytes is shown as a window of about this width around
  /// the span, with `...` where it was cut (so a 2 MB line costs the same as a short one).
  std::size_t max_line_width = 160;
  /// At most this many diagnostics of one code per file are shown; the last one shown is followed
  /// by `... and N more like this` with the exact count of the rest. 0: no limit.
  std::size_t max_per_code = 10;
};

/// `file:line:col: error[E0101]: message`, the source line (or a window of it), a caret line
/// under the span, notes, help. One blank line between diagnostics. Written to `out` as it goes:
/// the output is never built as one string.
void render_human(std::ostream& out, const SourceManager& sm, const std::vector<Diagnostic>& ds,
                  RenderOptions opts = {});
/// The same, as a string (for tests and small outputs).
[[nodiscard]] std::string render_human(const SourceManager& sm, const std::vector<Diagnostic>& ds,
                                       RenderOptions opts = {});
/// A JSON array of {code, severity, message, file, line, column, end_line, end_column, notes, help}.
[[nodiscard]] nlohmann::json render_json(const SourceManager& sm, const std::vector<Diagnostic>& ds);
/// Writes exactly `render_json(sm, ds).dump(2)`, one diagnostic at a time (every diagnostic: the
/// machine formats are not capped).
void write_json(std::ostream& out, const SourceManager& sm, const std::vector<Diagnostic>& ds);
/// A SARIF 2.1.0 log with one run of the tool `treaty`.
[[nodiscard]] nlohmann::json render_sarif(const SourceManager& sm, const std::vector<Diagnostic>& ds,
                                          std::string_view tool_version);
/// Writes exactly `render_sarif(sm, ds, tool_version).dump(2)`, one result at a time.
void write_sarif(std::ostream& out, const SourceManager& sm, const std::vector<Diagnostic>& ds,
                 std::string_view tool_version);

[[nodiscard]] std::string_view severity_name(Severity s);

/// "an" before a word (a type name) that starts with a vowel, else "a": "an `Account`", "a `Person`".
[[nodiscard]] std::string_view indefinite_article(std::string_view word);

/// Writes `s` as a Treaty string literal (with quotes and escapes): how messages, explanations,
/// dumps and the formatter name an id.
[[nodiscard]] std::string quote_string(std::string_view s);

/// A name as messages quote it, in backticks: `Person`, `view_work`.
[[nodiscard]] std::string tick(std::string_view name);

}  // namespace treaty
