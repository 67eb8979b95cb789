// Logging for the command line: spdlog to stderr, quiet (warnings only) by default so stdout
// stays machine-readable. `-v` shows each stage with counts and timings; `--log-level` picks any
// level (trace, debug, info, warn, error, off).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace treaty {

/// Installs the stderr logger at `level`. Returns false if the level name is unknown.
bool setup_logging(std::string_view level);

/// Logs "<stage>: <what> in <ms> ms" at info level, or at debug level when `detail` (the steps
/// inside a stage, such as the checker's passes).
void log_stage(std::string_view stage, std::string_view what, double ms, bool detail = false);

/// Logs "<stage>: <what> in <ms> ms" at info level when it goes out of scope.
class StageTimer {
 public:
  explicit StageTimer(std::string stage) : stage_(std::move(stage)), start_(std::chrono::steady_clock::now()) {}
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;
  ~StageTimer();
  /// What the stage produced, e.g. "12 files, 340 declarations".
  void set_result(std::string what) { what_ = std::move(what); }

 private:
  std::string stage_;
  std::string what_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace treaty
