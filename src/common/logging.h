// Process-wide logging to stderr through spdlog. Log lines carry ids, entity and
// column names, counts and reasons, never patient data (DESIGN principle 7), and
// never a password: pass URLs through MaskUrl first.
#pragma once

#include <string_view>

#include "common/status.h"

namespace medmigrate {

// Sets the level from a name: trace, debug, info, warn, error, off.
// InvalidArgument naming the accepted names otherwise.
Status InitLogging(std::string_view level);

}  // namespace medmigrate
