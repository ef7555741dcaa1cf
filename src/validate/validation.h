// Proves a migration run: compares the target with the legacy database and
// the tracking schema, and stores one result per check (and entity) with the
// run (medmigrate.validations, validation_checks; sql/tracking/0006).
//
// Completeness: per entity, read = loaded + rejected + merged in the run's
// counts; every legacy key has exactly one live target row, a reject or a
// merge record, or (incremental runs) a cascade soft-delete, and every live
// row's key is in the legacy database (key sets streamed sorted from both
// databases and merged, never one query per row); the run's deleted count is
// the rows it soft-deleted; money reconciled to the cent per row, per
// referenced row and per currency ([[validate.money]] in the spec).
// Full and incremental runs alike: the target's cumulative state (live rows,
// earlier runs' rejects and cascades) is judged, since an incremental run's
// counts cover only its change set.
// Integrity: every reference remaps to the row the legacy key names (same
// pass as the key sets), no orphan foreign key among live rows, a
// soft-deleted parent counting as missing (the target catalog's and the
// spec's references: the engine may load with the triggers off), unique
// legacy ids, enum values in the spec's sets, and a random sample of rows per
// entity re-read from the legacy database, transformed again by the engine's
// own RowTransformer and compared field by field with the target row.
// Clinical sanity findings ([[validate.sanity]]) are reported, never failing;
// properties of derived data ([[validate.derived]], e.g. every order with
// states has its state analytics) fail the validation when they do not hold.
//
// Results carry legacy ids, entity and column names, counts and reason codes,
// never patient data (DESIGN principle 7).
//
// Memory: one batch of streamed rows per check, the sample, and the reject,
// cascade and merge ids of one entity (for money); never a whole table.
// Threads: checks run on `concurrency` threads, each with its own connections.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "pg/connection.h"
#include "spec/mapping_spec.h"

namespace medmigrate::validate {

struct ValidateOptions {
  std::string legacy_url;
  std::string target_url;
  int64_t run_id = 0;
  bool completeness = true;
  bool integrity = true;
  int sample_size = 1000;  // rows compared per entity (all when fewer); 0: no sample
  int concurrency = 4;     // checks at once, each with a legacy and a target connection
  int max_examples = 10;   // legacy ids kept per failing check
  // The legacy snapshot the run read (the end-of-run validation passes it, so
  // rows the legacy application wrote since do not count). Empty: the
  // database as it is now; a sampled row that differs because the legacy
  // application changed it after the run started (its updated_at says so) is
  // counted in the sample's details, not as a failure.
  std::string snapshot_id;
  // The run's mapping spec. nullptr: the file named by `spec_path`, else the
  // run's own spec_path option, else the embedded default; its checksum must
  // be the run's.
  const spec::MappingSpec* spec = nullptr;
  std::string spec_path;
};

struct CheckResult {
  std::string kind;                // completeness | integrity
  std::string check;               // e.g. key_sets, money_rows, foreign_keys, sample
  std::string entity;              // "" when not per entity
  std::string severity = "error";  // error | warning (never fails the validation)
  bool passed = true;
  int64_t checked = 0;
  int64_t failures = 0;
  std::vector<std::string> examples;  // legacy ids (or currency codes), at most max_examples
  nlohmann::json details = nlohmann::json::object();  // counts and column names only
  double seconds = 0;
};

struct ValidationResult {
  int64_t validation_id = 0;
  int64_t run_id = 0;
  bool passed = false;
  std::vector<std::string> kinds;
  int sample_size = 0;
  std::string started_at;
  double seconds = 0;
  std::optional<std::string> error;  // the validation could not finish
  std::vector<CheckResult> checks;   // entity order of the spec, then check order

  int64_t FailedChecks() const;
};

// Validates run `options.run_id` and records the result. A Status error means
// the validation could not be done (unknown run, unreachable database, a
// different spec, a migration running on the target); failing checks are a
// result with passed == false. Without a snapshot_id it holds the target's
// run lock while it works, so no migration starts meanwhile.
Result<ValidationResult> ValidateRun(const ValidateOptions& options);

// The latest recorded validation of `run`, if any.
Result<std::optional<ValidationResult>> LatestValidation(pg::Connection& target, int64_t run);

nlohmann::json ToJson(const CheckResult& c);
nlohmann::json ToJson(const ValidationResult& v);

}  // namespace medmigrate::validate
