// The matcher on spilled records (the pipeline's path: records in an unnamed
// file, blocking keys sorted in runs on disk) decides exactly as on records
// in memory.
#include "dedup/record_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "dedup/deduplicator.h"
#include "dedup/external_sort.h"

namespace medmigrate::dedup {
namespace {

// People from a small vocabulary, a fifth of them registered twice with a
// typo or a second e-mail.
std::vector<PersonRecord> Population(int people) {
  const std::vector<std::string> given = {"anna", "bruno", "carla", "dieter", "elena",
                                          "fritz", "greta", "hanno", "ines",   "jonas"};
  const std::vector<std::string> family = {"abel", "bauer", "claas", "dorn",  "eckert",
                                           "fink", "gross", "hahn",  "iser",  "jung",
                                           "kern", "lang",  "marx",  "noll"};
  std::mt19937_64 rng(5);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::vector<PersonRecord> out;
  for (int p = 0; p < people; ++p) {
    PersonRecord r;
    r.id = static_cast<int64_t>(out.size()) * 3 + 7;
    r.age_rank = r.id;
    r.given = given[pick(given.size())];
    r.family = family[pick(family.size())];
    r.birth_date = fmt::format("{}-{:02}-{:02}", 1960 + pick(30), 1 + pick(12), 1 + pick(28));
    r.email = fmt::format("{}.{}{}@example.org", r.given, r.family, p);
    r.sex = p % 2 ? "F" : "m";
    out.push_back(r);
    if (p % 5 == 0) {
      PersonRecord d = r;
      d.id = static_cast<int64_t>(out.size()) * 3 + 7;
      if (p % 10 == 0) d.family += "e";
      else d.email = fmt::format("x{}@example.net", p);
      out.push_back(d);
    }
  }
  return out;
}

TEST(ExternalSorterTest, RunsMergeIntoOneOrderAndRangesReadAnyPart) {
  // 100,000 entries with a budget of 8,192 (64 KiB): 13 runs on disk.
  ExternalSorter<uint64_t> sorter(64 * 1024, "");
  std::mt19937_64 rng(3);
  std::vector<uint64_t> want;
  for (int i = 0; i < 100000; ++i) {
    want.push_back(rng() % 5000);
    sorter.Add(want.back());
  }
  sorter.Finish();
  ASSERT_TRUE(sorter.spilled());
  std::sort(want.begin(), want.end());
  std::vector<uint64_t> got;
  auto reader = sorter.Read();
  for (uint64_t v = 0; reader.Next(&v);) got.push_back(v);
  EXPECT_EQ(got, want);
  auto part = sorter.Read(70001, 70004);
  std::vector<uint64_t> three;
  for (uint64_t v = 0; part.Next(&v);) three.push_back(v);
  EXPECT_EQ(three, std::vector<uint64_t>(want.begin() + 70001, want.begin() + 70004));
}

TEST(SpilledRecordsTest, ReadsBackWhatWasAppendedWithItsCounts) {
  std::vector<PersonRecord> people = Population(300);
  // Texts longer than a record's slot go to the overflow file.
  people[3].email = std::string(150, 'a') + "@example.org";
  people[4].street = std::string(300, 'b');
  people[4].locality = "c";
  std::vector<PreparedRecord> in_memory = PrepareRecords(people);
  SpilledRecords spilled;
  for (const PersonRecord& p : people) spilled.Append(PrepareOne(p));
  CountTermFrequencies(&spilled, 4096, "");  // runs on disk even here
  ASSERT_EQ(spilled.size(), in_memory.size());
  PreparedRecord slot;
  size_t seen = 0;
  spilled.ForEach([&](uint32_t i, const PreparedRecord& r) {
    const PreparedRecord& m = in_memory[i];
    const PreparedRecord& g = spilled.Get(i, &slot);
    for (const PreparedRecord* x : {&r, &g}) {
      EXPECT_EQ(x->id, m.id);
      EXPECT_EQ(x->given(), m.given());
      EXPECT_EQ(x->family(), m.family());
      EXPECT_EQ(x->email(), m.email());
      EXPECT_EQ(x->email_local(), m.email_local());
      EXPECT_EQ(x->street(), m.street());
      EXPECT_EQ(x->locality(), m.locality());
      EXPECT_EQ(x->year, m.year);
      EXPECT_EQ(x->day, m.day);
      EXPECT_EQ(x->sex, m.sex);
      EXPECT_EQ(x->given_count, m.given_count);
      EXPECT_EQ(x->family_count, m.family_count);
      EXPECT_EQ(x->given_tf, m.given_tf);
      EXPECT_EQ(x->date_tf, m.date_tf);
      EXPECT_EQ(x->name_tf, m.name_tf);
    }
    ++seen;
  });
  EXPECT_EQ(seen, people.size());
  EXPECT_GT(in_memory[0].given_count, 1);  // the counts were compared, not two zeros
  EXPECT_EQ(spilled.Get(4, &slot).street().size(), 300u);
}

// The pipeline's path with a sort budget small enough that every pass's keys
// spill: the same model, pairs, clusters and review list as in memory.
TEST(SpilledRecordsTest, DeduplicateOnSpilledRecordsDecidesAsInMemory) {
  const std::vector<PersonRecord> people = Population(4000);
  const DedupResult want = Deduplicate(people, DedupOptions{});
  SpilledRecords spilled;
  for (const PersonRecord& p : people) spilled.Append(PrepareOne(p));
  CountTermFrequencies(&spilled, 64 * 1024, "");
  DedupOptions small;
  small.sort_budget = 64 * 1024;
  const DedupResult got = Deduplicate(spilled, small);
  {
    const Blocker blocker(spilled, DefaultBlockingPasses(), small.max_block_size, false,
                          small.sort_budget, "");
    EXPECT_TRUE(blocker.spilled());
  }
  EXPECT_TRUE(got.records.empty());
  EXPECT_EQ(got.model.ToJson(), want.model.ToJson());
  EXPECT_EQ(got.stats.candidate_pairs, want.stats.candidate_pairs);
  ASSERT_EQ(got.pairs.size(), want.pairs.size());
  for (size_t k = 0; k < got.pairs.size(); ++k) {
    EXPECT_EQ(got.pairs[k].a, want.pairs[k].a);
    EXPECT_EQ(got.pairs[k].b, want.pairs[k].b);
    EXPECT_EQ(got.pairs[k].probability, want.pairs[k].probability);
  }
  ASSERT_EQ(got.clusters.clusters.size(), want.clusters.clusters.size());
  ASSERT_GT(want.clusters.clusters.size(), 50u) << "the population no longer has duplicates";
  for (size_t c = 0; c < got.clusters.clusters.size(); ++c) {
    EXPECT_EQ(got.clusters.clusters[c].members, want.clusters.clusters[c].members);
    EXPECT_EQ(got.clusters.clusters[c].survivor, want.clusters.clusters[c].survivor);
  }
  EXPECT_EQ(got.review.size(), want.review.size());
}

TEST(SpillFileTest, AMissingDirectoryIsNamedInTheError) {
  try {
    SpillFile f("/nonexistent/spill");
    FAIL() << "no error";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("'/nonexistent/spill'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace medmigrate::dedup
