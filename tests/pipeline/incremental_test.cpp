// Incremental runs, rollback and cleanup on real PostgreSQL: a generated
// legacy database, a full run, the legacy application's changes (generate
// --mutate, or a writer running alongside), then incremental runs whose
// target must equal a fresh full migration of the changed legacy database.
#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "generate/legacy_generator.h"
#include "generate/mutator.h"
#include "pipeline/dedup_phase.h"
#include "pipeline/migration.h"
#include "pipeline/rollback.h"
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

class IncrementalTest : public ::testing::Test {
 protected:
  // Each test changes its legacy database, so each has its own.
  void SetUp() override {
    legacy_ = std::make_unique<TestDatabase>("legacy");
    generate::GenerateOptions g;
    g.url = legacy_->url();
    g.scale = generate::Scale::kTiny;
    g.seed = 21;
    g.truth_path = testing::MakeTempDir("truth") + "/truth.json";
    ASSERT_TRUE(generate::GenerateLegacy(g).ok());
  }

  std::unique_ptr<TestDatabase> NewTarget() {
    auto t = std::make_unique<TestDatabase>("target");
    auto r = schema::InitSchemas(t->url(), {});
    EXPECT_TRUE(r.ok()) << r.status().message();
    return t;
  }

  MigrateOptions Options(const TestDatabase& target, const std::string& type = "full") {
    MigrateOptions o;
    o.legacy_url = legacy_->url();
    o.target_url = target.url();
    o.type = type;
    o.batch_size = 500;
    o.max_concurrency = 3;
    o.log_dir = testing::MakeTempDir("logs");
    return o;
  }

  MigrationSummary Run(const TestDatabase& target, const std::string& type = "full") {
    MigrationSummary s = RunSucceeding(Options(target, type));
    // Every run, full or incremental, is proven at its end.
    EXPECT_EQ(s.validation, "passed") << type << " " << s.run_id << s.validation_error << " "
                                      << FailedChecks(target, s.validation_id);
    return s;
  }

  // "check/entity [legacy ids]" of each failing check of a validation.
  static std::string FailedChecks(const TestDatabase& target, int64_t validation) {
    pg::Connection c = target.Connect();
    return QueryString(c, fmt::format("SELECT string_agg(check_name || '/' || entity || ' ' || "
                                      "examples::text || ' ' || details::text, '; ') FROM "
                                      "medmigrate.validation_checks WHERE validation_id = {} AND "
                                      "NOT passed",
                                      validation));
  }

  nlohmann::json Mutate(uint64_t seed) {
    generate::MutateOptions m;
    m.url = legacy_->url();
    m.seed = seed;
    m.fraction = 0.02;
    m.truth_path = testing::MakeTempDir("mutation") + "/mutation.json";
    auto r = generate::MutateLegacy(m);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return nlohmann::json::parse(std::ifstream(m.truth_path));
  }

  // The incremental target's live rows equal a fresh full migration's rows,
  // duplicates scored with the same model: incremental runs keep the model
  // of the full run, a fresh one would fit its own on the changed data.
  void ExpectEqualsFreshFullMigration(pg::Connection& incremental) {
    auto fresh = NewTarget();
    Result<std::optional<std::string>> model = KeptDedupModel(incremental, "patients");
    ASSERT_TRUE(model.ok() && model->has_value());
    MigrateOptions o = Options(*fresh);
    o.dedup_model_path = testing::MakeTempDir("model") + "/model.json";
    std::ofstream(o.dedup_model_path) << **model;
    MigrationSummary s = RunSucceeding(o);
    EXPECT_EQ(s.validation, "passed") << s.validation_error;
    EXPECT_TRUE(s.dedup.kept_model);
    pg::Connection f = fresh->Connect();
    auto want = TargetHashes(f, /*live_only=*/true);
    auto got = TargetHashes(incremental, /*live_only=*/true);
    for (const auto& [table, hash] : want) EXPECT_EQ(got[table], hash) << table;
  }

  std::unique_ptr<TestDatabase> legacy_;
};

TEST_F(IncrementalTest, AfterMutationEqualsAFreshFullMigrationAndSoftDeletesTheDeletedKeys) {
  auto target = NewTarget();
  Run(*target);
  pg::Connection t = target->Connect();
  // A full run into empty tables records no before-images, post-load steps included.
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.row_images"), 0);
  std::set<int64_t> orders_before;
  {
    auto r = t.Query("SELECT legacy_id FROM orders");
    ASSERT_TRUE(r.ok());
    for (int i = 0; i < r->rows(); ++i) orders_before.insert(r->GetInt(i, 0));
  }
  nlohmann::json truth = Mutate(5);
  MigrationSummary inc = Run(*target, "incremental");
  EXPECT_EQ(inc.type, "incremental");
  // Duplicates: the full run's model, and only new and changed patients matched.
  EXPECT_TRUE(inc.dedup.kept_model);
  EXPECT_GT(inc.dedup.matched, 0);
  EXPECT_LT(inc.dedup.matched, inc.dedup.records / 4);
  ExpectEqualsFreshFullMigration(t);

  // Every mutated kind shows up in the report.
  EXPECT_GT(Count(inc, "orders", &track::EntityCounts::inserted), 0);
  EXPECT_GT(Count(inc, "orders", &track::EntityCounts::updated), 0);
  EXPECT_GT(Count(inc, "orders", &track::EntityCounts::deleted), 0);
  // auth_user name changes (no updated_at) are found by row hash.
  EXPECT_GT(Count(inc, "profiles", &track::EntityCounts::updated), 0);
  // Far fewer rows read than the full run's.
  EXPECT_LT(Count(inc, "instruction_states", &track::EntityCounts::read),
            QueryInt(t, "SELECT count(*) FROM instruction_states") / 5);

  // Soft-deleted orders: exactly the deleted keys that were loaded, plus the
  // orders whose patient was deleted (a fresh migration rejects those), each
  // recorded as a parent_deleted warning.
  std::set<int64_t> deleted_keys;
  for (const auto& id : truth["deleted"]["dispatch_order"]) {
    if (orders_before.count(id.get<int64_t>())) deleted_keys.insert(id.get<int64_t>());
  }
  ASSERT_FALSE(deleted_keys.empty());
  std::set<int64_t> soft;
  {
    auto r = t.Query("SELECT legacy_id FROM orders WHERE deleted_at IS NOT NULL");
    ASSERT_TRUE(r.ok());
    for (int i = 0; i < r->rows(); ++i) soft.insert(r->GetInt(i, 0));
  }
  std::set<int64_t> cascaded;
  {
    auto r = t.Query(fmt::format(
        "SELECT legacy_id::bigint FROM medmigrate.warnings WHERE run_id = {} AND entity = "
        "'orders' AND reason = 'parent_deleted'",
        inc.run_id));
    ASSERT_TRUE(r.ok());
    for (int i = 0; i < r->rows(); ++i) cascaded.insert(r->GetInt(i, 0));
  }
  std::set<int64_t> expected = deleted_keys;
  expected.insert(cascaded.begin(), cascaded.end());
  EXPECT_EQ(soft, expected);
  for (int64_t k : cascaded) EXPECT_FALSE(deleted_keys.count(k)) << k;
  EXPECT_EQ(Count(inc, "orders", &track::EntityCounts::deleted), static_cast<int64_t>(soft.size()));

  // A second incremental run on an unchanged legacy database writes nothing.
  auto before = TargetHashes(t, false, /*exact=*/true);
  MigrationSummary again = Run(*target, "incremental");
  EXPECT_EQ(again.dedup.matched, 0);
  EXPECT_EQ(again.dedup.added + again.dedup.superseded, 0);
  for (const auto& e : again.entities) {
    EXPECT_EQ(e.inserted + e.updated + e.deleted, 0) << e.entity;
  }
  auto after = TargetHashes(t, false, /*exact=*/true);
  for (const auto& [table, hash] : before) EXPECT_EQ(after[table], hash) << table;
}

// A full run over an earlier one soft-deletes what left the source, as an
// incremental run does: otherwise those rows stay live and its validation
// finds them missing from the legacy database.
TEST_F(IncrementalTest, FullRunOverAnEarlierOneSoftDeletesTheDeletedKeys) {
  auto target = NewTarget();
  Run(*target);
  pg::Connection t = target->Connect();
  auto order_ids = [&](const std::string& where) {
    std::set<int64_t> ids;
    auto r = t.Query("SELECT legacy_id FROM orders WHERE " + where);
    EXPECT_TRUE(r.ok());
    for (int i = 0; r.ok() && i < r->rows(); ++i) ids.insert(r->GetInt(i, 0));
    return ids;
  };
  std::set<int64_t> loaded = order_ids("true");
  nlohmann::json truth = Mutate(6);
  MigrationSummary again = Run(*target);  // validation passes
  EXPECT_EQ(again.type, "full");
  ExpectEqualsFreshFullMigration(t);

  std::set<int64_t> soft = order_ids("deleted_at IS NOT NULL");
  int64_t deleted_loaded = 0;
  for (const auto& id : truth["deleted"]["dispatch_order"]) {
    if (!loaded.count(id.get<int64_t>())) continue;
    ++deleted_loaded;
    EXPECT_TRUE(soft.count(id.get<int64_t>())) << id;
  }
  EXPECT_GT(deleted_loaded, 0);
  // Also the orders whose patient left (rejected now, so retired).
  EXPECT_EQ(Count(again, "orders", &track::EntityCounts::deleted), static_cast<int64_t>(soft.size()));
  EXPECT_GT(Count(again, "patients", &track::EntityCounts::deleted), 0);
}

// An entity's deletes commit after its last chunk: a run that stops in
// between (here the target refuses the deletes once) and is resumed applies
// them then, so the target still equals a fresh full migration.
TEST_F(IncrementalTest, ResumedAfterTheLastChunkBeforeTheDeletesAppliesThem) {
  auto target = NewTarget();
  Run(*target);
  pg::Connection t = target->Connect();
  Mutate(7);
  // Refuses the soft-delete of vanished orders (ApplyDeletes' statement; the
  // loader soft-deletes rows it rejects with another one).
  ASSERT_OK(t.Exec(R"sql(
    CREATE FUNCTION public.refuse_deletes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL
         AND current_query() LIKE '%legacy_id = ANY%' THEN
        RAISE EXCEPTION 'deletes refused by the test';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_deletes BEFORE UPDATE ON public.orders
      FOR EACH ROW EXECUTE FUNCTION public.refuse_deletes();
    -- Workers load with session_replication_role = replica.
    ALTER TABLE public.orders ENABLE ALWAYS TRIGGER refuse_deletes)sql"));
  ASSERT_OK_AND_ASSIGN(MigrationSummary stopped, RunMigration(Options(*target, "incremental")));
  ASSERT_EQ(stopped.state, "failed");
  EXPECT_NE(stopped.error.find("delete.orders"), std::string::npos) << stopped.error;
  EXPECT_EQ(QueryInt(t, fmt::format("SELECT count(*) FROM medmigrate.checkpoints WHERE run_id = {} "
                                    "AND entity = 'orders' AND NOT done",
                                    stopped.run_id)),
            0);
  ASSERT_OK(t.Exec("DROP TRIGGER refuse_deletes ON public.orders"));

  MigrateOptions resume = Options(*target, "incremental");
  resume.resume = stopped.run_id;
  MigrationSummary resumed = RunSucceeding(resume);
  EXPECT_EQ(resumed.validation, "passed") << FailedChecks(*target, resumed.validation_id);
  EXPECT_GT(Count(resumed, "orders", &track::EntityCounts::deleted), 0);
  ExpectEqualsFreshFullMigration(t);
}

TEST_F(IncrementalTest, RowsWrittenDuringARunAreInThatRunOrTheNext) {
  auto target = NewTarget();
  Run(*target);
  // The legacy application keeps writing, in short transactions: new orders
  // and states, and updates of existing orders, while incremental runs go.
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    pg::Connection l = legacy_->Connect();
    for (int i = 0; !stop.load() && i < 400; ++i) {
      Status s = l.Exec(
          "BEGIN;"
          "WITH o AS (INSERT INTO dispatch_order (order_number, patient_id, doctor_id, office_id, "
          "status, total_price, currency, due_date, notes, created_at, updated_at) "
          "SELECT 'W' || nextval('dispatch_order_id_seq'), patient_id, doctor_id, office_id, "
          "'new', 10.00, currency, due_date, '', now(), now() FROM dispatch_order "
          "ORDER BY id LIMIT 1 RETURNING id) "
          "INSERT INTO dispatch_state (order_id, instruction, state_code, previous_state_code, "
          "changed_by_id, changed_at, note) SELECT id, 'created', 0, NULL, NULL, now(), '' "
          "FROM o;"
          "UPDATE dispatch_order SET notes = 'edited ' || clock_timestamp()::text, "
          "updated_at = now() WHERE id = (SELECT id FROM dispatch_order ORDER BY random() LIMIT 1);"
          "COMMIT");
      if (!s.ok()) {
        ADD_FAILURE() << s.message();
        break;
      }
      ++writes;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  while (writes.load() < 20) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  Run(*target, "incremental");
  Run(*target, "incremental");
  stop.store(true);
  writer.join();
  EXPECT_GT(writes.load(), 20);
  Run(*target, "incremental");
  pg::Connection t = target->Connect();
  ExpectEqualsFreshFullMigration(t);
}

TEST_F(IncrementalTest, RollbackOfAnIncrementalAndOfAFullRunRestoresTheTarget) {
  auto target = NewTarget();
  pg::Connection t = target->Connect();
  auto empty = TargetHashes(t, false, /*exact=*/true);
  MigrationSummary full = Run(*target);
  auto after_full = TargetHashes(t, false, /*exact=*/true);
  Mutate(9);
  MigrationSummary inc = Run(*target, "incremental");

  // Not the latest run: refused.
  auto refused = RollbackRun(target->url(), full.run_id);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("not the latest"), std::string::npos);

  ASSERT_OK_AND_ASSIGN(RollbackSummary undo, RollbackRun(target->url(), inc.run_id));
  EXPECT_GT(undo.restored["public.orders"], 0);
  auto restored = TargetHashes(t, false, /*exact=*/true);
  for (const auto& [table, hash] : after_full) EXPECT_EQ(restored[table], hash) << table;
  EXPECT_EQ(QueryString(t, "SELECT state FROM medmigrate.runs WHERE id = " +
                               std::to_string(inc.run_id)),
            "rolled_back");
  // Rolled back twice: refused.
  EXPECT_FALSE(RollbackRun(target->url(), inc.run_id).ok());

  // The next incremental run continues from the full run, as if the rolled
  // back one never happened, and brings the same changes again.
  Run(*target, "incremental");
  ExpectEqualsFreshFullMigration(t);

  // A full run over a loaded target (updates captured), rolled back.
  auto before_second = TargetHashes(t, false, /*exact=*/true);
  Mutate(10);
  // It soft-deletes what the legacy database lost, as an incremental run
  // does; the rollback brings those rows back too.
  MigrationSummary second = Run(*target);
  EXPECT_GT(Count(second, "orders", &track::EntityCounts::deleted), 0);
  ASSERT_OK(RollbackRun(target->url(), second.run_id).status());
  auto back = TargetHashes(t, false, /*exact=*/true);
  for (const auto& [table, hash] : before_second) EXPECT_EQ(back[table], hash) << table;

  // Every run rolled back, latest first: the target is empty again.
  auto runs = t.Query(
      "SELECT id FROM medmigrate.runs WHERE state <> 'rolled_back' ORDER BY id DESC");
  ASSERT_TRUE(runs.ok());
  for (int i = 0; i < runs->rows(); ++i) {
    ASSERT_OK(RollbackRun(target->url(), runs->GetInt(i, 0)).status());
  }
  auto none = TargetHashes(t, false, /*exact=*/true);
  for (const auto& [table, hash] : empty) EXPECT_EQ(none[table], hash) << table;
}

TEST_F(IncrementalTest, IncrementalWithoutAFullRunIsRefused) {
  auto target = NewTarget();
  auto r = RunMigration(Options(*target, "incremental"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("run 'medmigrate migrate --type full' first"),
            std::string::npos)
      << r.status().message();
}

TEST_F(IncrementalTest, CliRollbackNeedsConfirmAndCleanupKeepsTheLatestRun) {
  auto target = NewTarget();
  std::string work = testing::MakeTempDir("cli");
  std::vector<std::string> urls = {"--legacy-url", legacy_->url(), "--target-url", target->url()};
  auto args = [&](std::vector<std::string> a, bool legacy = true) {
    std::vector<std::string> out = std::move(a);
    out.insert(out.end(), urls.begin() + (legacy ? 0 : 2), urls.end());
    return out;
  };
  testing::ProcessOptions in_work;
  in_work.cwd = work;
  ASSERT_EQ(testing::RunMedmigrate(args({"migrate"}), in_work).exit_code, 0);
  Mutate(3);
  auto inc = testing::RunMedmigrate(args({"migrate", "--type", "incremental", "--json"}), in_work);
  ASSERT_EQ(inc.exit_code, 0) << inc.err;
  auto summary = nlohmann::json::parse(inc.out);
  int64_t run = summary["run_id"].get<int64_t>();

  auto no_confirm = testing::RunMedmigrate(args({"rollback", std::to_string(run)}, false));
  EXPECT_NE(no_confirm.exit_code, 0);
  EXPECT_NE(no_confirm.err.find("--confirm"), std::string::npos) << no_confirm.err;
  auto not_latest = testing::RunMedmigrate(args({"rollback", "1", "--confirm"}, false));
  EXPECT_NE(not_latest.exit_code, 0);
  EXPECT_NE(not_latest.err.find("not the latest"), std::string::npos) << not_latest.err;
  auto ok = testing::RunMedmigrate(args({"rollback", std::to_string(run), "--confirm"}, false));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("rolled back"), std::string::npos);

  // Cleanup of everything older than 0 days: the rolled back run's records
  // go, the latest succeeded run's (run 1) stay.
  pg::Connection t = target->Connect();
  int64_t kept_checkpoints = QueryInt(t, "SELECT count(*) FROM medmigrate.checkpoints WHERE run_id = 1");
  ASSERT_GT(kept_checkpoints, 0);
  auto clean = testing::RunMedmigrate(
      args({"cleanup", "--days", "0", "--log-dir", work + "/.medmigrate/logs", "--json"}, false));
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  auto freed = nlohmann::json::parse(clean.out);
  EXPECT_EQ(freed["runs"].get<int64_t>(), 1);
  EXPECT_GT(freed["rows"]["row_images"].get<int64_t>(), 0);
  EXPECT_EQ(freed["log_files"].get<int64_t>(), 1);
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.row_images WHERE run_id = " +
                            std::to_string(run)),
            0);
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.checkpoints WHERE run_id = 1"),
            kept_checkpoints);
  auto bad = testing::RunMedmigrate(args({"cleanup", "--days", "-3"}, false));
  EXPECT_NE(bad.exit_code, 0);
}

}  // namespace
}  // namespace medmigrate::pipeline
