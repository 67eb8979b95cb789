// Source text -> syntax tree.
//
// The parser reports every syntax error of a file (it recovers at the next line that starts a
// declaration) into a Diagnostics sink and returns the declarations it could read. It never
// throws for bad input; hostile input is bounded by ParseOptions.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "treaty/diagnostics.hpp"
#include "treaty/source.hpp"
#include "treaty/syntax.hpp"

namespace treaty {

struct ParseOptions {
  /// Largest source file accepted, in bytes (default 8 MiB).
  std::size_t max_file_bytes = 8u << 20;
  /// Deepest nesting of expressions and types (parentheses, `not`, `Set<...>`), default 128.
  std::size_t max_depth = 128;
};

/// Parses file `id` of `sm`. Problems go to `diags`; the result holds what could be read.
[[nodiscard]] syntax::File parse_file(const SourceManager& sm, FileId id, Diagnostics& diags,
                                      const ParseOptions& opts = {});

/// Parses one expression (the whole text must be one expression); used by tools and tests.
/// Returns false and reports into `diags` on a syntax error.
[[nodiscard]] bool parse_expression(const SourceManager& sm, FileId id, syntax::Expr& out, Diagnostics& diags,
                                    const ParseOptions& opts = {});

/// Checks that `text` is valid UTF-8 without NUL bytes; reports the first problem at its byte.
bool validate_source_bytes(const SourceManager& sm, FileId id, Diagnostics& diags);

/// Every comment of a file, in order (strings are skipped correctly).
[[nodiscard]] std::vector<syntax::Comment> scan_comments(const SourceManager& sm, FileId id);

/// The text of a string literal's body with escapes resolved. `lit` includes the quotes.
/// Returns false (leaving `out` unspecified) when an escape names no Unicode scalar value.
bool unescape_string(std::string_view lit, std::string& out);

/// True when `s` is a reserved keyword of the language.
[[nodiscard]] bool is_keyword(std::string_view s);

}  // namespace treaty

namespace treaty {
/// Runs PEGTL's grammar analysis (left recursion, rules that can loop without progress) over the
/// whole grammar and returns the number of problems found; 0 for a sound grammar.
[[nodiscard]] std::size_t analyze_grammar();
}  // namespace treaty
