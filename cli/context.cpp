#include "cli/context.h"

#include <algorithm>
#include <charconv>
#include <iostream>
#include <limits>

#include <fmt/format.h>

#include "common/db_url.h"
#include "pg/connection.h"

namespace medmigrate::cli {

void AddDatabaseOptions(CLI::App* cmd, Context& ctx, bool legacy, bool target) {
  if (legacy) {
    cmd->add_option("--legacy-url", ctx.legacy_url,
                    "Legacy MDW database, postgres://user:password@host:port/db (else "
                    "$MEDMIGRATE_LEGACY_URL, the LEGACY_DB_* variables, .env, or the running "
                    "private cluster)");
  }
  if (target) {
    cmd->add_option("--target-url", ctx.target_url,
                    "Target platform database, postgres://... (else $MEDMIGRATE_TARGET_URL, "
                    ".env, or the running private cluster)");
  }
  AddDataDirOption(cmd, ctx);
}

void AddDataDirOption(CLI::App* cmd, Context& ctx) {
  if (cmd->get_option_no_throw("--data-dir") != nullptr) return;
  cmd->add_option("--data-dir", ctx.data_dir, "Folder of the private PostgreSQL cluster")
      ->capture_default_str();
}

Result<DatabaseUrl> ResolveUrl(const Context& ctx, DatabaseRole role) {
  const bool legacy = role == DatabaseRole::kLegacy;
  VariableLookup vars = ProcessEnvironment();
  Result<std::map<std::string, std::string>> dotenv = ReadDotEnv(".env");
  if (dotenv.ok()) {
    vars = Layered(vars, FromMap(*dotenv));
  } else if (dotenv.status().code() != StatusCode::kNotFound) {
    return dotenv.status();
  }
  MM_ASSIGN_OR_RETURN(std::optional<DatabaseUrl> found,
                      ResolveDatabaseUrl(role, legacy ? ctx.legacy_url : ctx.target_url, vars));
  if (found) {
    // A variable the process does not have came from .env: say so.
    if (dotenv.ok() && found->source.rfind("--", 0) != 0) {
      const VariableLookup env = ProcessEnvironment();
      bool in_env = false;
      if (found->source == "LEGACY_DB_* variables") {
        for (const char* name : {"LEGACY_DB_HOST", "LEGACY_DB_PORT", "LEGACY_DB_NAME",
                                 "LEGACY_DB_USER", "LEGACY_DB_PASSWORD", "LEGACY_DB_SSL"}) {
          in_env = in_env || env(name).has_value();
        }
      } else {
        in_env = env(found->source).value_or("") != "";
      }
      if (!in_env) found->source += " in .env";
    }
    MM_RETURN_IF_ERROR(pg::ValidateUrl(found->url, found->source));
    return *found;
  }
  Result<pg::ClusterInfo> cluster = pg::ClusterStatus(ctx.Cluster());
  if (cluster.ok() && cluster->running) {
    return DatabaseUrl{legacy ? cluster->LegacyUrl() : cluster->TargetUrl(),
                       "the private cluster in " + cluster->data_dir};
  }
  return Status::InvalidArgument(fmt::format(
      "no {0} database: give {1}, set {2}{3} (or put it in .env), or start the private cluster "
      "with 'medmigrate pg start'",
      legacy ? "legacy" : "target", legacy ? "--legacy-url" : "--target-url",
      legacy ? "MEDMIGRATE_LEGACY_URL" : "MEDMIGRATE_TARGET_URL",
      legacy ? " or the LEGACY_DB_HOST/PORT/NAME/USER/PASSWORD variables" : ""));
}

void Fail(Context& ctx, const Status& status) {
  // The message is one line; a URL in it was masked where it was made, and is
  // masked again here in case one slipped through.
  std::string message = status.message();
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  std::cerr << "medmigrate: error: " << MaskUrl(message) << "\n";
  ctx.exit_code = status.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

namespace {

// "" when `text` is 1 to 20 decimal digits whose value is at most `max`.
std::string CheckDigits(const std::string& text, uint64_t max, uint64_t min) {
  uint64_t v = 0;
  const bool digits = !text.empty() && text.size() <= 20 &&
                      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) return "'" + text + "' is not a whole number (decimal digits only)";
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v > max || v < min) {
    return fmt::format("'{}' is out of range ({} to {})", text, min, max);
  }
  return "";
}

}  // namespace

const CLI::Validator& IdValidator() {
  static const CLI::Validator v(
      [](std::string& text) {
        return CheckDigits(text, uint64_t{std::numeric_limits<int64_t>::max()}, 1);
      },
      "ID");
  return v;
}

const CLI::Validator& UnsignedValidator() {
  static const CLI::Validator v(
      [](std::string& text) {
        return CheckDigits(text, std::numeric_limits<uint64_t>::max(), 0);
      },
      "UINT");
  return v;
}

}  // namespace medmigrate::cli
