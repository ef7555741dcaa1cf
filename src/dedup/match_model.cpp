#include "dedup/match_model.h"

#include "dedup/record_store.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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
// A value's frequency is estimated from how many other records hold it, and
// that count is small: a birth date that 9 records share on average is held
// by nobody else for 1 record in 8,000, and at 10k records nearly every date
// and full name is held by nobody else. Taken at face value (frequency 0)
// each such value added the full 3 bits, 6 for name and date together,
// which made "same name, same date" between different people look certain.
// So the frequency is shrunk towards the field's average (u) by a Gamma prior
// whose shape (worth that many records holding the value) Fit measures: how
// much more the values' counts vary than chance (Poisson) makes them vary.
// Uniform birth dates, or names drawn evenly from a small vocabulary, vary by
// chance alone and get a large shape (no adjustment); real surnames vary a
// lot and get a small one. At least kMinTfShape: a rare value must be seen
// to be rare.
constexpr double kMinTfShape = 1.0;
constexpr double kMaxTfShape = 1e4;

// The Gamma shape for values whose per-record counts (records holding the
// record's value, this one included) are added one by one: method of moments
// over the distinct values (each record weighs 1/count, so each value weighs
// 1). Sums, not the counts: a vector of them per field cost 8 bytes per
// record.
class TfShape {
 public:
  void Add(double c) {
    if (c < 1) return;
    values_ += 1 / c;
    records_ += 1;
    sum_count_ += c;
  }
  double Shape() const {
    if (values_ < 2) return kMinTfShape;
    const double mean = records_ / values_;
    const double variance = sum_count_ / values_ - mean * mean;
    const double excess = variance - mean;  // beyond Poisson
    if (excess <= 0) return kMaxTfShape;
    return std::clamp(mean * mean / excess, kMinTfShape, kMaxTfShape);
  }

 private:
  double values_ = 0, records_ = 0, sum_count_ = 0;
};

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

// Fields that follow another field among different people too: sex follows
// the given name (two different Annes are both women). EM estimates their m
// from the pairs it classes as matches, but does not let them class pairs:
// otherwise "same given name, hence same sex" looks like a class of its own,
// and EM takes different people who share a given name for matches (it did:
// m(family name different) 0.67, and 7 % of the candidate pairs "matches").
constexpr FieldId kFollowingFields[] = {FieldId::kSex};

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

// The fields (4 bits each, as in Pattern) that a pass's key reads.
Pattern KeyFields(const BlockingPass& pass) {
  Pattern fields = 0;
  for (KeyPart part : pass.parts) {
    for (FieldId f : FieldsOfKeyPart(part)) fields |= Pattern{0xF} << (4 * static_cast<size_t>(f));
  }
  return fields;
}

// Both names near misses, or swapped (a variation itself) and one a near miss.
bool BothNamesVaried(Pattern p) {
  const bool given = IsNameVariation(LevelOf(p, 0));
  const bool family = IsNameVariation(LevelOf(p, 1));
  return (given && family) || ((p & kCrossedNames) && (given || family));
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

// Pattern counts (levels & mask) of a deterministic sample of the pairs that
// `for_each` yields, at most options.em_sample_pairs of them in expectation;
// `*seen` (when given) counts every pair. `known` (when given) is how many
// pairs for_each yields: one walk through them instead of two.
template <typename ForEach>
std::vector<std::pair<Pattern, double>> PatternCounts(const ModelOptions& options,
                                                      ForEach&& for_each, Pattern mask,
                                                      uint64_t* seen,
                                                      std::optional<uint64_t> known = {}) {
  uint64_t total = known.value_or(0);
  if (!known) {
    for_each([&](size_t, size_t, const PreparedRecord&, const PreparedRecord&) { ++total; });
  }
  const double rate =
      std::min(1.0, double(options.em_sample_pairs) / double(std::max<uint64_t>(total, 1)));
  const uint64_t cut = static_cast<uint64_t>(rate * 18446744073709549568.0);
  std::unordered_map<Pattern, double> counts;
  for_each([&](size_t i, size_t j, const PreparedRecord& a, const PreparedRecord& b) {
    uint64_t state = options.seed ^ (uint64_t(i) << 32 | j);
    if (rate < 1.0 && SplitMix(state) > cut) return;
    counts[Compare(a, b, options.use_national_id) & mask] += 1;
  });
  if (seen) *seen = total;
  std::vector<std::pair<Pattern, double>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());  // a fixed order: the same sums every run
  return sorted;
}

}  // namespace

EmResult RunEm(const std::vector<std::pair<Pattern, double>>& counts, const Table& u_start,
               int max_iterations, Pattern classify, bool estimate_u) {
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
        const uint8_t l = LevelOf(pattern & classify, f);
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
      if (estimate_u) r.u[f] = u_new;
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
  return Fit(VectorRecords(records), blocker, options);
}

MatchModel MatchModel::Fit(const Records& records, const Blocker& blocker,
                           const ModelOptions& options) {
  MatchModel model;
  model.use_national_id_ = options.use_national_id;
  const uint64_t n = records.size();
  const double all_pairs = n < 2 ? 1.0 : double(n) * double(n - 1) / 2.0;

  // u: level shares among random pairs (all pairs when there are few).
  Table u_counts{};
  PreparedRecord slot_i, slot_j;
  auto count_u = [&](size_t i, size_t j) {
    const Pattern p = Compare(records.Get(static_cast<uint32_t>(i), &slot_i),
                              records.Get(static_cast<uint32_t>(j), &slot_j),
                              options.use_national_id);
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
  // Exact agreement on a name or birth date is rare enough that 1M random
  // pairs see it a few dozen times (a birth date: 36 in expectation, 19 for
  // one generator seed, which made every same-date pair 0.9 bits too sure).
  // The records' own counts give it exactly: the chance that two records
  // that both know the field hold the same value. The other levels keep
  // their shares of the rest.
  if (n > 2) {
    const double others = double(n - 2);
    for (size_t f = 0; f < kFieldCount; ++f) {
      const uint8_t exact = kFields[f].tf_level;
      if (exact == 0) continue;
      double known = 0, same = 0;  // records knowing the value; sum of (count - 1)
      records.ForEach([&](uint32_t, const PreparedRecord& r) {
        const float tf = kFields[f].id == FieldId::kGiven    ? r.given_tf
                         : kFields[f].id == FieldId::kFamily ? r.family_tf
                                                             : r.date_tf;
        if (tf < 0) return;
        known += 1;
        same += std::round(double(tf) * others) + 1;
      });
      if (known < 2 || same <= 0) continue;
      const double u_exact = same / (known * (known - 1));
      double rest = 0;
      for (size_t l = 1; l < LevelCount(f); ++l) rest += l == exact ? 0 : model.u_[f][l];
      if (u_exact >= 1 || rest <= 0) continue;
      for (size_t l = 1; l < LevelCount(f); ++l) {
        model.u_[f][l] = l == exact ? u_exact : model.u_[f][l] * (1 - u_exact) / rest;
      }
    }
  }

  // m: EM in training sessions, one per training pass, on the pairs that
  // pass blocks. The fields its key reads agree by construction there, so
  // they are left out of that session (treated as missing); every other
  // field's m is estimated, and averaged over the sessions that estimate it.
  // u stays the random pairs' u: among different people the fields a key
  // does not read are distributed as among any two records (the model's own
  // assumption), and a fixed u is what makes a session with only two fields
  // left (birth date and e-mail, blocked on names) identifiable; re-estimated,
  // it gave m(day/month swapped) 0.66 > m(exact).
  // A single EM over all candidate pairs would instead find "pairs blocked on
  // the same names" as its match class when names come from a small
  // vocabulary (the blocking makes them agree, not identity).
  Table m_sum{};
  std::array<int, kFieldCount> m_sessions{};
  int iterations = 0;
  Pattern classify = ~kCrossedNames;
  for (FieldId f : kFollowingFields) classify &= ~(Pattern{0xF} << (4 * static_cast<size_t>(f)));
  for (std::string_view name : kTrainingPasses) {
    const int pass = blocker.FindPass(name);
    if (pass < 0) continue;
    const Pattern mask = ~kCrossedNames & ~KeyFields(blocker.pass(static_cast<size_t>(pass)));
    std::vector<std::pair<Pattern, double>> counts = PatternCounts(
        options, [&](auto&& f) { blocker.ForEachPairOfPass(pass, f); }, mask, nullptr,
        blocker.PairsOfPass(static_cast<size_t>(pass)));
    double total = 0;
    for (const auto& c : counts) total += c.second;
    if (total < kMinTrainingPairs) continue;
    const EmResult em = RunEm(counts, model.u_, options.max_iterations, classify, false);
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
  // The matches among the candidate pairs, pass by pass: EM on the share of
  // matches alone (m and u fixed) over the pairs a pass is the first to
  // block, each weighed on the fields that neither its key nor an earlier
  // pass's key reads. Among those pairs such fields are distributed as among
  // random pairs for different people, so u holds; the fields a key reads
  // agree by construction (two different Annes of the same birth year), and
  // weighing them with the random pairs' u took different people who share
  // a name for matches: 7 % of the candidates, 70 times the true count, and
  // a prior 6 bits too high. Matches that an earlier key missed disagree on
  // that key's fields, which are left out for the same reason.
  uint64_t candidates = 0;
  double matches = 0;
  Pattern read_so_far = 0;
  double lambda = 0;
  for (size_t pass = 0; pass < blocker.pass_count(); ++pass) {
    read_so_far |= KeyFields(blocker.pass(pass));
    uint64_t blocked = 0;
    std::vector<std::pair<Pattern, double>> counts = PatternCounts(
        options, [&](auto&& f) { blocker.ForEachNewPairOfPass(pass, f); },
        ~kCrossedNames & ~read_so_far, &blocked);
    candidates += blocked;
    // A pair with no field left to weigh is no evidence either way: it counts
    // as no match (the prior errs low, towards fewer automatic merges).
    double sampled = 0;
    for (const auto& c : counts) sampled += c.second;
    std::erase_if(counts, [&](const auto& c) { return (c.first & classify) == 0; });
    double with_evidence = 0;
    for (const auto& c : counts) with_evidence += c.second;
    if (with_evidence == 0) continue;
    double share = 0.01;
    for (int it = 1; it <= options.max_iterations; ++it) {
      double mass = 0;
      double total = 0;
      for (const auto& [pattern, count] : counts) {
        double pm = share;
        double pu = 1 - share;
        for (size_t f = 0; f < kFieldCount; ++f) {
          const uint8_t l = LevelOf(pattern & classify, f);
          if (l == 0) continue;
          pm *= model.m_[f][l];
          pu *= model.u_[f][l];
        }
        mass += count * (pm + pu > 0 ? pm / (pm + pu) : 0);
        total += count;
      }
      const double next = total > 0 ? std::clamp(mass / total, 1e-12, 1 - 1e-9) : share;
      const bool done = std::abs(next - share) < 1e-10;
      share = next;
      iterations += 1;
      if (done) break;
    }
    matches += share * double(blocked) * (with_evidence / sampled);
  }
  lambda = candidates > 0 ? matches / double(candidates) : 0;
  model.lambda_ = lambda;
  model.iterations_ = iterations;
  model.candidate_pairs_ = candidates;
  // Prior odds that two random records match: EM's matches among the
  // candidates (blocking keeps nearly all true pairs) over all pairs.
  matches = std::max(matches, 1.0);
  model.prior_bits_ = std::log2(matches / std::max(all_pairs - matches, 1.0));
  model.tf_others_ = n > 2 ? double(n - 2) : 0;
  {
    // Per-record counts back from the term frequencies ((count - 2) / (n - 2)).
    std::array<TfShape, 4> shapes;
    records.ForEach([&](uint32_t, const PreparedRecord& r) {
      const float tfs[4] = {r.given_tf, r.family_tf, r.date_tf, r.name_tf};
      for (size_t k = 0; k < 4; ++k) {
        if (tfs[k] >= 0) shapes[k].Add(std::round(tfs[k] * model.tf_others_) + 2);
      }
    });
    for (size_t k = 0; k < 4; ++k) model.tf_shape_[k] = shapes[k].Shape();
  }
  // Rare spellings together: records whose given, family, or both names are
  // held by fewer than kCommonNameRecords records.
  double rare_given = 0, rare_family = 0, rare_both = 0, named = 0;
  records.ForEach([&](uint32_t, const PreparedRecord& r) {
    if (r.given_count == 0 || r.family_count == 0) return;
    const bool g = r.given_count < kCommonNameRecords;
    const bool f = r.family_count < kCommonNameRecords;
    named += 1;
    rare_given += g;
    rare_family += f;
    rare_both += g && f;
  });
  if (rare_given > 0 && rare_family > 0) {
    // Smoothed by one record, so a handful of records says little.
    const double together = (rare_both + 1) * named / (rare_given * rare_family + named);
    model.name_variation_bits_ = std::max(0.0, std::log2(together));
  }
  model.ComputeBits();
  return model;
}

namespace {
constexpr int kModelFormat = 1;
}  // namespace

std::string MatchModel::ToJson() const {
  nlohmann::json fields = nlohmann::json::object();
  for (size_t f = 0; f < kFieldCount; ++f) {
    nlohmann::json m = nlohmann::json::array(), u = nlohmann::json::array();
    for (size_t l = 0; l < kMaxLevels; ++l) {
      m.push_back(m_[f][l]);
      u.push_back(u_[f][l]);
    }
    fields[std::string(kFields[f].name)] = {{"m", m}, {"u", u}};
  }
  nlohmann::json j = {{"format", kModelFormat},
                      {"use_national_id", use_national_id_},
                      {"prior_bits", prior_bits_},
                      {"candidate_match_share", lambda_},
                      {"em_iterations", iterations_},
                      {"candidate_pairs", candidate_pairs_},
                      {"tf_shape", tf_shape_},
                      {"name_variation_bits", name_variation_bits_},
                      {"fields", fields}};
  return j.dump();
}

std::optional<MatchModel> MatchModel::FromJson(std::string_view text, size_t records,
                                               std::string* error) {
  auto fail = [&](const std::string& what) -> std::optional<MatchModel> {
    if (error) *error = what;
    return std::nullopt;
  };
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return fail("not a JSON object");
  if (j.value("format", 0) != kModelFormat) {
    return fail(fmt::format("'format' must be {}", kModelFormat));
  }
  auto number = [&](const char* key, double* out) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return false;
    *out = it->get<double>();
    return std::isfinite(*out);
  };
  MatchModel model;
  double iterations = 0, pairs = 0;
  if (!number("prior_bits", &model.prior_bits_)) return fail("'prior_bits' must be a number");
  if (!number("candidate_match_share", &model.lambda_)) {
    return fail("'candidate_match_share' must be a number");
  }
  if (!number("em_iterations", &iterations)) return fail("'em_iterations' must be a number");
  if (!number("candidate_pairs", &pairs)) return fail("'candidate_pairs' must be a number");
  if (!number("name_variation_bits", &model.name_variation_bits_)) {
    return fail("'name_variation_bits' must be a number");
  }
  model.iterations_ = static_cast<int>(iterations);
  model.candidate_pairs_ = static_cast<uint64_t>(pairs);
  auto nid = j.find("use_national_id");
  if (nid == j.end() || !nid->is_boolean()) return fail("'use_national_id' must be true or false");
  model.use_national_id_ = nid->get<bool>();
  auto shape = j.find("tf_shape");
  if (shape == j.end() || !shape->is_array() || shape->size() != model.tf_shape_.size()) {
    return fail("'tf_shape' must be an array of 4 numbers");
  }
  for (size_t k = 0; k < model.tf_shape_.size(); ++k) {
    if (!(*shape)[k].is_number() || !((*shape)[k].get<double>() > 0)) {
      return fail("'tf_shape' must be an array of 4 positive numbers");
    }
    model.tf_shape_[k] = (*shape)[k].get<double>();
  }
  auto fields = j.find("fields");
  if (fields == j.end() || !fields->is_object()) return fail("'fields' must be an object");
  for (size_t f = 0; f < kFieldCount; ++f) {
    const std::string name(kFields[f].name);
    auto it = fields->find(name);
    if (it == fields->end() || !it->is_object()) return fail("field '" + name + "' is missing");
    for (auto [key, table] : {std::pair{"m", &model.m_}, std::pair{"u", &model.u_}}) {
      auto v = it->find(key);
      if (v == it->end() || !v->is_array() || v->size() != kMaxLevels) {
        return fail(fmt::format("field '{}': '{}' must be an array of {} numbers", name, key,
                                kMaxLevels));
      }
      for (size_t l = 0; l < kMaxLevels; ++l) {
        const nlohmann::json& x = (*v)[l];
        if (!x.is_number() || x.get<double>() < 0 || x.get<double>() > 1) {
          return fail(fmt::format("field '{}': '{}' must hold shares from 0 to 1", name, key));
        }
        (*table)[f][l] = x.get<double>();
      }
    }
  }
  model.tf_others_ = records > 2 ? double(records - 2) : 0;
  model.ComputeBits();
  return model;
}

MatchModel MatchModel::FromParameters(const Table& m, const Table& u, double prior_bits,
                                      bool use_national_id, double tf_others) {
  MatchModel model;
  model.tf_others_ = tf_others;
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
  return std::clamp(std::log2(u / ValueFrequency(tf, u, f)), kMinTfBits, kMaxTfBits);
}

double MatchModel::ValueFrequency(float tf, double u, size_t slot) const {
  if (tf_others_ <= 0) return std::max(double(tf), u / 16);
  // Gamma(shape, mean u) prior on the value's frequency, Poisson count of
  // the other records holding it: the posterior mean.
  const double shape = tf_shape_[slot];
  const double count = double(tf) * tf_others_;
  return (count + shape) / (tf_others_ + shape / u);
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
  return std::clamp(std::log2(u / ValueFrequency(a.name_tf, u, kFullNameSlot)), 2 * kMinTfBits,
                    kMaxTfBits);
}

double MatchModel::SharedContactBits(const PreparedRecord& a, Pattern p) const {
  constexpr size_t kEmail = static_cast<size_t>(FieldId::kEmail);
  constexpr size_t kFamily = static_cast<size_t>(FieldId::kFamily);
  constexpr uint8_t kExact = 1;
  // Held by the pair alone (or not counted): the address is as rare as it
  // looks. Held by a third record too: a family's or an office's address.
  if (LevelOf(p, kEmail) != kExact || a.email_count <= 2) return 0;
  const double common_surname = m_[kFamily][kExact] > 0
                                    ? std::log2(m_[kFamily][kExact] / kCommonValueShare)
                                    : 0;
  return std::min(0.0, common_surname - bits_[kEmail][kExact]);
}

double MatchModel::Weigh(const PreparedRecord& a, const PreparedRecord& b, Pattern p) const {
  (void)b;  // exact agreement: a's value is b's
  double bits = prior_bits_;
  for (size_t f = 0; f < kFieldCount; ++f) bits += bits_[f][LevelOf(p, f)];
  bits += NameTfBits(a, p) + TfBits(2, a, p) + SharedContactBits(a, p);
  if (BothNamesVaried(p)) bits -= name_variation_bits_;
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
    if (kFields[f].id == FieldId::kEmail) c.tf_bits = SharedContactBits(a, p);
    c.bits = bits_[f][l] + c.tf_bits;
    e.fields.push_back(c);
  }
  if (BothNamesVaried(p)) e.name_variation_bits = -name_variation_bits_;
  e.total_bits = Weigh(a, b, p);
  e.probability = Probability(e.total_bits);
  e.hold = HoldName(HoldOf(p));
  return e;
}

}  // namespace medmigrate::dedup
