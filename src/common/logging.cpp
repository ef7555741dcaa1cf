#include "common/logging.h"

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "common/db_url.h"

namespace medmigrate {

namespace {

// The message with every password masked (MaskUrl): a last guard for a line
// whose author forgot to mask a URL.
class MaskedMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string masked = MaskUrl(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(masked.data(), masked.data() + masked.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<MaskedMessage>();
  }
};

}  // namespace

Status InitLogging(std::string_view level) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"off", spdlog::level::off}};
  for (const auto& [name, value] : kLevels) {
    if (name == level) {
      auto logger = spdlog::get("medmigrate");
      if (!logger) logger = spdlog::stderr_color_mt("medmigrate");
      auto formatter = std::make_unique<spdlog::pattern_formatter>();
      formatter->add_flag<MaskedMessage>('*').set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %*");
      logger->set_formatter(std::move(formatter));
      logger->set_level(value);
      spdlog::set_default_logger(logger);
      return Status::Ok();
    }
  }
  return Status::InvalidArgument(fmt::format(
      "--log-level '{}' is not a level: use trace, debug, info, warn, error or off", level));
}

}  // namespace medmigrate
