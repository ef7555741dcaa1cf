// `medmigrate migrate`: a full migration (or a resumed one), with progress
// and a per-entity summary.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "cli/context.h"
#include "cli/output.h"
#include "pipeline/migration.h"
#include "pipeline/run_queries.h"

namespace medmigrate::cli {

namespace {

struct MigrateFlags {
  pipeline::MigrateOptions options;
  std::string entities;
  std::optional<int64_t> resume;
  bool json = false;
  bool no_ai = false;
  bool no_validate = false;
};

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    size_t b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

}  // namespace

void AddMigrateCommand(CLI::App& app, Context& ctx) {
  static MigrateFlags flags;
  CLI::App* cmd = app.add_subcommand(
      "migrate",
      "Move the legacy database into the target, per the mapping spec: every row is loaded, "
      "rejected (with entity, legacy id, column and reason in medmigrate.rejects) or merged; "
      "ids are UUIDv5 of (entity, legacy id); each batch commits with its checkpoint, so a "
      "killed run resumes exactly (--resume) and a second run changes nothing");
  AddDatabaseOptions(cmd, ctx, /*legacy=*/true, /*target=*/true);
  cmd->add_option("--type", flags.options.type,
                  "full: every source row; incremental: only what changed since the last "
                  "succeeded run (per the spec's `changes`: updated_at, row hash or new keys), "
                  "with vanished rows soft-deleted (deleted_at)")
      ->check(CLI::IsMember({"full", "incremental"}))
      ->capture_default_str();
  cmd->add_option("--entities", flags.entities,
                  "Comma-separated target tables to migrate (default: all); each one's "
                  "dependencies must be in the list or already in the target")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            return SplitList(text).empty()
                       ? "'" + text + "' names no entity: list target tables, or leave out "
                                      "--entities to migrate all"
                       : "";
          },
          "LIST"));
  cmd->add_flag("--dry-run", flags.options.dry_run,
                "Read and transform everything and report what would load and be rejected, "
                "loading into a scratch schema that is dropped at the end; writes nothing to "
                "the main schema");
  cmd->add_option("--batch-size", flags.options.batch_size,
                  "Rows per batch; each batch is one target transaction")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--max-concurrency", flags.options.max_concurrency,
                  "Worker threads, each with one legacy and one target connection")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--max-retries", flags.options.max_retries,
                  "Retries of a batch after a transient fault (dropped connection, deadlock, "
                  "serialization failure), with exponential backoff")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  cmd->add_option("--overlap-seconds", flags.options.overlap_seconds,
                  "Incremental runs: also re-read rows whose updated_at is up to this much "
                  "older than the last run's watermark (transactions that committed late); "
                  "re-read unchanged rows count as unchanged")
      ->check(CLI::Range(0, 604800))
      ->capture_default_str();
  cmd->add_option("--resume", flags.resume,
                  "Continue interrupted or failed run RUN from its checkpoints")
      ->check(IdValidator());
  cmd->add_option("--spec", flags.options.spec_path,
                  "Mapping spec file (default: the MDW spec built into medmigrate)");
  cmd->add_option("--dedup-model", flags.options.dedup_model_path,
                  "Score duplicate patients with this model ('medmigrate dedup model' writes "
                  "one) instead of fitting one (full runs) or keeping the last run's "
                  "(incremental runs)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--spill-dir", flags.options.spill_dir,
                  "Directory where the dedup phase spills patients' records and sorted keys "
                  "while it matches: unnamed files that vanish when it ends (default: $TMPDIR, "
                  "else /tmp)");
  cmd->add_flag("--no-ai", flags.no_ai, "Do not compute embeddings (none are computed yet)");
  cmd->add_flag("--no-validate", flags.no_validate,
                "Do not validate the run when it succeeds (see 'medmigrate validate')");
  cmd->add_option("--sample-size", flags.options.validate_sample_size,
                  "Rows per entity the end-of-run validation compares field by field")
      ->check(CLI::Range(0, 10000000))
      ->capture_default_str();
  cmd->add_flag("--json", flags.json, "Print the final summary as JSON on stdout");
  cmd->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      MM_ASSIGN_OR_RETURN(DatabaseUrl legacy, ResolveUrl(ctx, DatabaseRole::kLegacy));
      MM_ASSIGN_OR_RETURN(DatabaseUrl target, ResolveUrl(ctx, DatabaseRole::kTarget));
      pipeline::MigrateOptions o = flags.options;
      o.legacy_url = legacy.url;
      o.target_url = target.url;
      o.entities = SplitList(flags.entities);
      o.resume = flags.resume;
      o.validate = !flags.no_validate;
      ProgressPrinter printer(isatty(STDERR_FILENO) != 0);
      o.on_progress = [&](const pipeline::Progress& p) { printer.Update(p); };
      // SIGTERM (a service manager, kill) as SIGINT: stop at batch boundaries
      // and end the run interrupted, resumable; not killed mid-run.
      std::signal(SIGINT, [](int) { pipeline::RequestStop(); });
      std::signal(SIGTERM, [](int) { pipeline::RequestStop(); });
      MM_ASSIGN_OR_RETURN(pipeline::MigrationSummary s, pipeline::RunMigration(o));
      std::signal(SIGINT, SIG_DFL);
      std::signal(SIGTERM, SIG_DFL);
      if (flags.json) {
        std::cout << pipeline::ToJson(s).dump(2) << "\n";
      } else {
        std::cout << fmt::format("run {} ({}{}) {} in {:.1f}s\n", s.run_id, s.type,
                                 s.dry_run ? ", dry run" : "", s.state, s.seconds);
        PrintEntityTable(std::cout, s.entities);
        if (!s.dedup.entity.empty()) {
          const auto& d = s.dedup;
          std::cout << fmt::format(
              "dedup {}: {} records{}, {} merged automatically ({} new, {} taken back), {} pairs "
              "to review{} in {:.1f}s; 'medmigrate dedup list'\n",
              d.entity, d.records,
              d.kept_model && d.matched < d.records
                  ? fmt::format(" ({} new or changed matched with the kept model)", d.matched)
                  : "",
              d.auto_merges, d.added, d.superseded, d.review_pairs,
              d.soft_deleted ? fmt::format(", {} loaded earlier soft-deleted", d.soft_deleted) : "",
              d.seconds);
        }
        if (!s.log_file.empty()) std::cout << "log: " << s.log_file << "\n";
        std::cout << fmt::format("rejects: medmigrate.rejects WHERE run_id = {}\n", s.run_id);
        if (!s.validation.empty()) {
          std::cout << fmt::format("validation {}: {} in {:.1f}s{}\n", s.validation_id,
                                   s.validation, s.validation_seconds,
                                   s.validation == "failed"
                                       ? fmt::format(" ({} checks failed; 'medmigrate validate {}')",
                                                     s.validation_failed_checks, s.run_id)
                                       : "");
        }
      }
      if (s.state != "succeeded") {
        return Status(StatusCode::kAborted, fmt::format("run {} {}: {}", s.run_id, s.state, s.error));
      }
      if (s.validation == "failed" || s.validation == "error") {
        return Status::DataLoss(fmt::format(
            "run {} succeeded, but its validation {}: {}", s.run_id,
            s.validation == "failed" ? "failed" : "could not finish",
            s.validation == "failed"
                ? fmt::format("{} checks failed; see 'medmigrate validate {}' or 'medmigrate "
                              "report {}'",
                              s.validation_failed_checks, s.run_id, s.run_id)
                : s.validation_error));
      }
      return Status::Ok();
    });
  });
}

}  // namespace medmigrate::cli
