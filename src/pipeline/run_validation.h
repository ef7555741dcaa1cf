// The validation that ends every migration that succeeded (src/validate/),
// kept out of migration.cpp so the run's phases read on their own.
#pragma once

#include <string>

#include "pipeline/migration.h"
#include "spec/mapping_spec.h"

namespace medmigrate::pipeline {

// Validates run summary->run_id in the legacy snapshot `snapshot_id` (still
// held by the caller) and fills summary's validation fields. Never fails the
// run: a validation that fails or cannot finish is recorded and reported.
void ValidateAfterRun(const MigrateOptions& options, const spec::MappingSpec& spec,
                      const std::string& snapshot_id, MigrationSummary* summary);

}  // namespace medmigrate::pipeline
