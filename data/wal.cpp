// The write-ahead log (treaty/data/wal.hpp): recovery, group commit, truncation after a snapshot,
// and the atomic-file helpers. I/O errors are returned as text naming the path, never thrown.
#include "treaty/data/wal.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace treaty {

namespace {

constexpr char kMagic[8] = {'T', 'R', 'E', 'A', 'T', 'Y', 'W', '\0'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kFileHeader = 16;
constexpr std::size_t kRecordHeader = 16;  // length u32, revision u64, crc u32
constexpr std::size_t kCopyChunk = std::size_t{1} << 20;

// ---------------------------------------------------------------------------------------------
// CRC-32C, slice-by-8 over tables built at compile time: a record's checksum costs about as much
// as copying it, so checksumming at enqueue (outside the lock) does not bound throughput.
// ---------------------------------------------------------------------------------------------
using CrcTables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr CrcTables make_crc_tables() {
  CrcTables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82f63b78u : c >> 1;  // reflected Castagnoli
    t[0][i] = c;
  }
  for (std::size_t s = 1; s < 8; ++s)
    for (std::size_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xffu];
  return t;
}
constexpr CrcTables kCrc = make_crc_tables();

// Little-endian fixed-width fields, byte by byte: the file's layout does not depend on the host.
void put32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
}
void put64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
}
std::uint32_t get32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
std::uint64_t get64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::string file_header() {
  std::string h(kFileHeader, '\0');
  std::memcpy(h.data(), kMagic, sizeof kMagic);
  put32(h.data() + 8, kVersion);
  put32(h.data() + 12, 0);
  return h;
}

/// The record's checksum: its length and revision fields (the first 12 header bytes), then the
/// payload, so a flipped length or revision is caught as surely as a flipped payload byte.
std::uint32_t record_crc(const char* header, std::string_view payload) {
  return crc32c(payload, crc32c(std::string_view(header, 12)));
}

std::string encode_record(std::uint64_t revision, std::string_view payload) {
  std::string r(kRecordHeader + payload.size(), '\0');
  put32(r.data(), static_cast<std::uint32_t>(payload.size()));
  put64(r.data() + 4, revision);
  put32(r.data() + 12, record_crc(r.data(), payload));
  if (!payload.empty()) std::memcpy(r.data() + kRecordHeader, payload.data(), payload.size());
  return r;
}

std::string errno_text(int e) { return std::generic_category().message(e); }

std::string directory_of(const std::string& path) {
  const std::filesystem::path p(path);
  return p.has_parent_path() ? p.parent_path().string() : std::string(".");
}

/// fsync of the directory holding `path`, so a rename or a new entry in it survives a crash.
bool sync_directory_of(const std::string& path, std::string& error) {
  const std::string dir = directory_of(path);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": cannot open its directory " + dir + ": " + errno_text(errno);
    return false;
  }
  const bool ok = ::fsync(fd) == 0;
  if (!ok) error = path + ": cannot fsync its directory " + dir + ": " + errno_text(errno);
  ::close(fd);
  return ok;
}

/// Writes all of `n` bytes at `off`; false with errno set. A zero-byte write (no progress and no
/// error) reads as ENOSPC rather than looping forever.
bool pwrite_all(int fd, const char* p, std::size_t n, std::uint64_t off) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    if (w == 0) {
      errno = ENOSPC;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
    off += static_cast<std::uint64_t>(w);
  }
  return true;
}

/// Reads all of `n` bytes at `off`; false with errno set (EIO for an end of file before them:
/// the file was cut while it was read).
bool pread_all(int fd, char* p, std::size_t n, std::uint64_t off) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    if (r == 0) {
      errno = EIO;
      return false;
    }
    p += r;
    n -= static_cast<std::size_t>(r);
    off += static_cast<std::uint64_t>(r);
  }
  return true;
}

/// Sequential reads of a file through a buffer, so recovering many small records costs a few
/// large reads; a payload larger than the buffer is read straight into its string.
class FileReader {
 public:
  explicit FileReader(int fd) : fd_(fd) {}
  /// `n` bytes at `off` (at or after the previous read), which the caller knows the file holds.
  bool read(std::uint64_t off, char* dst, std::size_t n, std::uint64_t file_size) {
    while (n > 0) {
      if (off >= buf_off_ && off < buf_off_ + buf_.size()) {
        const std::size_t at = static_cast<std::size_t>(off - buf_off_);
        const std::size_t k = std::min(n, buf_.size() - at);
        std::memcpy(dst, buf_.data() + at, k);
        dst += k;
        n -= k;
        off += k;
        continue;
      }
      if (n >= kCopyChunk) return pread_all(fd_, dst, n, off);
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kCopyChunk, file_size - off));
      buf_.resize(want);
      buf_off_ = off;
      if (!pread_all(fd_, buf_.data(), want, off)) return false;
    }
    return true;
  }

 private:
  int fd_;
  std::string buf_;
  std::uint64_t buf_off_ = 0;
};

/// Takes the file's exclusive lock; false with errno set. A lock held at the first try is
/// tried again for up to a quarter of a second: a log closed elsewhere a moment ago may still
/// hold it. The lock belongs to the open file, which goes (and the lock with it) when its last
/// reference does, and a reference may outlive the close that dropped the descriptor: any
/// process that looks at the closed descriptor meanwhile (a monitor reading /proc/PID/fd, say)
/// holds one for that instant, and then the lock goes when that process lets go. A log still
/// open elsewhere keeps its lock, and is refused after the wait.
bool lock_file(int fd) {
  constexpr int kTries = 50;
  constexpr useconds_t kPause = 5000;  // 50 pauses of 5 ms
  for (int tried = 0;;) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK || ++tried == kTries) return false;
    ::usleep(kPause);
  }
}

/// Opens `path` for writing through a log: without O_CREAT (a missing log is created whole, with
/// its header, by the caller), locked, and checked to still be the file at `path` (a
/// truncate_through elsewhere may have renamed a new file over it between the open and the lock).
int open_locked(const std::string& path, std::string& error) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) {
        // Created through PATH.tmp and a rename, so a crash leaves no file or a whole header.
        if (!write_file_atomically(path, file_header(), error)) return -1;
        continue;
      }
      error = path + ": cannot open: " + errno_text(errno);
      return -1;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      error = path + ": cannot stat: " + errno_text(errno);
      ::close(fd);
      return -1;
    }
    if (!S_ISREG(st.st_mode)) {
      error = path + ": not a regular file";
      ::close(fd);
      return -1;
    }
    if (!lock_file(fd)) {
      const int e = errno;
      error = path + (e == EWOULDBLOCK ? std::string(": in use by another write-ahead log (it holds the file's lock)")
                                       : ": cannot lock: " + errno_text(e));
      ::close(fd);
      return -1;
    }
    struct stat now {};
    if (::stat(path.c_str(), &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino) return fd;
    ::close(fd);  // replaced meanwhile: open the new file
  }
  error = path + ": cannot open: the file keeps being replaced";
  return -1;
}

/// "PATH: bytes A-B after revision R: WHAT; cut off".
std::string tail_problem(const std::string& path, std::uint64_t from, std::uint64_t size,
                         const std::vector<WalRecord>& kept, const std::string& what) {
  std::string s = path + ": bytes " + std::to_string(from) + "-" + std::to_string(size - 1);
  s += kept.empty() ? std::string(" before the first record") : " after revision " + std::to_string(kept.back().revision);
  return s + ": " + what + "; cut off";
}

}  // namespace

std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc) noexcept {
  std::uint32_t c = ~crc;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size();
  while (n >= 8) {
    const std::uint32_t lo = c ^ (static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
                                  static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24);
    c = kCrc[7][lo & 0xffu] ^ kCrc[6][(lo >> 8) & 0xffu] ^ kCrc[5][(lo >> 16) & 0xffu] ^ kCrc[4][lo >> 24] ^
        kCrc[3][p[4]] ^ kCrc[2][p[5]] ^ kCrc[1][p[6]] ^ kCrc[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = (c >> 8) ^ kCrc[0][(c ^ *p++) & 0xffu];
  return ~c;
}

// ---------------------------------------------------------------------------------------------
// Opening and recovery
// ---------------------------------------------------------------------------------------------
std::unique_ptr<WriteAheadLog> WriteAheadLog::open(const std::string& path, WalRecovery& out, std::string& error,
                                                   Options o) {
  out = WalRecovery{};
  const int fd = open_locked(path, error);
  if (fd < 0) return nullptr;
  auto fail = [&](std::string why) -> std::unique_ptr<WriteAheadLog> {
    error = std::move(why);
    out = WalRecovery{};
    ::close(fd);
    return nullptr;
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(path + ": cannot stat: " + errno_text(errno));
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const std::string header = file_header();

  if (size < kFileHeader) {
    // A header cut short can only come from a crash while something other than open (which
    // creates the file whole) wrote it, or from an empty file made by hand: rewrite it, but only
    // over bytes that agree with it, so another program's short file is never taken over.
    std::string head(static_cast<std::size_t>(size), '\0');
    if (size > 0 && !pread_all(fd, head.data(), head.size(), 0)) return fail(path + ": cannot read: " + errno_text(errno));
    if (head != std::string_view(header).substr(0, head.size()))
      return fail(path + ": not a Treaty write-ahead log (it does not begin with the TREATYW magic)");
    if (!pwrite_all(fd, header.data(), header.size(), 0) || ::fsync(fd) != 0)
      return fail(path + ": cannot write the file header: " + errno_text(errno));
    if (size > 0)
      out.tail_problem = path + ": bytes 0-" + std::to_string(size - 1) + ": truncated file header (" +
                         std::to_string(size) + " of 16 bytes); rewritten";
    out.valid_bytes = kFileHeader;
    auto log = std::unique_ptr<WriteAheadLog>(new WriteAheadLog(path, fd, o));
    log->bytes_ = kFileHeader;
    return log;
  }

  char head[kFileHeader];
  if (!pread_all(fd, head, kFileHeader, 0)) return fail(path + ": cannot read: " + errno_text(errno));
  // A wrong header refuses the file rather than cutting it: it is someone else's, not a torn log.
  if (std::memcmp(head, kMagic, sizeof kMagic) != 0)
    return fail(path + ": not a Treaty write-ahead log (it does not begin with the TREATYW magic)");
  if (get32(head + 8) != kVersion || get32(head + 12) != 0)
    return fail(path + ": write-ahead log format version " + std::to_string(get32(head + 8)) + " (flags " +
                std::to_string(get32(head + 12)) + "); this build reads version 1 only");

  std::vector<Placed> placed;
  FileReader reader(fd);
  std::uint64_t pos = kFileHeader;
  while (pos < size) {
    const std::uint64_t left = size - pos;
    std::string what;
    char rh[kRecordHeader];
    if (left < kRecordHeader) {
      what = "truncated record header (" + std::to_string(left) + " of 16 bytes)";
    } else {
      if (!reader.read(pos, rh, kRecordHeader, size)) return fail(path + ": cannot read: " + errno_text(errno));
      const std::uint32_t len = get32(rh);
      const std::uint64_t revision = get64(rh + 4);
      const std::uint64_t whole = kRecordHeader + static_cast<std::uint64_t>(len);
      if (len > kWalMaxPayload) {
        what = "truncated record (its length field, " + std::to_string(len) + ", exceeds the limit of " +
               std::to_string(kWalMaxPayload) + " bytes)";
      } else if (whole > left) {
        what = "truncated record (" + std::to_string(left) + " of " + std::to_string(whole) + " bytes)";
      } else {
        std::string payload(len, '\0');
        if (len > 0 && !reader.read(pos + kRecordHeader, payload.data(), len, size))
          return fail(path + ": cannot read: " + errno_text(errno));
        if (record_crc(rh, payload) != get32(rh + 12)) {
          what = "checksum mismatch in a record of " + std::to_string(whole) + " bytes";
        } else if (!out.records.empty() && revision <= out.records.back().revision) {
          what = "revision " + std::to_string(revision) + " does not follow revision " +
                 std::to_string(out.records.back().revision);
        } else {
          placed.push_back({revision, pos});
          out.records.push_back({revision, std::move(payload)});
          pos += whole;
          continue;
        }
      }
    }
    out.tail_problem = tail_problem(path, pos, size, out.records, what);
    break;
  }
  out.valid_bytes = pos;
  if (pos < size) {
    // Cut before anything is appended: a good record after a bad one would never be recovered.
    if (::ftruncate(fd, static_cast<off_t>(pos)) != 0 || ::fsync(fd) != 0)
      return fail(path + ": cannot cut off the damaged tail at byte " + std::to_string(pos) + ": " + errno_text(errno));
  }

  auto log = std::unique_ptr<WriteAheadLog>(new WriteAheadLog(path, fd, o));
  log->bytes_ = pos;
  log->placed_ = std::move(placed);
  if (!out.records.empty()) {
    log->have_revision_ = true;
    log->last_revision_ = out.records.back().revision;
  }
  return log;
}

WriteAheadLog::~WriteAheadLog() {
  std::uint64_t last = 0;
  {
    std::lock_guard lock(mutex_);
    if (next_ticket_ - 1 > durable_) last = next_ticket_ - 1;
  }
  std::string ignored;
  if (last > 0) (void)wait_durable(last, ignored);
  if (fd_ >= 0) ::close(fd_);
}

// ---------------------------------------------------------------------------------------------
// Enqueue and group commit
// ---------------------------------------------------------------------------------------------
std::uint64_t WriteAheadLog::enqueue(std::uint64_t revision, std::string payload) {
  std::string ignored;
  return enqueue(revision, std::move(payload), ignored);
}

std::uint64_t WriteAheadLog::enqueue(std::uint64_t revision, std::string payload, std::string& error) {
  if (payload.size() > kWalMaxPayload) {
    error = path_ + ": a record of " + std::to_string(payload.size()) + " bytes exceeds the limit of " +
            std::to_string(kWalMaxPayload);
    std::lock_guard lock(mutex_);
    refused_ = error;
    return 0;
  }
  // Encoded (copied and checksummed) before taking the lock, so writers do that work in parallel.
  std::string bytes = encode_record(revision, payload);
  payload = std::string();
  std::lock_guard lock(mutex_);
  if (!poisoned_.empty()) {
    error = poisoned_;
    refused_ = error;
    return 0;
  }
  if (have_revision_ && revision <= last_revision_) {
    error = path_ + ": revision " + std::to_string(revision) + " does not follow revision " +
            std::to_string(last_revision_) + " (revisions must increase from record to record)";
    refused_ = error;
    return 0;
  }
  have_revision_ = true;
  last_revision_ = revision;
  queue_.push_back({next_ticket_, revision, std::move(bytes)});
  return next_ticket_++;
}

bool WriteAheadLog::write_group(const std::vector<Pending>& batch, std::uint64_t at, std::string& error) {
  std::vector<iovec> iov;
  iov.reserve(batch.size());
  for (const Pending& p : batch) iov.push_back({const_cast<char*>(p.bytes.data()), p.bytes.size()});
  std::size_t first = 0;
  while (first < iov.size()) {
    const int count = static_cast<int>(std::min<std::size_t>(iov.size() - first, IOV_MAX));
    const ssize_t w = ::pwritev(fd_, iov.data() + first, count, static_cast<off_t>(at));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int e = w < 0 ? errno : ENOSPC;
      error = path_ + ": cannot write " + std::to_string(batch.size()) + " record(s) at byte " + std::to_string(at) +
              ": " + errno_text(e);
      return false;
    }
    at += static_cast<std::uint64_t>(w);
    // Skip what was written; a short write leaves the rest of one iovec for the next call.
    auto left = static_cast<std::size_t>(w);
    while (left > 0 && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (left > 0) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  if (options_.sync && ::fdatasync(fd_) != 0) {
    error = path_ + ": cannot fdatasync " + std::to_string(batch.size()) + " record(s): " + errno_text(errno);
    return false;
  }
  return true;
}

bool WriteAheadLog::wait_durable(std::uint64_t ticket, std::string& error) {
  std::unique_lock lock(mutex_);
  if (ticket == 0) {
    error = refused_.empty() ? path_ + ": ticket 0 names no record" : refused_;
    return false;
  }
  if (ticket >= next_ticket_) {
    error = path_ + ": ticket " + std::to_string(ticket) + " was never issued";
    return false;
  }
  for (;;) {
    if (ticket <= durable_) return true;
    if (!poisoned_.empty()) {
      error = poisoned_;
      return false;
    }
    if (flushing_) {
      flushed_.wait(lock);
      continue;
    }
    // The leader: every queued record goes in this group, including those of threads still to
    // arrive at wait_durable, so their waits end without a flush of their own. Tickets are queued
    // in order and each group takes the whole queue, so "durable through the last ticket of the
    // group" covers every ticket before it.
    std::vector<Pending> batch;
    batch.swap(queue_);
    flushing_ = true;
    const std::uint64_t at = bytes_;
    lock.unlock();
    std::string why;
    const bool ok = write_group(batch, at, why);
    lock.lock();
    flushing_ = false;
    if (ok) {
      std::uint64_t off = at;
      for (const Pending& p : batch) {
        placed_.push_back({p.revision, off});
        off += p.bytes.size();
      }
      bytes_ = off;
      durable_ = batch.back().ticket;
      records_written_ += batch.size();
      ++groups_;
      if (options_.sync) ++syncs_;
    } else {
      poisoned_ = why + "; the log accepts no more records";
    }
    flushed_.notify_all();
  }
}

bool WriteAheadLog::append(std::uint64_t revision, std::string payload, std::string& error) {
  const std::uint64_t ticket = enqueue(revision, std::move(payload), error);
  return ticket != 0 && wait_durable(ticket, error);
}

// ---------------------------------------------------------------------------------------------
// Truncation after a snapshot
// ---------------------------------------------------------------------------------------------
bool WriteAheadLog::truncate_through(std::uint64_t revision, std::string& error) {
  std::unique_lock lock(mutex_);
  // Take the writer's role, as a leader would: no group is written while the file is copied, and
  // the queue is left alone (its records are appended to the new file by the next leader).
  flushed_.wait(lock, [&] { return !flushing_ || !poisoned_.empty(); });
  if (!poisoned_.empty()) {
    error = poisoned_;
    return false;
  }
  flushing_ = true;
  const auto keep = std::upper_bound(placed_.begin(), placed_.end(), revision,
                                     [](std::uint64_t r, const Placed& p) { return r < p.revision; });
  const std::size_t dropped = static_cast<std::size_t>(keep - placed_.begin());
  const std::uint64_t from = keep == placed_.end() ? bytes_ : keep->offset;
  const std::uint64_t end = bytes_;
  const int old_fd = fd_;
  lock.unlock();

  const std::string tmp = path_ + ".tmp";
  std::string why;
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool renamed = false;
  bool ok = fd >= 0;
  if (!ok) why = path_ + ": cannot create " + tmp + ": " + errno_text(errno);
  if (ok) {
    struct stat st {};
    if (::fstat(old_fd, &st) == 0) (void)::fchmod(fd, st.st_mode & 07777);  // keep the log's permissions
    // Locked before it is renamed over the log, so no other opener can take it in between.
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ok = false;
      why = path_ + ": cannot lock " + tmp + ": " + errno_text(errno);
    }
  }
  if (ok) {
    const std::string header = file_header();
    ok = pwrite_all(fd, header.data(), header.size(), 0);
    std::string buf;
    for (std::uint64_t off = from; ok && off < end;) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kCopyChunk, end - off));
      buf.resize(n);
      if (!pread_all(old_fd, buf.data(), n, off)) {
        why = path_ + ": cannot read: " + errno_text(errno);
        ok = false;
        break;
      }
      ok = pwrite_all(fd, buf.data(), n, kFileHeader + (off - from));
      off += n;
    }
    if (!ok && why.empty()) why = path_ + ": cannot write " + tmp + ": " + errno_text(errno);
    if (ok && ::fsync(fd) != 0) {
      why = path_ + ": cannot fsync " + tmp + ": " + errno_text(errno);
      ok = false;
    }
  }
  if (ok && ::rename(tmp.c_str(), path_.c_str()) != 0) {
    why = path_ + ": cannot rename " + tmp + " over it: " + errno_text(errno);
    ok = false;
  }
  if (ok) renamed = true;
  if (!renamed) {
    if (fd >= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
    }
  }
  // Past the rename the new file is the log whatever happens next: appends must go to it.
  const bool dir_synced = renamed && sync_directory_of(path_, why);

  lock.lock();
  if (renamed) {
    ::close(old_fd);
    fd_ = fd;
    placed_.erase(placed_.begin(), placed_.begin() + static_cast<std::ptrdiff_t>(dropped));
    for (Placed& p : placed_) p.offset = p.offset - from + kFileHeader;
    bytes_ = kFileHeader + (end - from);
    // Without the directory's fsync the rename may not survive a crash, and the old file would
    // come back without the records appended to the new one after this.
    if (!dir_synced) poisoned_ = why + "; the log accepts no more records";
  }
  flushing_ = false;
  flushed_.notify_all();
  if (!renamed || !dir_synced) {
    error = why;
    return false;
  }
  return true;
}

std::uint64_t WriteAheadLog::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}
std::uint64_t WriteAheadLog::records_written() const {
  std::lock_guard lock(mutex_);
  return records_written_;
}
std::uint64_t WriteAheadLog::syncs() const {
  std::lock_guard lock(mutex_);
  return syncs_;
}
std::uint64_t WriteAheadLog::groups() const {
  std::lock_guard lock(mutex_);
  return groups_;
}

// ---------------------------------------------------------------------------------------------
// Whole files
// ---------------------------------------------------------------------------------------------
bool write_file_atomically(const std::string& path, std::string_view bytes, std::string& error) {
  const std::string tmp = path + ".tmp";
  struct stat old {};
  const bool existed = ::stat(path.c_str(), &old) == 0;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = path + ": cannot create " + tmp + ": " + errno_text(errno);
    return false;
  }
  auto fail = [&](const std::string& step) {
    error = path + ": cannot " + step + ": " + errno_text(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  };
  // The replacement keeps the old file's permissions (a state file made private stays private).
  if (existed && ::fchmod(fd, old.st_mode & 07777) != 0) return fail("set the permissions of " + tmp);
  if (!pwrite_all(fd, bytes.data(), bytes.size(), 0)) return fail("write " + tmp);
  if (::fsync(fd) != 0) return fail("fsync " + tmp);
  if (::close(fd) != 0) {
    error = path + ": cannot close " + tmp + ": " + errno_text(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    error = path + ": cannot rename " + tmp + " over it: " + errno_text(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return sync_directory_of(path, error);
}

bool read_whole_file(const std::string& path, std::string& out, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": cannot open: " + errno_text(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    error = path + (S_ISDIR(st.st_mode) ? std::string(": is a directory") : ": cannot stat: " + errno_text(errno));
    ::close(fd);
    return false;
  }
  std::string text;
  text.reserve(S_ISREG(st.st_mode) ? static_cast<std::size_t>(st.st_size) : 0);
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = path + ": cannot read: " + errno_text(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  out = std::move(text);
  return true;
}

}  // namespace treaty
