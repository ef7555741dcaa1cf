#include "dedup/evaluation.h"

#include <algorithm>
#include <map>
#include <unordered_set>

namespace medmigrate::dedup {

namespace {

uint64_t PairKey(uint32_t a, uint32_t b) {
  if (a > b) std::swap(a, b);
  return uint64_t{a} << 32 | b;
}

PairMetrics Metrics(uint64_t predicted, uint64_t tp, uint64_t truth) {
  PairMetrics m;
  m.predicted = predicted;
  m.true_positives = tp;
  m.precision = predicted == 0 ? 1.0 : double(tp) / double(predicted);
  m.recall = truth == 0 ? 1.0 : double(tp) / double(truth);
  m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0;
  return m;
}

}  // namespace

Evaluation EvaluateDedup(const std::vector<PersonRecord>& records,
                         const std::vector<int64_t>& person, const DedupOptions& options) {
  DedupOptions o = options;
  o.keep_threshold = std::min({o.keep_threshold, o.review_threshold, 0.5});
  const DedupResult r = Deduplicate(records, o);
  Evaluation e;
  e.records = records.size();
  e.stats = r.stats;

  std::map<int64_t, std::vector<uint32_t>> groups;
  for (size_t i = 0; i < person.size(); ++i) groups[person[i]].push_back(static_cast<uint32_t>(i));
  std::unordered_set<uint64_t> truth;
  const Blocker blocker(r.records, DefaultBlockingPasses(), o.max_block_size, o.use_national_id);
  for (const auto& [key, members] : groups) {
    for (size_t x = 0; x < members.size(); ++x) {
      for (size_t y = x + 1; y < members.size(); ++y) {
        truth.insert(PairKey(members[x], members[y]));
        if (blocker.Blocked(members[x], members[y])) ++e.true_pairs_blocked;
      }
    }
  }
  e.true_pairs = truth.size();
  e.blocking_recall = truth.empty() ? 1.0 : double(e.true_pairs_blocked) / double(truth.size());

  uint64_t merge_pred = 0, merge_tp = 0, half_pred = 0, half_tp = 0;
  for (const ScoredPair& p : r.pairs) {
    const bool is_true = truth.count(PairKey(p.a, p.b)) > 0;
    if (p.probability >= o.merge_threshold) {
      ++merge_pred;
      merge_tp += is_true;
    }
    if (p.probability >= 0.5) {
      ++half_pred;
      half_tp += is_true;
    }
    if (p.probability >= o.review_threshold && p.probability < o.merge_threshold) ++e.review_band;
  }
  e.at_merge_threshold = Metrics(merge_pred, merge_tp, truth.size());
  e.at_half = Metrics(half_pred, half_tp, truth.size());

  uint64_t cluster_pred = 0, cluster_tp = 0;
  for (const Cluster& c : r.clusters.clusters) {
    for (size_t x = 0; x < c.members.size(); ++x) {
      for (size_t y = x + 1; y < c.members.size(); ++y) {
        ++cluster_pred;
        cluster_tp += truth.count(PairKey(c.members[x], c.members[y]));
      }
    }
  }
  e.automatic_merges = Metrics(cluster_pred, cluster_tp, truth.size());
  return e;
}

}  // namespace medmigrate::dedup
