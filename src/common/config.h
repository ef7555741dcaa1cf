// Where medmigrate finds its two databases. For each, in order: the command-line
// flag, then the process environment, then a .env file in the working folder
// (a variable set in the environment wins over the same one in .env). In each
// of those the URL variable wins over the LEGACY_DB_* parts. The caller may add
// one last fallback (the private cluster); see cli/context.h.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/status.h"

namespace medmigrate {

// Reads a .env file: KEY=VALUE lines, optional `export `, '#' comments, values in
// single quotes (literal) or double quotes (\n, \", \\ escapes). NotFound when
// the file does not exist; InvalidArgument naming the line when it is malformed
// (the line's text is not repeated: it may hold a password).
Result<std::map<std::string, std::string>> ReadDotEnv(const std::string& path);

// Looks a variable up; nullopt when unset.
using VariableLookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment.
VariableLookup ProcessEnvironment();

// `first`, and where it has nothing, `second`.
VariableLookup Layered(VariableLookup first, VariableLookup second);

// A lookup over a fixed map (a parsed .env, or a test's variables).
VariableLookup FromMap(std::map<std::string, std::string> vars);

struct DatabaseUrl {
  std::string url;
  std::string source;  // "--legacy-url", "MEDMIGRATE_LEGACY_URL", "LEGACY_DB_* variables", ...
};

enum class DatabaseRole { kLegacy, kTarget };

// The URL for `role` from `flag` (when set) or the variables; nullopt when none
// of them names it. InvalidArgument when the LEGACY_DB_* parts are incomplete.
Result<std::optional<DatabaseUrl>> ResolveDatabaseUrl(DatabaseRole role,
                                                      const std::optional<std::string>& flag,
                                                      const VariableLookup& vars);

}  // namespace medmigrate
