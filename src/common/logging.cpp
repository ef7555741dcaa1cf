#include "common/logging.h"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace medmigrate {

Status InitLogging(std::string_view level) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"off", spdlog::level::off}};
  for (const auto& [name, value] : kLevels) {
    if (name == level) {
      auto logger = spdlog::get("medmigrate");
      if (!logger) logger = spdlog::stderr_color_mt("medmigrate");
      logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
      logger->set_level(value);
      spdlog::set_default_logger(logger);
      return Status::Ok();
    }
  }
  return Status::InvalidArgument(fmt::format(
      "--log-level '{}' is not a level: use trace, debug, info, warn, error or off", level));
}

}  // namespace medmigrate
