// Validation on real PostgreSQL: a clean full run of a generated (dirty)
// legacy database validates; then each tampering of the target is detected
// and named by check, entity and legacy id. The same after an incremental
// run over the legacy application's changes (inserts, updates, hard deletes).
#include "validate/validation.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "generate/legacy_generator.h"
#include "generate/mutator.h"
#include "pipeline/migration.h"
#include "schema/migrator.h"
#include "support/pg_fixture.h"
#include "support/process.h"

namespace medmigrate::validate {
namespace {

using ::testing::Contains;
using testing::QueryInt;
using testing::QueryString;
using testing::TestDatabase;

class ValidationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    legacy_ = new TestDatabase("vlegacy");
    generate::GenerateOptions g;
    g.url = legacy_->url();
    g.scale = generate::Scale::kTiny;
    g.seed = 5;
    g.truth_path = testing::MakeTempDir("vtruth") + "/truth.json";
    auto summary = generate::GenerateLegacy(g);
    ASSERT_TRUE(summary.ok()) << summary.status().message();
  }
  static void TearDownTestSuite() {
    delete legacy_;
    legacy_ = nullptr;
  }

  // A fresh target, migrated in full; the run id.
  int64_t Migrate(bool validate_at_end = false) {
    target_ = std::make_unique<TestDatabase>("vtarget");
    auto init = schema::InitSchemas(target_->url(), {});
    EXPECT_TRUE(init.ok()) << init.status().message();
    pipeline::MigrateOptions o;
    o.legacy_url = legacy_->url();
    o.target_url = target_->url();
    o.batch_size = 1000;
    o.max_concurrency = 2;
    o.log_dir = "";
    o.validate = validate_at_end;
    auto s = pipeline::RunMigration(o);
    EXPECT_TRUE(s.ok()) << s.status().message();
    if (!s.ok()) return 0;
    EXPECT_EQ(s->state, "succeeded") << s->error;
    summary_ = *s;
    return s->run_id;
  }

  ValidationResult Validate(int64_t run, int sample_size = 5000) {
    ValidateOptions o;
    o.legacy_url = legacy_->url();
    o.target_url = target_->url();
    o.run_id = run;
    o.sample_size = sample_size;
    o.concurrency = 2;
    auto v = ValidateRun(o);
    EXPECT_TRUE(v.ok()) << v.status().message();
    return v.ok() ? *v : ValidationResult{};
  }

  // "check/entity" of every failing check.
  static std::set<std::string> Failed(const ValidationResult& v) {
    std::set<std::string> out;
    for (const CheckResult& c : v.checks) {
      if (!c.passed) out.insert(c.check + "/" + c.entity);
    }
    return out;
  }
  static const CheckResult& Find(const ValidationResult& v, const std::string& check,
                                 const std::string& entity) {
    for (const CheckResult& c : v.checks) {
      if (c.check == check && c.entity == entity) return c;
    }
    static CheckResult none;
    ADD_FAILURE() << "no check " << check << "/" << entity;
    return none;
  }
  std::string Pick(const std::string& sql) {
    pg::Connection c = target_->Connect();
    std::string id = QueryString(c, sql);
    EXPECT_FALSE(id.empty()) << sql;
    return id;
  }
  void Tamper(const std::string& sql) {
    pg::Connection c = target_->Connect();
    ASSERT_OK(c.Exec(sql));
  }

  static TestDatabase* legacy_;
  std::unique_ptr<TestDatabase> target_;
  pipeline::MigrationSummary summary_;
};

TestDatabase* ValidationTest::legacy_ = nullptr;

TEST_F(ValidationTest, CleanRunPassesAndIsRecordedAtTheEndOfTheMigration) {
  int64_t run = Migrate(/*validate_at_end=*/true);
  EXPECT_EQ(summary_.validation, "passed") << summary_.validation_error;
  EXPECT_GT(summary_.validation_id, 0);
  ValidationResult v = Validate(run);
  EXPECT_TRUE(v.passed) << ::testing::PrintToString(Failed(v));
  EXPECT_EQ(v.FailedChecks(), 0);
  // Every kind of check ran, for every entity with that kind of data.
  std::set<std::string> names;
  for (const CheckResult& c : v.checks) names.insert(c.check);
  for (const char* n : {"counts", "key_sets", "references", "money_rows", "money_per_order_id",
                        "money_per_currency", "sample", "foreign_keys", "unique_keys",
                        "enum_values", "birthdate_in_future"}) {
    EXPECT_THAT(names, Contains(n));
  }
  EXPECT_GT(Find(v, "sample", "patients").checked, 0);
  EXPECT_EQ(Find(v, "key_sets", "orders").details["balanced"], true);
  // Stored with the run, one row per check.
  pg::Connection c = target_->Connect();
  EXPECT_EQ(QueryInt(c, "SELECT count(*) FROM medmigrate.validation_checks WHERE validation_id = " +
                            std::to_string(v.validation_id)),
            static_cast<int64_t>(v.checks.size()));
  EXPECT_EQ(QueryString(c, "SELECT passed::text FROM medmigrate.validations WHERE id = " +
                               std::to_string(v.validation_id)),
            "true");
  auto latest = LatestValidation(c, run);
  ASSERT_OK(latest);
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->validation_id, v.validation_id);
  EXPECT_EQ((*latest)->checks.size(), v.checks.size());
}

TEST_F(ValidationTest, DeletedRowIsNamed) {
  int64_t run = Migrate();
  std::string id =
      Pick("SELECT legacy_id FROM public.products ORDER BY legacy_id OFFSET 17 LIMIT 1");
  Tamper("DELETE FROM public.products WHERE legacy_id = " + id);
  ValidationResult v = Validate(run);
  EXPECT_FALSE(v.passed);
  const CheckResult& k = Find(v, "key_sets", "products");
  EXPECT_FALSE(k.passed);
  EXPECT_EQ(k.failures, 1);
  EXPECT_THAT(k.examples, Contains(id));
  EXPECT_EQ(k.details["failures_by_kind"]["missing"], 1);
  EXPECT_THAT(Find(v, "money_rows", "products").examples, Contains(id));
}

TEST_F(ValidationTest, AmountChangedByOneCentIsNamed) {
  int64_t run = Migrate();
  std::string id = Pick("SELECT legacy_id FROM public.orders ORDER BY legacy_id OFFSET 5 LIMIT 1");
  Tamper("UPDATE public.orders SET total_price = total_price + 0.01 WHERE legacy_id = " + id);
  ValidationResult v = Validate(run, 0);
  EXPECT_FALSE(v.passed);
  const CheckResult& m = Find(v, "money_rows", "orders");
  EXPECT_EQ(m.failures, 1);
  EXPECT_THAT(m.examples, Contains(id));
  EXPECT_FALSE(Find(v, "money_per_currency", "orders").passed);
  EXPECT_EQ(Failed(v), (std::set<std::string>{"money_rows/orders", "money_per_currency/orders"}));
}

TEST_F(ValidationTest, ForeignKeyPointedAtAnotherRowIsNamed) {
  int64_t run = Migrate();
  std::string id =
      Pick("SELECT legacy_id FROM public.products ORDER BY legacy_id OFFSET 3 LIMIT 1");
  Tamper(
      "UPDATE public.products SET order_id = (SELECT o.id FROM public.orders o WHERE o.id <> "
      "products.order_id ORDER BY o.legacy_id LIMIT 1) WHERE legacy_id = " +
      id);
  ValidationResult v = Validate(run, 0);
  EXPECT_FALSE(v.passed);
  const CheckResult& r = Find(v, "references", "products");
  EXPECT_EQ(r.failures, 1);
  EXPECT_THAT(r.examples, Contains(id));
  EXPECT_EQ(r.details["failures_by_column"]["order_id"], 1);
  // The money moved with it: two orders' sums differ.
  EXPECT_EQ(Find(v, "money_per_order_id", "products").failures, 2);
  // The foreign key itself is intact: no orphan.
  EXPECT_TRUE(Find(v, "foreign_keys", "products").passed);
}

TEST_F(ValidationTest, OrphanForeignKeyIsNamed) {
  int64_t run = Migrate();
  std::string id = Pick("SELECT legacy_id FROM public.jaws ORDER BY legacy_id OFFSET 2 LIMIT 1");
  // As the engine loads when it may: with the foreign key triggers off.
  Tamper(
      "SET session_replication_role = replica; UPDATE public.jaws SET patient_id = "
      "'00000000-0000-5000-8000-000000000000' WHERE legacy_id = " +
      id);
  ValidationResult v = Validate(run, 0);
  const CheckResult& f = Find(v, "foreign_keys", "jaws");
  EXPECT_FALSE(f.passed);
  EXPECT_EQ(f.failures, 1);
  EXPECT_THAT(f.examples, Contains(id));
  EXPECT_THAT(Find(v, "references", "jaws").examples, Contains(id));
}

TEST_F(ValidationTest, DuplicatedLegacyIdIsNamed) {
  int64_t run = Migrate();
  std::string id = Pick("SELECT legacy_id FROM public.jaws ORDER BY legacy_id OFFSET 9 LIMIT 1");
  Tamper(
      "ALTER TABLE public.jaws DROP CONSTRAINT jaws_legacy_id_key; "
      "INSERT INTO public.jaws SELECT gen_random_uuid(), legacy_id, patient_id, order_id, "
      "jaw_type, scan_file, notes, created_at, updated_at, deleted_at FROM public.jaws WHERE "
      "legacy_id = " +
      id);
  ValidationResult v = Validate(run, 0);
  EXPECT_FALSE(v.passed);
  const CheckResult& u = Find(v, "unique_keys", "jaws");
  EXPECT_EQ(u.failures, 1);
  EXPECT_THAT(u.examples, Contains(id));
  const CheckResult& k = Find(v, "key_sets", "jaws");
  EXPECT_THAT(k.examples, Contains(id));
  EXPECT_EQ(k.details["failures_by_kind"]["duplicate"], 1);
}

TEST_F(ValidationTest, ChangedBirthDateInASampledRowIsNamed) {
  int64_t run = Migrate();
  std::string id = Pick(
      "SELECT legacy_id FROM public.patients WHERE birthdate IS NOT NULL ORDER BY legacy_id "
      "OFFSET 4 LIMIT 1");
  Tamper("UPDATE public.patients SET birthdate = birthdate - 1 WHERE legacy_id = " + id);
  // Every patient is sampled (the default, 1000, exceeds the tiny scale's patients).
  ValidationResult v = Validate(run, 1000);
  EXPECT_EQ(Failed(v), (std::set<std::string>{"sample/patients"}));
  const CheckResult& s = Find(v, "sample", "patients");
  EXPECT_EQ(s.failures, 1);
  EXPECT_THAT(s.examples, Contains(id));
  EXPECT_EQ(s.details["differing_columns"]["birthdate"], 1);
  // Nothing of the patient's data is in the result.
  std::string birthdate = [&] {
    pg::Connection c = target_->Connect();
    return QueryString(c, "SELECT birthdate::text FROM public.patients WHERE legacy_id = " + id);
  }();
  EXPECT_EQ(ToJson(v).dump().find(birthdate), std::string::npos);
}

TEST_F(ValidationTest, WithoutTheSnapshotRowsChangedSinceTheRunAreSkippedNotBlamed) {
  int64_t run = Migrate();
  pg::Connection legacy = legacy_->Connect();
  std::string changed =
      QueryString(legacy, "SELECT min(id) FROM dispatch_patient WHERE birthdate IS NOT NULL");
  std::string silent =
      QueryString(legacy, "SELECT max(id) FROM dispatch_patient WHERE birthdate IS NOT NULL");
  // The legacy application edits a patient (and says so in updated_at) ...
  ASSERT_OK(
      legacy.Exec("UPDATE dispatch_patient SET birthdate = birthdate - 2, updated_at = "
                  "now() + interval '1 minute' WHERE id = " +
                  changed));
  ValidationResult v = Validate(run, 1000);
  const CheckResult& s = Find(v, "sample", "patients");
  EXPECT_TRUE(s.passed) << ::testing::PrintToString(s.examples);
  EXPECT_EQ(s.details["changed_since_run"], 1);
  // ... but a change that leaves updated_at alone is a difference.
  ASSERT_OK(
      legacy.Exec("UPDATE dispatch_patient SET birthdate = birthdate - 2 WHERE id = " + silent));
  v = Validate(run, 1000);
  EXPECT_EQ(Failed(v), (std::set<std::string>{"sample/patients"}));
  EXPECT_THAT(Find(v, "sample", "patients").examples, Contains(silent));
}

TEST_F(ValidationTest, WaitsForNoMigrationToRun) {
  int64_t run = Migrate();
  pg::Connection lock = target_->Connect();
  // The run lock a migration holds ('mmig').
  ASSERT_EQ(QueryString(lock, "SELECT pg_try_advisory_lock(1835886951)"), "t");
  ValidateOptions o;
  o.legacy_url = legacy_->url();
  o.target_url = target_->url();
  o.run_id = run;
  auto v = ValidateRun(o);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(v.status().message(), ::testing::HasSubstr("a migration is running"));
  ASSERT_EQ(QueryString(lock, "SELECT pg_advisory_unlock(1835886951)"), "t");
  EXPECT_TRUE(ValidateRun(o).ok());
}

TEST_F(ValidationTest, UnknownRunAndDryRunAreRefused) {
  Migrate();
  ValidateOptions o;
  o.legacy_url = legacy_->url();
  o.target_url = target_->url();
  o.run_id = 999;
  auto v = ValidateRun(o);
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(v.status().message(), ::testing::HasSubstr("999"));
  o.run_id = 1;
  o.completeness = o.integrity = false;
  EXPECT_EQ(ValidateRun(o).status().code(), StatusCode::kInvalidArgument);
}

// After a full run, the legacy application's changes (generate --mutate) and
// an incremental run that validates at its end. Each test has its own legacy
// database, since each mutates it.
class IncrementalValidationTest : public ValidationTest {
 protected:
  void SetUp() override {
    inc_legacy_ = std::make_unique<TestDatabase>("vilegacy");
    generate::GenerateOptions g;
    g.url = inc_legacy_->url();
    g.scale = generate::Scale::kTiny;
    g.seed = 21;
    g.truth_path = testing::MakeTempDir("vitruth") + "/truth.json";
    auto generated = generate::GenerateLegacy(g);
    ASSERT_TRUE(generated.ok()) << generated.status().message();
    target_ = std::make_unique<TestDatabase>("vitarget");
    auto init = schema::InitSchemas(target_->url(), {});
    ASSERT_TRUE(init.ok()) << init.status().message();
    full_ = Run("full");
    ASSERT_EQ(full_.validation, "passed") << full_.validation_error;
    generate::MutateOptions m;
    m.url = inc_legacy_->url();
    m.seed = 5;
    m.fraction = 0.02;
    m.truth_path = testing::MakeTempDir("vimutation") + "/mutation.json";
    auto mutated = generate::MutateLegacy(m);
    ASSERT_TRUE(mutated.ok()) << mutated.status().message();
    inc_ = Run("incremental");
  }

  pipeline::MigrationSummary Run(const std::string& type) {
    pipeline::MigrateOptions o;
    o.legacy_url = inc_legacy_->url();
    o.target_url = target_->url();
    o.type = type;
    o.batch_size = 500;
    o.max_concurrency = 2;
    o.log_dir = "";
    auto s = pipeline::RunMigration(o);
    EXPECT_TRUE(s.ok()) << s.status().message();
    if (!s.ok()) return {};
    EXPECT_EQ(s->state, "succeeded") << s->error;
    return *s;
  }

  ValidationResult ValidateIncremental(int sample_size = 0) {
    ValidateOptions o;
    o.legacy_url = inc_legacy_->url();
    o.target_url = target_->url();
    o.run_id = inc_.run_id;
    o.sample_size = sample_size;
    o.concurrency = 2;
    auto v = ValidateRun(o);
    EXPECT_TRUE(v.ok()) << v.status().message();
    return v.ok() ? *v : ValidationResult{};
  }

  // An order the incremental run soft-deleted because its key left the
  // legacy database (not a cascade).
  std::string VanishedOrder() {
    return Pick(fmt::format(
        "SELECT legacy_id::text FROM public.orders o WHERE deleted_at IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM medmigrate.warnings w WHERE w.run_id = {} AND w.entity = 'orders' AND "
        "w.legacy_id = o.legacy_id::text) ORDER BY legacy_id LIMIT 1",
        inc_.run_id));
  }

  std::unique_ptr<TestDatabase> inc_legacy_;
  pipeline::MigrationSummary full_, inc_;
};

TEST_F(IncrementalValidationTest, IncrementalRunPassesAtItsEndAndOnItsOwn) {
  EXPECT_EQ(inc_.type, "incremental");
  EXPECT_EQ(inc_.validation, "passed") << inc_.validation_error;
  EXPECT_GT(inc_.validation_id, 0);
  ValidationResult v = ValidateIncremental(1000);
  EXPECT_TRUE(v.passed) << ::testing::PrintToString(Failed(v));
  // The target's whole state was judged, not only the run's change set.
  const CheckResult& k = Find(v, "key_sets", "orders");
  pg::Connection legacy = inc_legacy_->Connect();
  EXPECT_EQ(k.details["legacy_rows"], QueryInt(legacy, "SELECT count(*) FROM dispatch_order"));
  EXPECT_GT(k.details["deleted"].get<int64_t>(), 0);
  EXPECT_GT(k.details["cascaded"].get<int64_t>(), 0);
  // The run's deletes are the rows it soft-deleted.
  const CheckResult& d = Find(v, "deletes", "orders");
  EXPECT_TRUE(d.passed);
  int64_t deleted = 0;
  for (const auto& e : inc_.entities) {
    if (e.entity == "orders") deleted = e.deleted;
  }
  EXPECT_GT(deleted, 0);
  EXPECT_EQ(d.details["run_deleted"], deleted);
  EXPECT_EQ(d.details["soft_deleted_in_run"], deleted);
  EXPECT_GT(Find(v, "sample", "orders").checked, 0);
  // The full run, validated now, meets the incremental run's deletes and
  // cascades in the target: they account for its rows too.
  ValidateOptions o;
  o.legacy_url = inc_legacy_->url();
  o.target_url = target_->url();
  o.run_id = full_.run_id;
  o.sample_size = 0;
  auto full = ValidateRun(o);
  ASSERT_OK(full);
  EXPECT_TRUE(full->passed) << ::testing::PrintToString(Failed(*full));
  // A second incremental run over the unchanged legacy database validates too.
  pipeline::MigrationSummary again = Run("incremental");
  EXPECT_EQ(again.validation, "passed") << again.validation_error;
}

TEST_F(IncrementalValidationTest, SoftDeletedRowBroughtBackIsNamed) {
  std::string id = VanishedOrder();
  Tamper("UPDATE public.orders SET deleted_at = NULL WHERE legacy_id = " + id);
  ValidationResult v = ValidateIncremental();
  EXPECT_FALSE(v.passed);
  const CheckResult& k = Find(v, "key_sets", "orders");
  EXPECT_EQ(k.failures, 1);
  EXPECT_THAT(k.examples, Contains(id));
  EXPECT_EQ(k.details["failures_by_kind"]["not_in_legacy"], 1);
  const CheckResult& d = Find(v, "deletes", "orders");
  EXPECT_FALSE(d.passed);
  EXPECT_THAT(Find(v, "money_rows", "orders").examples, Contains(id));
}

TEST_F(IncrementalValidationTest, LiveRowSoftDeletedIsNamed) {
  std::string id = Pick(
      "SELECT legacy_id::text FROM public.products WHERE deleted_at IS NULL ORDER BY legacy_id "
      "OFFSET 11 LIMIT 1");
  Tamper("UPDATE public.products SET deleted_at = now() WHERE legacy_id = " + id);
  ValidationResult v = ValidateIncremental();
  EXPECT_FALSE(v.passed);
  const CheckResult& k = Find(v, "key_sets", "products");
  EXPECT_EQ(k.failures, 1);
  EXPECT_THAT(k.examples, Contains(id));
  EXPECT_EQ(k.details["failures_by_kind"]["deleted_but_in_legacy"], 1);
  EXPECT_THAT(Find(v, "money_rows", "products").examples, Contains(id));
}

TEST_F(IncrementalValidationTest, OneCentOnAnUpdatedOrderIsNamed) {
  // An order the incremental run updated.
  std::string id = Pick(fmt::format(
      "SELECT (i.image ->> 'legacy_id') FROM medmigrate.row_images i WHERE i.run_id = {} AND "
      "i.tbl = 'public.orders' AND i.op = 'update' AND i.image ->> 'deleted_at' IS NULL AND "
      "EXISTS (SELECT 1 FROM public.orders o WHERE o.id = (i.key ->> 'id')::uuid AND "
      "o.deleted_at IS NULL AND o.total_price IS NOT NULL) ORDER BY 1 LIMIT 1",
      inc_.run_id));
  Tamper("UPDATE public.orders SET total_price = total_price + 0.01 WHERE legacy_id = " + id);
  ValidationResult v = ValidateIncremental();
  EXPECT_EQ(Failed(v), (std::set<std::string>{"money_rows/orders", "money_per_currency/orders"}));
  const CheckResult& m = Find(v, "money_rows", "orders");
  EXPECT_EQ(m.failures, 1);
  EXPECT_THAT(m.examples, Contains(id));
}

TEST_F(IncrementalValidationTest, CascadedChildBroughtBackIsAnOrphan) {
  // An order soft-deleted because its patient was: brought back, it points
  // at a soft-deleted patient.
  std::string id = Pick(fmt::format(
      "SELECT legacy_id FROM medmigrate.warnings WHERE run_id = {} AND entity = 'orders' AND "
      "reason = 'parent_deleted' ORDER BY legacy_id LIMIT 1",
      inc_.run_id));
  Tamper("UPDATE public.orders SET deleted_at = NULL WHERE legacy_id = " + id);
  ValidationResult v = ValidateIncremental();
  EXPECT_FALSE(v.passed);
  const CheckResult& f = Find(v, "foreign_keys", "orders");
  EXPECT_FALSE(f.passed);
  EXPECT_THAT(f.examples, Contains(id));
  EXPECT_FALSE(Find(v, "deletes", "orders").passed);
}

}  // namespace
}  // namespace medmigrate::validate
