// How well deduplication finds known duplicates: pairwise precision, recall
// and F1 over all record pairs (a true pair that blocking never compared is a
// false negative), blocking recall, the size of the review band and speed.
// Reports counts and ratios only, never record values.
#pragma once

#include <cstdint>
#include <vector>

#include "dedup/deduplicator.h"

namespace medmigrate::dedup {

struct PairMetrics {
  uint64_t predicted = 0;
  uint64_t true_positives = 0;
  double precision = 0;  // 1 when nothing is predicted
  double recall = 0;
  double f1 = 0;
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
  DedupStats stats;
};

// Deduplicates `records` with `options` and compares with `person`: one key
// per record, equal keys for records of the same person.
Evaluation EvaluateDedup(const std::vector<PersonRecord>& records,
                         const std::vector<int64_t>& person, const DedupOptions& options);

}  // namespace medmigrate::dedup
