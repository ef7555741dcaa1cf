// `medmigrate validate RUN`: proves a run against the legacy database and the
// tracking schema, records the result with the run, and exits non-zero when a
// check failed (each failure named by check, entity and legacy ids).
#include <fmt/format.h>

#include <iostream>

#include "cli/context.h"
#include "validate/validation.h"

namespace medmigrate::cli {

void AddValidateCommand(CLI::App& app, Context& ctx) {
  static validate::ValidateOptions options;
  static bool completeness = false, integrity = false, json = false;
  CLI::App* cmd = app.add_subcommand(
      "validate",
      "Prove run RUN: completeness (counts, every legacy key loaded, rejected or merged, money "
      "to the cent) and integrity (references, foreign keys, unique ids, enum values, a sample "
      "of rows compared field by field, clinical sanity); both unless one is asked");
  AddDatabaseOptions(cmd, ctx, /*legacy=*/true, /*target=*/true);
  cmd->add_option("RUN", options.run_id, "Run id (see 'medmigrate list')")->required()->check(IdValidator());
  cmd->add_flag("--completeness", completeness, "Only the completeness checks");
  cmd->add_flag("--integrity", integrity, "Only the integrity checks");
  cmd->add_option("--sample-size", options.sample_size,
                  "Rows per entity re-read, transformed again and compared field by field "
                  "(all when fewer; 0: none)")
      ->check(CLI::Range(0, 10000000))
      ->capture_default_str();
  cmd->add_option("--concurrency", options.concurrency, "Checks run at once")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--spec", options.spec_path,
                  "The mapping spec file the run used (default: the run's, else the built-in one)");
  cmd->add_flag("--json", json, "Print the result as JSON");
  cmd->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      MM_ASSIGN_OR_RETURN(DatabaseUrl legacy, ResolveUrl(ctx, DatabaseRole::kLegacy));
      MM_ASSIGN_OR_RETURN(DatabaseUrl target, ResolveUrl(ctx, DatabaseRole::kTarget));
      validate::ValidateOptions o = options;
      o.legacy_url = legacy.url;
      o.target_url = target.url;
      o.completeness = completeness || !integrity;
      o.integrity = integrity || !completeness;
      MM_ASSIGN_OR_RETURN(validate::ValidationResult v, validate::ValidateRun(o));
      if (json) {
        std::cout << validate::ToJson(v).dump(2) << "\n";
      } else {
        std::cout << fmt::format("{:<13} {:<28} {:<20} {:>10} {:>9}  {}\n", "kind", "check",
                                 "entity", "checked", "failures", "result");
        for (const validate::CheckResult& c : v.checks) {
          std::string result = c.failures == 0 ? "ok" : c.passed ? "warning" : "FAILED";
          std::cout << fmt::format("{:<13} {:<28} {:<20} {:>10} {:>9}  {}", c.kind, c.check,
                                   c.entity.empty() ? "-" : c.entity, c.checked, c.failures,
                                   result);
          if (!c.examples.empty()) {
            std::cout << fmt::format(
                " (legacy ids {}{})", fmt::join(c.examples, ", "),
                c.failures > static_cast<int64_t>(c.examples.size()) ? ", ..." : "");
          }
          std::cout << "\n";
        }
        std::cout << fmt::format("validation {} of run {} {} in {:.1f}s: {} of {} checks failed\n",
                                 v.validation_id, v.run_id, v.passed ? "passed" : "FAILED",
                                 v.seconds, v.FailedChecks(), v.checks.size());
      }
      if (!v.passed) {
        return Status::DataLoss(fmt::format(
            "validation of run {} failed: {} checks failed (medmigrate.validation_checks WHERE "
            "validation_id = {})",
            v.run_id, v.FailedChecks(), v.validation_id));
      }
      return Status::Ok();
    });
  });
}

}  // namespace medmigrate::cli
