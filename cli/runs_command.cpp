// `medmigrate status`, `progress RUN` and `list`: what runs did and do, read
// from the tracking schema.
#include <iostream>

#include <fmt/format.h>

#include "cli/context.h"
#include "cli/output.h"
#include "pipeline/run_queries.h"

namespace medmigrate::cli {

void AddRunsCommands(CLI::App& app, Context& ctx) {
  static bool json = false;
  static int64_t run_id = 0;
  static int limit = 20;

  CLI::App* status = app.add_subcommand(
      "status", "The live status (the run in progress, its phase and speed) and the latest run");
  AddDatabaseOptions(status, ctx, /*legacy=*/false, /*target=*/true);
  status->add_flag("--json", json, "Print as JSON");
  status->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      MM_ASSIGN_OR_RETURN(DatabaseUrl target, ResolveUrl(ctx, DatabaseRole::kTarget));
      MM_ASSIGN_OR_RETURN(pipeline::LiveStatus s, pipeline::GetLiveStatus(target.url));
      if (json) {
        std::cout << pipeline::ToJson(s).dump(2) << "\n";
        return Status::Ok();
      }
      if (s.state == "running") {
        std::cout << fmt::format("run {} running: {} ({} of {} rows, {:.0f} rows/s), updated {}\n",
                                 s.run_id.value_or(0), s.phase, s.rows_done,
                                 s.rows_total.value_or(0), s.rows_per_second, s.updated_at);
      } else {
        std::cout << "no migration is running\n";
      }
      if (s.latest) {
        const auto& r = s.latest->run;
        std::cout << fmt::format("latest run {}: {}{} {}, {:.1f}s{}\n", r.id, r.type,
                                 r.dry_run ? " (dry run)" : "", r.state, r.seconds,
                                 r.error ? " — " + *r.error : "");
        PrintEntityTable(std::cout, s.latest->entities);
      }
      return Status::Ok();
    });
  });

  CLI::App* progress = app.add_subcommand(
      "progress", "Per-entity counts of run RUN: read, loaded, rejected, merged, warnings");
  AddDatabaseOptions(progress, ctx, /*legacy=*/false, /*target=*/true);
  progress->add_option("RUN", run_id, "Run id (see 'medmigrate list')")->required()->check(IdValidator());
  progress->add_flag("--json", json, "Print as JSON");
  progress->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      MM_ASSIGN_OR_RETURN(DatabaseUrl target, ResolveUrl(ctx, DatabaseRole::kTarget));
      MM_ASSIGN_OR_RETURN(pipeline::RunReport r, pipeline::GetRunReport(target.url, run_id));
      if (json) {
        std::cout << pipeline::ToJson(r).dump(2) << "\n";
        return Status::Ok();
      }
      std::cout << fmt::format("run {}: {}{} {}, {:.1f}s{}\n", r.run.id, r.run.type,
                               r.run.dry_run ? " (dry run)" : "", r.run.state, r.run.seconds,
                               r.run.error ? " — " + *r.run.error : "");
      PrintEntityTable(std::cout, r.entities);
      return Status::Ok();
    });
  });

  CLI::App* list = app.add_subcommand("list", "Recent runs, newest first");
  AddDatabaseOptions(list, ctx, /*legacy=*/false, /*target=*/true);
  list->add_option("--limit", limit, "How many runs")->check(CLI::Range(1, 10000))->capture_default_str();
  list->add_flag("--json", json, "Print as JSON");
  list->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      MM_ASSIGN_OR_RETURN(DatabaseUrl target, ResolveUrl(ctx, DatabaseRole::kTarget));
      MM_ASSIGN_OR_RETURN(auto runs, pipeline::ListRuns(target.url, limit));
      if (json) {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& r : runs) j.push_back(pipeline::ToJson(r));
        std::cout << j.dump(2) << "\n";
        return Status::Ok();
      }
      std::cout << fmt::format("{:>5}  {:<12} {:<12} {:>9}  {}\n", "run", "type", "state",
                               "seconds", "started");
      for (const auto& r : runs) {
        std::cout << fmt::format("{:>5}  {:<12} {:<12} {:>9.1f}  {}\n", r.id,
                                 r.type + (r.dry_run ? "*" : ""), r.state, r.seconds,
                                 r.started_at.value_or("-"));
      }
      return Status::Ok();
    });
  });
}

}  // namespace medmigrate::cli
