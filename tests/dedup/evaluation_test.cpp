// The evaluation's account of labelled pairs (different people, duplicates by
// variation) on hand-made records, and how the generator's truth becomes
// record pairs.
#include "dedup/evaluation.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

namespace medmigrate::dedup {
namespace {

// A population with every kind of pair the evaluation reports: people with
// an address of their own, a tenth registered twice (a family-name typo, same
// address), twins on one parent's address (same family name and birth date,
// other given name and sex), and namesakes born decades apart.
struct Population {
  std::vector<PersonRecord> records;
  std::vector<int64_t> person;
  LabeledPairs duplicates{"typo_last_name", {}};
  LabeledPairs twins{"twins", {}};
  LabeledPairs namesakes{"namesakes", {}};
};

Population MakePopulation(int people) {
  const std::vector<std::string> given_m = {"bruno", "dieter", "fritz", "hanno", "jonas",
                                            "lukas", "nils",   "paul",  "sven",  "udo"};
  const std::vector<std::string> given_f = {"anna", "carla", "elena", "greta", "ines",
                                            "klara", "mona", "olga",  "rosa",  "tilda"};
  const std::vector<std::string> family = {
      "abel", "bauer", "claas", "dorn", "eckert", "fink", "gross", "hahn", "iser",  "jung",
      "kern", "lang",  "marx",  "noll", "ott",    "pohl", "quast", "roth", "sauer", "thiel"};
  std::mt19937_64 rng(5);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  Population pop;
  int64_t next_person = 0;
  auto add = [&](PersonRecord r, int64_t person) {
    r.id = static_cast<int64_t>(pop.records.size()) + 1;
    pop.records.push_back(std::move(r));
    pop.person.push_back(person);
    return static_cast<uint32_t>(pop.records.size() - 1);
  };
  auto someone = [&](char sex) {
    PersonRecord r;
    r.sex = std::string(1, sex);
    r.given = sex == 'm' ? given_m[pick(given_m.size())] : given_f[pick(given_f.size())];
    r.family = family[pick(family.size())];
    r.birth_date = fmt::format("{}-{:02}-{:02}", 1970 + pick(30), 1 + pick(12), 1 + pick(28));
    return r;
  };
  for (int p = 0; p < people; ++p) {
    PersonRecord r = someone(pick(2) ? 'm' : 'f');
    r.email = fmt::format("{}.{}_{}@example.org", r.given, r.family, p);
    const uint32_t a = add(r, next_person);
    if (p % 10 == 0) {
      PersonRecord d = r;
      d.family.insert(d.family.size() - 1, "e");
      pop.duplicates.pairs.emplace_back(a, add(d, next_person));
    }
    ++next_person;
    if (p % 40 == 1) {  // twins: a boy and a girl
      PersonRecord boy = someone('m');
      PersonRecord girl = someone('f');
      girl.family = boy.family;
      girl.birth_date = boy.birth_date;
      boy.email = girl.email = fmt::format("parent.{}_{}@example.net", boy.family, p);
      const uint32_t x = add(boy, next_person++);
      pop.twins.pairs.emplace_back(x, add(girl, next_person++));
    }
    if (p % 40 == 2) {  // namesakes, thirty years apart, on another day of the year
      PersonRecord old = someone('f');
      old.email = fmt::format("{}_{}@example.org", old.given, p);
      PersonRecord young = old;
      const int month = std::stoi(old.birth_date.substr(5, 2));
      young.birth_date = fmt::format("{}-{:02}-{}", std::stoi(old.birth_date.substr(0, 4)) + 30,
                                     month % 12 + 1, old.birth_date.substr(8));
      young.email = fmt::format("{}_{}@example.com", old.given, p);
      const uint32_t x = add(old, next_person++);
      pop.namesakes.pairs.emplace_back(x, add(young, next_person++));
    }
    if (p % 40 == 3) {  // namesakes born on the same day of the year, 20-45 years apart
      PersonRecord old = someone('m');
      old.email = fmt::format("{}_{}@example.org", old.given, p);
      PersonRecord young = old;
      young.birth_date = fmt::format("{}{}", std::stoi(old.birth_date.substr(0, 4)) + 20 +
                                                 static_cast<int>(pick(26)),
                                     old.birth_date.substr(4));
      young.email = fmt::format("{}_{}@example.com", old.given, p);
      const uint32_t x = add(old, next_person++);
      pop.namesakes.pairs.emplace_back(x, add(young, next_person++));
    }
  }
  return pop;
}

const PairOutcome& Outcome(const std::vector<PairOutcome>& outcomes, const std::string& label) {
  for (const PairOutcome& o : outcomes) {
    if (o.label == label) return o;
  }
  ADD_FAILURE() << "no outcome " << label;
  static const PairOutcome none;
  return none;
}

TEST(EvaluationTest, DifferentPeopleAreNeverMergedAndHeldTwinsCountAsReview) {
  const Population pop = MakePopulation(3000);
  EvaluationLabels labels;
  labels.different_people = {pop.twins, pop.namesakes};
  labels.duplicates = {pop.duplicates};
  const Evaluation e = EvaluateDedup(pop.records, pop.person, DedupOptions{}, labels);
  ASSERT_EQ(e.different_people.size(), 2u);
  ASSERT_EQ(e.duplicates.size(), 1u);

  for (const PairOutcome& o : e.different_people) {
    EXPECT_EQ(o.merged, 0u) << o.label << " of " << o.pairs;
    EXPECT_EQ(o.merged + o.review + o.neither, o.pairs) << o.label;
  }
  const PairOutcome& twins = Outcome(e.different_people, "twins");
  EXPECT_EQ(twins.pairs, pop.twins.pairs.size());
  // Same family name, birth date and address score high: what stops them is a
  // hold, and a held pair is in the review queue.
  EXPECT_GT(twins.review, twins.pairs / 2);
  EXPECT_EQ(twins.held, twins.review);

  const PairOutcome& dups = Outcome(e.duplicates, "typo_last_name");
  EXPECT_EQ(dups.pairs, pop.duplicates.pairs.size());
  EXPECT_EQ(dups.merged + dups.review + dups.neither, dups.pairs);
  EXPECT_GT(dups.merged, dups.pairs / 2);

  // Merged or in review, over the true pairs; the review list counts held pairs.
  EXPECT_EQ(e.true_pairs, pop.duplicates.pairs.size());
  EXPECT_DOUBLE_EQ(e.recall_merged_or_review,
                   double(e.automatic_merges.true_positives + e.true_pairs_in_review) /
                       double(e.true_pairs));
  EXPECT_GE(e.recall_merged_or_review, e.automatic_merges.recall);
  EXPECT_GE(e.review_pairs, twins.review + e.true_pairs_in_review);
  EXPECT_EQ(e.true_pairs_in_review, dups.review);
}

TEST(EvaluationTest, PairsLabelledDifferentThatWereMergedAreCounted) {
  // The same true duplicates under a "different people" label: the count of
  // different people merged must see them, or a zero would prove nothing.
  const Population pop = MakePopulation(3000);
  EvaluationLabels labels;
  labels.different_people = {LabeledPairs{"mislabelled", pop.duplicates.pairs}};
  const Evaluation e = EvaluateDedup(pop.records, pop.person, DedupOptions{}, labels);
  ASSERT_EQ(e.different_people.size(), 1u);
  EXPECT_GT(e.different_people[0].merged, 0u);
  EXPECT_EQ(e.different_people[0].merged, e.automatic_merges.true_positives);
}

TEST(EvaluationTest, GeneratorTruthBecomesPersonsAndLabelledPairs) {
  std::vector<PersonRecord> records;
  for (int64_t id : {10, 11, 12, 13, 14}) {
    PersonRecord r;
    r.id = id;
    records.push_back(r);
  }
  // Patient 13 is a duplicate of 10; 10 and 11 are twins; 12 and 99 are
  // namesakes, but 99 is not among the records (rejected, say).
  const auto truth = nlohmann::json::parse(R"({
    "format": "medmigrate.legacy-truth.v1",
    "duplicate_clusters": [
      {"patient_ids": [10, 13], "user_ids": [110, 113],
       "duplicates": [{"patient_id": 13, "user_id": 113,
                       "variations": ["married_name", "other_email"]}]}],
    "distinct_groups": [
      {"kind": "twins", "patient_ids": [10, 11], "user_ids": [110, 111]},
      {"kind": "namesakes", "patient_ids": [12, 99], "user_ids": [112, 199]}]
  })");
  auto g = FromGeneratorTruth(truth, records);
  ASSERT_TRUE(g.ok()) << g.status().message();
  ASSERT_EQ(g->person.size(), 5u);
  EXPECT_EQ(g->person[0], g->person[3]);  // 10 and 13: one person
  EXPECT_NE(g->person[0], g->person[1]);
  EXPECT_NE(g->person[1], g->person[2]);
  EXPECT_NE(g->person[2], g->person[4]);

  ASSERT_EQ(g->labels.different_people.size(), 2u);
  const LabeledPairs& namesakes = g->labels.different_people[0];
  const LabeledPairs& twins = g->labels.different_people[1];
  EXPECT_EQ(namesakes.label, "namesakes");
  EXPECT_TRUE(namesakes.pairs.empty());
  EXPECT_EQ(twins.label, "twins");
  // Twin 10's duplicate 13 is as different from twin 11 as 10 is.
  using P = std::pair<uint32_t, uint32_t>;
  EXPECT_EQ(twins.pairs, (std::vector<P>{{0, 1}, {1, 3}}));

  ASSERT_EQ(g->labels.duplicates.size(), 2u);
  EXPECT_EQ(g->labels.duplicates[0].label, "married_name");
  EXPECT_EQ(g->labels.duplicates[0].pairs, (std::vector<P>{{0, 3}}));
  EXPECT_EQ(g->labels.duplicates[1].label, "other_email");

  EXPECT_FALSE(FromGeneratorTruth(nlohmann::json::parse(R"({"seed": 1})"), records).ok());
  EXPECT_FALSE(FromGeneratorTruth(nlohmann::json::array(), records).ok());
}

}  // namespace
}  // namespace medmigrate::dedup
