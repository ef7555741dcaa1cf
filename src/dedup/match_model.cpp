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

// The passes whose pairs train m (see Fit), and the least pairs a session needs.
constexpr std::string_view kTrainingPasses[] = {"birth_date_unordered", "names_soundex_unordered",
                                                "postcode+initials"};
constexpr double kMinTrainingPairs = 20;

// The fields a blocking key part reads.
std::vector<FieldId> FieldsOfKeyPart(KeyPart part) {
  switch (part) {
    case KeyPart::kGiven:
    case KeyPart::kGivenSoundex:
    case KeyPart::kGivenInitial:
      return {FieldId::kGiven};
    case KeyPart::kFamily:
    case KeyPart::kFamilySoundex:
    case KeyPart::kFamilyInitial:
      return {FieldId::kFamily};
    case KeyPart::kNamesSoundexUnordered:
      return {FieldId::kGiven, FieldId::kFamily};
    case KeyPart::kBirthYear:
    case KeyPart::kBirthDateUnordered:
      return {FieldId::kBirthDate};
    case KeyPart::kEmail:
      return {FieldId::kEmail};
    case KeyPart::kPostcode:
      return {FieldId::kPostcode};
    case KeyPart::kStreetNumber:
      return {FieldId::kStreetNumber};
    case KeyPart::kStreet:
      return {FieldId::kStreet};
    case KeyPart::kLocality:
      return {FieldId::kLocality};
    case KeyPart::kNationalId:
      return {FieldId::kNationalId};
  }
  return {};
}

// m before EM: agreement likely, each lower level a quarter of the one above.
Table StartingM() {
  Table m{};
  for (size_t f = 0; f < kFieldCount; ++f) {
    const size_t levels = LevelCount(f);
    for (size_t l = 1; l < levels; ++l) m[f][l] = std::pow(0.25, double(l - 1));
    Normalize(m[f], levels);
  }
  return m;
}

// Level shares of a set of patterns (smoothed): u's starting point in EM.
Table ShareOfLevels(const std::vector<std::pair<Pattern, double>>& counts) {
  Table u{};
  for (const auto& [pattern, count] : counts) {
    for (size_t f = 0; f < kFieldCount; ++f) u[f][LevelOf(pattern, f)] += count;
  }
  for (size_t f = 0; f < kFieldCount; ++f) {
    const size_t levels = LevelCount(f);
    for (size_t l = 1; l < levels; ++l) u[f][l] += kPseudoCount;
    Normalize(u[f], levels);
  }
  return u;
}

// Pattern counts (levels & mask) of a deterministic sample of the pairs that
// `for_each` yields, at most options.em_sample_pairs of them in expectation;
// `*seen` (when given) counts every pair.
template <typename ForEach>
std::vector<std::pair<Pattern, double>> PatternCounts(const std::vector<PreparedRecord>& records,
                                                      const ModelOptions& options,
                                                      ForEach&& for_each, Pattern mask,
                                                      uint64_t* seen) {
  uint64_t total = 0;
  for_each([&](size_t, size_t) { ++total; });
  const double rate =
      std::min(1.0, double(options.em_sample_pairs) / double(std::max<uint64_t>(total, 1)));
  const uint64_t cut = static_cast<uint64_t>(rate * 18446744073709549568.0);
  std::unordered_map<Pattern, double> counts;
  for_each([&](size_t i, size_t j) {
    uint64_t state = options.seed ^ (uint64_t(i) << 32 | j);
    if (rate < 1.0 && SplitMix(state) > cut) return;
    counts[Compare(records[i], records[j], options.use_national_id) & mask] += 1;
  });
  if (seen) *seen = total;
  std::vector<std::pair<Pattern, double>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());  // a fixed order: the same sums every run
  return sorted;
}

}  // namespace

EmResult RunEm(const std::vector<std::pair<Pattern, double>>& counts, const Table& u_start,
               int max_iterations) {
  EmResult r;
  r.u = u_start;
  r.m = StartingM();
  const Table m_start = r.m;
  double lambda = 0.01;
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

  // m: EM in training sessions, one per training pass, on the pairs that
  // pass blocks. The fields its key reads agree by construction there, so
  // they are left out of that session (treated as missing); every other
  // field's m is estimated, and averaged over the sessions that estimate it.
  // A single EM over all candidate pairs would instead find "pairs blocked on
  // the same names" as its match class when names come from a small
  // vocabulary (the blocking makes them agree, not identity).
  Table m_sum{};
  std::array<int, kFieldCount> m_sessions{};
  int iterations = 0;
  for (std::string_view name : kTrainingPasses) {
    const int pass = blocker.FindPass(name);
    if (pass < 0) continue;
    Pattern mask = ~kCrossedNames;
    for (KeyPart part : blocker.pass(static_cast<size_t>(pass)).parts) {
      for (FieldId f : FieldsOfKeyPart(part))
        mask &= ~(Pattern{0xF} << (4 * static_cast<size_t>(f)));
    }
    std::vector<std::pair<Pattern, double>> counts = PatternCounts(
        records, options, [&](auto&& f) { blocker.ForEachPairOfPass(pass, f); }, mask, nullptr);
    double total = 0;
    for (const auto& c : counts) total += c.second;
    if (total < kMinTrainingPairs) continue;
    const EmResult em = RunEm(counts, ShareOfLevels(counts), options.max_iterations);
    iterations += em.iterations;
    for (size_t f = 0; f < kFieldCount; ++f) {
      const bool masked = ((mask >> (4 * f)) & 0xF) == 0;
      if (masked) continue;
      bool seen = false;
      for (const auto& c : counts) seen = seen || LevelOf(c.first, f) != 0;
      if (!seen) continue;
      for (size_t l = 0; l < kMaxLevels; ++l) m_sum[f][l] += em.m[f][l];
      ++m_sessions[f];
    }
  }
  const Table m_start = StartingM();
  for (size_t f = 0; f < kFieldCount; ++f) {
    for (size_t l = 0; l < kMaxLevels; ++l) {
      model.m_[f][l] = m_sessions[f] > 0 ? m_sum[f][l] / m_sessions[f] : m_start[f][l];
    }
  }
  // The share of matches among the candidate pairs: EM on that share alone,
  // m and u fixed.
  uint64_t candidates = 0;
  const std::vector<std::pair<Pattern, double>> all = PatternCounts(
      records, options, [&](auto&& f) { blocker.ForEachPair(f); }, ~kCrossedNames, &candidates);
  double lambda = 0.01;
  for (int it = 1; it <= options.max_iterations; ++it) {
    double mass = 0;
    double total = 0;
    for (const auto& [pattern, count] : all) {
      double pm = lambda;
      double pu = 1 - lambda;
      for (size_t f = 0; f < kFieldCount; ++f) {
        const uint8_t l = LevelOf(pattern, f);
        if (l == 0) continue;
        pm *= model.m_[f][l];
        pu *= model.u_[f][l];
      }
      mass += count * (pm + pu > 0 ? pm / (pm + pu) : 0);
      total += count;
    }
    const double next = total > 0 ? std::clamp(mass / total, 1e-9, 1 - 1e-9) : lambda;
    const bool done = std::abs(next - lambda) < 1e-9;
    lambda = next;
    iterations += 1;
    if (done) break;
  }
  model.lambda_ = lambda;
  model.iterations_ = iterations;
  model.candidate_pairs_ = candidates;
  // Prior odds that two random records match: EM's matches among the
  // candidates (blocking keeps nearly all true pairs) over all pairs.
  const double matches = std::max(lambda * double(candidates), 1.0);
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

double MatchModel::NameTfBits(const PreparedRecord& a, Pattern p) const {
  const uint8_t exact = kFields[0].tf_level;
  if ((p & kCrossedNames) || LevelOf(p, 0) != exact || LevelOf(p, 1) != exact || a.name_tf < 0) {
    return TfBits(0, a, p) + TfBits(1, a, p);
  }
  // Both names exact: weigh the full name's frequency, not the product of the
  // two, since given and family names are not independent (a culture's names
  // come together), and a common full name is common whatever its parts.
  const double u = u_[0][exact] * u_[1][exact];
  return std::clamp(std::log2(u / std::max(double(a.name_tf), u / 16)), 2 * kMinTfBits, kMaxTfBits);
}

double MatchModel::Weigh(const PreparedRecord& a, const PreparedRecord& b, Pattern p) const {
  (void)b;  // exact agreement: a's value is b's
  double bits = prior_bits_;
  for (size_t f = 0; f < kFieldCount; ++f) bits += bits_[f][LevelOf(p, f)];
  bits += NameTfBits(a, p) + TfBits(2, a, p);
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
    if (f == 1) c.tf_bits = NameTfBits(a, p) - TfBits(0, a, p);  // the full name's share
    c.bits = bits_[f][l] + c.tf_bits;
    e.fields.push_back(c);
  }
  e.total_bits = Weigh(a, b, p);
  e.probability = Probability(e.total_bits);
  return e;
}

}  // namespace medmigrate::dedup
