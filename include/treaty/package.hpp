// A package: every `.treaty` file under the paths given to a command, merged into one namespace.
#pragma once

#include <string>
#include <vector>

#include "treaty/diagnostics.hpp"
#include "treaty/parse.hpp"
#include "treaty/source.hpp"
#include "treaty/syntax.hpp"

namespace treaty {

struct Package {
  std::vector<syntax::File> files;  ///< in path order; declaration and file order never matter
  [[nodiscard]] std::size_t declaration_count() const;
};

/// Every `.treaty` file under `paths`: a file is taken as given, a directory is searched
/// recursively (hidden directories skipped) and its files sorted by path. A path that does not
/// exist, or a directory without `.treaty` files, is reported into `diags` (E0001, E0005); so is
/// a path or a `*.treaty` entry that is a FIFO, socket or device, or a broken symbolic link (E0001).
[[nodiscard]] std::vector<std::string> collect_treaty_files(const std::vector<std::string>& paths, Diagnostics& diags);

/// Spare bytes read_file() leaves allocated past the end of the text (simdjson's padding), so a
/// SIMD reader may parse it in place.
inline constexpr std::size_t kReadPadding = 64;

/// Reads a whole file into `out` (with kReadPadding spare bytes of capacity). Returns false with a
/// reason in `error` on failure.
bool read_file(const std::string& path, std::string& out, std::string& error);

enum class ReadResult { ok, too_large, failed };
/// Reads a source file of at most `max_bytes` bytes into `out`. Refuses anything but a regular
/// file (a FIFO is not waited on) and a file larger than the limit (before reading it), with a
/// reason in `error`.
ReadResult read_source_file(const std::string& path, std::size_t max_bytes, std::string& out, std::string& error);

/// Reads and parses every file under `paths` into `sm`.
[[nodiscard]] Package parse_package(SourceManager& sm, const std::vector<std::string>& paths, Diagnostics& diags,
                                    const ParseOptions& opts = {});

}  // namespace treaty
