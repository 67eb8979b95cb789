// Helpers shared by the tests: parse text from memory, read files, extract ```treaty blocks.
#pragma once

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "treaty/diagnostics.hpp"
#include "treaty/parse.hpp"
#include "treaty/source.hpp"

namespace treaty::testing {

inline std::string source_dir() { return TREATY_SOURCE_DIR; }
inline std::string shared_dir() { return TREATY_SHARED_DIR; }

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Parsed {
  SourceManager sm;
  Diagnostics diags;
  syntax::File file;
  FileId id = 0;
};

inline Parsed parse_text(const std::string& text, const std::string& name = "test.treaty", ParseOptions opts = {}) {
  Parsed p;
  p.id = p.sm.add(name, text);
  p.file = parse_file(p.sm, p.id, p.diags, opts);
  return p;
}

inline std::string render(const Parsed& p) {
  Diagnostics d = p.diags;
  d.sort();
  return render_human(p.sm, d.all());
}

/// The bodies of every ```treaty fenced block of a Markdown file.
inline std::vector<std::string> treaty_blocks(const std::string& markdown) {
  std::vector<std::string> out;
  static const std::regex fence("```treaty\\n([\\s\\S]*?)```");
  for (std::sregex_iterator it(markdown.begin(), markdown.end(), fence), end; it != end; ++it) out.push_back((*it)[1]);
  return out;
}

/// Every .treaty file under a directory of the source tree, sorted.
inline std::vector<std::filesystem::path> treaty_files_under(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".treaty") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace treaty::testing
