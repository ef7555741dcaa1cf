// PostgreSQL URLs as users give them: masking for display and building from
// the LEGACY_DB_* parts that existing deployments use. Pure string work; the
// full syntax check is pg::ValidateUrl, which asks libpq.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace medmigrate {

// The URL with any password (userinfo or ?password=) replaced by "****", safe to
// print in a log line, error or report. Strings that are not URLs are returned
// with every "password=..." keyword value masked.
std::string MaskUrl(std::string_view url);

// Percent-encodes a URL component (user, password, database name).
std::string PercentEncode(std::string_view s);

struct UrlParts {
  std::string host;
  std::string port;      // empty: libpq's default
  std::string dbname;
  std::string user;
  std::string password;  // may be empty
  std::string ssl;       // LEGACY_DB_SSL: true/false/1/0/yes/no or an sslmode; empty: unset
};

// postgres://user:password@host:port/dbname?sslmode=...; InvalidArgument naming
// the part that is missing or not understood (never its value when a password).
Result<std::string> BuildUrl(const UrlParts& parts, std::string_view what);

}  // namespace medmigrate
