// What every command shares: the options that pick the databases and the
// private cluster, how they are resolved, and how a command reports failure.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/config.h"
#include "common/status.h"
#include "pg/embedded_cluster.h"

namespace medmigrate::cli {

struct Context {
  std::string log_level = "info";
  std::optional<std::string> legacy_url;
  std::optional<std::string> target_url;
  std::string data_dir = ".medmigrate/pg";  // the private cluster's folder
  int exit_code = 0;

  pg::ClusterOptions Cluster() const {
    pg::ClusterOptions o;
    o.data_dir = data_dir;
    return o;
  }
};

// Adds --legacy-url / --target-url (as asked) and --data-dir to `cmd`.
void AddDatabaseOptions(CLI::App* cmd, Context& ctx, bool legacy, bool target);
void AddDataDirOption(CLI::App* cmd, Context& ctx);

// The URL for `role`: flag, environment, .env, then the running private cluster.
// InvalidArgument saying how to give one when none is found.
Result<DatabaseUrl> ResolveUrl(const Context& ctx, DatabaseRole role);

// Validators that read the text before CLI11 converts it: CLI11 wraps a
// number that overflows its type (99999999999999999999 became another run id,
// --seed -1 became 18446744073709551615).
// A run or pair id: 1 to 9223372036854775807, decimal digits only.
const CLI::Validator& IdValidator();
// A decimal integer from 0 to 18446744073709551615, no sign.
const CLI::Validator& UnsignedValidator();

// Prints "medmigrate: error: <message>" on stderr and sets the exit code.
void Fail(Context& ctx, const Status& status);

// Runs `body` and reports a failed Status through Fail.
template <typename F>
void RunCommand(Context& ctx, F&& body) {
  Status s = body();
  if (!s.ok()) Fail(ctx, s);
}

// Each command's file adds it to the tree.
void AddPgCommand(CLI::App& app, Context& ctx);
void AddGenerateCommand(CLI::App& app, Context& ctx);
void AddInitCommand(CLI::App& app, Context& ctx);
void AddDemoCommand(CLI::App& app, Context& ctx);
void AddCheckCommand(CLI::App& app, Context& ctx);
void AddMigrateCommand(CLI::App& app, Context& ctx);
void AddRunsCommands(CLI::App& app, Context& ctx);
void AddRollbackCommands(CLI::App& app, Context& ctx);
void AddValidateCommand(CLI::App& app, Context& ctx);
void AddReportCommand(CLI::App& app, Context& ctx);
void AddDedupCommand(CLI::App& app, Context& ctx);

}  // namespace medmigrate::cli
