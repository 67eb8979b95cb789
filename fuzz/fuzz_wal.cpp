// Write-ahead log recovery harness: any bytes as the file a server finds in --state DIR/log.wal,
// opened by WriteAheadLog::open (on tmpfs: /dev/shm). When the first byte is odd, the harness
// reseals every record's CRC first (as a crafted file would be), so that mutations reach the
// length and revision checks behind the checksum; the rest is the file.
//
// Invariants, against a reference reader written here from the format in wal.hpp (its own
// bitwise CRC-32C): a file that does not begin with the header (or a prefix of it) is refused
// and left as it was; otherwise recovery keeps exactly the longest valid prefix: the same records
// (revision and payload) in order, valid_bytes its length, the file cut to it (the bytes before
// untouched), tail_problem set exactly when something was cut; a record appended after recovery
// (the next revision) is read back by the next open, after the recovered ones, with nothing cut,
// and a revision not above the last is refused.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "treaty/data/wal.hpp"

namespace {

std::uint32_t ref_crc(std::string_view s) {
  std::uint32_t c = ~0u;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
  }
  return ~c;
}
std::uint64_t get(const std::string& s, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}
void put32(std::string& s, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xffu);
}

const std::string kHeader("TREATYW\0\1\0\0\0\0\0\0\0", 16);

void fail(const char* what, const std::string& bytes) {
  std::fprintf(stderr, "fuzz_wal: invariant broken: %s (file of %zu bytes)\n", what, bytes.size());
  std::abort();
}
void check(bool ok, const char* what, const std::string& bytes) {
  if (!ok) fail(what, bytes);
}

std::string read_file(const std::string& path) {
  std::string out, error;
  if (!treaty::read_whole_file(path, out, error)) out = "<unreadable>";
  return out;
}
void write_file(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || (!bytes.empty() && ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))) {
    std::perror("fuzz_wal: write");
    std::abort();
  }
  ::close(fd);
}

/// What holds `path` open and locked, for a failed reopen ("in use by another write-ahead log"
/// once, after millions of inputs, where this process had closed its log): this process's
/// descriptors on the file, and the lines of /proc/locks for its inode.
void print_holders(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;
  std::fprintf(stderr, "fuzz_wal: %s is inode %lu (device %lu)\n", path.c_str(), static_cast<unsigned long>(st.st_ino),
               static_cast<unsigned long>(st.st_dev));
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) {
      char link[512] = {};
      const std::string fd = std::string("/proc/self/fd/") + e->d_name;
      const ssize_t n = ::readlink(fd.c_str(), link, sizeof link - 1);
      struct stat fs {};
      if (n > 0 && ::stat(fd.c_str(), &fs) == 0 && fs.st_ino == st.st_ino && fs.st_dev == st.st_dev)
        std::fprintf(stderr, "fuzz_wal: this process holds it as fd %s (%s)\n", e->d_name, link);
    }
    ::closedir(d);
  }
  const std::string locks = read_file("/proc/locks"), ino = ":" + std::to_string(st.st_ino) + " ";
  for (std::size_t at = 0, nl; at < locks.size(); at = nl + 1) {
    nl = locks.find('\n', at);
    if (nl == std::string::npos) nl = locks.size();
    if (locks.substr(at, nl - at).find(ino) != std::string::npos)
      std::fprintf(stderr, "fuzz_wal: /proc/locks: %s\n", locks.substr(at, nl - at).c_str());
  }
  std::fprintf(stderr, "fuzz_wal: this process is %d\n", static_cast<int>(::getpid()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 1 << 20) return 0;
  static const std::string path = "/dev/shm/treaty-fuzz-wal-" + std::to_string(::getpid()) + ".wal";
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {  // reseal: each record's CRC made right, the walk as the reader walks
    std::size_t pos = 16;
    while (bytes.size() >= 16 && pos + 16 <= bytes.size()) {
      const std::uint64_t len = get(bytes, pos, 4);
      if (len > bytes.size() - pos - 16) break;
      put32(bytes, pos + 12, ref_crc(bytes.substr(pos, 12) + bytes.substr(pos + 16, len)));
      pos += 16 + len;
    }
  }
  ::unlink(path.c_str());
  write_file(path, bytes);

  // The reference reading.
  bool refused = false;
  std::vector<treaty::WalRecord> want;
  std::uint64_t valid = 16;
  if (bytes.size() < 16) {
    refused = bytes != kHeader.substr(0, bytes.size());
  } else if (bytes.compare(0, 16, kHeader) != 0) {
    refused = true;
  } else {
    std::size_t pos = 16;
    while (pos + 16 <= bytes.size()) {
      const std::uint64_t len = get(bytes, pos, 4), rev = get(bytes, pos + 4, 8), crc = get(bytes, pos + 12, 4);
      if (len > treaty::kWalMaxPayload || len > bytes.size() - pos - 16) break;
      const std::string payload = bytes.substr(pos + 16, len);
      if (ref_crc(bytes.substr(pos, 12) + payload) != crc) break;
      if (!want.empty() && rev <= want.back().revision) break;
      want.push_back({rev, payload});
      pos += 16 + len;
    }
    valid = pos;
  }

  treaty::WalRecovery rec;
  std::string error;
  auto log = treaty::WriteAheadLog::open(path, rec, error, treaty::WalOptions{false});
  if (refused) {
    check(!log && !error.empty(), "a file that is not a log is refused with a reason", bytes);
    check(read_file(path) == bytes, "a refused file is left as it was", bytes);
    ::unlink(path.c_str());
    return 0;
  }
  if (!log) {
    std::fprintf(stderr, "fuzz_wal: open failed: %s\n", error.c_str());
    fail("a log is opened", bytes);
  }
  check(rec.valid_bytes == valid, "valid_bytes is the longest valid prefix", bytes);
  check(rec.records.size() == want.size(), "every valid record is recovered, and no other", bytes);
  for (std::size_t i = 0; i < want.size(); ++i)
    check(rec.records[i].revision == want[i].revision && rec.records[i].payload == want[i].payload,
          "the records are recovered as written", bytes);
  const std::string after = read_file(path);
  check(after.size() == valid, "the file is cut to the valid prefix", bytes);
  check(bytes.size() < 16 ? after == kHeader : after == bytes.substr(0, valid), "the valid prefix is untouched", bytes);
  check(rec.tail_problem.empty() == (bytes.size() == valid || (bytes.empty())),
        "a problem is reported exactly when something is cut", bytes);
  check(log->bytes() == valid, "the log's size is the valid prefix", bytes);

  // Appending goes on after the recovered records.
  const std::uint64_t next = want.empty() ? 1 : want.back().revision + 1;
  if (!want.empty()) {
    std::string why;
    check(log->enqueue(want.back().revision, "stale", why) == 0, "a revision not above the last is refused", bytes);
  }
  if (next != 0) {  // the last revision was not the highest there is
    check(log->append(next, "{\"upsert\":[]}", error), "a record is appended after recovery", bytes);
    log.reset();
    treaty::WalRecovery again;
    log = treaty::WriteAheadLog::open(path, again, error, treaty::WalOptions{false});
    if (!log) {
      std::fprintf(stderr, "fuzz_wal: open after the append failed: %s\n", error.c_str());
      print_holders(path);
      // Whether the holder goes away by itself (another process, or a child forked while the
      // first log was open) or stays (a descriptor of this process never closed).
      for (int ms : {10, 100, 1000}) {
        ::usleep(static_cast<useconds_t>(ms) * 1000);
        treaty::WalRecovery later;
        std::string why;
        const bool opened = treaty::WriteAheadLog::open(path, later, why, treaty::WalOptions{false}) != nullptr;
        std::fprintf(stderr, "fuzz_wal: opened again after %d ms more: %s\n", ms, opened ? "yes" : why.c_str());
        if (opened) break;
      }
    }
    check(log != nullptr, "the log opens again", bytes);
    check(again.tail_problem.empty() && again.records.size() == want.size() + 1 &&
              again.records.back().revision == next && again.records.back().payload == "{\"upsert\":[]}",
          "the appended record is read back after the recovered ones", bytes);
  }
  log.reset();
  ::unlink(path.c_str());
  return 0;
}
