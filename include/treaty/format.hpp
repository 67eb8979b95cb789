// The canonical printer behind `treaty fmt`.
//
// Output style: 2-space indents, one clause per line, one blank line kept where the source had
// blank lines between declarations, `///` docs and all other comments kept. Long `and`/`or`
// chains and `exists` bodies break one operand per line. Printing never changes meaning:
// parse(format(f)) == f for every syntax tree f, and format is idempotent.
#pragma once

#include <string>

#include "treaty/source.hpp"
#include "treaty/syntax.hpp"

namespace treaty {

struct FormatOptions {
  /// Lines longer than this break where the style allows (chains, `exists` bodies, lists).
  std::size_t width = 100;
};

/// Prints a whole file. `sm` supplies the source text used to keep blank lines and comments;
/// pass a file whose spans are invalid (e.g. a generated tree) to print without either.
[[nodiscard]] std::string format_file(const SourceManager& sm, const syntax::File& file, const FormatOptions& opts = {});

/// Prints one expression on one line, with the fewest parentheses that keep its meaning.
[[nodiscard]] std::string to_source(const syntax::Expr& e);
/// Prints a type reference.
[[nodiscard]] std::string to_source(const syntax::TypeRef& t);

}  // namespace treaty
