// Source text ownership and spans.
//
// A SourceManager owns the text of every file a run reads. Everything downstream refers to text
// through a compact Span {file, begin, end} of byte offsets; line and column are computed only
// when a diagnostic is rendered.
//
// Thread safety: a SourceManager is not synchronised; fill it on one thread, then share it
// read-only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace treaty {

using FileId = std::uint32_t;
inline constexpr FileId kNoFile = 0xffffffffu;

/// A half-open byte range [begin, end) in one file. Spans never take part in AST equality.
struct Span {
  FileId file = kNoFile;
  std::uint32_t begin = 0;
  std::uint32_t end = 0;

  [[nodiscard]] bool valid() const noexcept { return file != kNoFile; }
  /// The smallest span covering both (which must be in the same file, or one invalid).
  [[nodiscard]] static Span cover(Span a, Span b) noexcept;
};

/// 1-based line and column (column counts bytes, like most compilers).
struct LineCol {
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

struct SourceFile {
  std::string path;  ///< as given by the user (or "<memory>")
  std::string text;  ///< the exact bytes read
  std::vector<std::uint32_t> line_starts;  ///< INVARIANT: line_starts[0] == 0, ascending
};

class SourceManager {
 public:
  /// Takes ownership of `text`. Returns the new file's id.
  FileId add(std::string path, std::string text);

  [[nodiscard]] const SourceFile& file(FileId id) const { return files_.at(id); }
  [[nodiscard]] std::size_t size() const noexcept { return files_.size(); }
  [[nodiscard]] LineCol line_col(FileId id, std::uint32_t offset) const;
  /// The text of line `line` (1-based) of file `id`, without its line ending.
  [[nodiscard]] std::string_view line_text(FileId id, std::uint32_t line) const;
  /// The text covered by a span (borrowed from this manager; valid while it lives).
  [[nodiscard]] std::string_view text(Span s) const;

 private:
  std::vector<SourceFile> files_;
};

}  // namespace treaty
