#include "dedup/match_model.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace medmigrate::dedup {

namespace {

using Table = std::array<std::array<double, kMaxLevels>, kFieldCount>;

// EM's estimates are smoothed towards their starting point by this many
// pseudo-pairs (a Dirichlet prior): a level never seen among matches keeps a
// finite weight, and a small population whose candidate pairs hold only a
// handful of matches keeps the prior's shape (matches mostly agree) instead
// of one learnt from two examples.
constexpr double kPriorPairs = 1.0;
// Added to every level count of the random-pair sample for u.
constexpr double kPseudoCount = 0.5;
// The term-frequency adjustment is bounded: down by at most 10 bits (a value
// half the records hold), up by at most 3 (a value nobody else holds says
// little more than an average one, and in a small population every value is
// rarer than the field's average agreement).
constexpr double kMinTfBits = -10.0;
constexpr double kMaxTfBits = 3.0;

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

size_t LevelCount(size_t f) { return kFields[f].levels.size(); }

void Normalize(std::array<double, kMaxLevels>& row, size_t levels) {
  double sum = 0;
  for (size_t l = 1; l < levels; ++l) sum += row[l];
  for (size_t l = 1; l < levels; ++l) row[l] = sum > 0 ? row[l] / sum : 1.0 / double(levels - 1);
  row[0] = 1.0;  // "missing" is neutral
}

}  // namespace

EmResult RunEm(const std::vector<std::pair<Pattern, double>>& counts, const Table& u_start,
               int max_iterations) {
  EmResult r;
  r.u = u_start;
  for (size_t f = 0; f < kFieldCount; ++f) {
    const size_t levels = LevelCount(f);
    for (size_t l = 1; l < levels; ++l) r.m[f][l] = std::pow(0.25, double(l - 1));
    Normalize(r.m[f], levels);
  }
  const Table m_start = r.m;
  double lambda = 0.1;
  for (int it = 1; it <= max_iterations; ++it) {
    Table m_acc{};
    Table u_acc{};
    double match_mass = 0;
    double total = 0;
    for (const auto& [pattern, count] : counts) {
      double pm = lambda;
      double pu = 1 - lambda;
      for (size_t f = 0; f < kFieldCount; ++f) {
        const uint8_t l = LevelOf(pattern, f);
        if (l == 0) continue;
        pm *= r.m[f][l];
        pu *= r.u[f][l];
      }
      const double g = pm + pu > 0 ? pm / (pm + pu) : 0;
      match_mass += g * count;
      total += count;
      for (size_t f = 0; f < kFieldCount; ++f) {
        const uint8_t l = LevelOf(pattern, f);
        if (l == 0) continue;
        m_acc[f][l] += g * count;
        u_acc[f][l] += (1 - g) * count;
      }
    }
    double change = 0;
    for (size_t f = 0; f < kFieldCount; ++f) {
      const size_t levels = LevelCount(f);
      std::array<double, kMaxLevels> m_new{};
      std::array<double, kMaxLevels> u_new{};
      for (size_t l = 1; l < levels; ++l) {
        m_new[l] = m_acc[f][l] + kPriorPairs * m_start[f][l];
        u_new[l] = u_acc[f][l] + kPriorPairs * u_start[f][l];
      }
      Normalize(m_new, levels);
      Normalize(u_new, levels);
      for (size_t l = 1; l < levels; ++l) change = std::max(change, std::abs(m_new[l] - r.m[f][l]));
      r.m[f] = m_new;
      r.u[f] = u_new;
    }
    const double lambda_new = total > 0 ? match_mass / total : 0;
    change = std::max(change, std::abs(lambda_new - lambda));
    lambda = std::clamp(lambda_new, 1e-9, 1 - 1e-9);
    r.iterations = it;
    if (change < 1e-7) break;
  }
  r.lambda = lambda;
  return r;
}

MatchModel MatchModel::Fit(const std::vector<PreparedRecord>& records, const Blocker& blocker,
                           const ModelOptions& options) {
  MatchModel model;
  model.use_national_id_ = options.use_national_id;
  const uint64_t n = records.size();
  const double all_pairs = n < 2 ? 1.0 : double(n) * double(n - 1) / 2.0;

  // u: level shares among random pairs (all pairs when there are few).
  Table u_counts{};
  auto count_u = [&](size_t i, size_t j) {
    const Pattern p = Compare(records[i], records[j], options.use_national_id);
    for (size_t f = 0; f < kFieldCount; ++f) u_counts[f][LevelOf(p, f)] += 1;
  };
  if (n >= 2) {
    if (all_pairs <= double(options.u_sample_pairs)) {
      for (size_t i = 0; i < n; ++i) {
        for (size_t j = i + 1; j < n; ++j) count_u(i, j);
      }
    } else {
      uint64_t state = options.seed;
      for (uint64_t k = 0; k < options.u_sample_pairs; ++k) {
        const size_t i = SplitMix(state) % n;
        size_t j = SplitMix(state) % (n - 1);
        if (j >= i) ++j;
        count_u(i, j);
      }
    }
  }
  for (size_t f = 0; f < kFieldCount; ++f) {
    const size_t levels = LevelCount(f);
    for (size_t l = 1; l < levels; ++l) model.u_[f][l] = u_counts[f][l] + kPseudoCount;
    Normalize(model.u_[f], levels);
  }

  // m: EM over a deterministic sample of the candidate pairs.
  const double rate = std::min(
      1.0, double(options.em_sample_pairs) / double(std::max<uint64_t>(blocker.PairBound(), 1)));
  const uint64_t cut =
      rate >= 1.0 ? ~uint64_t{0} : static_cast<uint64_t>(rate * 18446744073709551615.0);
  std::unordered_map<Pattern, double> counts;
  uint64_t candidates = 0;
  blocker.ForEachPair([&](size_t i, size_t j) {
    ++candidates;
    uint64_t state = options.seed ^ (uint64_t(i) << 32 | j);
    if (cut != ~uint64_t{0} && SplitMix(state) > cut) return;
    counts[Compare(records[i], records[j], options.use_national_id) & ~kCrossedNames] += 1;
  });
  std::vector<std::pair<Pattern, double>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());  // a fixed order: the same sums every run
  const EmResult em = RunEm(sorted, model.u_, options.max_iterations);
  model.m_ = em.m;
  model.lambda_ = em.lambda;
  model.iterations_ = em.iterations;
  model.candidate_pairs_ = candidates;
  // Prior odds that two random records match: EM's matches among the
  // candidates (blocking keeps nearly all true pairs) over all pairs.
  const double matches = std::max(em.lambda * double(candidates), 1.0);
  model.prior_bits_ = std::log2(matches / std::max(all_pairs - matches, 1.0));
  model.ComputeBits();
  return model;
}

MatchModel MatchModel::FromParameters(const Table& m, const Table& u, double prior_bits,
                                      bool use_national_id) {
  MatchModel model;
  model.m_ = m;
  model.u_ = u;
  model.prior_bits_ = prior_bits;
  model.use_national_id_ = use_national_id;
  model.ComputeBits();
  return model;
}

void MatchModel::ComputeBits() {
  for (size_t f = 0; f < kFieldCount; ++f) {
    bits_[f][0] = 0;
    for (size_t l = 1; l < LevelCount(f); ++l) {
      bits_[f][l] = (m_[f][l] > 0 && u_[f][l] > 0) ? std::log2(m_[f][l] / u_[f][l]) : 0;
    }
  }
}

double MatchModel::TfBits(size_t f, const PreparedRecord& a, Pattern p) const {
  const uint8_t tf_level = kFields[f].tf_level;
  if (tf_level == 0 || LevelOf(p, f) != tf_level) return 0;
  float tf = -1;
  switch (kFields[f].id) {
    case FieldId::kGiven:
      tf = (p & kCrossedNames) ? -1 : a.given_tf;
      break;
    case FieldId::kFamily:
      tf = (p & kCrossedNames) ? -1 : a.family_tf;
      break;
    case FieldId::kBirthDate:
      tf = a.date_tf;
      break;
    default:
      break;
  }
  if (tf < 0) return 0;
  const double u = u_[f][tf_level];
  return std::clamp(std::log2(u / std::max(double(tf), u / 16)), kMinTfBits, kMaxTfBits);
}

double MatchModel::Weigh(const PreparedRecord& a, const PreparedRecord& b, Pattern p) const {
  (void)b;  // exact agreement: a's value is b's
  double bits = prior_bits_;
  for (size_t f = 0; f < kFieldCount; ++f) bits += bits_[f][LevelOf(p, f)];
  bits += TfBits(0, a, p) + TfBits(1, a, p) + TfBits(2, a, p);
  return bits;
}

double MatchModel::Probability(double bits) {
  if (bits > 60) return 1.0;
  if (bits < -60) return 0.0;
  const double odds = std::exp2(bits);
  return odds / (1 + odds);
}

Explanation MatchModel::Explain(const PreparedRecord& a, const PreparedRecord& b) const {
  const Pattern p = Compare(a, b, use_national_id_);
  Explanation e;
  e.prior_bits = prior_bits_;
  e.crossed_names = (p & kCrossedNames) != 0;
  for (size_t f = 0; f < kFieldCount; ++f) {
    const uint8_t l = LevelOf(p, f);
    if (l == 0) continue;
    FieldContribution c;
    c.field = kFields[f].name;
    c.level = kFields[f].levels[l];
    c.tf_bits = TfBits(f, a, p);
    c.bits = bits_[f][l] + c.tf_bits;
    e.fields.push_back(c);
  }
  e.total_bits = Weigh(a, b, p);
  e.probability = Probability(e.total_bits);
  return e;
}

}  // namespace medmigrate::dedup
