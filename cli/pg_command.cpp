// `medmigrate pg start|stop|status`: the private PostgreSQL cluster.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "common/db_url.h"

namespace medmigrate::cli {

namespace {

void PrintInfo(const pg::ClusterInfo& info, bool show_password, bool json) {
  auto url = [&](const std::string& u) { return show_password ? u : MaskUrl(u); };
  if (json) {
    nlohmann::json j = {{"data_dir", info.data_dir},     {"running", info.running},
                        {"pid", info.pid},               {"port", info.port},
                        {"version", info.version},       {"user", info.user},
                        {"legacy_url", url(info.LegacyUrl())},
                        {"target_url", url(info.TargetUrl())}};
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << fmt::format("private PostgreSQL {} cluster in {}\n", info.version, info.data_dir);
  if (!info.running) {
    std::cout << "  stopped (start it with 'medmigrate pg start')\n";
    return;
  }
  std::cout << fmt::format("  running, pid {}, listening on 127.0.0.1:{}\n", info.pid, info.port);
  std::cout << fmt::format("  legacy URL: {}\n", url(info.LegacyUrl()));
  std::cout << fmt::format("  target URL: {}\n", url(info.TargetUrl()));
  if (!show_password) {
    std::cout << fmt::format(
        "  (password in {}/cluster.json; 'medmigrate pg status --show-password' prints it)\n",
        info.data_dir);
  }
}

}  // namespace

void AddPgCommand(CLI::App& app, Context& ctx) {
  CLI::App* pg = app.add_subcommand(
      "pg",
      "Manage the private PostgreSQL cluster (default .medmigrate/pg): the demo's and the "
      "tests' database server, run with the system's PostgreSQL binaries on a free loopback "
      "port with password authentication");
  pg->require_subcommand(1);

  // Parsed into by CLI11, read by the callbacks: lives as long as the program.
  static bool show_password = false;
  static bool json = false;

  CLI::App* start = pg->add_subcommand(
      "start",
      "Create the cluster on first use (initdb), start it when it is stopped, and create the "
      "databases mdw_legacy and platform; prints the URLs. Running as root, the server runs as "
      "system user 'medmigrate'");
  start->add_flag("--show-password", show_password, "Print the URLs with their password");
  start->add_flag("--json", json, "Print the cluster's state as JSON");
  AddDataDirOption(start, ctx);
  start->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      MM_ASSIGN_OR_RETURN(pg::ClusterInfo info, pg::StartCluster(ctx.Cluster()));
      PrintInfo(info, show_password, json);
      return Status::Ok();
    });
  });

  CLI::App* stop = pg->add_subcommand("stop", "Stop the cluster (fast shutdown); keeps its data");
  AddDataDirOption(stop, ctx);
  stop->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      MM_RETURN_IF_ERROR(pg::StopCluster(ctx.Cluster()));
      std::cout << "private cluster stopped\n";
      return Status::Ok();
    });
  });

  CLI::App* status = pg->add_subcommand(
      "status", "Say whether the cluster runs, and print the URLs to use (password masked)");
  status->add_flag("--show-password", show_password, "Print the URLs with their password");
  status->add_flag("--json", json, "Print the cluster's state as JSON");
  AddDataDirOption(status, ctx);
  status->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      MM_ASSIGN_OR_RETURN(pg::ClusterInfo info, pg::ClusterStatus(ctx.Cluster()));
      PrintInfo(info, show_password, json);
      if (!info.running) ctx.exit_code = 3;  // like pg_ctl status: scripts can test it
      return Status::Ok();
    });
  });
}

}  // namespace medmigrate::cli
