#include "treaty/source.hpp"

#include <algorithm>

namespace treaty {

Span Span::cover(Span a, Span b) noexcept {
  if (!a.valid()) return b;
  if (!b.valid()) return a;
  return Span{a.file, std::min(a.begin, b.begin), std::max(a.end, b.end)};
}

FileId SourceManager::add(std::string path, std::string text) {
  SourceFile f;
  f.path = std::move(path);
  f.text = std::move(text);
  f.line_starts.push_back(0);
  for (std::uint32_t i = 0; i < f.text.size(); ++i) {
    if (f.text[i] == '\n') f.line_starts.push_back(i + 1);
  }
  files_.push_back(std::move(f));
  return static_cast<FileId>(files_.size() - 1);
}

LineCol SourceManager::line_col(FileId id, std::uint32_t offset) const {
  const auto& f = files_.at(id);
  offset = std::min<std::uint32_t>(offset, static_cast<std::uint32_t>(f.text.size()));
  auto it = std::upper_bound(f.line_starts.begin(), f.line_starts.end(), offset);
  const auto line = static_cast<std::uint32_t>(it - f.line_starts.begin());
  return LineCol{line, offset - f.line_starts[line - 1] + 1};
}

std::string_view SourceManager::line_text(FileId id, std::uint32_t line) const {
  const auto& f = files_.at(id);
  if (line == 0 || line > f.line_starts.size()) return {};
  const std::uint32_t b = f.line_starts[line - 1];
  std::uint32_t e = line < f.line_starts.size() ? f.line_starts[line] : static_cast<std::uint32_t>(f.text.size());
  while (e > b && (f.text[e - 1] == '\n' || f.text[e - 1] == '\r')) --e;
  return std::string_view(f.text).substr(b, e - b);
}

std::string_view SourceManager::text(Span s) const {
  if (!s.valid()) return {};
  const auto& t = files_.at(s.file).text;
  if (s.begin > t.size()) return {};
  return std::string_view(t).substr(s.begin, std::min<std::size_t>(s.end, t.size()) - s.begin);
}

}  // namespace treaty
