#include "dedup/deduplicator.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <random>
#include <set>
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
// The crowded population below: `people` people, every tenth registered twice.
std::vector<PersonRecord> CrowdedPopulation(int people, std::vector<int64_t>* person) {
  const std::vector<std::string> given = {
      "anna",  "bruno", "carla", "dieter", "elena", "fritz", "greta", "hanno", "ines",  "jonas",
      "klara", "lukas", "mona",  "nils",   "olga",  "paul",  "rosa",  "sven",  "tilda", "udo"};
  const std::vector<std::string> family = {
      "abel", "bauer", "claas", "dorn", "eckert", "fink", "gross", "hahn", "iser",  "jung",
      "kern", "lang",  "marx",  "noll", "ott",    "pohl", "quast", "roth", "sauer", "thiel"};
  std::mt19937_64 rng(11);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::vector<PersonRecord> records;
  for (int p = 0; p < people; ++p) {
    PersonRecord r;
    r.id = static_cast<int64_t>(records.size()) + 1;
    r.given = given[pick(given.size())];
    r.family = family[pick(family.size())];
    r.birth_date = fmt::format("{}-{:02}-{:02}", 1970 + pick(10), 1 + pick(12), 1 + pick(28));
    r.email = fmt::format("{}.{}_{}@example.org", r.given, r.family, p);
    records.push_back(r);
    person->push_back(p);
    if (p % 10 == 0) {
      PersonRecord d = r;
      d.id = static_cast<int64_t>(records.size()) + 1;
      if (p % 20 == 0) {
        d.family.insert(d.family.size() - 1, "e");  // a typo; the e-mail stays
      } else {
        d.email = fmt::format("{}{}_{}@example.com", d.given, d.family, people + p);
      }
      records.push_back(d);
      person->push_back(p);
    }
  }
  return records;
}

TEST(DeduplicatorTest, CoincidentalSameNameAndBirthDateIsNotMergedAutomatically) {
  std::vector<int64_t> person;
  const std::vector<PersonRecord> records = CrowdedPopulation(6000, &person);
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

// A model written and read back scores every pair as the fitted one, to the
// last bit; text that is not such a model is refused, naming what is wrong.
TEST(DeduplicatorTest, ModelJsonRoundTripsExactlyAndBadTextIsRefused) {
  std::vector<int64_t> person;
  const std::vector<PersonRecord> records = CrowdedPopulation(1500, &person);
  const DedupResult r = Deduplicate(records, DedupOptions{});
  std::string error;
  std::optional<MatchModel> back = MatchModel::FromJson(r.model.ToJson(), r.records.size(), &error);
  ASSERT_TRUE(back) << error;
  ASSERT_FALSE(r.pairs.empty());
  for (const ScoredPair& p : r.pairs) {
    EXPECT_EQ(back->Score(r.records[p.a], r.records[p.b]), r.model.Score(r.records[p.a], r.records[p.b]));
  }
  EXPECT_EQ(back->ToJson(), r.model.ToJson());
  EXPECT_FALSE(MatchModel::FromJson("[1, 2]", 10, &error));
  EXPECT_EQ(error, "not a JSON object");
  nlohmann::json j = nlohmann::json::parse(r.model.ToJson());
  j["fields"]["given_name"]["m"][1] = 1.5;
  EXPECT_FALSE(MatchModel::FromJson(j.dump(), 10, &error));
  EXPECT_EQ(error, "field 'given_name': 'm' must hold shares from 0 to 1");
  j = nlohmann::json::parse(r.model.ToJson());
  j.erase("prior_bits");
  EXPECT_FALSE(MatchModel::FromJson(j.dump(), 10, &error));
  EXPECT_EQ(error, "'prior_bits' must be a number");
}

// An incremental match (the kept model, only the new records flagged, the
// earlier merges as pairs) decides the new records as the full match with
// that model does, and scores far fewer pairs.
TEST(DeduplicatorTest, ScopedMatchDecidesNewRecordsAsTheFullMatch) {
  std::vector<int64_t> person;
  const std::vector<PersonRecord> all = CrowdedPopulation(3000, &person);
  const size_t old_count = all.size() * 9 / 10;
  const std::vector<PersonRecord> old_records(all.begin(), all.begin() + old_count);
  const DedupResult before = Deduplicate(old_records, DedupOptions{});

  const DedupResult full = Deduplicate(all, DedupOptions{}, MatchScope{{}, {}, &before.model});
  MatchScope scope;
  scope.model = &before.model;
  scope.only_new.assign(all.size(), 0);
  for (size_t i = old_count; i < all.size(); ++i) scope.only_new[i] = 1;
  for (const Cluster& c : before.clusters.clusters) {
    for (uint32_t m : c.members) {
      if (m != c.survivor) scope.also.emplace_back(std::min(m, c.survivor), std::max(m, c.survivor));
    }
  }
  const DedupResult scoped = Deduplicate(all, DedupOptions{}, scope);
  EXPECT_LT(scoped.stats.candidate_pairs * 4, full.stats.candidate_pairs);
  // Each new record's cluster, as (member, survivor) pairs.
  auto new_merges = [&](const DedupResult& r) {
    std::set<std::pair<uint32_t, uint32_t>> out;
    for (const Cluster& c : r.clusters.clusters) {
      for (uint32_t m : c.members) {
        if (m >= old_count && m != c.survivor) out.insert({m, c.survivor});
      }
    }
    return out;
  };
  const auto want = new_merges(full);
  ASSERT_GT(want.size(), 10u) << "the new records no longer test what they should";
  EXPECT_EQ(new_merges(scoped), want);
}

}  // namespace
}  // namespace medmigrate::dedup
