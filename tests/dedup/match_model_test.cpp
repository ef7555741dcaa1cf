#include "dedup/match_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

namespace medmigrate::dedup {
namespace {

using Table = std::array<std::array<double, kMaxLevels>, kFieldCount>;

// Patterns drawn from known m, u and share of matches: EM, given u only as a
// starting point and no labels, recovers m and the share.
TEST(RunEmTest, RecoversParametersOfSyntheticData) {
  // Three fields in use: given (levels 1..6), family (1..6), birth date (1..6).
  Table m{};
  Table u{};
  const std::array<double, 6> m_name = {0.70, 0.05, 0.15, 0.05, 0.02, 0.03};
  const std::array<double, 6> u_name = {0.01, 0.002, 0.01, 0.05, 0.03, 0.898};
  const std::array<double, 6> m_date = {0.85, 0.03, 0.07, 0.02, 0.01, 0.02};
  const std::array<double, 6> u_date = {0.0001, 0.0001, 0.004, 0.002, 0.05, 0.9438};
  for (size_t l = 0; l < 6; ++l) {
    m[0][l + 1] = m[1][l + 1] = m_name[l];
    u[0][l + 1] = u[1][l + 1] = u_name[l];
    m[2][l + 1] = m_date[l];
    u[2][l + 1] = u_date[l];
  }
  const double lambda = 0.05;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0, 1);
  auto draw = [&](const std::array<double, kMaxLevels>& p) {
    double x = unit(rng);
    for (size_t l = 1; l < 7; ++l) {
      if ((x -= p[l]) <= 0) return static_cast<Pattern>(l);
    }
    return Pattern{6};
  };
  std::map<Pattern, double> counts;
  for (int k = 0; k < 200000; ++k) {
    const Table& t = unit(rng) < lambda ? m : u;
    const Pattern p = draw(t[0]) | draw(t[1]) << 4 | draw(t[2]) << 8;
    counts[p] += 1;
  }
  // u starting point: a deliberately rough guess (uniform).
  Table u_start{};
  for (size_t f = 0; f < kFieldCount; ++f) {
    for (size_t l = 1; l < kMaxLevels; ++l) u_start[f][l] = 1.0 / 7;
  }
  const EmResult em = RunEm({counts.begin(), counts.end()}, u_start, 1000);
  EXPECT_NEAR(em.lambda, lambda, 0.005);
  for (size_t f = 0; f < 3; ++f) {
    for (size_t l = 1; l <= 6; ++l) {
      EXPECT_NEAR(em.m[f][l], m[f][l], 0.02) << "field " << f << " level " << l;
      EXPECT_NEAR(em.u[f][l], u[f][l], 0.01) << "field " << f << " level " << l;
    }
  }
}

TEST(MatchModelTest, TermFrequencyWeighsCommonNamesLess) {
  Table m{};
  Table u{};
  for (size_t f = 0; f < kFieldCount; ++f) {
    for (size_t l = 1; l < kMaxLevels; ++l) {
      m[f][l] = 0.1;
      u[f][l] = 0.1;
    }
    m[f][1] = 0.9;
    u[f][1] = 0.01;
  }
  const MatchModel model = MatchModel::FromParameters(m, u, -10, false);
  std::vector<PersonRecord> people(100);
  for (size_t i = 0; i < people.size(); ++i) {
    people[i].given = "Ann";
    // Names keep letters only: two letters make each rare name unique.
    people[i].family = i < 50 ? "Smith"
                              : std::string("Other") + static_cast<char>('a' + i / 26) +
                                    static_cast<char>('a' + i % 26);
  }
  const std::vector<PreparedRecord> r = PrepareRecords(people);
  // Smith: half of the records; Other...: one each.
  const double common = model.Score(r[0], r[1]);
  const double rare = model.Score(r[60], r[60]);
  EXPECT_GT(rare, common + 5);
  const Explanation e = model.Explain(r[0], r[1]);
  ASSERT_EQ(e.fields.size(), 2u);
  EXPECT_EQ(e.fields[1].field, "family_name");
  EXPECT_EQ(e.fields[1].level, "exact");
  EXPECT_LT(e.fields[1].tf_bits, 0);
  EXPECT_NEAR(e.total_bits, e.prior_bits + e.fields[0].bits + e.fields[1].bits, 1e-9);
}

TEST(MatchModelTest, ProbabilityIsLogisticOfBits) {
  EXPECT_DOUBLE_EQ(MatchModel::Probability(0), 0.5);
  EXPECT_NEAR(MatchModel::Probability(10), 1024.0 / 1025.0, 1e-12);
  EXPECT_EQ(MatchModel::Probability(100), 1.0);
  EXPECT_EQ(MatchModel::Probability(-100), 0.0);
}

}  // namespace
}  // namespace medmigrate::dedup
