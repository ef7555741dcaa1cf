#include "dedup/deduplicator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <unordered_map>

namespace medmigrate::dedup {

namespace {

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

DedupResult Deduplicate(const std::vector<PersonRecord>& input, const DedupOptions& options,
                        const MatchScope& scope) {
  const auto t = std::chrono::steady_clock::now();
  std::vector<PreparedRecord> prepared = PrepareRecords(input);
  const double prepare_seconds = Since(t);
  DedupResult r = Deduplicate(std::move(prepared), options, scope);
  r.stats.prepare_seconds = prepare_seconds;
  return r;
}

DedupResult Deduplicate(std::vector<PreparedRecord> records, const DedupOptions& options,
                        const MatchScope& scope) {
  std::vector<PreparedRecord> kept = std::move(records);
  DedupResult r = Deduplicate(VectorRecords(kept), options, scope);
  r.records = std::move(kept);
  return r;
}

DedupResult Deduplicate(const Records& recs, const DedupOptions& options,
                        const MatchScope& scope) {
  DedupResult r;
  r.stats.records = recs.size();

  auto t = std::chrono::steady_clock::now();
  {  // the blocker is freed before clustering
    const Blocker blocker(recs, DefaultBlockingPasses(), options.max_block_size,
                          options.use_national_id, options.sort_budget, options.spill_dir);
    if (scope.model) {
      r.model = *scope.model;
    } else {
      ModelOptions model_options = options.model;
      model_options.use_national_id = options.use_national_id;
      r.model = MatchModel::Fit(recs, blocker, model_options);
    }
    r.stats.fit_seconds = Since(t);
    r.stats.em_iterations = r.model.em_iterations();

    t = std::chrono::steady_clock::now();
    // Compare as log2 odds: no exp per pair.
    const double keep_bits = std::log2(options.keep_threshold / (1 - options.keep_threshold));
    uint64_t compared = 0;
    blocker.ForEachPair(
        [&](size_t i, size_t j, const PreparedRecord& a, const PreparedRecord& b) {
          ++compared;
          const Pattern pattern = Compare(a, b, r.model.use_national_id());
          const double bits = r.model.Weigh(a, b, pattern);
          if (bits >= keep_bits) {
            r.pairs.push_back({static_cast<uint32_t>(i), static_cast<uint32_t>(j),
                               MatchModel::Probability(bits), HoldOf(pattern)});
          }
        },
        scope.only_new);
    PreparedRecord slot_i, slot_j;
    for (const auto& [i, j] : scope.also) {
      if (i >= j || j >= recs.size()) continue;
      ++compared;
      const PreparedRecord& a = recs.Get(i, &slot_i);
      const PreparedRecord& b = recs.Get(j, &slot_j);
      const Pattern pattern = Compare(a, b, r.model.use_national_id());
      const double bits = r.model.Weigh(a, b, pattern);
      if (bits >= keep_bits) {
        r.pairs.push_back({i, j, MatchModel::Probability(bits), HoldOf(pattern)});
      }
    }
    r.stats.score_seconds = Since(t);
    r.stats.candidate_pairs = compared;
    r.stats.pairs_per_second =
        r.stats.score_seconds > 0 ? double(compared) / r.stats.score_seconds : 0;
  }
  std::sort(r.pairs.begin(), r.pairs.end(), [](const ScoredPair& x, const ScoredPair& y) {
    return x.a != y.a ? x.a < y.a : x.b < y.b;
  });
  // An `also` pair the blocker gave too.
  r.pairs.erase(std::unique(r.pairs.begin(), r.pairs.end(),
                            [](const ScoredPair& x, const ScoredPair& y) {
                              return x.a == y.a && x.b == y.b;
                            }),
                r.pairs.end());

  t = std::chrono::steady_clock::now();
  ClusterOptions co;
  co.merge_threshold = options.merge_threshold;
  co.review_threshold = options.review_threshold;
  co.max_cluster_size = options.max_cluster_size;
  r.clusters = ClusterPairs(recs, r.pairs, r.model, co);
  // The cluster of each clustered record (not a table over all records).
  std::unordered_map<uint32_t, uint32_t> cluster_of;
  for (size_t c = 0; c < r.clusters.clusters.size(); ++c) {
    for (uint32_t m : r.clusters.clusters[c].members) cluster_of[m] = static_cast<uint32_t>(c);
  }
  for (const ScoredPair& p : r.pairs) {
    if (p.probability < options.review_threshold) continue;
    auto ca = cluster_of.find(p.a), cb = cluster_of.find(p.b);
    if (ca != cluster_of.end() && cb != cluster_of.end() && ca->second == cb->second) continue;
    r.review.push_back(p);
  }
  r.stats.cluster_seconds = Since(t);
  return r;
}

}  // namespace medmigrate::dedup
