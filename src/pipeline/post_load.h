// Runs one post-load step of the mapping spec (docs/spec.md, "[[post_load]]")
// in one target transaction with everything it records: the warnings its
// statement reports, the per-entity warning counters they add to, and the
// phase row `post_load.<name>` in medmigrate.phases that says the step
// completed in this run. A step that fails leaves none of it behind.
//
// Warnings: the statement may insert (entity, legacy_id, column_name, reason)
// rows into the temporary table pg_temp.post_load_warnings, which exists
// empty for each execution (a data-modifying CTE of the step's statement).
// They become medmigrate.warnings of the run with detail 'post_load.<name>',
// replacing what an earlier execution of the step in the same run recorded,
// so a rerun (a resume) neither doubles nor loses them. Like row warnings
// they carry legacy ids, column names and reasons, never values.
//
// Incremental runs: the statement covers the changes of every run after the
// last one in which the step completed (`medmigrate.since_run`, exclusive, up
// to `medmigrate.run_id`), so what a failed or interrupted run loaded but
// never derived is derived by the next run.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"
#include "pg/connection.h"
#include "spec/mapping_spec.h"

namespace medmigrate::pipeline {

struct PostLoadContext {
  const spec::MappingSpec* spec = nullptr;
  int64_t run_id = 0;
  std::string schema = "public";  // search_path's first schema for the statement
  bool incremental = false;       // run the step's incremental_sql, when it has one
  bool capture = false;           // record before-images of its writes (rollback)
};

struct PostLoadOutcome {
  int64_t since_run = 0;  // changes of runs after this one were covered (incremental)
  int64_t rows = 0;       // rows the statement wrote (its command tag)
  int64_t warnings = 0;   // warnings the step recorded for the run, in all
  // Per entity: how much its warnings counter in medmigrate.run_entities
  // changed (negative when a rerun reports fewer than the earlier execution).
  std::map<std::string, int64_t> warnings_delta;
};

// The run after whose changes an incremental execution of `step` must
// derive: the latest run before `run_id` (not dry, not rolled back) in which
// the step completed; on targets where no run recorded it (steps were not
// recorded before), the latest succeeded run before `run_id`; else 0.
Result<int64_t> PostLoadBase(pg::Connection& target, const std::string& step, int64_t run_id);

// Runs `step` on `target` (which must not be inside a transaction) and
// commits it with its records. On error the transaction is rolled back and
// the Status says which part failed; the caller adds "post_load.<name>".
Result<PostLoadOutcome> RunPostLoadStep(pg::Connection& target, const spec::PostLoadStep& step,
                                        const PostLoadContext& ctx);

}  // namespace medmigrate::pipeline
