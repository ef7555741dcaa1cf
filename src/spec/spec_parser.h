// Reads a mapping spec (TOML, see docs/spec.md) into a MappingSpec, checks it
// and orders its entities so that every entity comes after the ones it
// depends on. Everything the engine later trusts about a spec is checked here,
// so a bad spec fails before any row moves.
//
// Errors: every problem in a spec is an InvalidArgument reading
// "<file>:<line>:<column>: <what is wrong and what is allowed>"; the first
// problem found is reported. A file that cannot be read is NotFound.
// Threads: all functions are pure and may run concurrently.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "spec/mapping_spec.h"

namespace medmigrate::spec {

// Parses and checks `toml_text`; `file_name` only names the file in messages.
// On success: entities are in dependency order (stable with respect to the
// file's order), each entity's depends_on is filled, and checksum is the
// SHA-256 hex of `toml_text`.
Result<MappingSpec> ParseSpec(std::string_view toml_text, std::string_view file_name);

// Reads the file at `path` and parses it (NotFound naming `path` when it cannot
// be read).
Result<MappingSpec> LoadSpecFile(const std::string& path);

// The spec compiled into the binary from specs/<name>.toml (NotFound listing
// the embedded names when there is none).
Result<MappingSpec> EmbeddedSpec(std::string_view name);

// The spec used when none is given: the embedded specs/mdw.toml.
Result<MappingSpec> DefaultSpec();

// The names of the embedded specs ("mdw", ...), sorted.
std::vector<std::string> EmbeddedSpecNames();

}  // namespace medmigrate::spec
