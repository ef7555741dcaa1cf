#include "dedup/deduplicator.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace medmigrate::dedup {
namespace {

// A crowded population, as the generator's MDW patients are: names from a
// small vocabulary and birth dates over ten years, so different people share
// full name and birth date now and then; every person has an e-mail of their
// own. A tenth of the people were registered twice, with a typo in a name or a
// second e-mail. The model was overconfident on "same name, same date,
// different e-mail" and merged such different people automatically.
TEST(DeduplicatorTest, CoincidentalSameNameAndBirthDateIsNotMergedAutomatically) {
  const std::vector<std::string> given = {
      "anna",  "bruno", "carla", "dieter", "elena", "fritz", "greta", "hanno", "ines",  "jonas",
      "klara", "lukas", "mona",  "nils",   "olga",  "paul",  "rosa",  "sven",  "tilda", "udo"};
  const std::vector<std::string> family = {
      "abel", "bauer", "claas", "dorn", "eckert", "fink", "gross", "hahn", "iser",  "jung",
      "kern", "lang",  "marx",  "noll", "ott",    "pohl", "quast", "roth", "sauer", "thiel"};
  std::mt19937_64 rng(11);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::vector<PersonRecord> records;
  std::vector<int64_t> person;
  const int people = 6000;
  for (int p = 0; p < people; ++p) {
    PersonRecord r;
    r.id = static_cast<int64_t>(records.size()) + 1;
    r.given = given[pick(given.size())];
    r.family = family[pick(family.size())];
    r.birth_date = fmt::format("{}-{:02}-{:02}", 1970 + pick(10), 1 + pick(12), 1 + pick(28));
    r.email = fmt::format("{}.{}_{}@example.org", r.given, r.family, p);
    records.push_back(r);
    person.push_back(p);
    if (p % 10 == 0) {
      PersonRecord d = r;
      d.id = static_cast<int64_t>(records.size()) + 1;
      if (p % 20 == 0) {
        d.family.insert(d.family.size() - 1, "e");  // a typo; the e-mail stays
      } else {
        d.email = fmt::format("{}{}_{}@example.com", d.given, d.family, people + p);
      }
      records.push_back(d);
      person.push_back(p);
    }
  }
  const DedupResult r = Deduplicate(records, DedupOptions{});
  int coincidences = 0;  // different people with the same name and date
  for (const ScoredPair& p : r.pairs) {
    coincidences += person[p.a] != person[p.b] && records[p.a].given == records[p.b].given &&
                    records[p.a].family == records[p.b].family &&
                    records[p.a].birth_date == records[p.b].birth_date;
  }
  ASSERT_GT(coincidences, 0) << "the population no longer tests what it should";
  int merged = 0;
  for (const Cluster& c : r.clusters.clusters) {
    for (uint32_t m : c.members) {
      EXPECT_EQ(person[m], person[c.members[0]]) << "different people merged automatically";
    }
    merged += static_cast<int>(c.members.size()) - 1;
  }
  EXPECT_GE(merged, 150);  // most duplicates still merge: 300 pairs
}

}  // namespace
}  // namespace medmigrate::dedup
