// `medmigrate rollback RUN --confirm` and `medmigrate cleanup --days N`.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "pipeline/rollback.h"

namespace medmigrate::cli {

void AddRollbackCommands(CLI::App& app, Context& ctx) {
  static int64_t run_id = 0;
  static bool confirm = false;
  static bool json = false;
  static int days = 30;
  static std::string log_dir = ".medmigrate/logs";

  CLI::App* rollback = app.add_subcommand(
      "rollback",
      "Undo run RUN: every target row it inserted is removed, every row it updated or "
      "soft-deleted is put back as it was (from the before-images in the tracking schema), in "
      "one transaction. Only the latest run that is not rolled back can be, and not while a run "
      "is active");
  AddDatabaseOptions(rollback, ctx, /*legacy=*/false, /*target=*/true);
  rollback->add_option("RUN", run_id, "Run id (see 'medmigrate list')")->required()->check(IdValidator());
  rollback->add_flag("--confirm", confirm, "Required: says you mean it");
  rollback->add_flag("--json", json, "Print what was undone as JSON");
  rollback->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      if (!confirm) {
        return Status::InvalidArgument(fmt::format(
            "rollback changes the target: add --confirm to roll back run {}", run_id));
      }
      MM_ASSIGN_OR_RETURN(DatabaseUrl target, ResolveUrl(ctx, DatabaseRole::kTarget));
      MM_ASSIGN_OR_RETURN(pipeline::RollbackSummary s, pipeline::RollbackRun(target.url, run_id));
      if (json) {
        std::cout << nlohmann::json{{"run_id", s.run_id},
                                    {"deleted", s.deleted},
                                    {"restored", s.restored},
                                    {"seconds", s.seconds}}
                         .dump(2)
                  << "\n";
        return Status::Ok();
      }
      std::cout << fmt::format("run {} rolled back in {:.1f}s\n", s.run_id, s.seconds);
      std::cout << fmt::format("{:<32} {:>10} {:>10}\n", "table", "removed", "restored");
      for (const auto& [table, n] : s.deleted) {
        auto r = s.restored.find(table);
        std::cout << fmt::format("{:<32} {:>10} {:>10}\n", table, n,
                                 r == s.restored.end() ? 0 : r->second);
      }
      return Status::Ok();
    });
  });

  CLI::App* cleanup = app.add_subcommand(
      "cleanup",
      "Remove the checkpoints, before-images, events, superseded row hashes and log files of "
      "finished runs older than --days days; never those of the latest succeeded run. A "
      "cleaned run can no longer be rolled back");
  AddDatabaseOptions(cleanup, ctx, /*legacy=*/false, /*target=*/true);
  cleanup->add_option("--days", days, "Age in days of the runs to clean")
      ->required()
      ->check(CLI::Range(0, 36500));
  // Checked when given: a mistyped folder would otherwise clean no log, silently.
  cleanup->add_option("--log-dir", log_dir, "Where the run logs are")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str();
  cleanup->add_flag("--json", json, "Print what was freed as JSON");
  cleanup->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      MM_ASSIGN_OR_RETURN(DatabaseUrl target, ResolveUrl(ctx, DatabaseRole::kTarget));
      MM_ASSIGN_OR_RETURN(pipeline::CleanupSummary s,
                          pipeline::CleanupRuns(target.url, days, log_dir));
      if (json) {
        std::cout << nlohmann::json{{"runs", s.runs},
                                    {"rows", s.rows},
                                    {"log_files", s.log_files},
                                    {"log_bytes", s.log_bytes}}
                         .dump(2)
                  << "\n";
        return Status::Ok();
      }
      std::cout << fmt::format("cleaned {} run(s) finished more than {} day(s) ago\n", s.runs, days);
      for (const auto& [table, n] : s.rows) {
        std::cout << fmt::format("  medmigrate.{:<12} {:>10} rows deleted\n", table, n);
      }
      std::cout << fmt::format("  log files           {:>10} removed ({} bytes)\n", s.log_files,
                               s.log_bytes);
      return Status::Ok();
    });
  });
}

}  // namespace medmigrate::cli
