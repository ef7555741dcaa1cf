#include "pipeline/run_validation.h"

#include <spdlog/spdlog.h>

#include "validate/validation.h"

namespace medmigrate::pipeline {

void ValidateAfterRun(const MigrateOptions& o, const spec::MappingSpec& spec,
                      const std::string& snapshot_id, MigrationSummary* summary) {
  validate::ValidateOptions v;
  v.legacy_url = o.legacy_url;
  v.target_url = o.target_url;
  v.run_id = summary->run_id;
  v.sample_size = o.validate_sample_size;
  v.concurrency = o.max_concurrency;
  v.snapshot_id = snapshot_id;
  v.spec = &spec;
  Result<validate::ValidationResult> r = validate::ValidateRun(v);
  if (!r.ok()) {
    summary->validation = "error";
    summary->validation_error = r.status().message();
    spdlog::error("{}", summary->validation_error);
    return;
  }
  summary->validation = r->passed ? "passed" : "failed";
  summary->validation_id = r->validation_id;
  summary->validation_failed_checks = r->FailedChecks();
  summary->validation_seconds = r->seconds;
}

}  // namespace medmigrate::pipeline
