// `medmigrate demo`: the whole tool on one command, with no database of your
// own: the private cluster, a generated dirty legacy database, both schemas,
// and a full migration with its summary.
#include <unistd.h>

#include <iostream>

#include <fmt/format.h>

#include "cli/context.h"
#include "cli/output.h"
#include "common/db_url.h"
#include "generate/legacy_generator.h"
#include "pipeline/migration.h"
#include "schema/migrator.h"

namespace medmigrate::cli {

void AddDemoCommand(CLI::App& app, Context& ctx) {
  static std::string scale = "small";
  static uint64_t seed = 42;
  static int concurrency = 4;
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "Start the private PostgreSQL cluster (.medmigrate/pg), generate a dirty legacy MDW "
      "database in it (mdw_legacy, replaced each time), apply the target and tracking schemas "
      "(platform), run a full migration and print its summary and the URLs to look around with");
  AddDataDirOption(cmd, ctx);
  cmd->add_option("--scale", scale, "Legacy data size: tiny, small, medium, large or prod")
      ->capture_default_str();
  cmd->add_option("--seed", seed, "Seed of the generated data")
      ->check(UnsignedValidator())
      ->capture_default_str();
  cmd->add_option("--max-concurrency", concurrency, "Migration workers")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      MM_ASSIGN_OR_RETURN(generate::Scale s, generate::ParseScale(scale));
      std::cout << "1/4 private PostgreSQL cluster\n" << std::flush;
      MM_ASSIGN_OR_RETURN(pg::ClusterInfo cluster, pg::StartCluster(ctx.Cluster()));
      std::cout << fmt::format("    running in {} on 127.0.0.1:{}\n", cluster.data_dir,
                               cluster.port);

      std::cout << fmt::format("2/4 generating a {} legacy MDW database (seed {})\n", scale, seed)
                << std::flush;
      generate::GenerateOptions g;
      g.url = cluster.LegacyUrl();
      g.scale = s;
      g.seed = seed;
      g.replace = true;
      g.truth_path = cluster.data_dir + "/mdw_legacy.truth.json";
      MM_ASSIGN_OR_RETURN(generate::GenerateSummary gen, generate::GenerateLegacy(g));
      std::cout << fmt::format("    {} rows in {:.1f}s ({:.0f} rows/s); injected defects: {}\n",
                               gen.total_rows, gen.total_seconds,
                               gen.total_seconds > 0 ? gen.total_rows / gen.total_seconds : 0.0,
                               gen.truth_path);

      std::cout << "3/4 target and tracking schemas\n" << std::flush;
      MM_ASSIGN_OR_RETURN(schema::InitReport init, schema::InitSchemas(cluster.TargetUrl(), {}));
      std::cout << fmt::format("    {} migration files applied now, {} already applied\n",
                               init.AppliedCount(), init.AlreadyAppliedCount());

      std::cout << "4/4 full migration\n" << std::flush;
      pipeline::MigrateOptions o;
      o.legacy_url = cluster.LegacyUrl();
      o.target_url = cluster.TargetUrl();
      o.max_concurrency = concurrency;
      o.log_dir = cluster.data_dir + "/../logs";
      ProgressPrinter printer(isatty(STDERR_FILENO) != 0);
      o.on_progress = [&](const pipeline::Progress& p) { printer.Update(p); };
      MM_ASSIGN_OR_RETURN(pipeline::MigrationSummary m, pipeline::RunMigration(o));
      std::cout << fmt::format("    run {} {} in {:.1f}s\n", m.run_id, m.state, m.seconds);
      PrintEntityTable(std::cout, m.entities);
      std::cout << fmt::format(
          "\nlegacy URL: {}\ntarget URL: {}\n(password in {}/cluster.json)\n"
          "Next: medmigrate status | list | progress {} | check   (they use the running private "
          "cluster)\n",
          MaskUrl(cluster.LegacyUrl()), MaskUrl(cluster.TargetUrl()), cluster.data_dir, m.run_id);
      if (m.state != "succeeded") {
        return Status::Aborted(fmt::format("run {} {}: {}", m.run_id, m.state, m.error));
      }
      return Status::Ok();
    });
  });
}

}  // namespace medmigrate::cli
