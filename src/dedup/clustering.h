// Clusters of records that are one person: pairs at or above the merge
// threshold are joined, strongest first, guarded against chains. A pair with
// a hold (comparison.h: twins, sexes or given names or birth dates that
// differ) is never joined, whatever it scores. Two groups are joined only when
// every pair across them clears the review threshold and has no hold (A~B and
// B~C do not merge A with C when A and C do not match, or are twins), and a
// cluster never grows past max_cluster_size. A pair the guard keeps apart goes
// to review instead.
#pragma once

#include <cstdint>
#include <vector>

#include "dedup/match_model.h"
#include "dedup/person_record.h"
#include "dedup/record_store.h"

namespace medmigrate::dedup {

// Two records (indices, a < b) and their match probability.
struct ScoredPair {
  uint32_t a = 0;
  uint32_t b = 0;
  double probability = 0;
  Hold hold = Hold::kNone;  // set: at most review (HoldOf of the pair's pattern)
};

struct Cluster {
  std::vector<uint32_t> members;  // ascending, survivor included
  uint32_t survivor = 0;
};

struct ClusterResult {
  std::vector<Cluster> clusters;       // two members or more
  // Above the merge threshold, refused by the guard or held (ScoredPair::hold).
  std::vector<ScoredPair> kept_apart;
};

struct ClusterOptions {
  double merge_threshold = 0.999;
  double review_threshold = 0.5;
  size_t max_cluster_size = 50;
};

// `pairs` in any order; only those >= merge_threshold are used. The model
// scores the cross pairs the guard checks that are not among `pairs`.
ClusterResult ClusterPairs(const Records& records, const std::vector<ScoredPair>& pairs,
                           const MatchModel& model, const ClusterOptions& options);
ClusterResult ClusterPairs(const std::vector<PreparedRecord>& records,
                           const std::vector<ScoredPair>& pairs, const MatchModel& model,
                           const ClusterOptions& options);

// The survivor of a cluster: the most complete record (most known fields),
// then the oldest (smallest age_rank), then the smallest id.
uint32_t ChooseSurvivor(const Records& records, const std::vector<uint32_t>& members);
uint32_t ChooseSurvivor(const std::vector<PreparedRecord>& records,
                        const std::vector<uint32_t>& members);

}  // namespace medmigrate::dedup
