// The dedup phase of a migration (spec [dedup], docs/design/dedup.md): reads
// the entity's person records in the run's legacy snapshot, matches them with
// src/dedup, and records in the tracking schema, in one transaction:
//   - the automatic merges (clusters at or above the merge threshold), each
//     into the cluster's survivor, and the automatic merges of earlier runs
//     that no longer hold are reverted. Incremental runs keep the model the
//     last full run fitted (medmigrate.dedup_phases.model) and match only the
//     records that are new, changed (their source row's hash differs from the
//     one recorded at their last match) or merged with such a record, against
//     every record; only the clusters those touch are decided again, so
//     automatic merges do not flip from run to run as a refitted model would
//     make them. Every record is still read: a new record is blocked
//     against all of them;
//   - the review queue (medmigrate.dedup_pairs): pairs between the
//     thresholds, with the matcher's explanation (no values);
//   - the phase's figures (medmigrate.dedup_phases), so a resumed run reuses
//     its decisions instead of matching again in another snapshot.
// Reviewers' decisions win: a pair resolved distinct is never merged
// automatically, a record a reviewer merged stays merged where they said.
// The merges in force (medmigrate.active_merges) then steer the load: rows of
// merged records count as merged, references with follow_merges point at the
// survivor (transform::TransformContext::merges).
//
// Memory: bounded, whatever the number of records. The records are prepared
// as read into a spill file (dedup/record_store.h), the hashes to record go
// to another, the stored hashes stream beside the source, and the matcher
// sorts its blocking keys within a budget (dedup/blocker.h). What grows with
// the entity is one byte per record (the flag of a record matched again)
// and what was decided: merges in force, review pairs, scored pairs above
// the review threshold, and in an incremental run the keys it decides again.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "dedup/person_record.h"
#include "extract/legacy_reader.h"
#include "pg/connection.h"
#include "spec/mapping_spec.h"
#include "transform/row_transformer.h"

namespace medmigrate::pipeline {

struct DedupPhaseOptions {
  std::optional<int64_t> run_id;  // none: `medmigrate dedup run` (review queue only)
  bool dry_run = false;           // record the run's merges (not in force), no review pairs
  bool record_merges = true;      // false: count what would merge, record only the review queue
  std::string schema = "public";  // of the target tables
  // Match only the records new or changed since their last match (their
  // hashes, in medmigrate.row_hashes as entity "dedup:<entity>"), with the
  // model kept from the last run that fitted one; see the header comment.
  bool incremental = false;
  // A model to score with instead of fitting one (MatchModel::ToJson; from
  // `migrate --dedup-model FILE`): decisions reproducible across targets.
  std::optional<std::string> model_json;
  // Where the records and sorted keys spill (unnamed files, gone when the
  // phase ends): "" is $TMPDIR, else /tmp.
  std::string spill_dir;
};

struct DedupPhaseResult {
  bool reused = false;  // the run had recorded its phase already (a resume)
  int64_t records = 0;
  int64_t candidate_pairs = 0;
  int64_t matched = 0;      // records matched (new or changed ones in incremental runs)
  bool kept_model = false;  // scored with a model fitted earlier or given, not fitted now
  int64_t auto_merges = 0;  // records merged automatically in force after the phase
  int64_t added = 0;        // merges this phase recorded
  int64_t superseded = 0;   // automatic merges of earlier runs it reverted
  int64_t review_pairs = 0;
  double pairs_per_second = 0;
  double seconds = 0;
};

// The same, with each source row's hash (RowHash of its COPY text).
Status ForEachHashedDedupRecord(
    extract::LegacyReader& reader, const spec::DedupSpec& dedup,
    const std::function<Status(const dedup::PersonRecord&, int64_t hash)>& each);
// All of them in a vector, a few hundred bytes each: for `dedup evaluate`,
// which holds them with the ground truth; the phase itself never does.
Result<std::vector<dedup::PersonRecord>> ReadDedupRecords(extract::LegacyReader& reader,
                                                          const spec::DedupSpec& dedup);
// Calls `each` on the person records of the spec's [dedup] source in the
// reader's snapshot, one at a time, in key order (id and age rank: the key);
// the record passed is valid during the call only. Stops at the first error
// `each` returns. Patient data: never log them.
Status ForEachDedupRecord(extract::LegacyReader& reader, const spec::DedupSpec& dedup,
                          const std::function<Status(const dedup::PersonRecord&)>& each);

Result<DedupPhaseResult> RunDedupPhase(extract::LegacyReader& reader, pg::Connection& target,
                                       const spec::MappingSpec& spec,
                                       const DedupPhaseOptions& options);

// The model incremental runs score `entity` with: that of the latest real run,
// not rolled back, that recorded one (MatchModel::ToJson); none before the
// first run with a dedup phase.
Result<std::optional<std::string>> KeptDedupModel(pg::Connection& target,
                                                  const std::string& entity);
// The merges in force per entity, each to its final survivor; with `run_id`
// of a dry run, also that run's own merges (which are never in force).
Result<transform::MergeMaps> LoadMergeMaps(pg::Connection& target,
                                           std::optional<int64_t> dry_run_id);

// Soft-deletes the live target rows of `entity` whose record is merged into
// another (a merge decided after the row was loaded) by a merge of `merges`
// (the run's: a reviewer's decision taken during the run waits for the next
// one, which redirects the references first); counts them in run `run`'s
// deleted rows of the entity; returns how many.
Result<int64_t> SoftDeleteMerged(pg::Connection& target, const std::string& entity,
                                 const transform::MergeMap& merges, const std::string& schema,
                                 int64_t run, bool capture);

// Keys to read again in an incremental run `run`: records of `entity` whose
// merge was decided or taken back since the last good run started, live rows
// of records merged now, and the records the run's own dedup phase merged
// (so that they are read and counted merged). Sorted.
Result<std::vector<int64_t>> MergeChangedRecords(pg::Connection& target,
                                                 const std::string& entity,
                                                 const std::string& schema, int64_t run);

}  // namespace medmigrate::pipeline
