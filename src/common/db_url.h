// PostgreSQL URLs as users give them: masking for display and building from
// the LEGACY_DB_* parts that existing deployments use. Pure string work; the
// full syntax check is pg::ValidateUrl, which asks libpq.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace medmigrate {

// The text with every password replaced by "****", safe to print in a log
// line, error, event or report: each registered secret (RegisterSecret)
// wherever it stands, raw or percent-encoded; in every URL of the text, the
// userinfo's password up to the URL's last '@' (a password may hold '/', '?',
// '@' or '#': masking too much is safe, too little is not); and every
// "password=..." keyword value.
std::string MaskUrl(std::string_view text);

// Secrets shorter than this are masked only where they stand in a URL's
// userinfo or a password= keyword: replacing "pw" in every message would
// garble it.
inline constexpr size_t kMinRegisteredSecret = 4;

// Remembers a password for MaskUrl, process-wide and thread-safe, in the
// forms it may be printed in (raw, percent-encoded, percent-decoded). Called
// where URLs and password variables are read (config, pg::ValidateUrl).
void RegisterSecret(std::string_view secret);

// Registers what a URL holds as a password, as libpq reads it (the caller in
// pg/ passes libpq's own parse) and as a person reads it: between the first
// ':' after the scheme and the URL's last '@', and any password= value.
void RegisterUrlSecrets(std::string_view url);

// Decodes %XX escapes (others are kept as they are).
std::string PercentDecode(std::string_view s);

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
