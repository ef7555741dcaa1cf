// `medmigrate init [--main] [--tracking]`: applies the target and tracking
// schemas' migrations embedded in the binary (schema/migrator.h).
#include <iostream>

#include <fmt/format.h>

#include "cli/context.h"
#include "common/db_url.h"
#include "schema/migrator.h"

namespace medmigrate::cli {

void AddInitCommand(CLI::App& app, Context& ctx) {
  CLI::App* init = app.add_subcommand(
      "init",
      "Create or upgrade the target database's schemas from the numbered SQL migrations built "
      "into medmigrate: the platform schema (public: offices, profiles, doctors, patients, "
      "orders, ...) and the tracking schema (medmigrate: runs, live status, checkpoints, "
      "rejects, merges, events). Each applied file is recorded with its SHA-256 in "
      "medmigrate.schema_migrations and never applied twice, so running init again changes "
      "nothing. Stops before applying anything when a recorded file was edited since (its "
      "checksum differs) or was applied by a newer medmigrate. Needs no superuser: the owner "
      "of the database (e.g. Supabase's postgres role) is enough");

  // Parsed into by CLI11, read by the callback: lives as long as the program.
  static bool main_only = false;
  static bool tracking_only = false;
  init->add_flag("--main", main_only,
                 "Apply the platform schema's migrations (sql/main); with neither --main nor "
                 "--tracking, both are applied");
  init->add_flag("--tracking", tracking_only,
                 "Apply the tracking schema's migrations (sql/tracking, schema medmigrate)");
  AddDatabaseOptions(init, ctx, /*legacy=*/false, /*target=*/true);

  init->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      std::vector<schema::SchemaScope> scopes;
      if (tracking_only) scopes.push_back(schema::SchemaScope::kTracking);
      if (main_only) scopes.push_back(schema::SchemaScope::kMain);
      if (scopes.empty()) scopes = schema::AllScopes();

      MM_ASSIGN_OR_RETURN(DatabaseUrl target, ResolveUrl(ctx, DatabaseRole::kTarget));
      MM_ASSIGN_OR_RETURN(schema::InitReport report, schema::InitSchemas(target.url, scopes));
      for (const schema::MigrationOutcome& f : report.files) {
        if (f.applied_now) {
          std::cout << fmt::format("applied {} ({} ms)\n", f.path, f.duration_ms);
        } else {
          std::cout << fmt::format("already applied {}\n", f.path);
        }
      }
      std::string which;
      for (schema::SchemaScope s : scopes) {
        which += (which.empty() ? "" : " and ") + std::string(schema::ScopeName(s));
      }
      std::cout << fmt::format("init: {} schema{} up to date on {} ({}): {} applied now, {} "
                               "already applied\n",
                               which, scopes.size() > 1 ? "s" : "", MaskUrl(target.url),
                               target.source, report.AppliedCount(),
                               report.AlreadyAppliedCount());
      return Status::Ok();
    });
  });
}

}  // namespace medmigrate::cli
