#include "dedup/evaluation.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <optional>

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

// What became of each labelled pair: `cluster_of` maps a clustered record to
// its cluster, `review` holds the review list's pairs with their hold.
std::vector<PairOutcome> Outcomes(const std::vector<LabeledPairs>& labeled,
                                  const std::unordered_map<uint32_t, uint32_t>& cluster_of,
                                  const std::unordered_map<uint64_t, Hold>& review) {
  std::vector<PairOutcome> out;
  for (const LabeledPairs& l : labeled) {
    PairOutcome o;
    o.label = l.label;
    for (const auto& [a, b] : l.pairs) {
      if (a == b) continue;
      ++o.pairs;
      auto ca = cluster_of.find(a), cb = cluster_of.find(b);
      if (ca != cluster_of.end() && cb != cluster_of.end() && ca->second == cb->second) {
        ++o.merged;
        continue;
      }
      auto r = review.find(PairKey(a, b));
      if (r == review.end()) {
        ++o.neither;
        continue;
      }
      ++o.review;
      o.held += r->second != Hold::kNone;
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace

Evaluation EvaluateDedup(const std::vector<PersonRecord>& records,
                         const std::vector<int64_t>& person, const DedupOptions& options,
                         const EvaluationLabels& labels) {
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

  // Review is what the run would queue (DedupResult::review: held pairs,
  // pairs the guard kept apart, the band between the thresholds).
  std::unordered_map<uint32_t, uint32_t> cluster_of;
  for (size_t c = 0; c < r.clusters.clusters.size(); ++c) {
    for (uint32_t m : r.clusters.clusters[c].members) cluster_of[m] = static_cast<uint32_t>(c);
  }
  std::unordered_map<uint64_t, Hold> review;
  for (const ScoredPair& p : r.review) review.emplace(PairKey(p.a, p.b), p.hold);
  e.review_pairs = review.size();
  for (const auto& [key, hold] : review) e.true_pairs_in_review += truth.count(key);
  e.recall_merged_or_review =
      truth.empty() ? 1.0
                    : double(cluster_tp + e.true_pairs_in_review) / double(truth.size());
  e.different_people = Outcomes(labels.different_people, cluster_of, review);
  e.duplicates = Outcomes(labels.duplicates, cluster_of, review);
  return e;
}

Result<GeneratedTruth> FromGeneratorTruth(const nlohmann::json& truth,
                                          const std::vector<PersonRecord>& records) {
  using nlohmann::json;
  if (!truth.is_object() || !truth.contains("duplicate_clusters") ||
      !truth["duplicate_clusters"].is_array()) {
    return Status::InvalidArgument(
        "not a ground truth of 'medmigrate generate' (no duplicate_clusters array)");
  }
  auto ids_of = [](const json& j, const char* key) {
    std::vector<int64_t> ids;
    if (!j.is_object() || !j.contains(key) || !j[key].is_array()) return ids;
    for (const json& id : j[key]) {
      if (id.is_number_integer()) ids.push_back(id.get<int64_t>());
    }
    return ids;
  };
  std::unordered_map<int64_t, uint32_t> index;
  for (size_t i = 0; i < records.size(); ++i) index.emplace(records[i].id, static_cast<uint32_t>(i));
  auto index_of = [&](int64_t id) -> std::optional<uint32_t> {
    auto it = index.find(id);
    if (it == index.end()) return std::nullopt;
    return it->second;
  };

  GeneratedTruth g;
  const json& clusters = truth["duplicate_clusters"];
  std::unordered_map<int64_t, size_t> cluster_of;  // patient id -> cluster
  std::map<std::string, LabeledPairs> by_variation;
  for (size_t c = 0; c < clusters.size(); ++c) {
    const std::vector<int64_t> ids = ids_of(clusters[c], "patient_ids");
    for (int64_t id : ids) cluster_of[id] = c;
    if (ids.empty() || !clusters[c].contains("duplicates") || !clusters[c]["duplicates"].is_array()) {
      continue;
    }
    const std::optional<uint32_t> root = index_of(ids.front());
    for (const json& d : clusters[c]["duplicates"]) {
      if (!d.is_object() || !d.contains("patient_id") || !d["patient_id"].is_number_integer()) {
        continue;
      }
      const std::optional<uint32_t> dup = index_of(d["patient_id"].get<int64_t>());
      if (!root || !dup || !d.contains("variations") || !d["variations"].is_array()) continue;
      for (const json& v : d["variations"]) {
        if (!v.is_string()) continue;
        LabeledPairs& l = by_variation[v.get<std::string>()];
        l.label = v.get<std::string>();
        l.pairs.emplace_back(std::min(*root, *dup), std::max(*root, *dup));
      }
    }
  }
  for (auto& [name, l] : by_variation) g.labels.duplicates.push_back(std::move(l));

  // A person's records: its own and, if it is in a cluster, the cluster's.
  auto records_of = [&](int64_t id) {
    std::vector<uint32_t> out;
    auto c = cluster_of.find(id);
    if (c == cluster_of.end()) {
      if (auto i = index_of(id)) out.push_back(*i);
      return out;
    }
    for (int64_t m : ids_of(clusters[c->second], "patient_ids")) {
      if (auto i = index_of(m)) out.push_back(*i);
    }
    return out;
  };
  std::map<std::string, LabeledPairs> by_kind;
  if (truth.contains("distinct_groups") && truth["distinct_groups"].is_array()) {
    for (const json& group : truth["distinct_groups"]) {
      if (!group.is_object() || !group.contains("kind") || !group["kind"].is_string()) continue;
      const std::string kind = group["kind"].get<std::string>();
      LabeledPairs& l = by_kind[kind];
      l.label = kind;
      const std::vector<int64_t> ids = ids_of(group, "patient_ids");
      for (size_t x = 0; x < ids.size(); ++x) {
        for (size_t y = x + 1; y < ids.size(); ++y) {
          for (uint32_t a : records_of(ids[x])) {
            for (uint32_t b : records_of(ids[y])) {
              if (a != b) l.pairs.emplace_back(std::min(a, b), std::max(a, b));
            }
          }
        }
      }
    }
  }
  for (auto& [kind, l] : by_kind) g.labels.different_people.push_back(std::move(l));

  g.person.reserve(records.size());
  const auto offset = static_cast<int64_t>(clusters.size());
  for (const PersonRecord& r : records) {
    auto it = cluster_of.find(r.id);
    g.person.push_back(it != cluster_of.end() ? static_cast<int64_t>(it->second) : offset + r.id);
  }
  return g;
}

}  // namespace medmigrate::dedup
