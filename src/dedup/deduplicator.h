// Deduplication of one population of person records, start to end: prepare,
// block, fit the model (EM), score every candidate pair, cluster. The one call
// the pipeline and `dedup evaluate` make; pure (no I/O, no database).
//
// Memory: the records where the caller keeps them (a vector, or a spill file:
// record_store.h), the blocker's sort budget (blocker.h), and the pairs that
// score at or above keep_threshold (not every candidate pair). The
// PersonRecord overload holds the raw records too, as its caller does; a
// caller with many records prepares them as it reads into SpilledRecords.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "dedup/blocker.h"
#include "dedup/clustering.h"
#include "dedup/match_model.h"
#include "dedup/person_record.h"

namespace medmigrate::dedup {

struct DedupOptions {
  // At or above: merged automatically, unless the pair has a hold
  // (comparison.h: then reviewed). Between review and merge: a person
  // reviews. Below review: different people. Chosen so that automatic merges
  // are almost never wrong (docs/design/dedup.md).
  double merge_threshold = 0.999;
  double review_threshold = 0.5;
  // Pairs kept in the result (evaluation keeps more than the pipeline needs).
  double keep_threshold = 0.5;
  size_t max_block_size = 1000;
  size_t max_cluster_size = 50;
  bool use_national_id = false;
  // Sorting blocking keys keeps at most this many bytes in memory; the rest
  // goes to unnamed files in spill_dir ("": $TMPDIR, else /tmp).
  size_t sort_budget = Blocker::kDefaultSortBudget;
  std::string spill_dir;
  ModelOptions model;
};

struct DedupStats {
  uint64_t records = 0;
  uint64_t candidate_pairs = 0;
  double prepare_seconds = 0;
  double fit_seconds = 0;
  double score_seconds = 0;  // comparing and scoring every candidate pair
  double cluster_seconds = 0;
  double pairs_per_second = 0;  // candidate pairs / score_seconds, one thread
  int em_iterations = 0;
};

struct DedupResult {
  std::vector<PreparedRecord> records;  // indexed like the input
  MatchModel model;
  std::vector<ScoredPair> pairs;   // >= keep_threshold, by (a, b)
  ClusterResult clusters;          // automatic merges
  // Between the thresholds, or kept apart (chain guard, hold); not merged.
  std::vector<ScoredPair> review;
  DedupStats stats;
};

// What an incremental match scores, beside the records.
struct MatchScope {
  // One flag per record, or empty (every candidate pair): only pairs with at
  // least one flagged record are scored (new and changed records against all).
  std::vector<uint8_t> only_new;
  // Scored too, flagged or not (i < j): the pairs merged before, so that the
  // clusters a flagged record joins are whole.
  std::vector<std::pair<uint32_t, uint32_t>> also;
  // Scores with this model instead of fitting one (the model of the last
  // full run: decisions stay put, and fitting, the costliest step, is skipped).
  const MatchModel* model = nullptr;
};

// Without `model`, the model is fitted on every candidate pair, flagged or not.
DedupResult Deduplicate(const std::vector<PersonRecord>& records, const DedupOptions& options,
                        const MatchScope& scope = {});

// The same on records in a store (the pipeline's spilled records, each by
// PrepareOne, then all of them by CountTermFrequencies): memory stays
// bounded however many there are. The result's `records` stays empty: the
// caller reads records from its store. May throw std::system_error when a
// spill file cannot be written.
DedupResult Deduplicate(const Records& records, const DedupOptions& options,
                        const MatchScope& scope = {});

// The same on records already prepared: each by PrepareOne, then all of
// them by CountTermFrequencies (or by PrepareRecords). The result owns them
// (DedupResult::records); stats.prepare_seconds is 0.
DedupResult Deduplicate(std::vector<PreparedRecord> records, const DedupOptions& options,
                        const MatchScope& scope = {});

}  // namespace medmigrate::dedup
