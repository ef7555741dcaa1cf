// How well deduplication finds known duplicates: pairwise precision, recall
// and F1 over all record pairs (a true pair that blocking never compared is a
// false negative), blocking recall, the size of the review band and speed;
// what became of labelled pairs (people who must never be merged, duplicates
// by how they differ): merged automatically, sent to review, or neither.
// Reports counts and ratios only, never record values.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

#include "dedup/deduplicator.h"

namespace medmigrate::dedup {

struct PairMetrics {
  uint64_t predicted = 0;
  uint64_t true_positives = 0;
  double precision = 0;  // 1 when nothing is predicted
  double recall = 0;
  double f1 = 0;
};

// Record pairs (indices into the evaluated records) that share a label: a
// kind of different people ("twins"), or a way duplicates differ ("nickname").
struct LabeledPairs {
  std::string label;
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
};

struct EvaluationLabels {
  std::vector<LabeledPairs> different_people;  // never one person
  std::vector<LabeledPairs> duplicates;        // one person each (also in `person`)
};

// What deduplication did to the pairs of one label. Every pair is counted in
// exactly one of merged, review and neither.
struct PairOutcome {
  std::string label;
  uint64_t pairs = 0;
  uint64_t merged = 0;  // in one automatic cluster
  uint64_t review = 0;  // in the review list (held, kept apart or between the thresholds)
  uint64_t held = 0;    // of review: held by a rule (comparison.h), whatever the score
  uint64_t neither = 0;
};

struct Evaluation {
  uint64_t records = 0;
  uint64_t true_pairs = 0;
  uint64_t true_pairs_blocked = 0;
  double blocking_recall = 0;
  PairMetrics at_merge_threshold;  // scored pairs >= merge threshold
  PairMetrics at_half;             // scored pairs >= 0.5
  PairMetrics automatic_merges;    // pairs inside the clusters (what a run merges)
  uint64_t review_band = 0;        // pairs a person would review
  // Every pair of the review list (held pairs and those kept apart included)
  // and, of the true pairs, those in it and not merged.
  uint64_t review_pairs = 0;
  uint64_t true_pairs_in_review = 0;
  // True pairs merged automatically or sent to review, over all true pairs.
  double recall_merged_or_review = 0;
  std::vector<PairOutcome> different_people;  // per EvaluationLabels::different_people
  std::vector<PairOutcome> duplicates;        // per EvaluationLabels::duplicates
  DedupStats stats;
};

// Deduplicates `records` with `options` and compares with `person`: one key
// per record, equal keys for records of the same person. `labels` names
// pairs whose outcome is reported on its own.
Evaluation EvaluateDedup(const std::vector<PersonRecord>& records,
                         const std::vector<int64_t>& person, const DedupOptions& options,
                         const EvaluationLabels& labels = {});

// The truth of `medmigrate generate` (docs/design/generator.md) over
// `records` (PersonRecord::id is the patient id): `person` as EvaluateDedup
// takes it (one key per duplicate cluster), different_people per kind of
// distinct group (every pair of records of two members' persons: a
// duplicate of a twin is that twin), and duplicates per variation (each
// duplicate against its cluster's first patient, under each of its
// variations). Ids the records lack are skipped. InvalidArgument when `truth`
// is not such a file.
struct GeneratedTruth {
  std::vector<int64_t> person;
  EvaluationLabels labels;
};
Result<GeneratedTruth> FromGeneratorTruth(const nlohmann::json& truth,
                                          const std::vector<PersonRecord>& records);

}  // namespace medmigrate::dedup
