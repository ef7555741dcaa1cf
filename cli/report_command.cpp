// `medmigrate report RUN --format md|json|html [--output FILE]`: the run's
// summary, per-entity counts, rejects and warnings by reason, validation and
// (HTML) a throughput chart; no patient data.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "cli/context.h"
#include "report/run_report.h"

namespace medmigrate::cli {

void AddReportCommand(CLI::App& app, Context& ctx) {
  static int64_t run_id = 0;
  static std::string format = "md";
  static std::string output;
  CLI::App* cmd = app.add_subcommand(
      "report",
      "Report of run RUN: summary (type, timings, rows/s), per-entity counts, rejects and "
      "warnings by reason with example legacy ids, the latest validation, and (HTML) a chart "
      "of throughput over time; JSON follows docs/report-schema.json");
  AddDatabaseOptions(cmd, ctx, /*legacy=*/false, /*target=*/true);
  cmd->add_option("RUN", run_id, "Run id (see 'medmigrate list')")->required()->check(IdValidator());
  cmd->add_option("--format", format, "md, json or html")
      ->check(CLI::IsMember({"md", "json", "html"}))
      ->capture_default_str();
  cmd->add_option("--output", output, "Write to FILE instead of stdout");
  cmd->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      // Refuse an unwritable file before reading anything.
      std::ofstream file;
      if (!output.empty()) {
        file.open(output, std::ios::binary | std::ios::trunc);
        if (!file) {
          return Status::InvalidArgument(fmt::format(
              "--output {}: cannot write the report there ({})", output, std::strerror(errno)));
        }
      }
      MM_ASSIGN_OR_RETURN(DatabaseUrl target, ResolveUrl(ctx, DatabaseRole::kTarget));
      MM_ASSIGN_OR_RETURN(report::RunReportData r, report::LoadRunReport(target.url, run_id));
      MM_ASSIGN_OR_RETURN(std::string text, report::Render(r, format));
      if (output.empty()) {
        std::cout << text;
        return Status::Ok();
      }
      file << text;
      file.close();
      if (!file) {
        return Status::Unavailable(fmt::format("--output {}: writing the report failed", output));
      }
      std::cerr << fmt::format("report of run {} written to {}\n", run_id, output);
      return Status::Ok();
    });
  });
}

}  // namespace medmigrate::cli
