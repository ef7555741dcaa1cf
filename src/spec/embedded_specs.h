// The mapping specs of specs/, compiled into the binary (cmake/embed_specs.cmake),
// so the MDW spec ships with the tool and needs no file beside the executable.
#pragma once

#include <string_view>
#include <vector>

namespace medmigrate::spec {

struct EmbeddedSpecFile {
  std::string_view name;     // the file name without ".toml", e.g. "mdw"
  std::string_view path;     // for messages, e.g. "specs/mdw.toml"
  std::string_view content;  // the file's bytes, exactly
};

// Sorted by name. Lives for the whole program.
const std::vector<EmbeddedSpecFile>& EmbeddedSpecFiles();

}  // namespace medmigrate::spec
