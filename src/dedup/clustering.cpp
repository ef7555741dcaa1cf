#include "dedup/clustering.h"

#include "dedup/record_store.h"

#include <algorithm>
#include <numeric>
#include <unordered_map>

namespace medmigrate::dedup {

uint32_t ChooseSurvivor(const std::vector<PreparedRecord>& records,
                        const std::vector<uint32_t>& members) {
  return ChooseSurvivor(VectorRecords(records), members);
}

uint32_t ChooseSurvivor(const Records& records, const std::vector<uint32_t>& members) {
  PreparedRecord slot_a, slot_b;
  return *std::min_element(members.begin(), members.end(), [&](uint32_t x, uint32_t y) {
    const PreparedRecord& a = records.Get(x, &slot_a);
    const PreparedRecord& b = records.Get(y, &slot_b);
    if (a.completeness != b.completeness) return a.completeness > b.completeness;
    if (a.age_rank != b.age_rank) return a.age_rank < b.age_rank;
    return a.id < b.id;
  });
}

ClusterResult ClusterPairs(const std::vector<PreparedRecord>& records,
                           const std::vector<ScoredPair>& pairs, const MatchModel& model,
                           const ClusterOptions& options) {
  return ClusterPairs(VectorRecords(records), pairs, model, options);
}

ClusterResult ClusterPairs(const Records& records, const std::vector<ScoredPair>& pairs,
                           const MatchModel& model, const ClusterOptions& options) {
  PreparedRecord slot_i, slot_j;
  ClusterResult result;
  std::vector<ScoredPair> strong;
  for (const ScoredPair& p : pairs) {
    if (p.probability < options.merge_threshold) continue;
    if (p.hold == Hold::kNone) {
      strong.push_back(p);
    } else {
      result.kept_apart.push_back(p);
    }
  }
  std::sort(strong.begin(), strong.end(), [](const ScoredPair& x, const ScoredPair& y) {
    if (x.probability != y.probability) return x.probability > y.probability;
    return x.a != y.a ? x.a < y.a : x.b < y.b;
  });
  // Groups by representative; only records that appear in strong pairs.
  std::unordered_map<uint32_t, uint32_t> group_of;
  std::unordered_map<uint32_t, std::vector<uint32_t>> members;
  auto group = [&](uint32_t r) {
    auto [it, inserted] = group_of.try_emplace(r, r);
    if (inserted) members[r] = {r};
    return it->second;
  };
  for (const ScoredPair& p : strong) {
    const uint32_t ga = group(p.a);
    const uint32_t gb = group(p.b);
    if (ga == gb) continue;
    std::vector<uint32_t>& ma = members[ga];
    std::vector<uint32_t>& mb = members[gb];
    bool ok = ma.size() + mb.size() <= options.max_cluster_size;
    for (size_t x = 0; ok && x < ma.size(); ++x) {
      for (size_t y = 0; ok && y < mb.size(); ++y) {
        const uint32_t i = ma[x];
        const uint32_t j = mb[y];
        if ((i == p.a && j == p.b) || (i == p.b && j == p.a)) continue;
        const PreparedRecord& ri = records.Get(i, &slot_i);
        const PreparedRecord& rj = records.Get(j, &slot_j);
        const Pattern pattern = Compare(ri, rj, model.use_national_id());
        ok = HoldOf(pattern) == Hold::kNone &&
             MatchModel::Probability(model.Weigh(ri, rj, pattern)) >= options.review_threshold;
      }
    }
    if (!ok) {
      result.kept_apart.push_back(p);
      continue;
    }
    const uint32_t keep = ma.size() >= mb.size() ? ga : gb;
    const uint32_t gone = keep == ga ? gb : ga;
    std::vector<uint32_t>& dst = members[keep];
    for (uint32_t r : members[gone]) {
      dst.push_back(r);
      group_of[r] = keep;
    }
    members.erase(gone);
  }
  for (auto& [rep, list] : members) {
    if (list.size() < 2) continue;
    Cluster c;
    c.members = std::move(list);
    std::sort(c.members.begin(), c.members.end());
    c.survivor = ChooseSurvivor(records, c.members);
    result.clusters.push_back(std::move(c));
  }
  std::sort(result.clusters.begin(), result.clusters.end(),
            [](const Cluster& x, const Cluster& y) { return x.members[0] < y.members[0]; });
  return result;
}

}  // namespace medmigrate::dedup
