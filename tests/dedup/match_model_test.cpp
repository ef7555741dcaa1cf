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

// A birth date nobody else holds is evidence only where others were expected
// to hold it: among 10 records it says nothing (every date is unique there),
// among a million it says the date is rare. Taken at face value it added the
// full 3 bits in both, which made "same name, same date" between different
// people look certain in small and mid-sized populations.
TEST(MatchModelTest, RareValuesMustBeSeenToBeRare) {
  Table m{};
  Table u{};
  for (size_t f = 0; f < kFieldCount; ++f) {
    for (size_t l = 1; l < kMaxLevels; ++l) {
      m[f][l] = 0.1;
      u[f][l] = 0.1;
    }
  }
  m[2][1] = 0.9;
  u[2][1] = 1e-4;  // two random records share a birth date 1 time in 10,000
  std::vector<PersonRecord> people(10);
  for (size_t i = 0; i < people.size(); ++i) {
    people[i].birth_date = "19800101";
    people[i].birth_date[7] = static_cast<char>('0' + i);  // a date nobody else holds
  }
  const std::vector<PreparedRecord> r = PrepareRecords(people);
  ASSERT_EQ(r[0].date_tf, 0.0f);
  const double average = std::log2(0.9 / 1e-4);
  auto date_bits = [&](double population) {
    const MatchModel model = MatchModel::FromParameters(m, u, 0, false, population - 2);
    return model.Explain(r[0], r[0]).fields[0].bits;
  };
  EXPECT_LT(date_bits(10), average + 0.01);  // expected 0.001 others: no evidence
  EXPECT_GT(date_bits(1e6), average + 2.5);  // expected 100 others, saw none: rare
  EXPECT_LE(date_bits(1e6), average + 3.0);  // bounded
  const MatchModel face_value = MatchModel::FromParameters(m, u, 0, false);
  EXPECT_NEAR(face_value.Explain(r[0], r[0]).fields[0].bits, average + 3.0, 1e-9);
}

// Sex follows the given name among different people too. With sex classing
// pairs, EM took "same given name, same sex" for a class of its own; left out
// of the classing, it recovers the share of matches, and sex's m still comes
// out of the pairs it classes as matches.
TEST(RunEmTest, FieldThatFollowsAnotherDoesNotClassPairs) {
  // given: 1 exact, 2 different; family: 1 exact, 2 different; sex: 1 same, 2 different.
  std::map<Pattern, double> counts;
  auto add = [&](int given, int family, int sex, double n) {
    counts[Pattern(given) | Pattern(family) << 4 | Pattern(sex) << 12] += n;
  };
  // 1,000 matches: names agree 90 %, sex agrees.
  add(1, 1, 1, 810);
  add(1, 2, 1, 90);
  add(2, 1, 1, 90);
  add(2, 2, 1, 10);
  // 99,000 different people: a given name agrees 10 % and then so does sex;
  // family agrees 5 %, independently.
  const double n = 99000;
  add(1, 1, 1, n * 0.10 * 0.05);
  add(1, 2, 1, n * 0.10 * 0.95);
  add(2, 1, 1, n * 0.90 * 0.05 * 0.5);
  add(2, 1, 2, n * 0.90 * 0.05 * 0.5);
  add(2, 2, 1, n * 0.90 * 0.95 * 0.5);
  add(2, 2, 2, n * 0.90 * 0.95 * 0.5);
  Table u{};
  for (size_t f = 0; f < kFieldCount; ++f) u[f][1] = u[f][2] = 0.5;
  u[0][1] = 0.1;
  u[0][2] = 0.9;
  u[1][1] = 0.05;
  u[1][2] = 0.95;
  const Pattern without_sex = ~(Pattern{0xF} << 12);
  const EmResult em = RunEm({counts.begin(), counts.end()}, u, 1000, without_sex, false);
  EXPECT_NEAR(em.lambda, 0.01, 0.003);
  EXPECT_GT(em.m[3][1], 0.9);  // sex's m, estimated though it classes nothing
  EXPECT_NEAR(em.m[0][1], 0.9, 0.05);
  // With sex classing pairs, the given-name coincidences count as matches.
  const EmResult classed_by_sex =
      RunEm({counts.begin(), counts.end()}, u, 1000, ~Pattern{0}, false);
  EXPECT_GT(classed_by_sex.lambda, 0.013) << "the test no longer shows what it guards against";
}

}  // namespace
}  // namespace medmigrate::dedup
