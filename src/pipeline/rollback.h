// Undoing a run, and forgetting old ones.
//
// Rollback restores every target row run RUN touched to its state before the
// run, from what the run recorded (pipeline/incremental.h): tables that were
// empty when a full run started are emptied; elsewhere each row's earliest
// before-image of the run is put back (rows the run inserted are deleted),
// children before parents for deletes and parents first for restores; the
// row hashes the run recorded are dropped. One transaction: all or nothing.
// Only the latest run that is not rolled back (dry runs aside) can be rolled
// back, never while a run holds the target.
//
// Cleanup removes the checkpoints, before-images, events and superseded row
// hashes of finished runs older than N days, and their log files, never those
// of the latest succeeded run.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"

namespace medmigrate::pipeline {

struct RollbackSummary {
  int64_t run_id = 0;
  std::map<std::string, int64_t> deleted;   // table -> rows removed (inserted by the run)
  std::map<std::string, int64_t> restored;  // table -> rows put back as they were
  double seconds = 0;
};

Result<RollbackSummary> RollbackRun(const std::string& target_url, int64_t run);

struct CleanupSummary {
  int64_t runs = 0;                       // runs whose records were cleaned
  std::map<std::string, int64_t> rows;    // tracking table -> rows deleted
  int64_t log_files = 0;
  int64_t log_bytes = 0;
};

// `log_dir`: where run logs are (<target db>-run-<id>.jsonl); empty: none.
Result<CleanupSummary> CleanupRuns(const std::string& target_url, int days,
                                   const std::string& log_dir);

}  // namespace medmigrate::pipeline
