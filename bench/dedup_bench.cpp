// dedup_bench: the dedup phase at a generator scale, without a database. The
// patients come straight from the generator's model (the identities its rows
// are written from, each patient's birth date NULL where the spec's dedup
// query nulls it), the truth from its duplicate clusters. Prints records,
// candidate pairs, pairs/s, the phase's time by step, peak memory, and
// precision/recall of automatic merges; never a name or date.
//
//   build/bench/dedup_bench --scale prod [--seed 1] [--merge-threshold 0.999] [--calibration]
//
// --calibration runs the phase a second time and prints, per class of scored
// pairs (name, birth date and e-mail levels), how many pairs the model scored,
// how many it merges, and how many of those the truth says are one person:
// where the model is overconfident. Levels and counts only.
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <tuple>

#include "dedup/evaluation.h"
#include "generate/legacy_model.h"

namespace {

using medmigrate::dedup::DedupOptions;
using medmigrate::dedup::Evaluation;
using medmigrate::dedup::PersonRecord;
using medmigrate::generate::Identity;

double PeakMemoryMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// Scored pairs by class (given, family, birth date, e-mail levels, crossed):
// the model's mean probability against the true share, for pairs >= 0.5.
void PrintCalibration(const std::vector<PersonRecord>& records, const std::vector<int64_t>& person,
                      const DedupOptions& options) {
  using namespace medmigrate::dedup;
  DedupOptions o = options;
  o.keep_threshold = 0.5;
  const DedupResult r = Deduplicate(records, o);
  struct Row {
    uint64_t pairs = 0, truths = 0, merged = 0, merged_true = 0;
    double probability_sum = 0;
  };
  std::map<std::tuple<std::string, std::string, std::string, std::string>, Row> rows;
  for (const ScoredPair& p : r.pairs) {
    const Explanation e = r.model.Explain(r.records[p.a], r.records[p.b]);
    std::string level[4] = {"-", "-", "-", "-"};
    for (const FieldContribution& c : e.fields) {
      const int k = c.field == "given_name"    ? 0
                    : c.field == "family_name" ? 1
                    : c.field == "birth_date"  ? 2
                    : c.field == "email"       ? 3
                                               : -1;
      if (k >= 0) level[k] = std::string(c.level);
    }
    if (e.crossed_names) level[0] += "(x)";
    Row& row = rows[{level[0], level[1], level[2], level[3]}];
    const bool same = person[p.a] == person[p.b];
    ++row.pairs;
    row.truths += same;
    row.probability_sum += p.probability;
    if (p.probability >= o.merge_threshold && p.hold == Hold::kNone) {
      ++row.merged;
      row.merged_true += same;
      if (!same) {
        std::string line = fmt::format("  wrong merge: prior {:.2f}", e.prior_bits);
        for (const FieldContribution& c : e.fields) {
          line += fmt::format(" | {} {} {:+.2f} (tf {:+.2f})", c.field, c.level, c.bits, c.tf_bits);
        }
        std::cout << line
                  << fmt::format(" | both varied {:+.2f} = {:.2f} bits\n", e.name_variation_bits,
                                 e.total_bits);
      }
    }
  }
  // True pairs that no blocking pass compares, by their levels.
  {
    const Blocker blocker(r.records, DefaultBlockingPasses(), o.max_block_size, o.use_national_id);
    std::map<int64_t, std::vector<uint32_t>> groups;
    for (size_t i = 0; i < person.size(); ++i) groups[person[i]].push_back(uint32_t(i));
    std::map<std::string, int> missed;
    for (const auto& [key, members] : groups) {
      for (size_t x = 0; x < members.size(); ++x) {
        for (size_t y = x + 1; y < members.size(); ++y) {
          if (blocker.Blocked(members[x], members[y])) continue;
          const Pattern pt = Compare(r.records[members[x]], r.records[members[y]], false);
          std::string k;
          for (size_t f : {0, 1, 2, 4}) k += std::string(kFields[f].levels[LevelOf(pt, f)]) + " ";
          ++missed[k];
        }
      }
    }
    for (const auto& [k, c] : missed) std::cout << fmt::format("  not blocked: {} x{}\n", k, c);
  }
  std::cout << fmt::format(
      "  prior {:.2f} bits, candidate match share {:.6f}, both names varied {:.2f} bits, "
      "tf shapes {:.1f} {:.1f} {:.1f} {:.1f}\n",
      r.model.prior_bits(), r.model.candidate_match_share(), -r.model.name_variation_bits(),
      r.model.tf_shape()[0], r.model.tf_shape()[1], r.model.tf_shape()[2], r.model.tf_shape()[3]);
  for (size_t f = 0; f < 5; ++f) {
    std::cout << fmt::format("  {:<12}", kFields[f].name);
    for (size_t l = 1; l < kFields[f].levels.size(); ++l) {
      std::cout << fmt::format(" {}: m {:.4f} u {:.2e};", kFields[f].levels[l], r.model.m(f, l),
                               r.model.u(f, l));
    }
    std::cout << "\n";
  }
  std::cout << fmt::format("  {:<10} {:<10} {:<18} {:<16} {:>8} {:>8} {:>9} {:>8} {:>8}\n", "given",
                           "family", "birth_date", "email", "pairs", "true", "mean p", "merged",
                           "m.true");
  for (const auto& [key, row] : rows) {
    if (row.pairs < 5 && row.merged == row.merged_true) continue;
    std::cout << fmt::format("  {:<10} {:<10} {:<18} {:<16} {:>8} {:>8} {:>9.5f} {:>8} {:>8}\n",
                             std::get<0>(key), std::get<1>(key), std::get<2>(key), std::get<3>(key),
                             row.pairs, row.truths, row.probability_sum / double(row.pairs),
                             row.merged, row.merged_true);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string scale_name = "prod";
  uint64_t seed = 1;
  DedupOptions options;
  bool calibration = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--scale") == 0 && i + 1 < argc) {
      scale_name = argv[++i];
    } else if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = std::stoull(argv[++i]);
    } else if (std::strcmp(argv[i], "--merge-threshold") == 0 && i + 1 < argc) {
      options.merge_threshold = std::stod(argv[++i]);
    } else if (std::strcmp(argv[i], "--calibration") == 0) {
      calibration = true;
    } else {
      std::cerr << "usage: dedup_bench [--scale tiny|small|medium|prod|large] [--seed N] "
                   "[--merge-threshold P] [--calibration]\n";
      return 2;
    }
  }
  auto scale = medmigrate::generate::ParseScale(scale_name);
  if (!scale.ok()) {
    std::cerr << "dedup_bench: " << scale.status().message() << "\n";
    return 2;
  }
  const medmigrate::generate::LegacyModel model(seed, *scale);
  std::vector<PersonRecord> records;
  std::vector<int64_t> person;
  for (int64_t id = 1; id <= model.sizes().patients; ++id) {
    if (!model.PatientExists(id)) continue;
    const Identity p = model.PatientIdentity(id);
    PersonRecord r;
    r.id = id;
    r.age_rank = id;
    r.given = p.first_name;
    r.family = p.last_name;
    if (p.birth == Identity::Birth::kNormal) {
      r.birth_date = fmt::format("{:04}-{:02}-{:02}", p.year, p.month, p.day);
    }
    r.sex = std::string(1, p.gender);
    r.email = model.CleanEmail(p);
    records.push_back(std::move(r));
    person.push_back(model.RootPatient(id));
  }
  const auto start = std::chrono::steady_clock::now();
  const Evaluation e = medmigrate::dedup::EvaluateDedup(records, person, options);
  const double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto& s = e.stats;
  std::cout << fmt::format("dedup_bench scale {} seed {}: {} patients, {} true pairs\n", scale_name,
                           seed, e.records, e.true_pairs);
  std::cout << fmt::format("  candidate pairs   {}  (blocking recall {:.4f})\n", s.candidate_pairs,
                           e.blocking_recall);
  std::cout << fmt::format("  speed             {:.0f} pairs/s compared and scored, one thread\n",
                           s.pairs_per_second);
  std::cout << fmt::format(
      "  dedup phase       {:.2f}s: prepare {:.2f}s, fit {:.2f}s ({} EM iterations), score "
      "{:.2f}s, cluster {:.2f}s\n",
      s.prepare_seconds + s.fit_seconds + s.score_seconds + s.cluster_seconds, s.prepare_seconds,
      s.fit_seconds, s.em_iterations, s.score_seconds, s.cluster_seconds);
  std::cout << fmt::format("  with evaluation   {:.2f}s; peak memory {:.0f} MB\n", total,
                           PeakMemoryMb());
  auto line = [](std::string_view name, const medmigrate::dedup::PairMetrics& m) {
    std::cout << fmt::format("  {:<26} precision {:.4f} recall {:.4f} F1 {:.4f} ({} pairs)\n", name,
                             m.precision, m.recall, m.f1, m.predicted);
  };
  line("automatic merges", e.automatic_merges);
  line("pairs >= merge threshold", e.at_merge_threshold);
  line("pairs >= 0.5", e.at_half);
  std::cout << fmt::format("  review band       {} pairs\n", e.review_band);
  if (calibration) PrintCalibration(records, person, options);
  return 0;
}
