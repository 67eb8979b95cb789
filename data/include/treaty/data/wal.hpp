// A write-ahead log with group commit, and the atomic-file helpers the live-facts layer keeps its
// snapshots with (issue 23): a write is acknowledged only once its record is on disk, many writers
// share one fdatasync, and startup recovers every complete record, cutting a torn or corrupt tail.
//
// On-disk layout (all integers little-endian, fixed width, encoded byte by byte):
//   file header, 16 bytes, once at offset 0:
//     "TREATYW\0"  8 bytes of magic
//     u32          format version (1)
//     u32          reserved, 0
//   then records, back to back, each a 16-byte header and its payload:
//     u32          payload length (at most kWalMaxPayload)
//     u64          revision (strictly greater than the record before it)
//     u32          CRC-32C (Castagnoli) of the 12 bytes above and the payload
//     payload      `length` opaque bytes
// Recovery reads records from the start and stops at the first that is cut short (its header or
// payload runs past the end of the file, or its length exceeds the limit: "truncated"), whose
// checksum does not match ("checksum mismatch"), or whose revision does not follow the one before;
// everything from there on is cut off. A crash mid-write leaves exactly such a tail, and a record
// is acknowledged only after its whole group is synced, so what is cut was never acknowledged.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace treaty {

/// The largest payload a record may hold; a length field above it reads as a cut-short record.
inline constexpr std::uint32_t kWalMaxPayload = 1u << 30;

struct WalRecord {
  std::uint64_t revision = 0;
  std::string payload;
};

struct WalRecovery {
  /// Every complete, checksum-valid record, in file order (so by ascending revision).
  std::vector<WalRecord> records;
  /// Length of the good prefix: the file header and `records`; the file's size after open.
  std::uint64_t valid_bytes = 0;
  /// Empty, or what was cut off and why, e.g. "state/log.wal: bytes 4096-4131 after revision 17:
  /// truncated record (36 of 52 bytes); cut off".
  std::string tail_problem;
};

/// WriteAheadLog::Options (declared out of the class so it can be a default argument of open).
struct WalOptions {
  /// fdatasync each group before acknowledging it; false only for tests and benchmarks (then an
  /// acknowledged record is in the page cache, not necessarily on disk).
  bool sync = true;
};

/// An append-only log of (revision, payload) records. Thread-safe: any number of threads may
/// enqueue, wait and append at once, and truncate_through may run alongside them. One
/// WriteAheadLog per file: open takes an exclusive flock, so a second opener (another process or
/// this one) is refused rather than interleaving its writes (after a quarter of a second: a lock
/// released by a close elsewhere can linger for a moment, see lock_file in wal.cpp).
class WriteAheadLog {
 public:
  using Options = WalOptions;

  /// Opens or creates the log at `path` and reads what it holds into `out`. A corrupt or
  /// truncated tail is cut off (the file truncated to out.valid_bytes, then fsynced) and described
  /// in out.tail_problem. A new file is created with its header through PATH.tmp and a rename, so
  /// a crash never leaves a half-written header. nullptr with `error` (naming the path and the
  /// errno text) when the file cannot be opened, locked, read or truncated, or is not a log.
  [[nodiscard]] static std::unique_ptr<WriteAheadLog> open(const std::string& path, WalRecovery& out,
                                                           std::string& error, Options o = {});
  /// Flushes what is queued (errors are dropped: a caller that needs to know waits first), closes.
  /// No other thread may be using the log by then.
  ~WriteAheadLog();
  WriteAheadLog(const WriteAheadLog&) = delete;
  WriteAheadLog& operator=(const WriteAheadLog&) = delete;

  /// Queues a record and returns its ticket (1, 2, ...). Never waits for I/O: records are written
  /// in the order enqueued, by whichever waiter leads the next group. 0 when the record is
  /// refused: the log is poisoned, the payload exceeds kWalMaxPayload, or `revision` is not above
  /// every revision before it (recovery would cut such a record off, after it was acknowledged);
  /// wait_durable(0) then fails with the reason, or use the overload that returns it.
  [[nodiscard]] std::uint64_t enqueue(std::uint64_t revision, std::string payload);
  [[nodiscard]] std::uint64_t enqueue(std::uint64_t revision, std::string payload, std::string& error);
  /// Blocks until the record of `ticket` is on disk (written and, with Options::sync,
  /// fdatasync'ed). Group commit: a waiter that finds no flush in progress becomes the leader,
  /// takes every queued record, writes them with one writev (more only past IOV_MAX records or on
  /// a short write) and one fdatasync, then wakes every waiter. false with `error` if the write or
  /// the sync failed; the log is then poisoned: every later enqueue and wait fails, since a torn
  /// write must not be followed by good records, nor a failed fdatasync trusted (the kernel may have
  /// dropped the dirty pages). A ticket that was already durable stays durable (true).
  [[nodiscard]] bool wait_durable(std::uint64_t ticket, std::string& error);
  /// enqueue + wait_durable.
  [[nodiscard]] bool append(std::uint64_t revision, std::string payload, std::string& error);
  /// After a snapshot at `revision` is safely on disk: replaces the log with one holding only the
  /// records with revision > `revision` (copied to PATH.tmp, fsynced, renamed over PATH, directory
  /// fsynced). Safe while other threads enqueue and wait: it takes the writer's role, so no group
  /// is written meanwhile; records queued meanwhile stay queued and go to the new file. false with
  /// `error` and the old log untouched when the copy fails; a failure after the rename (the
  /// directory fsync) poisons the log, since the rename itself might not survive a crash.
  [[nodiscard]] bool truncate_through(std::uint64_t revision, std::string& error);

  /// Bytes in the file: its header and every record written.
  [[nodiscard]] std::uint64_t bytes() const;
  /// Records this object has written (recovered ones not counted).
  [[nodiscard]] std::uint64_t records_written() const;
  /// fdatasync calls for groups (0 without Options::sync): fewer than records under concurrency.
  [[nodiscard]] std::uint64_t syncs() const;
  /// Groups written (one per leader's turn).
  [[nodiscard]] std::uint64_t groups() const;
  /// The path the log was opened at.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  struct Pending {
    std::uint64_t ticket = 0;
    std::uint64_t revision = 0;
    std::string bytes;  // the encoded record: header and payload
  };
  /// A record in the file: where it starts, for truncate_through.
  struct Placed {
    std::uint64_t revision = 0;
    std::uint64_t offset = 0;
  };

  WriteAheadLog(std::string path, int fd, Options o) : path_(std::move(path)), fd_(fd), options_(o) {}
  /// Writes `batch` at the end of the file and syncs it; called by the leader without the lock.
  [[nodiscard]] bool write_group(const std::vector<Pending>& batch, std::uint64_t at, std::string& error);

  const std::string path_;
  int fd_ = -1;
  const Options options_;

  mutable std::mutex mutex_;
  std::condition_variable flushed_;
  std::vector<Pending> queue_;
  std::vector<Placed> placed_;       // every record in the file, in order
  bool flushing_ = false;            // a leader (or truncate_through) owns the file
  std::string poisoned_;             // non-empty: why every later call fails
  std::string refused_;              // why the last enqueue was refused, for wait_durable(0)
  bool have_revision_ = false;       // a record was recovered or enqueued
  std::uint64_t last_revision_ = 0;  // the highest such revision
  std::uint64_t next_ticket_ = 1;
  std::uint64_t durable_ = 0;        // every ticket up to this one is on disk
  std::uint64_t bytes_ = 0;
  std::uint64_t records_written_ = 0;
  std::uint64_t syncs_ = 0;
  std::uint64_t groups_ = 0;
};

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one: PATH.tmp
/// (the old file's permissions, else 0644 less the umask), write, fsync, rename over PATH, fsync
/// the directory. false with `error` naming the path and the errno text, PATH untouched and
/// PATH.tmp removed (unless the failure is the directory fsync, after the rename). One writer per
/// path at a time: two would share PATH.tmp.
[[nodiscard]] bool write_file_atomically(const std::string& path, std::string_view bytes, std::string& error);

/// Reads the whole file at `path` into `out`; false with `error` (the path and the errno text).
[[nodiscard]] bool read_whole_file(const std::string& path, std::string& out, std::string& error);

/// CRC-32C (Castagnoli, reflected, as iSCSI and ext4 use it) of `bytes`, continuing from `crc`
/// (the CRC of what came before; 0 to start): crc32c("123456789") == 0xe3069283.
[[nodiscard]] std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc = 0) noexcept;

}  // namespace treaty
