#include "dedup/clustering.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>

#include "dedup/deduplicator.h"

namespace medmigrate::dedup {
namespace {

PersonRecord Person(int64_t id, const char* given, const char* family, const char* date,
                    const char* email = "") {
  PersonRecord r;
  r.id = id;
  r.age_rank = id;
  r.given = given;
  r.family = family;
  r.birth_date = date;
  r.email = email;
  return r;
}

// A population where names and dates are diverse, so the fitted model means
// something, plus the records under test at the end.
std::vector<PersonRecord> Population() {
  const char* given[] = {"anna", "bruno", "carla", "dieter", "elena", "fritz", "greta", "hanno",
                         "ines", "jonas", "klara", "lukas",  "mona",  "nils",  "olga",  "paul"};
  const char* family[] = {"abel", "bauer", "claas", "dorn", "eck",  "fink", "gross", "hahn", "iser",
                          "jung", "kern",  "lang",  "marx", "noll", "ott",  "pohl",  "quast"};
  std::vector<PersonRecord> out;
  int64_t id = 1;
  for (size_t g = 0; g < 16; ++g) {
    for (size_t f = 0; f < 17; ++f) {
      const int day = 1 + static_cast<int>((g * 17 + f) % 28);
      const int month = 1 + static_cast<int>((g + f) % 12);
      const std::string date =
          fmt::format("19{:02}-{:02}-{:02}", 40 + (g * 3 + f) % 60, month, day);
      out.push_back(Person(id, given[g], family[f], date.c_str()));
      ++id;
    }
  }
  return out;
}

TEST(ClusteringTest, ChainGuardKeepsNonMatchingEndsApart) {
  std::vector<PersonRecord> people = Population();
  const uint32_t a = static_cast<uint32_t>(people.size());
  people.push_back(Person(1001, "zoltan", "vrba", "1950-01-01"));
  people.push_back(Person(1002, "zoltan", "vrba", "1950-01-01"));
  people.push_back(Person(1003, "xaver", "quirin", "1977-07-17"));  // a different person
  DedupOptions o;
  const DedupResult r = Deduplicate(people, o);
  // Claim a strong link between the second and third: a chain a~b~c.
  std::vector<ScoredPair> pairs = {{a, a + 1, 0.99999}, {a + 1, a + 2, 0.9995}};
  ClusterOptions co;
  const ClusterResult c = ClusterPairs(r.records, pairs, r.model, co);
  ASSERT_EQ(c.clusters.size(), 1u);
  EXPECT_EQ(c.clusters[0].members, (std::vector<uint32_t>{a, a + 1}));
  ASSERT_EQ(c.kept_apart.size(), 1u);
  EXPECT_EQ(c.kept_apart[0].b, a + 2);

  // Without the guard's reason (the ends match), all three join.
  std::vector<PersonRecord> same = Population();
  same.push_back(Person(1001, "zoltan", "vrba", "1950-01-01"));
  same.push_back(Person(1002, "zoltan", "vrba", "1950-01-01"));
  same.push_back(Person(1003, "zoltan", "vrba", "1950-01-01"));
  const DedupResult r2 = Deduplicate(same, o);
  const ClusterResult c2 = ClusterPairs(r2.records, pairs, r2.model, co);
  ASSERT_EQ(c2.clusters.size(), 1u);
  EXPECT_EQ(c2.clusters[0].members.size(), 3u);
}

TEST(ClusteringTest, SurvivorIsMostCompleteThenOldest) {
  std::vector<PersonRecord> people = {Person(10, "ann", "lee", "1980-01-02"),
                                      Person(5, "ann", "lee", "1980-01-02"),
                                      Person(7, "ann", "lee", "1980-01-02", "ann@lee.org")};
  const std::vector<PreparedRecord> r = PrepareRecords(people);
  EXPECT_EQ(ChooseSurvivor(r, {0, 1, 2}), 2u);  // the only one with an e-mail
  EXPECT_EQ(ChooseSurvivor(r, {0, 1}), 1u);     // equally complete: the oldest (age rank 5)
}

TEST(DeduplicatorTest, FindsDuplicatesAndLeavesOthersAlone) {
  std::vector<PersonRecord> people = Population();
  const uint32_t n = static_cast<uint32_t>(people.size());
  people.push_back(Person(2001, "Anna", "Abel", people[0].birth_date.c_str()));      // = record 0
  people.push_back(Person(2002, "Brunno", "Bauer", people[18].birth_date.c_str()));  // typo of 18
  const DedupResult r = Deduplicate(people, DedupOptions{});
  // Names and birth date only, in a small population: strong enough for
  // review at least; whether they merge automatically depends on the evidence.
  std::set<std::pair<uint32_t, uint32_t>> found;
  for (const Cluster& c : r.clusters.clusters) {
    ASSERT_EQ(c.members.size(), 2u);
    found.insert({c.members[0], c.members[1]});
  }
  for (const ScoredPair& p : r.review) found.insert({p.a, p.b});
  EXPECT_EQ(found, (std::set<std::pair<uint32_t, uint32_t>>{{0, n}, {18, n + 1}}));
  EXPECT_GT(r.stats.candidate_pairs, 0u);
}

}  // namespace
}  // namespace medmigrate::dedup
