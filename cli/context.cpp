#include "cli/context.h"

#include <iostream>

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

}  // namespace medmigrate::cli
