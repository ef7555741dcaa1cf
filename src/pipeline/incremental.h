// What an incremental run reads and deletes, and how every run records what
// it changes so that `medmigrate rollback` can undo it.
//
// Change sets (spec `changes` per entity, docs/spec.md):
//   updated_at  rows whose updated_at >= the last good run's watermark less an
//               overlap (a row's updated_at is set before its transaction
//               commits, so a row may become visible after a later one);
//   hash        every source row is read and hashed; rows whose hash differs
//               from the one recorded at their last load go on;
//   new_keys    append-only sources.
// Every mode also takes up the keys the target has never held (nor rejected,
// nor merged), found by merging the sorted legacy keys with the target's
// legacy ids; the same merge finds the live target rows whose key left the
// source, which are soft-deleted (deleted_at), never removed. A full run into
// a table that holds rows already merges the keys too, for the deletes only.
//
// Capture: a row trigger (medmigrate.capture_row, tracking 0005) on every
// table a run writes records insert/update/delete images in
// medmigrate.row_images while the session setting medmigrate.capture_run
// names the run. A full run into a table that was empty when it started
// records nothing for it: rolling back empties the table.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "extract/legacy_reader.h"
#include "pg/connection.h"
#include "spec/mapping_spec.h"

namespace medmigrate::pipeline {

struct EntityChanges {
  // Read only `keys` (sorted); otherwise the whole source, in key ranges.
  bool keyed = false;
  std::vector<int64_t> keys;
  // Live target rows whose legacy key is no longer in the source.
  std::vector<int64_t> vanished;
  // ApplyDeletes runs once the entity is loaded: incremental runs, and full
  // runs into a table that already held rows (`vanished` is found then too).
  bool deletes = false;
  // The greatest updated_at under the snapshot (entities with one).
  std::optional<std::string> watermark;
};

struct ChangeQuery {
  bool incremental = false;
  // Full runs: find the vanished keys of a table that holds rows already (a
  // full run over an earlier one soft-deletes what left the source, as an
  // incremental run does). Off for dry runs, which delete nothing.
  bool full_deletes = false;
  std::optional<std::string> previous_watermark;  // updated_at entities, incremental runs
  int overlap_seconds = 300;
  std::string schema = "public";                  // of the target tables
};

// Reads under the reader's snapshot; streams keys, so memory is the change set.
// `entity` is the target entity; its source is that of `source` (the explode
// parent for exploded entities, else the entity itself).
Result<EntityChanges> FindChanges(extract::LegacyReader& reader, pg::Connection& target,
                                  const spec::EntitySpec& entity, const spec::EntitySpec& source,
                                  const ChangeQuery& q);

// The watermark of `entity` in the latest succeeded, not rolled back, real
// run that loaded it; nullopt when there is none.
Result<std::optional<std::string>> PreviousWatermark(pg::Connection& target,
                                                     const std::string& entity);
// True when some succeeded real run loaded `entity`.
Result<bool> EverLoaded(pg::Connection& target, const std::string& entity);

// (legacy key, hash) last recorded for each key of `entity`, in key order.
Result<std::vector<std::pair<int64_t, int64_t>>> LoadRowHashes(pg::Connection& target,
                                                               const std::string& entity);
// A source row's hash (its COPY text), as recorded in medmigrate.row_hashes.
int64_t RowHash(std::string_view copy_row);

// Puts the capture trigger on `tables` (in schema public) where it is
// missing, records which were empty when run `run` started (once per run),
// and returns the tables whose changes the run records.
Result<std::map<std::string, bool>> PrepareCapture(pg::Connection& target,
                                                   const std::vector<std::string>& tables,
                                                   int64_t run, bool incremental);

struct DeleteCounts {
  int64_t deleted = 0;   // soft-deleted: vanished keys and rows whose parent was deleted
  int64_t warnings = 0;  // parent_deleted, and references set NULL
};

// Soft-deletes `vanished` of `entity`, then the entity's rows whose
// reference (on_missing = reject) points at a row this run soft-deleted,
// and sets NULL the references (on_missing = null) that do; records the
// latter two as warnings and all counts, in one transaction, capturing.
Result<DeleteCounts> ApplyDeletes(pg::Connection& target, const spec::EntitySpec& entity,
                                  const std::vector<int64_t>& vanished, int64_t run,
                                  const std::string& schema);

}  // namespace medmigrate::pipeline
