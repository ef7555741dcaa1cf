// `medmigrate check`: which databases medmigrate would use, where each URL came
// from, and whether it can connect; the first thing to run on a new machine.
#include <iostream>

#include <fmt/format.h>

#include "cli/context.h"
#include "common/db_url.h"
#include "pg/connection.h"

namespace medmigrate::cli {

namespace {

// Prints one database's line; false when it is not usable.
bool CheckOne(const Context& ctx, DatabaseRole role) {
  const char* name = role == DatabaseRole::kLegacy ? "legacy" : "target";
  Result<DatabaseUrl> url = ResolveUrl(ctx, role);
  if (!url.ok()) {
    std::cout << fmt::format("{}: not configured: {}\n", name, url.status().message());
    return false;
  }
  std::cout << fmt::format("{}: {} (from {})\n", name, MaskUrl(url->url), url->source);
  Result<pg::Connection> c =
      pg::Connection::Open(url->url, fmt::format("{} database", name), "medmigrate check");
  if (!c.ok()) {
    std::cout << fmt::format("  cannot connect: {}\n", c.status().message());
    return false;
  }
  Result<std::optional<std::string>> v = c->QueryValue("SHOW server_version");
  std::cout << fmt::format("  connected: PostgreSQL {}\n",
                           v.ok() && *v ? **v : std::string("(version unknown)"));
  return true;
}

}  // namespace

void AddCheckCommand(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "check",
      "Show the legacy and target databases medmigrate would use (password masked), where each "
      "URL came from (flag, environment, .env, private cluster), and try to connect to both; "
      "exits 1 when either is not usable");
  AddDatabaseOptions(cmd, ctx, /*legacy=*/true, /*target=*/true);
  cmd->callback([&ctx] {
    bool legacy = CheckOne(ctx, DatabaseRole::kLegacy);
    bool target = CheckOne(ctx, DatabaseRole::kTarget);
    if (!legacy || !target) ctx.exit_code = 1;
  });
}

}  // namespace medmigrate::cli
