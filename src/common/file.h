// Whole files read at once (model files, ground truths, FEBRL data sets).
#pragma once

#include <string>

#include "common/status.h"

namespace medmigrate {

// The bytes of the file at `path`; NotFound naming it when it cannot be read.
Result<std::string> ReadFile(const std::string& path);

}  // namespace medmigrate
