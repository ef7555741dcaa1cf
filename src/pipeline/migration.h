// Runs a migration: the one API that cli/ and server/ call to move data.
// Phases, in order: lock the target (one active run per target, DESIGN
// principle 9), record the run, export one legacy snapshot, plan each
// entity's key chunks (recorded, so a resume reads the same ranges), then
// workers take chunks whose entity's dependencies are complete and stream
// them: read (COPY out, keyset batches) -> transform -> load (COPY in, upsert,
// checkpoint in the same transaction). Transient faults are retried with
// exponential backoff; a batch whose COMMIT went unacknowledged is detected by
// its checkpoint and not loaded twice. Post-load SQL steps of the spec run
// when their entities are complete.
//
// Memory: batch_size x max_concurrency rows, whatever the table sizes.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "track/run_store.h"
#include "track/run_lock.h"

namespace medmigrate::pipeline {

// The run lock's key ('mmig'; track/run_lock.h).
using track::kRunLockKey;

// A moment of a run, for progress bars and the live status row.
struct EntityProgress {
  std::string entity;
  std::string state;          // pending | running | succeeded | failed
  int64_t total = 0;          // source rows under the snapshot; -1 when unknown (exploded rows)
  int64_t read = 0;
  int64_t loaded = 0;
  int64_t rejected = 0;
  int64_t merged = 0;         // rows of duplicate records merged into a survivor
  int64_t warnings = 0;
  int64_t deleted = 0;        // soft-deleted (incremental runs)
  double seconds = 0;         // since the entity started
};

struct Progress {
  int64_t run_id = 0;
  double seconds = 0;
  std::vector<EntityProgress> entities;  // in dependency order
};

struct MigrateOptions {
  std::string legacy_url;
  std::string target_url;
  std::string type = "full";          // full | incremental (docs/engine.md)
  std::vector<std::string> entities;  // empty: every entity of the spec
  bool dry_run = false;
  int batch_size = 10000;             // rows per batch (and per target transaction)
  int max_concurrency = 4;            // worker threads, each with a legacy and a target connection
  int max_retries = 5;                // per batch, for transient faults
  std::optional<int64_t> resume;      // continue this interrupted or failed run
  std::string spec_path;              // empty: the embedded MDW spec
  // A dedup model file (`medmigrate dedup model`) to score with instead of
  // fitting one or keeping the last run's; empty: fit (full) or keep (incremental).
  std::string dedup_model_path;
  // Where the dedup phase spills patients' records and sorted keys while it
  // matches (unnamed files, gone when it ends); empty: $TMPDIR, else /tmp.
  std::string spill_dir;
  // Incremental runs re-read rows whose updated_at is this much older than
  // the last run's watermark: transactions that committed late.
  int overlap_seconds = 300;
  std::string log_dir = ".medmigrate/logs";  // <target db>-run-<id>.jsonl; empty: none
  // After a run that succeeded, validate it (src/validate/) in the run's
  // legacy snapshot and record the result with the run.
  bool validate = true;
  int validate_sample_size = 1000;    // rows compared field by field per entity
  // Called from a monitor thread about twice a second, and once at the end.
  std::function<void(const Progress&)> on_progress;
};

struct MigrationSummary {
  int64_t run_id = 0;
  std::string type;
  std::string state;  // succeeded | failed | interrupted
  bool dry_run = false;
  double seconds = 0;
  std::string error;  // one line, when not succeeded
  std::vector<track::EntityCounts> entities;
  std::string log_file;
  // The end-of-run validation: "passed", "failed", "error" (it could not
  // finish: validation_error says why) or "" (not run). A failed validation
  // leaves the run succeeded: the data moved, the proof did not hold.
  std::string validation;
  int64_t validation_id = 0;
  int64_t validation_failed_checks = 0;
  double validation_seconds = 0;
  std::string validation_error;
  // The dedup phase (spec [dedup]; empty entity: none ran).
  struct Dedup {
    std::string entity;
    int64_t records = 0;
    int64_t candidate_pairs = 0;
    int64_t matched = 0;      // records matched: all, or the new and changed ones
    bool kept_model = false;  // scored with a model fitted earlier (or given), not now
    int64_t auto_merges = 0;  // records merged automatically, in force
    int64_t added = 0;        // merges the phase recorded
    int64_t superseded = 0;   // earlier automatic merges it reverted
    int64_t review_pairs = 0;
    int64_t soft_deleted = 0;  // loaded earlier, merged since: soft-deleted
    double seconds = 0;
    bool reused = false;  // recorded before a resume
  } dedup;
};

// Runs (or resumes) a migration. A Status error means the run could not start
// (bad options, spec, URL, lock held, dependency missing); a run that started
// and failed returns a summary with state "failed" and its error.
Result<MigrationSummary> RunMigration(const MigrateOptions& options);

// Asks a running RunMigration in this process to stop after its current
// batches (SIGINT); the run ends "interrupted" and can be resumed.
void RequestStop();

}  // namespace medmigrate::pipeline
