#include "treaty/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace treaty {

bool setup_logging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("treaty");
  logger->set_pattern("treaty: [%^%l%$] %v");
  spdlog::set_default_logger(logger);
  const auto lvl = spdlog::level::from_str(std::string(level));
  // from_str answers `off` for unknown names; only "off" itself may mean off.
  if (lvl == spdlog::level::off && level != "off") {
    spdlog::set_level(spdlog::level::warn);
    return false;
  }
  spdlog::set_level(lvl);
  return true;
}

void log_stage(std::string_view stage, std::string_view what, double ms, bool detail) {
  spdlog::log(detail ? spdlog::level::debug : spdlog::level::info, "{}: {} in {:.3f} ms", stage,
              what.empty() ? std::string_view("done") : what, ms);
}

StageTimer::~StageTimer() {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start_).count();
  log_stage(stage_, what_, static_cast<double>(us) / 1000.0);
}

}  // namespace treaty
