#include "common/file.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace medmigrate {

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(fmt::format("cannot open '{}': check the path", path));
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return Status::NotFound(fmt::format("cannot read '{}'", path));
  return s.str();
}

}  // namespace medmigrate
