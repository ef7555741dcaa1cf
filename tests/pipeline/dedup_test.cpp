// Patient deduplication inside the migration, on real PostgreSQL: the
// generator's injected duplicate patients are merged, every reference is
// redirected to the survivor, accounting holds, and reviewers' decisions
// (resolve, unmerge) take effect at the next run.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "generate/legacy_generator.h"
#include "pipeline/dedup_review.h"
#include "pipeline/migration.h"
#include "pipeline/target_content.h"
#include "schema/migrator.h"
#include "support/pg_fixture.h"
#include "support/process.h"
#include "support/test_macros.h"

namespace medmigrate::pipeline {
namespace {

using testing::QueryInt;
using testing::QueryString;
using testing::TestDatabase;

class DedupMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    legacy_ = std::make_unique<TestDatabase>("legacy");
    generate::GenerateOptions g;
    g.url = legacy_->url();
    g.scale = generate::Scale::kTiny;
    g.seed = 33;
    g.truth_path = testing::MakeTempDir("truth") + "/truth.json";
    ASSERT_TRUE(generate::GenerateLegacy(g).ok());
    truth_ = nlohmann::json::parse(std::ifstream(g.truth_path));
    truth_path_ = g.truth_path;
    target_ = std::make_unique<TestDatabase>("target");
    auto r = schema::InitSchemas(target_->url(), {});
    ASSERT_TRUE(r.ok()) << r.status().message();
  }

  MigrationSummary Run(const std::string& type = "full") {
    MigrateOptions o;
    o.legacy_url = legacy_->url();
    o.target_url = target_->url();
    o.type = type;
    o.batch_size = 400;
    o.max_concurrency = 3;
    o.log_dir = testing::MakeTempDir("logs");
    return RunSucceeding(o);
  }

  // Merged record -> survivor, as in force.
  std::map<int64_t, int64_t> ActiveMerges(pg::Connection& t) {
    std::map<int64_t, int64_t> out;
    auto r = t.Query("SELECT legacy_id::bigint, survivor_legacy_id::bigint FROM "
                     "medmigrate.active_merges WHERE entity = 'patients'");
    EXPECT_TRUE(r.ok());
    for (int i = 0; r.ok() && i < r->rows(); ++i) out[r->GetInt(i, 0)] = r->GetInt(i, 1);
    return out;
  }

  // For every legacy row of `table` whose patient is merged, the target row
  // points at the survivor's patient row; none points at a merged record.
  void ExpectReferencesFollowMerges(pg::Connection& t, const std::string& legacy_table,
                                    const std::string& target_table,
                                    const std::map<int64_t, int64_t>& merges) {
    pg::Connection l = legacy_->Connect();
    auto rows = l.Query(fmt::format("SELECT id, patient_id FROM {} WHERE patient_id IS NOT NULL",
                                    legacy_table));
    ASSERT_TRUE(rows.ok());
    std::map<int64_t, int64_t> want;  // target legacy_id -> patient legacy id it must point at
    for (int i = 0; i < rows->rows(); ++i) {
      auto m = merges.find(rows->GetInt(i, 1));
      if (m != merges.end()) want[rows->GetInt(i, 0)] = m->second;
    }
    auto got = t.Query(fmt::format("SELECT x.legacy_id, p.legacy_id FROM {} x JOIN patients p ON "
                                   "p.id = x.patient_id WHERE x.deleted_at IS NULL",
                                   target_table));
    ASSERT_TRUE(got.ok());
    int64_t checked = 0;
    for (int i = 0; i < got->rows(); ++i) {
      EXPECT_EQ(merges.count(got->GetInt(i, 1)), 0u)
          << target_table << " " << got->GetInt(i, 0) << " points at a merged patient";
      auto w = want.find(got->GetInt(i, 0));
      if (w == want.end()) continue;
      EXPECT_EQ(got->GetInt(i, 1), w->second) << target_table << " " << w->first;
      ++checked;
    }
    EXPECT_GT(checked, 0) << target_table << ": no row of a merged patient was checked";
  }

  std::unique_ptr<TestDatabase> legacy_;
  std::unique_ptr<TestDatabase> target_;
  nlohmann::json truth_;
  std::string truth_path_;
};

TEST_F(DedupMigrationTest, FullRunMergesInjectedDuplicatesAndRedirectsEveryReference) {
  MigrationSummary s = Run();
  pg::Connection t = target_->Connect();
  std::map<int64_t, int64_t> merges = ActiveMerges(t);
  ASSERT_GT(merges.size(), 0u);

  // Accounting: every merged record counts once, as merged, and has no row.
  EXPECT_EQ(Count(s, "patients", &track::EntityCounts::merged),
            static_cast<int64_t>(merges.size()));
  EXPECT_EQ(s.dedup.auto_merges, static_cast<int64_t>(merges.size()));
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM patients p JOIN medmigrate.active_merges m ON "
                        "m.entity = 'patients' AND m.legacy_id = p.legacy_id::text"),
            0);
  for (const auto& [merged, survivor] : merges) {
    EXPECT_EQ(merges.count(survivor), 0u) << "survivor " << survivor << " is itself merged";
  }
  ExpectReferencesFollowMerges(t, "dispatch_order", "orders", merges);
  ExpectReferencesFollowMerges(t, "dispatch_jaw", "jaws", merges);
  ExpectReferencesFollowMerges(t, "dispatch_treatmentplan", "treatment_plans", merges);

  // Against the generator's ground truth: automatic merges are right.
  std::map<int64_t, int64_t> person;  // patient -> cluster
  for (size_t c = 0; c < truth_["duplicate_clusters"].size(); ++c) {
    for (const auto& id : truth_["duplicate_clusters"][c]["patient_ids"]) {
      person[id.get<int64_t>()] = static_cast<int64_t>(c);
    }
  }
  int64_t right = 0;
  for (const auto& [merged, survivor] : merges) {
    auto a = person.find(merged), b = person.find(survivor);
    if (a != person.end() && b != person.end() && a->second == b->second) ++right;
  }
  EXPECT_GE(static_cast<double>(right) / static_cast<double>(merges.size()), 0.99)
      << right << " of " << merges.size() << " automatic merges join one person";
  // Since the generator makes households (twins, siblings, families on one
  // address) and married names, the model fitted on this population merges
  // fewer duplicates automatically (seed 33: 13 of 28 true pairs, 16 before);
  // the rest go to review (dedup_people_test.cpp checks merged-or-review).
  EXPECT_GE(right, static_cast<int64_t>(truth_["duplicate_clusters"].size()) * 2 / 5)
      << "fewer than two in five of the injected clusters were merged";

  // The review queue explains without values.
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.dedup_phases"), 1);
  std::string explanations =
      QueryString(t, "SELECT coalesce(string_agg(explanation::text, ' '), '') FROM medmigrate.dedup_pairs");
  pg::Connection l = legacy_->Connect();
  auto names = l.Query("SELECT DISTINCT last_name FROM auth_user WHERE length(last_name) > 3");
  ASSERT_TRUE(names.ok());
  for (int i = 0; i < names->rows(); ++i) {
    EXPECT_EQ(explanations.find(std::string(names->Get(i, 0))), std::string::npos);
  }
  EXPECT_EQ(s.validation, "passed");

  // A second full run decides the same and changes no row.
  MigrationSummary again = Run();
  EXPECT_EQ(again.dedup.added, 0);
  EXPECT_EQ(again.dedup.superseded, 0);
  EXPECT_EQ(Count(again, "patients", &track::EntityCounts::merged),
            static_cast<int64_t>(merges.size()));
  for (const auto& e : again.entities) {
    EXPECT_EQ(e.inserted + e.updated, 0) << e.entity;
  }
}

TEST_F(DedupMigrationTest, ReviewDecisionsTakeEffectAtTheNextRunAndCanBeTakenBack) {
  Run();
  pg::Connection t = target_->Connect();
  std::map<int64_t, int64_t> before = ActiveMerges(t);
  ASSERT_GT(before.size(), 1u);
  // An automatically merged record that has orders of its own.
  pg::Connection legacy = legacy_->Connect();
  int64_t unmerged = 0, old_survivor = 0;
  for (const auto& [merged, survivor] : before) {
    if (QueryInt(legacy, fmt::format("SELECT count(*) FROM dispatch_order WHERE patient_id = {}",
                                     merged)) > 0) {
      unmerged = merged;
      old_survivor = survivor;
      break;
    }
  }
  ASSERT_NE(unmerged, 0) << "no merged record has orders";

  // A reviewer merges the most probable pending pair, another takes back an
  // automatic merge.
  Result<std::vector<ReviewPair>> pending = ListPairs(t, "pending", 1);
  ASSERT_TRUE(pending.ok()) << pending.status().message();
  ASSERT_FALSE(pending->empty()) << "no pair to review";
  const ReviewPair pair = pending->front();
  const int64_t loser = std::stoll(pair.survivor == pair.legacy_id_a ? pair.legacy_id_b
                                                                      : pair.legacy_id_a);
  const int64_t keeper = std::stoll(pair.survivor);
  ASSERT_TRUE(ResolvePair(t, pair.id, /*merge=*/true, Decision{"alice", "same person"}).ok());
  Result<std::string> was = Unmerge(t, "patients", std::to_string(unmerged), Decision{"bob", ""});
  ASSERT_TRUE(was.ok()) << was.status().message();
  EXPECT_EQ(*was, std::to_string(old_survivor));
  EXPECT_FALSE(Unmerge(t, "patients", std::to_string(unmerged), Decision{"bob", ""}).ok());
  EXPECT_FALSE(ResolvePair(t, 987654321, true, Decision{"alice", ""}).ok());
  EXPECT_EQ(QueryString(t, fmt::format("SELECT decided_by || ':' || status FROM "
                                       "medmigrate.dedup_pairs WHERE id = {}",
                                       pair.id)),
            "alice:merged");

  // The next run (incremental) applies both.
  const int64_t loser_was_live = QueryInt(
      t, fmt::format("SELECT count(*) FROM patients WHERE legacy_id = {} AND deleted_at IS NULL",
                     loser));
  MigrationSummary inc = Run("incremental");
  std::map<int64_t, int64_t> after = ActiveMerges(t);
  EXPECT_EQ(after.count(unmerged), 0u);
  ASSERT_EQ(after.count(loser), 1u);
  EXPECT_EQ(after[loser], keeper);
  EXPECT_EQ(QueryInt(t, fmt::format("SELECT count(*) FROM patients WHERE legacy_id = {} AND "
                                    "deleted_at IS NULL",
                                    unmerged)),
            1);
  EXPECT_EQ(QueryInt(t, fmt::format("SELECT count(*) FROM patients WHERE legacy_id = {} AND "
                                    "deleted_at IS NULL",
                                    loser)),
            0);
  EXPECT_EQ(inc.dedup.soft_deleted, loser_was_live);
  ExpectReferencesFollowMerges(t, "dispatch_order", "orders", after);
  // The unmerged patient's orders point at it again.
  pg::Connection l = legacy_->Connect();
  std::string its_orders = QueryString(
      l, fmt::format("SELECT '{{' || string_agg(id::text, ',') || '}}' FROM dispatch_order "
                     "WHERE patient_id = {}",
                     unmerged));
  auto points = t.Query("SELECT p.legacy_id FROM orders o JOIN patients p ON p.id = o.patient_id "
                        "WHERE o.legacy_id = ANY($1::bigint[])",
                        {its_orders});
  ASSERT_TRUE(points.ok());
  ASSERT_GT(points->rows(), 0);
  for (int i = 0; i < points->rows(); ++i) EXPECT_EQ(points->GetInt(i, 0), unmerged);

  // A full run keeps the decisions: the unmerged pair stays apart.
  MigrationSummary full = Run();
  std::map<int64_t, int64_t> final_merges = ActiveMerges(t);
  EXPECT_EQ(final_merges.count(unmerged), 0u);
  EXPECT_EQ(final_merges[loser], keeper);
  EXPECT_EQ(Count(full, "patients", &track::EntityCounts::merged),
            static_cast<int64_t>(final_merges.size()));
  EXPECT_EQ(full.validation, "passed");
}

// An incremental run matches only what changed, with the full run's model:
// a merged patient whose name and e-mail changed beyond recognition is taken
// back out of its merge and loaded; every other merge stands.
TEST_F(DedupMigrationTest, IncrementalRunDecidesAgainOnlyWhatChanged) {
  Run();
  pg::Connection t = target_->Connect();
  const std::map<int64_t, int64_t> before = ActiveMerges(t);
  ASSERT_GT(before.size(), 2u);
  pg::Connection l = legacy_->Connect();
  int64_t changed = 0;
  for (const auto& [merged, survivor] : before) {
    if (QueryInt(l, fmt::format("SELECT count(*) FROM dispatch_patient p JOIN auth_user u ON "
                                "u.id = p.user_id WHERE p.id = {}",
                                merged)) == 1) {
      changed = merged;
      break;
    }
  }
  ASSERT_NE(changed, 0) << "no merged patient has a user";
  ASSERT_OK(l.Query(fmt::format("UPDATE auth_user SET first_name = 'Zebulon', last_name = "
                                "'Quixotic', email = 'zq{0}@example.net' WHERE id = (SELECT "
                                "user_id FROM dispatch_patient WHERE id = {0})",
                                changed))
                .status());

  MigrationSummary inc = Run("incremental");
  EXPECT_TRUE(inc.dedup.kept_model);
  EXPECT_GE(inc.dedup.matched, 2);  // the changed record and its survivor
  EXPECT_LT(inc.dedup.matched * 20, inc.dedup.records);
  EXPECT_EQ(inc.dedup.superseded, 1);
  EXPECT_EQ(inc.dedup.added, 0);
  std::map<int64_t, int64_t> after = ActiveMerges(t);
  EXPECT_EQ(after.count(changed), 0u);
  std::map<int64_t, int64_t> rest = before;
  rest.erase(changed);
  EXPECT_EQ(after, rest);
  EXPECT_EQ(QueryInt(t, fmt::format("SELECT count(*) FROM patients WHERE legacy_id = {} AND "
                                    "deleted_at IS NULL",
                                    changed)),
            1);
  EXPECT_EQ(inc.validation, "passed") << inc.validation_error;
}

TEST_F(DedupMigrationTest, CliReviewCommandsAndClearErrors) {
  std::vector<std::string> urls = {"--legacy-url", legacy_->url(), "--target-url", target_->url()};
  auto args = [&](std::vector<std::string> a, bool legacy = true) {
    a.insert(a.end(), urls.begin() + (legacy ? 0 : 2), urls.end());
    return a;
  };
  testing::ProcessOptions in_work;
  in_work.cwd = testing::MakeTempDir("dedup-cli");
  auto run = testing::RunMedmigrate(args({"dedup", "run", "--json"}), in_work);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto figures = nlohmann::json::parse(run.out);
  EXPECT_GT(figures["records"].get<int64_t>(), 0);
  EXPECT_GT(figures["would_merge"].get<int64_t>(), 0);
  // `dedup run` merges nothing: only the review queue is filled.
  pg::Connection t = target_->Connect();
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.merges"), 0);
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.dedup_pairs"),
            figures["review_pairs"].get<int64_t>());

  // The matcher against the generator's ground truth, counts and ratios only.
  auto eval = testing::RunMedmigrate(
      {"dedup", "evaluate", "--truth", truth_path_, "--legacy-url", legacy_->url(), "--json"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  auto measured = nlohmann::json::parse(eval.out)["without_national_id"];
  EXPECT_GE(measured["automatic_merges"]["precision"].get<double>(), 0.99);
  EXPECT_GT(measured["automatic_merges"]["recall"].get<double>(), 0.4);
  EXPECT_GT(measured["recall_merged_or_review"].get<double>(), 0.85);
  EXPECT_EQ(measured["different_people_merged_automatically"].get<int64_t>(), 0);
  EXPECT_GT(measured["blocking_recall"].get<double>(), 0.9);

  auto list = testing::RunMedmigrate(args({"dedup", "list", "--json", "--limit", "3"}));
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto pairs = nlohmann::json::parse(list.out);
  ASSERT_FALSE(pairs.empty());
  std::string pair = std::to_string(pairs[0]["pair"].get<int64_t>());
  EXPECT_TRUE(pairs[0]["record_a"].contains("family"));
  auto show = testing::RunMedmigrate(args({"dedup", "show", pair}));
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("why (log2 odds)"), std::string::npos) << show.out;

  auto neither = testing::RunMedmigrate(args({"dedup", "resolve", pair}, false));
  EXPECT_NE(neither.exit_code, 0);
  EXPECT_NE(neither.err.find("--merge"), std::string::npos) << neither.err;
  auto distinct = testing::RunMedmigrate(
      args({"dedup", "resolve", pair, "--distinct", "--by", "carol"}, false));
  EXPECT_EQ(distinct.exit_code, 0) << distinct.err;
  auto bad_key = testing::RunMedmigrate(args({"dedup", "unmerge", "x1"}, false));
  EXPECT_NE(bad_key.exit_code, 0);
  EXPECT_NE(bad_key.err.find("not a legacy key"), std::string::npos) << bad_key.err;
  // No run yet: no model to print.
  auto no_model = testing::RunMedmigrate(args({"dedup", "model"}, false));
  EXPECT_NE(no_model.exit_code, 0);
  EXPECT_NE(no_model.err.find("run a full migration first"), std::string::npos) << no_model.err;
  auto bad_status = testing::RunMedmigrate(args({"dedup", "list", "--status", "maybe"}));
  EXPECT_NE(bad_status.exit_code, 0);
  EXPECT_NE(bad_status.err.find("pending, merged, distinct or all"), std::string::npos)
      << bad_status.err;

  // A model file that is not one is refused before a run starts, naming what is wrong.
  const std::string not_a_model = in_work.cwd + "/not-a-model.json";
  std::ofstream(not_a_model) << R"({"format": 1, "prior_bits": "high"})";
  auto refused = testing::RunMedmigrate(args({"migrate", "--dedup-model", not_a_model}), in_work);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("not a dedup model"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("'prior_bits' must be a number"), std::string::npos) << refused.err;
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.runs"), 0);
  // So is a spill directory where no file can be made, named in the error.
  auto no_dir = testing::RunMedmigrate(
      args({"migrate", "--spill-dir", in_work.cwd + "/no-such-dir"}), in_work);
  EXPECT_NE(no_dir.exit_code, 0);
  EXPECT_NE(no_dir.err.find("--spill-dir"), std::string::npos) << no_dir.err;
  EXPECT_NE(no_dir.err.find("no-such-dir"), std::string::npos) << no_dir.err;
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.runs"), 0);

  // The pair resolved distinct is never merged by the migration (its records
  // spilled to the given directory, which holds no file of it after).
  ASSERT_EQ(testing::RunMedmigrate(
                args({"migrate", "--no-validate", "--spill-dir", in_work.cwd}), in_work)
                .exit_code,
            0);
  for (const auto& entry : std::filesystem::directory_iterator(in_work.cwd)) {
    EXPECT_EQ(entry.path().filename().string().find("medmigrate-dedup"), std::string::npos);
  }
  // The model the run fitted, printed as JSON, parameters only.
  auto model = testing::RunMedmigrate(args({"dedup", "model"}, false));
  ASSERT_EQ(model.exit_code, 0) << model.err;
  auto fitted = nlohmann::json::parse(model.out);
  EXPECT_EQ(fitted["format"], 1);
  EXPECT_TRUE(fitted["fields"].contains("family_name"));
  EXPECT_LT(fitted["prior_bits"].get<double>(), 0);
  EXPECT_EQ(QueryInt(t, fmt::format("SELECT count(*) FROM medmigrate.active_merges m JOIN "
                                    "medmigrate.dedup_pairs p ON p.id = {} AND m.legacy_id IN "
                                    "(p.legacy_id_a, p.legacy_id_b) AND m.survivor_legacy_id IN "
                                    "(p.legacy_id_a, p.legacy_id_b)",
                                    pair)),
            0);
}

}  // namespace
}  // namespace medmigrate::pipeline
