// The migration engine on real PostgreSQL: a generated (dirty) legacy
// database, a target initialised by the schema migrations, and full runs
// through the library and through the CLI as a process.
#include "pipeline/migration.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "generate/legacy_generator.h"
#include "pipeline/run_queries.h"
#include "schema/migrator.h"
#include "spec/spec_parser.h"
#include "support/pg_fixture.h"
#include "support/process.h"
#include "pipeline/target_content.h"

namespace medmigrate::pipeline {
namespace {

using testing::QueryInt;
using testing::QueryString;
using testing::TestDatabase;

std::map<std::string, std::string> ContentHashes(pg::Connection& c) {
  std::map<std::string, std::string> out;
  for (const std::string& t : TargetTables()) out[t] = TableHash(c, t);
  out["rejects"] = QueryString(
      c, "SELECT coalesce(md5(string_agg(entity || ':' || legacy_id || ':' || reason, ',' ORDER BY "
         "entity, legacy_id, reason)), 'empty') FROM medmigrate.rejects");
  out["warnings"] = QueryString(
      c, "SELECT coalesce(md5(string_agg(w, ',' ORDER BY w)), 'empty') FROM (SELECT entity || ':' "
         "|| legacy_id || ':' || coalesce(column_name, '') || ':' || reason AS w FROM "
         "medmigrate.warnings) x");
  return out;
}

class MigrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    legacy_ = new TestDatabase("legacy");
    generate::GenerateOptions g;
    g.url = legacy_->url();
    g.scale = generate::Scale::kTiny;
    g.seed = 11;
    g.truth_path = testing::MakeTempDir("truth") + "/truth.json";
    auto summary = generate::GenerateLegacy(g);
    ASSERT_TRUE(summary.ok()) << summary.status().message();
    truth_ = nlohmann::json::parse(std::ifstream(summary->truth_path));
  }
  static void TearDownTestSuite() {
    delete legacy_;
    legacy_ = nullptr;
  }

  // A fresh, initialised target.
  std::unique_ptr<TestDatabase> NewTarget() {
    auto t = std::make_unique<TestDatabase>("target");
    auto r = schema::InitSchemas(t->url(), {});
    EXPECT_TRUE(r.ok()) << r.status().message();
    return t;
  }

  MigrateOptions Options(const TestDatabase& target) {
    MigrateOptions o;
    o.legacy_url = legacy_->url();
    o.target_url = target.url();
    o.batch_size = 700;
    o.max_concurrency = 3;
    o.log_dir = testing::MakeTempDir("logs");
    return o;
  }

  // The legacy ids the generator recorded for a dirty fact (`table` names
  // where they live, for the reader).
  static std::set<int64_t> Fact(const std::string& table, const std::string& fact) {
    (void)table;
    std::set<int64_t> out;
    EXPECT_TRUE(truth_["facts"].contains(fact)) << fact;
    for (const auto& id : truth_["facts"][fact]) out.insert(id.get<int64_t>());
    return out;
  }

  static TestDatabase* legacy_;
  static nlohmann::json truth_;
};

TestDatabase* MigrationTest::legacy_ = nullptr;
nlohmann::json MigrationTest::truth_;

const track::EntityCounts& Counts(const MigrationSummary& s, const std::string& entity) {
  for (const auto& e : s.entities) {
    if (e.entity == entity) return e;
  }
  static track::EntityCounts none;
  ADD_FAILURE() << "no counts for " << entity;
  return none;
}

TEST_F(MigrationTest, FullRunAccountsForEveryRowAndMatchesTheGroundTruth) {
  auto target = NewTarget();
  ASSERT_OK_AND_ASSIGN(MigrationSummary s, RunMigration(Options(*target)));
  ASSERT_EQ(s.state, "succeeded") << s.error;
  pg::Connection legacy = legacy_->Connect();
  pg::Connection t = target->Connect();

  // read = loaded + rejected + merged, read = the legacy table, loaded = the target table.
  const std::map<std::string, std::string> sources = {
      {"offices", "dispatch_office"},     {"profiles", "auth_user"},
      {"doctors", "dispatch_doctor"},     {"patients", "dispatch_patient"},
      {"orders", "dispatch_order"},       {"products", "dispatch_product"},
      {"jaws", "dispatch_jaw"},           {"projects", "dispatch_project"},
      {"treatment_plans", "dispatch_treatmentplan"},
      {"workflow_templates", "dispatch_template"},
      {"instruction_states", "dispatch_state"}};
  for (const auto& e : s.entities) {
    EXPECT_EQ(e.read, e.loaded + e.rejected + e.merged) << e.entity;
    EXPECT_EQ(e.loaded, QueryInt(t, "SELECT count(*) FROM public." + e.entity)) << e.entity;
    auto src = sources.find(e.entity);
    if (src != sources.end()) {
      EXPECT_EQ(e.read, QueryInt(legacy, "SELECT count(*) FROM " + src->second)) << e.entity;
    }
    EXPECT_EQ(e.rejected, QueryInt(t, "SELECT count(*) FROM medmigrate.rejects WHERE entity = '" +
                                          e.entity + "'"))
        << e.entity;
  }
  EXPECT_EQ(Counts(s, "workflow_template_tasks").read,
            QueryInt(legacy, "SELECT coalesce(sum(json_array_length(tasks::json)), 0) FROM "
                             "dispatch_template WHERE tasks::text NOT IN ('') AND "
                             "id NOT IN (" + [] {
                               std::string ids = "0";
                               for (int64_t i : Fact("dispatch_template", "templates_invalid_tasks"))
                                 ids += "," + std::to_string(i);
                               return ids;
                             }() + ")"));

  // Rejected orders are exactly those whose patient does not exist.
  std::set<int64_t> orphan_orders = Fact("dispatch_order", "orders_orphan_patient");
  EXPECT_EQ(Counts(s, "orders").rejected, static_cast<int64_t>(orphan_orders.size()));
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.rejects WHERE entity = 'orders' AND "
                        "reason = 'orphan_reference' AND column_name = 'patient_id'"),
            static_cast<int64_t>(orphan_orders.size()));
  // Products: of a rejected order (parent_rejected) or a negative quantity, counted once.
  std::string orphan_list = "0";
  for (int64_t id : orphan_orders) orphan_list += "," + std::to_string(id);
  EXPECT_EQ(Counts(s, "products").rejected,
            QueryInt(legacy, "SELECT count(*) FROM dispatch_product WHERE quantity < 0 OR order_id "
                             "IN (" + orphan_list + ")"));
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.rejects WHERE entity = 'products' AND "
                        "reason = 'invalid_value'"),
            QueryInt(legacy, "SELECT count(*) FROM dispatch_product WHERE quantity < 0"));
  // States: of a missing or rejected order.
  std::set<int64_t> orphan_states = Fact("dispatch_state", "states_orphan_order");
  EXPECT_EQ(Counts(s, "instruction_states").rejected,
            static_cast<int64_t>(orphan_states.size()) +
                QueryInt(legacy, "SELECT count(*) FROM dispatch_state WHERE order_id IN (" +
                                     orphan_list + ")"));
  // Unknown statuses load as 'unknown' with the raw text kept.
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM orders WHERE status = 'unknown' AND legacy_status "
                        "IS NOT NULL"),
            QueryInt(t, "SELECT count(*) FROM medmigrate.warnings WHERE entity = 'orders' AND "
                        "reason = 'unknown_status'"));
  EXPECT_GT(QueryInt(t, "SELECT count(*) FROM orders WHERE status = 'unknown'"), 0);
  // Sentinel and future birth dates become NULL with a warning.
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.warnings WHERE entity = 'patients' AND "
                        "column_name = 'birthdate'"),
            static_cast<int64_t>(Fact("dispatch_patient", "patients_birthdate_sentinel").size() +
                                 Fact("dispatch_patient", "patients_birthdate_future").size()));
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM patients WHERE birthdate = '1900-01-01' OR birthdate "
                        "> now()"),
            0);
  // Money: per currency, the target's sum equals the legacy sum of the loaded orders, to the cent.
  EXPECT_EQ(QueryString(t, "SELECT string_agg(currency || '=' || s, ',' ORDER BY currency) FROM "
                           "(SELECT currency, sum(total_price) s FROM orders GROUP BY 1) x"),
            QueryString(legacy, "SELECT string_agg(currency || '=' || s, ',' ORDER BY currency) "
                                "FROM (SELECT currency, sum(total_price) s FROM dispatch_order "
                                "WHERE id NOT IN (" + orphan_list + ") GROUP BY 1) x"));
  // Derived: primary doctors and state analytics exist.
  EXPECT_GT(QueryInt(t, "SELECT count(*) FROM patients WHERE primary_doctor_id IS NOT NULL"), 0);
  EXPECT_GT(QueryInt(t, "SELECT count(*) FROM state_analytics"), 0);
  // The run and its entities are recorded as succeeded.
  EXPECT_EQ(QueryString(t, "SELECT state FROM medmigrate.runs WHERE id = " + std::to_string(s.run_id)),
            "succeeded");
}

TEST_F(MigrationTest, SecondRunChangesNothing) {
  auto target = NewTarget();
  ASSERT_OK_AND_ASSIGN(MigrationSummary first, RunMigration(Options(*target)));
  ASSERT_EQ(first.state, "succeeded") << first.error;
  pg::Connection t = target->Connect();
  auto before = ContentHashes(t);
  std::string xmin_before = QueryString(t, "SELECT sum(xmin::text::bigint) FROM orders");
  ASSERT_OK_AND_ASSIGN(MigrationSummary second, RunMigration(Options(*target)));
  ASSERT_EQ(second.state, "succeeded") << second.error;
  for (const auto& e : second.entities) {
    EXPECT_EQ(e.inserted, 0) << e.entity;
    EXPECT_EQ(e.updated, 0) << e.entity;
    EXPECT_EQ(e.unchanged, e.loaded) << e.entity;
    EXPECT_EQ(e.loaded, Counts(first, e.entity).loaded) << e.entity;
  }
  // No row was rewritten (xmin unchanged), and the content is the same.
  EXPECT_EQ(QueryString(t, "SELECT sum(xmin::text::bigint) FROM orders"), xmin_before);
  auto after = ContentHashes(t);
  for (const std::string& table : TargetTables()) EXPECT_EQ(before[table], after[table]) << table;
}

TEST_F(MigrationTest, KilledFiveTimesAndResumedEqualsAnUninterruptedRun) {
  auto reference = NewTarget();
  ASSERT_OK_AND_ASSIGN(MigrationSummary ref, RunMigration(Options(*reference)));
  ASSERT_EQ(ref.state, "succeeded") << ref.error;
  pg::Connection rc = reference->Connect();
  auto expected = ContentHashes(rc);

  auto target = NewTarget();
  pg::Connection t = target->Connect();
  const int64_t total = [&] {
    int64_t n = 0;
    for (const auto& e : ref.entities) n += e.read;
    return n;
  }();
  std::string run_id;
  // Kill points: after these fractions of all rows have been committed.
  const std::vector<double> points = {0.02, 0.15, 0.35, 0.6, 0.85};
  int kills = 0;
  for (size_t i = 0; i <= points.size(); ++i) {
    std::vector<std::string> args = {"--log-level", "warn", "migrate", "--legacy-url",
                                     legacy_->url(), "--target-url", target->url(),
                                     "--batch-size", "200", "--max-concurrency", "2"};
    if (!run_id.empty()) {
      args.push_back("--resume");
      args.push_back(run_id);
    }
    pid_t pid = testing::SpawnMedmigrate(args);
    ASSERT_GT(pid, 0);
    bool killed = false;
    if (i < points.size()) {
      // Wait until enough rows are committed, then kill the process hard.
      int64_t threshold = static_cast<int64_t>(points[i] * total);
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
      while (std::chrono::steady_clock::now() < deadline) {
        int64_t done = QueryInt(t, "SELECT coalesce(sum(read), 0) FROM medmigrate.run_entities");
        if (done >= threshold) {
          kill(pid, SIGKILL);
          killed = true;
          break;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
          pid = 0;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    if (pid != 0) {
      int status = 0;
      waitpid(pid, &status, 0);
    }
    if (killed) ++kills;
    if (run_id.empty()) run_id = QueryString(t, "SELECT max(id) FROM medmigrate.runs");
    if (!killed) break;
  }
  EXPECT_EQ(kills, 5) << "the run finished before every kill point";
  EXPECT_EQ(QueryString(t, "SELECT state FROM medmigrate.runs WHERE id = " + run_id), "succeeded");
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.runs"), 1);
  auto actual = ContentHashes(t);
  for (const auto& [table, hash] : expected) EXPECT_EQ(actual[table], hash) << table;
  // The same counts as the uninterrupted run.
  for (const auto& e : ref.entities) {
    EXPECT_EQ(QueryInt(t, "SELECT read FROM medmigrate.run_entities WHERE entity = '" + e.entity + "'"),
              e.read)
        << e.entity;
    EXPECT_EQ(QueryInt(t, "SELECT rejected FROM medmigrate.run_entities WHERE entity = '" +
                              e.entity + "'"),
              e.rejected)
        << e.entity;
  }
}

TEST_F(MigrationTest, TerminatedLegacyConnectionIsRetried) {
  auto reference = NewTarget();
  ASSERT_OK_AND_ASSIGN(MigrationSummary ref, RunMigration(Options(*reference)));
  auto target = NewTarget();
  MigrateOptions o = Options(*target);
  o.batch_size = 100;
  std::atomic<int> terminated{0};
  std::thread killer([&] {
    pg::Connection l = legacy_->Connect();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (terminated.load() < 2 && std::chrono::steady_clock::now() < deadline) {
      auto n = QueryInt(l, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                           "application_name = 'medmigrate reader' AND datname = current_database()");
      if (n > 0) {
        terminated += static_cast<int>(n);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  ASSERT_OK_AND_ASSIGN(MigrationSummary s, RunMigration(o));
  killer.join();
  EXPECT_GE(terminated.load(), 1);
  ASSERT_EQ(s.state, "succeeded") << s.error;
  for (const auto& e : ref.entities) {
    EXPECT_EQ(Counts(s, e.entity).read, e.read) << e.entity;
    EXPECT_EQ(Counts(s, e.entity).loaded, e.loaded) << e.entity;
    EXPECT_EQ(Counts(s, e.entity).rejected, e.rejected) << e.entity;
  }
}

TEST_F(MigrationTest, DryRunWritesNothingAndReportsTheSameCounts) {
  auto target = NewTarget();
  MigrateOptions o = Options(*target);
  o.dry_run = true;
  ASSERT_OK_AND_ASSIGN(MigrationSummary dry, RunMigration(o));
  ASSERT_EQ(dry.state, "succeeded") << dry.error;
  pg::Connection t = target->Connect();
  for (const std::string& table : TargetTables()) {
    EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM public." + table), 0) << table;
  }
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'medmigrate_dry_run%'"), 0);
  ASSERT_OK_AND_ASSIGN(MigrationSummary real, RunMigration(Options(*target)));
  for (const auto& e : real.entities) {
    EXPECT_EQ(Counts(dry, e.entity).loaded, e.loaded) << e.entity;
    EXPECT_EQ(Counts(dry, e.entity).rejected, e.rejected) << e.entity;
  }
}

TEST_F(MigrationTest, SubsetNeedsItsDependenciesInTheTarget) {
  auto target = NewTarget();
  MigrateOptions o = Options(*target);
  o.entities = {"orders"};
  Result<MigrationSummary> r = RunMigration(o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("orders depends on patients"));
  o.entities = {"offices", "profiles"};
  ASSERT_OK_AND_ASSIGN(MigrationSummary s, RunMigration(o));
  EXPECT_EQ(s.state, "succeeded");
  EXPECT_EQ(s.entities.size(), 2u);
  o.entities = {"bogus"};
  EXPECT_THAT(RunMigration(o).status().message(), ::testing::HasSubstr("'bogus' is not an entity"));
}

// A target that an older medmigrate set up lacks tracking tables and columns
// this one records into: the run is refused up front, saying how to upgrade,
// instead of failing halfway on a missing column.
TEST_F(MigrationTest, TargetWithAnOlderTrackingSchemaIsRefusedWithTheFix) {
  auto target = std::make_unique<TestDatabase>("target");
  ASSERT_OK_AND_ASSIGN(std::vector<schema::Migration> all, schema::EmbeddedMigrations());
  std::vector<schema::Migration> older;
  std::string last;
  for (const schema::Migration& m : all) {
    if (m.scope == schema::SchemaScope::kTracking) last = m.path();
  }
  for (const schema::Migration& m : all) {
    if (m.path() != last) older.push_back(m);
  }
  {
    pg::Connection c = target->Connect();
    ASSERT_OK(schema::ApplyMigrations(c, schema::AllScopes(), older).status());
  }
  Result<MigrationSummary> r = RunMigration(Options(*target));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr(last));
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("run 'medmigrate init'"));
  ASSERT_OK(schema::InitSchemas(target->url(), {}).status());
  ASSERT_OK_AND_ASSIGN(MigrationSummary s, RunMigration(Options(*target)));
  EXPECT_EQ(s.state, "succeeded");
}

TEST_F(MigrationTest, OneRunAtATimePerTarget) {
  auto target = NewTarget();
  // Hold the run lock as a concurrent medmigrate would.
  pg::Connection holder = target->Connect();
  ASSERT_OK(holder.Query("SELECT pg_advisory_lock(" + std::to_string(0x6d6d6967) + ")").status());
  Result<MigrationSummary> r = RunMigration(Options(*target));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("another migration is running"));
}

}  // namespace
}  // namespace medmigrate::pipeline
