// People deduplication must never merge, through a real migration: the
// generator's twins, siblings, families and namesakes (its distinct_groups)
// stay apart in the target's merge tables, while its true duplicates are
// merged or queued for review; `dedup evaluate --truth` reports the same.
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "generate/legacy_generator.h"
#include "pipeline/migration.h"
#include "pipeline/target_content.h"
#include "schema/migrator.h"
#include "support/pg_fixture.h"
#include "support/process.h"
#include "support/test_macros.h"

namespace medmigrate::pipeline {
namespace {

using testing::TestDatabase;
using Pair = std::pair<int64_t, int64_t>;

Pair Ordered(int64_t a, int64_t b) { return a < b ? Pair{a, b} : Pair{b, a}; }

// Seeds of the tiny scale (1,000 patients): each has twins, siblings,
// families and namesakes.
class DedupPeopleTest : public ::testing::TestWithParam<uint64_t> {
 protected:
  void SetUp() override {
    legacy_ = std::make_unique<TestDatabase>("legacy");
    generate::GenerateOptions g;
    g.url = legacy_->url();
    g.scale = generate::Scale::kTiny;
    g.seed = GetParam();
    truth_path_ = testing::MakeTempDir("truth") + "/truth.json";
    g.truth_path = truth_path_;
    ASSERT_TRUE(generate::GenerateLegacy(g).ok());
    truth_ = nlohmann::json::parse(std::ifstream(truth_path_));
    target_ = std::make_unique<TestDatabase>("target");
    auto r = schema::InitSchemas(target_->url(), {});
    ASSERT_TRUE(r.ok()) << r.status().message();

    MigrateOptions o;
    o.legacy_url = legacy_->url();
    o.target_url = target_->url();
    o.type = "full";
    o.batch_size = 400;
    o.max_concurrency = 3;
    o.log_dir = testing::MakeTempDir("logs");
    RunSucceeding(o);

    pg::Connection t = target_->Connect();
    // No reviewer has decided anything: every merge in force is automatic.
    EXPECT_EQ(testing::QueryInt(t, "SELECT count(*) FROM medmigrate.merges WHERE decided_by <> "
                                   "'auto'"),
              0);
    auto merges = t.Query("SELECT legacy_id::bigint, survivor_legacy_id::bigint FROM "
                          "medmigrate.active_merges WHERE entity = 'patients'");
    ASSERT_TRUE(merges.ok()) << merges.status().message();
    for (int i = 0; i < merges->rows(); ++i) survivor_[merges->GetInt(i, 0)] = merges->GetInt(i, 1);
    auto review = t.Query("SELECT legacy_id_a::bigint, legacy_id_b::bigint FROM "
                          "medmigrate.dedup_pairs WHERE entity = 'patients' AND status = 'pending'");
    ASSERT_TRUE(review.ok()) << review.status().message();
    for (int i = 0; i < review->rows(); ++i) {
      review_.insert(Ordered(review->GetInt(i, 0), review->GetInt(i, 1)));
    }
    for (const auto& c : truth_["duplicate_clusters"]) {
      std::vector<int64_t> ids;
      for (const auto& id : c["patient_ids"]) ids.push_back(id.get<int64_t>());
      for (int64_t id : ids) cluster_[id] = ids;
    }
  }

  // The patient a record was merged into (itself when not merged).
  int64_t Root(int64_t id) const {
    auto it = survivor_.find(id);
    return it == survivor_.end() ? id : it->second;
  }
  bool Merged(int64_t a, int64_t b) const { return Root(a) == Root(b); }
  bool InReview(int64_t a, int64_t b) const { return review_.count(Ordered(a, b)) > 0; }
  // A person's records: the patient and its duplicates.
  std::vector<int64_t> RecordsOf(int64_t id) const {
    auto it = cluster_.find(id);
    return it == cluster_.end() ? std::vector<int64_t>{id} : it->second;
  }

  std::unique_ptr<TestDatabase> legacy_;
  std::unique_ptr<TestDatabase> target_;
  std::string truth_path_;
  nlohmann::json truth_;
  std::map<int64_t, int64_t> survivor_;
  std::set<Pair> review_;
  std::map<int64_t, std::vector<int64_t>> cluster_;
};

TEST_P(DedupPeopleTest, DifferentPeopleAreNeverMergedAndDuplicatesReachAMergeOrAReviewer) {
  ASSERT_FALSE(survivor_.empty()) << "the migration merged nothing: nothing was tested";

  // Every pair of two members' records: a twin's duplicate is not the other twin either.
  std::map<std::string, int64_t> pairs, merged, reviewed;
  for (const auto& g : truth_["distinct_groups"]) {
    const std::string kind = g["kind"].get<std::string>();
    const auto& ids = g["patient_ids"];
    for (size_t x = 0; x < ids.size(); ++x) {
      for (size_t y = x + 1; y < ids.size(); ++y) {
        for (int64_t a : RecordsOf(ids[x].get<int64_t>())) {
          for (int64_t b : RecordsOf(ids[y].get<int64_t>())) {
            ++pairs[kind];
            if (Merged(a, b)) {
              ++merged[kind];
              ADD_FAILURE() << kind << ": patients " << a << " and " << b
                            << " are different people, merged automatically";
            }
            reviewed[kind] += InReview(a, b);
          }
        }
      }
    }
  }
  for (const char* kind : {"twins", "siblings", "family", "namesakes"}) {
    EXPECT_GT(pairs[kind], 0) << kind << ": none generated, nothing tested";
    EXPECT_EQ(merged[kind], 0) << kind;
  }
  // Twins score high (one family name, birth date and address): what keeps
  // them apart is the twin hold, which sends them to a reviewer.
  EXPECT_GE(2 * reviewed["twins"], pairs["twins"])
      << reviewed["twins"] << " of " << pairs["twins"] << " twin pairs in review";

  // True duplicates: merged automatically, or waiting for a reviewer.
  int64_t true_pairs = 0, found = 0, auto_merged = 0;
  for (const auto& c : truth_["duplicate_clusters"]) {
    const auto& ids = c["patient_ids"];
    for (size_t x = 0; x < ids.size(); ++x) {
      for (size_t y = x + 1; y < ids.size(); ++y) {
        const int64_t a = ids[x].get<int64_t>(), b = ids[y].get<int64_t>();
        ++true_pairs;
        auto_merged += Merged(a, b);
        found += Merged(a, b) || InReview(a, b);
      }
    }
  }
  ASSERT_GT(true_pairs, 20);
  const double recall = static_cast<double>(found) / static_cast<double>(true_pairs);
  EXPECT_GE(recall, 0.85) << found << " of " << true_pairs
                          << " true duplicate pairs merged or in review";
  EXPECT_GT(auto_merged, 0);
  std::cout << fmt::format("seed {}: {} of {} true pairs merged automatically, {} merged or in "
                           "review; twins {} pairs ({} in review), siblings {}, family {}, "
                           "namesakes {}\n",
                           GetParam(), auto_merged, true_pairs, found, pairs["twins"],
                           reviewed["twins"], pairs["siblings"], pairs["family"],
                           pairs["namesakes"]);

  // The evaluation over the same legacy database says the same.
  auto eval = testing::RunMedmigrate(
      {"dedup", "evaluate", "--truth", truth_path_, "--legacy-url", legacy_->url(), "--json"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const auto e = nlohmann::json::parse(eval.out)["without_national_id"];
  EXPECT_EQ(e["different_people_merged_automatically"].get<int64_t>(), 0);
  EXPECT_EQ(e["true_pairs"].get<int64_t>(), true_pairs);
  EXPECT_EQ(e["automatic_merges"]["true_positives"].get<int64_t>() +
                e["true_pairs_in_review"].get<int64_t>(),
            found);
  EXPECT_EQ(e["review_pairs"].get<int64_t>(), static_cast<int64_t>(review_.size()));
  for (const char* kind : {"twins", "siblings", "family", "namesakes"}) {
    EXPECT_EQ(e["different_people"][kind]["pairs"].get<int64_t>(), pairs[kind]) << kind;
    EXPECT_EQ(e["different_people"][kind]["merged_automatically"].get<int64_t>(), 0) << kind;
    EXPECT_EQ(e["different_people"][kind]["review"].get<int64_t>(), reviewed[kind]) << kind;
  }
  // Counts and ratios only: no name of the legacy database in the output.
  pg::Connection l = legacy_->Connect();
  auto names = l.Query("SELECT DISTINCT lower(btrim(last_name)) FROM auth_user WHERE "
                       "length(btrim(last_name)) > 4");
  ASSERT_TRUE(names.ok());
  std::string out = eval.out;
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (int i = 0; i < names->rows(); ++i) {
    EXPECT_EQ(out.find(std::string(names->Get(i, 0))), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, DedupPeopleTest, ::testing::Values(13, 33));

}  // namespace
}  // namespace medmigrate::pipeline
