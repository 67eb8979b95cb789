#include "treaty/package.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_set>

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
  // Read into a string with 64 spare bytes past the end (kReadPadding): a SIMD reader (simdjson,
  // for facts files) then parses the text in place instead of copying it whole.
  std::string text;
  if (const auto size = fs::file_size(path, ec); !ec && fs::is_regular_file(path, ec)) text.reserve(size + kReadPadding);
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) text.append(buf, static_cast<std::size_t>(in.gcount()));
  if (in.bad()) {
    error = "read error";
    return false;
  }
  if (text.capacity() - text.size() < kReadPadding) text.reserve(text.size() + kReadPadding);
  out = std::move(text);
  return true;
}

namespace {
std::string not_regular(mode_t m) {
  if (S_ISDIR(m)) return "is a directory, not a regular file";
  if (S_ISFIFO(m)) return "is a FIFO, not a regular file";
  if (S_ISSOCK(m)) return "is a socket, not a regular file";
  if (S_ISCHR(m)) return "is a character device, not a regular file";
  if (S_ISBLK(m)) return "is a block device, not a regular file";
  return "is not a regular file";
}

std::string not_regular(fs::file_type t) {
  switch (t) {
    case fs::file_type::fifo: return "is a FIFO, not a regular file";
    case fs::file_type::socket: return "is a socket, not a regular file";
    case fs::file_type::character: return "is a character device, not a regular file";
    case fs::file_type::block: return "is a block device, not a regular file";
    default: return "is not a regular file";
  }
}
}  // namespace

ReadResult read_source_file(const std::string& path, std::size_t max_bytes, std::string& out, std::string& error) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    error = std::strerror(errno);
    return ReadResult::failed;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = std::strerror(errno);
    ::close(fd);
    return ReadResult::failed;
  }
  if (!S_ISREG(st.st_mode)) {
    error = "it " + not_regular(st.st_mode);
    ::close(fd);
    return ReadResult::failed;
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    error = "file is " + std::to_string(st.st_size) + " bytes, more than the limit of " + std::to_string(max_bytes);
    ::close(fd);
    return ReadResult::too_large;
  }
  std::string text;
  text.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  for (;;) {
    char probe[4096];  // past the size stat gave: normally just the end of the file
    char* into = got < text.size() ? text.data() + got : probe;
    const std::size_t room = got < text.size() ? text.size() - got : sizeof probe;
    const ssize_t n = ::read(fd, into, room);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::strerror(errno);
      ::close(fd);
      return ReadResult::failed;
    }
    if (n == 0) break;
    if (into == probe) {  // the file grew while it was read
      text.resize(got);
      text.append(probe, static_cast<std::size_t>(n));
    }
    got += static_cast<std::size_t>(n);
    if (got > max_bytes) break;
  }
  ::close(fd);
  text.resize(got);
  if (text.size() > max_bytes) {
    error = "file is more than " + std::to_string(max_bytes) + " bytes, the limit";
    return ReadResult::too_large;
  }
  out = std::move(text);
  return ReadResult::ok;
}

std::vector<std::string> collect_treaty_files(const std::vector<std::string>& paths, Diagnostics& diags) {
  std::vector<std::string> out;
  for (const auto& path : paths) {
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
      std::error_code lec;
      const bool dangling = fs::is_symlink(fs::symlink_status(path, lec));
      diags.add(DiagId::io_error, Span{},
                "cannot read `" + path + "`: " +
                    (dangling ? "it is a broken symbolic link (its target does not exist)" : "no such file or directory"));
      continue;
    }
    if (!fs::is_directory(st)) {
      // A FIFO would be read forever, a device without end: only regular files are sources.
      if (!fs::is_regular_file(st)) {
        diags.add(DiagId::io_error, Span{}, "cannot read `" + path + "`: it " + not_regular(st.type()));
        continue;
      }
      out.push_back(path);
      continue;
    }
    std::vector<std::string> found;
    fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const auto name = it->path().filename().string();
      std::error_code sec;
      const auto est = it->status(sec);  // follows a symbolic link
      if (fs::is_directory(est) && !name.empty() && name[0] == '.') {
        it.disable_recursion_pending();
        continue;
      }
      if (it->path().extension() != ".treaty" || fs::is_directory(est)) continue;
      if (fs::is_regular_file(est)) {
        found.push_back(it->path().string());
      } else if (!fs::exists(est) && it->is_symlink(sec)) {
        diags.add(DiagId::io_error, Span{},
                  "cannot read `" + it->path().string() + "`: it is a broken symbolic link (its target does not exist)");
      } else {
        diags.add(DiagId::io_error, Span{}, "cannot read `" + it->path().string() + "`: it " + not_regular(est.type()));
      }
    }
    if (ec) diags.add(DiagId::io_error, Span{}, "cannot read directory `" + path + "`: " + ec.message());
    if (found.empty() && !ec) diags.add(DiagId::no_treaty_files, Span{}, "no `.treaty` files found under `" + path + "`");
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  // The same file named twice (directly and through a directory) is read once.
  // (A hash set: a directory of 100,000 files is not compared pairwise.)
  std::vector<std::string> unique;
  std::unordered_set<std::string> seen;
  for (auto& f : out) {
    std::error_code cec;
    if (!seen.insert(fs::weakly_canonical(f, cec).string()).second) continue;
    unique.push_back(std::move(f));
  }
  return unique;
}

Package parse_package(SourceManager& sm, const std::vector<std::string>& paths, Diagnostics& diags, const ParseOptions& opts) {
  Package pkg;
  for (const auto& path : collect_treaty_files(paths, diags)) {
    std::string text, error;
    switch (read_source_file(path, opts.max_file_bytes, text, error)) {
      case ReadResult::ok: break;
      case ReadResult::too_large: {
        // Refused before it is read: the size limit also bounds memory.
        const FileId id = sm.add(path, std::string());
        diags.add(DiagId::file_too_large, Span{id, 0, 0}, error);
        continue;
      }
      case ReadResult::failed:
        diags.add(DiagId::io_error, Span{}, "cannot read `" + path + "`: " + error);
        continue;
    }
    const FileId id = sm.add(path, std::move(text));
    pkg.files.push_back(parse_file(sm, id, diags, opts));
  }
  return pkg;
}

}  // namespace treaty
