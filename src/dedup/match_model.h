// The Fellegi-Sunter match model: for every field and level, m (the share of
// true pairs at that level) and u (the share of non-matching pairs), learnt
// from the data without labels:
//   - u from random record pairs (almost all of which are different people);
//   - m and the share of matches among the candidate pairs by EM
//     (expectation-maximisation over the candidate pairs' level patterns,
//     fields assumed independent given match status).
// A pair's score is log2 of its match odds: the prior odds that two random
// records are the same person, plus log2(m/u) of each field's level, with
// exact agreement on a name or birth date adjusted by how common the value is
// (term frequency: "smith" weighs less than "okonkwo"), and agreement on an
// e-mail that a third record holds too (a family's shared contact) weighing
// no more than agreement on a common surname.
//
// Thread-compatible: a fitted model is read-only and may score concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dedup/blocker.h"
#include "dedup/comparison.h"
#include "dedup/person_record.h"

namespace medmigrate::dedup {

struct ModelOptions {
  bool use_national_id = false;
  uint64_t u_sample_pairs = 1'000'000;   // random pairs for u
  uint64_t em_sample_pairs = 2'000'000;  // candidate pairs EM sees at most
  int max_iterations = 500;
  uint64_t seed = 20240601;  // fixed: the same data gives the same model
};

struct FieldContribution {
  std::string_view field;
  std::string_view level;
  double bits = 0;     // log2(m/u) of the level, frequency adjustment included
  double tf_bits = 0;  // of which the term-frequency adjustment
};

// Why a pair scored what it did: the prior and each known field's share.
struct Explanation {
  double prior_bits = 0;
  double total_bits = 0;
  double probability = 0;
  bool crossed_names = false;
  // Taken off when both names are near misses (IsNameVariation): see
  // MatchModel::name_variation_bits().
  double name_variation_bits = 0;
  std::vector<FieldContribution> fields;  // fields known on both sides only
  // HoldName of the pair's hold: "" when it may merge automatically.
  std::string_view hold;
};

class MatchModel {
 public:
  // Fits the model on `records` (prepared together) and the candidate pairs
  // of `blocker`. Deterministic for the same input.
  static MatchModel Fit(const Records& records, const Blocker& blocker,
                        const ModelOptions& options = {});
  static MatchModel Fit(const std::vector<PreparedRecord>& records, const Blocker& blocker,
                        const ModelOptions& options);

  // log2 odds that a and b are the same person. Allocates nothing.
  double Weigh(const PreparedRecord& a, const PreparedRecord& b, Pattern p) const;
  double Score(const PreparedRecord& a, const PreparedRecord& b) const {
    return Weigh(a, b, Compare(a, b, use_national_id_));
  }
  static double Probability(double bits);
  // A surname this share of the records hold is common: what exact agreement
  // on a shared e-mail weighs at most (SharedContactBits).
  static constexpr double kCommonValueShare = 0.01;

  Explanation Explain(const PreparedRecord& a, const PreparedRecord& b) const;

  bool use_national_id() const { return use_national_id_; }
  double m(size_t field, size_t level) const { return m_[field][level]; }
  double u(size_t field, size_t level) const { return u_[field][level]; }
  double prior_bits() const { return prior_bits_; }
  // Share of matches EM found among the candidate pairs, and the iterations it took.
  double candidate_match_share() const { return lambda_; }
  int em_iterations() const { return iterations_; }
  uint64_t candidate_pairs() const { return candidate_pairs_; }
  // The term-frequency prior's shape for given, family, birth date, full name.
  std::array<double, 4> tf_shape() const { return tf_shape_; }
  // Bits taken off a pair whose given and family names both differ by a
  // variation (typo, nickname): log2 of how much more often a record with a
  // rare given name also has a rare family name than chance says. The two
  // near misses are then one careless record, not two independent
  // coincidences, among different people as among duplicates.
  double name_variation_bits() const { return name_variation_bits_; }

  // The fitted parameters as JSON (m, u, prior, term-frequency shape, ...),
  // exact to the last bit: a model read back scores every pair as this one.
  // Incremental runs keep the model of the last full run (docs/design/dedup.md).
  std::string ToJson() const;
  // The model `ToJson` wrote, for `records` records prepared together (their
  // count sets how term frequencies are shrunk). Empty, with *error naming
  // the field, when the text is not such a model.
  static std::optional<MatchModel> FromJson(std::string_view json, size_t records,
                                            std::string* error);

  // A model with the given parameters, for tests: m and u per field and level.
  // `tf_others` is n - 2 for records prepared together (PrepareRecords), so
  // term frequencies are shrunk as Fit does; 0 takes them at face value.
  static MatchModel FromParameters(const std::array<std::array<double, kMaxLevels>, kFieldCount>& m,
                                   const std::array<std::array<double, kMaxLevels>, kFieldCount>& u,
                                   double prior_bits, bool use_national_id, double tf_others = 0);

 private:
  void ComputeBits();
  double TfBits(size_t field, const PreparedRecord& a, Pattern p) const;
  double NameTfBits(const PreparedRecord& a, Pattern p) const;
  // <= 0: what exact e-mail agreement loses when a third record holds the
  // address (PreparedRecord::email_count > 2): it then weighs as much as
  // exact agreement on a surname that kCommonValueShare of the records hold.
  double SharedContactBits(const PreparedRecord& a, Pattern p) const;
  // The frequency of a value held by the share `tf` of the other records,
  // shrunk towards the field's average `u` (see kMinTfShape); `slot` is the
  // field (given, family, birth date) or kFullNameSlot.
  double ValueFrequency(float tf, double u, size_t slot) const;
  static constexpr size_t kFullNameSlot = 3;

  using Table = std::array<std::array<double, kMaxLevels>, kFieldCount>;
  Table m_{};
  Table u_{};
  Table bits_{};
  double prior_bits_ = 0;
  double lambda_ = 0;
  int iterations_ = 0;
  uint64_t candidate_pairs_ = 0;
  double tf_others_ = 0;  // n - 2: the records a term frequency is counted over
  // Gamma shape of the term-frequency prior: given, family, birth date, full name.
  std::array<double, 4> tf_shape_ = {1, 1, 1, 1};
  double name_variation_bits_ = 0;
  bool use_national_id_ = false;
};

// Runs EM on level patterns with their counts: returns the share of matches
// and fills m and u (u starts from `u`, m from a guess favouring agreement).
// Only the fields in `classify` (4 bits per field, as in Pattern) weigh in a
// pair's match posterior; the others' m and u are still estimated from it.
// With `estimate_u` false, u stays `u` (known from random pairs).
// Exposed for tests on synthetic patterns.
struct EmResult {
  double lambda = 0;
  int iterations = 0;
  std::array<std::array<double, kMaxLevels>, kFieldCount> m{};
  std::array<std::array<double, kMaxLevels>, kFieldCount> u{};
};
EmResult RunEm(const std::vector<std::pair<Pattern, double>>& pattern_counts,
               const std::array<std::array<double, kMaxLevels>, kFieldCount>& u_start,
               int max_iterations, Pattern classify = ~Pattern{0}, bool estimate_u = true);

}  // namespace medmigrate::dedup
