#include "treaty/package.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace treaty {

namespace fs = std::filesystem;

std::size_t Package::declaration_count() const {
  std::size_t n = 0;
  for (const auto& f : files) n += f.decls.size();
  return n;
}

bool read_file(const std::string& path, std::string& out, std::string& error) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    error = "is a directory";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = std::strerror(errno);
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    error = "read error";
    return false;
  }
  out = std::move(ss).str();
  return true;
}

std::vector<std::string> collect_treaty_files(const std::vector<std::string>& paths, Diagnostics& diags) {
  std::vector<std::string> out;
  for (const auto& path : paths) {
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
      diags.add(DiagId::io_error, Span{}, "cannot read `" + path + "`: no such file or directory");
      continue;
    }
    if (!fs::is_directory(st)) {
      out.push_back(path);
      continue;
    }
    std::vector<std::string> found;
    fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const auto name = it->path().filename().string();
      if (it->is_directory() && !name.empty() && name[0] == '.') {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file() && it->path().extension() == ".treaty") found.push_back(it->path().string());
    }
    if (ec) diags.add(DiagId::io_error, Span{}, "cannot read directory `" + path + "`: " + ec.message());
    if (found.empty() && !ec) diags.add(DiagId::no_treaty_files, Span{}, "no `.treaty` files found under `" + path + "`");
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  // The same file named twice (directly and through a directory) is read once.
  std::vector<std::string> unique;
  std::vector<std::string> seen;
  for (auto& f : out) {
    std::error_code cec;
    auto canon = fs::weakly_canonical(f, cec).string();
    if (std::find(seen.begin(), seen.end(), canon) != seen.end()) continue;
    seen.push_back(std::move(canon));
    unique.push_back(std::move(f));
  }
  return unique;
}

Package parse_package(SourceManager& sm, const std::vector<std::string>& paths, Diagnostics& diags, const ParseOptions& opts) {
  Package pkg;
  for (const auto& path : collect_treaty_files(paths, diags)) {
    std::string text, error;
    if (!read_file(path, text, error)) {
      diags.add(DiagId::io_error, Span{}, "cannot read `" + path + "`: " + error);
      continue;
    }
    const FileId id = sm.add(path, std::move(text));
    pkg.files.push_back(parse_file(sm, id, diags, opts));
  }
  return pkg;
}

}  // namespace treaty
