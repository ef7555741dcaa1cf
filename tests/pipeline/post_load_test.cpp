// Post-load steps on real PostgreSQL: state analytics over legacy states
// changed at +-infinity (skipped from the sums, counted as warnings),
// derived tables that depend only on the legacy data, the validation check
// that proves them, an incremental run after one that failed in its
// post-load step, and a failed step resumed with --resume.
#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "generate/legacy_generator.h"
#include "pipeline/dedup_phase.h"
#include "pipeline/migration.h"
#include "pipeline/post_load.h"
#include "pipeline/target_content.h"
#include "report/run_report.h"
#include "schema/migrator.h"
#include "spec/spec_parser.h"
#include "support/pg_fixture.h"
#include "support/process.h"
#include "support/test_macros.h"
#include "validate/validation.h"

namespace medmigrate::pipeline {
namespace {

using testing::QueryInt;
using testing::QueryString;
using testing::TestDatabase;

// Refuses every row written to state_analytics (existing rows are not
// checked), so the step fails as it did on infinite timestamps.
constexpr const char* kRefuseAnalytics =
    "ALTER TABLE public.state_analytics ADD CONSTRAINT refused_by_test CHECK (entries < 0) "
    "NOT VALID";
constexpr const char* kAllowAnalytics =
    "ALTER TABLE public.state_analytics DROP CONSTRAINT refused_by_test";

class PostLoadTest : public ::testing::Test {
 protected:
  // Each test changes its legacy database, so each has its own.
  void SetUp() override {
    legacy_ = std::make_unique<TestDatabase>("legacy");
    generate::GenerateOptions g;
    g.url = legacy_->url();
    g.scale = generate::Scale::kTiny;
    g.seed = 31;
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
    o.max_concurrency = 2;
    o.log_dir = testing::MakeTempDir("logs");
    return o;
  }

  // A run that must succeed, with its accounting balanced and its validation passed.
  MigrationSummary Run(const TestDatabase& target, const std::string& type = "full") {
    MigrationSummary s = RunSucceeding(Options(target, type));
    EXPECT_EQ(s.validation, "passed") << type << " run " << s.run_id << ": " << s.validation_error
                                      << FailedChecks(target, s.validation_id);
    return s;
  }

  static std::string FailedChecks(const TestDatabase& target, int64_t validation) {
    pg::Connection c = target.Connect();
    return QueryString(c, fmt::format("SELECT string_agg(check_name || '/' || entity || ' ' || "
                                      "examples::text, '; ') FROM medmigrate.validation_checks "
                                      "WHERE validation_id = {} AND NOT passed",
                                      validation));
  }

  // A new legacy order of a patient that loads (its auth_user exists).
  int64_t AddOrder(const std::string& number) {
    pg::Connection l = legacy_->Connect();
    return QueryInt(l, fmt::format(
                           "INSERT INTO dispatch_order (order_number, patient_id, doctor_id, "
                           "office_id, status, total_price, currency, due_date, notes, created_at, "
                           "updated_at) SELECT '{}', o.patient_id, o.doctor_id, o.office_id, 'new', "
                           "10.00, o.currency, o.due_date, '', '2019-01-01', now() FROM "
                           "dispatch_order o JOIN dispatch_patient p ON p.id = o.patient_id JOIN "
                           "auth_user u ON u.id = p.user_id ORDER BY o.id LIMIT 1 RETURNING id",
                           number));
  }

  // Appends a legacy state change; returns its id.
  int64_t AddState(int64_t order, int code, const std::string& changed_at) {
    pg::Connection l = legacy_->Connect();
    return QueryInt(l, fmt::format("INSERT INTO dispatch_state (order_id, instruction, state_code, "
                                   "changed_at) VALUES ({}, 'test', {}, '{}') RETURNING id",
                                   order, code, changed_at));
  }

  // Three orders whose states cover the cases; `infinite_` gets the ids of
  // the states changed at +-infinity.
  void AddOrdersWithInfiniteStates() {
    order_a_ = AddOrder("PL-A");
    infinite_.insert(AddState(order_a_, 0, "-infinity"));
    AddState(order_a_, 1, "2020-01-01 00:00:00+00");
    AddState(order_a_, 2, "2020-01-03 00:00:00+00");
    AddState(order_a_, 1, "2020-01-04 00:00:00+00");
    infinite_.insert(AddState(order_a_, 3, "infinity"));
    order_b_ = AddOrder("PL-B");
    AddState(order_b_, 0, "2021-05-01 00:00:00+00");
    AddState(order_b_, 4, "2021-05-03 12:00:00+00");
    order_c_ = AddOrder("PL-C");
    infinite_.insert(AddState(order_c_, 0, "-infinity"));
    infinite_.insert(AddState(order_c_, 1, "-infinity"));
    AddState(order_c_, 2, "2022-01-01 00:00:00+00");
  }

  // An order's state_analytics rows, one line per state in enum order:
  // state|entries|first_entered_at|last_left_at|time_in_state|is_current|current_since.
  static std::vector<std::string> Analytics(pg::Connection& t, int64_t order) {
    EXPECT_TRUE(t.Exec("SET TimeZone = 'UTC'").ok());
    auto r = t.Query(fmt::format(
        "SELECT concat_ws('|', sa.state, sa.entries, sa.first_entered_at, "
        "coalesce(sa.last_left_at::text, '-'), sa.time_in_state, sa.is_current::text, "
        "coalesce(sa.current_since::text, '-')) FROM public.state_analytics sa JOIN public.orders o "
        "ON o.id = sa.order_id WHERE o.legacy_id = {} ORDER BY sa.state",
        order));
    EXPECT_TRUE(r.ok()) << r.status().message();
    std::vector<std::string> out;
    for (int i = 0; r.ok() && i < r->rows(); ++i) out.emplace_back(r->Get(i, 0));
    return out;
  }

  // Every state_analytics row as text, ordered: byte-comparable between targets.
  static std::string AnalyticsDump(pg::Connection& t) {
    EXPECT_TRUE(t.Exec("SET TimeZone = 'UTC'").ok());
    return QueryString(t, "SELECT coalesce(string_agg(sa::text, E'\\n' ORDER BY order_id, state), "
                          "'') FROM public.state_analytics sa");
  }

  // The legacy ids of a run's post-load warnings of infinite timestamps.
  static std::set<int64_t> InfiniteWarnings(pg::Connection& t, int64_t run) {
    auto r = t.Query(fmt::format(
        "SELECT legacy_id::bigint FROM medmigrate.warnings WHERE run_id = {} AND entity = "
        "'instruction_states' AND column_name = 'changed_at' AND reason = 'infinite_timestamp' "
        "AND detail = 'post_load.state_analytics'",
        run));
    EXPECT_TRUE(r.ok()) << r.status().message();
    std::set<int64_t> out;
    for (int i = 0; r.ok() && i < r->rows(); ++i) out.insert(r->GetInt(i, 0));
    return out;
  }

  // The run's warnings counter of instruction_states equals its warnings rows.
  static void ExpectWarningsCounted(pg::Connection& t, int64_t run) {
    EXPECT_EQ(QueryInt(t, fmt::format("SELECT warnings FROM medmigrate.run_entities WHERE run_id "
                                      "= {} AND entity = 'instruction_states'",
                                      run)),
              QueryInt(t, fmt::format("SELECT count(*) FROM medmigrate.warnings WHERE run_id = {} "
                                      "AND entity = 'instruction_states'",
                                      run)))
        << "run " << run;
  }

  // state_analytics equals a fresh full migration's, duplicates scored with
  // the same model (so the same orders load).
  void ExpectAnalyticsOfAFreshFullMigration(pg::Connection& t) {
    auto fresh = NewTarget();
    MigrateOptions o = Options(*fresh);
    Result<std::optional<std::string>> model = KeptDedupModel(t, "patients");
    ASSERT_TRUE(model.ok() && model->has_value());
    o.dedup_model_path = testing::MakeTempDir("model") + "/model.json";
    std::ofstream(o.dedup_model_path) << **model;
    RunSucceeding(o);
    pg::Connection f = fresh->Connect();
    EXPECT_EQ(AnalyticsDump(t), AnalyticsDump(f));
  }

  std::unique_ptr<TestDatabase> legacy_;
  int64_t order_a_ = 0, order_b_ = 0, order_c_ = 0;
  std::set<int64_t> infinite_;
};

TEST_F(PostLoadTest, FullRunOverInfiniteTimestampsSucceedsAndCountsThemAsWarnings) {
  AddOrdersWithInfiniteStates();
  auto target = NewTarget();
  MigrationSummary s = Run(*target);
  pg::Connection t = target->Connect();

  // Stays that begin or end at +-infinity count in entries, not in the time.
  EXPECT_EQ(Analytics(t, order_a_),
            (std::vector<std::string>{
                "created|1|-infinity|2020-01-01 00:00:00+00|00:00:00|false|-",
                "received|2|2020-01-01 00:00:00+00|infinity|2 days|false|-",
                "in_design|1|2020-01-03 00:00:00+00|2020-01-04 00:00:00+00|1 day|false|-",
                "design_approved|1|infinity|-|00:00:00|true|-"}));
  // The current state's time is not in the table: its start is.
  EXPECT_EQ(Analytics(t, order_b_),
            (std::vector<std::string>{
                "created|1|2021-05-01 00:00:00+00|2021-05-03 12:00:00+00|2 days 12:00:00|false|-",
                "manufacturing|1|2021-05-03 12:00:00+00|-|00:00:00|true|2021-05-03 12:00:00+00"}));
  EXPECT_EQ(Analytics(t, order_c_),
            (std::vector<std::string>{
                "created|1|-infinity|-infinity|00:00:00|false|-",
                "received|1|-infinity|2022-01-01 00:00:00+00|00:00:00|false|-",
                "in_design|1|2022-01-01 00:00:00+00|-|00:00:00|true|2022-01-01 00:00:00+00"}));
  // The view adds the time up to now.
  EXPECT_EQ(QueryString(t, fmt::format("SELECT v.time_in_state > interval '5 years' FROM "
                                       "public.state_analytics_live v JOIN public.orders o ON o.id "
                                       "= v.order_id WHERE o.legacy_id = {} AND v.is_current",
                                       order_b_)),
            "t");
  EXPECT_EQ(QueryString(t, fmt::format("SELECT v.time_in_state FROM public.state_analytics_live v "
                                       "JOIN public.orders o ON o.id = v.order_id WHERE "
                                       "o.legacy_id = {} AND v.is_current",
                                       order_a_)),
            "00:00:00");

  // One warning per state changed at +-infinity: legacy id, column, reason.
  EXPECT_EQ(InfiniteWarnings(t, s.run_id), infinite_);
  ExpectWarningsCounted(t, s.run_id);
  const int64_t counted = Count(s, "instruction_states", &track::EntityCounts::warnings);
  EXPECT_EQ(counted, QueryInt(t, fmt::format("SELECT count(*) FROM medmigrate.warnings WHERE "
                                             "run_id = {} AND entity = 'instruction_states'",
                                             s.run_id)));
  // The report shows them like row warnings.
  ASSERT_OK_AND_ASSIGN(report::RunReportData rep, report::LoadRunReport(target->url(), s.run_id));
  int64_t reported = 0;
  for (const report::ReasonGroup& g : rep.warnings) {
    if (g.entity == "instruction_states" && g.column == "changed_at" &&
        g.reason == "infinite_timestamp") {
      reported = g.count;
    }
  }
  EXPECT_EQ(reported, static_cast<int64_t>(infinite_.size()));

  // The step again in the same run (as a resume does): nothing doubles.
  ASSERT_OK_AND_ASSIGN(spec::MappingSpec mdw, spec::DefaultSpec());
  PostLoadContext pc;
  pc.spec = &mdw;
  pc.run_id = s.run_id;
  ASSERT_OK_AND_ASSIGN(PostLoadOutcome again, RunPostLoadStep(t, mdw.post_load[1], pc));
  EXPECT_EQ(again.rows, 0);
  EXPECT_EQ(again.warnings, static_cast<int64_t>(infinite_.size()));
  EXPECT_TRUE(again.warnings_delta.empty());
  EXPECT_EQ(InfiniteWarnings(t, s.run_id), infinite_);
  ExpectWarningsCounted(t, s.run_id);
  EXPECT_EQ(QueryInt(t, fmt::format("SELECT warnings FROM medmigrate.run_entities WHERE run_id = "
                                    "{} AND entity = 'instruction_states'",
                                    s.run_id)),
            counted);
  EXPECT_EQ(QueryInt(t, fmt::format("SELECT count(*) FROM medmigrate.phases WHERE run_id = {} AND "
                                    "name = 'post_load.state_analytics' AND finished_at IS NOT NULL",
                                    s.run_id)),
            1);
}

TEST_F(PostLoadTest, IncrementalRunWithNewInfiniteStatesSucceeds) {
  auto target = NewTarget();
  Run(*target);
  pg::Connection t = target->Connect();
  // New states at +-infinity: a new order's, and one more of a loaded order.
  AddOrdersWithInfiniteStates();
  int64_t loaded_order = QueryInt(t, "SELECT o.legacy_id FROM public.orders o JOIN "
                                     "public.state_analytics sa ON sa.order_id = o.id "
                                     "ORDER BY o.legacy_id LIMIT 1");
  infinite_.insert(AddState(loaded_order, 6, "infinity"));
  MigrationSummary inc = Run(*target, "incremental");
  EXPECT_EQ(InfiniteWarnings(t, inc.run_id), infinite_);
  ExpectWarningsCounted(t, inc.run_id);
  EXPECT_EQ(Analytics(t, order_b_).size(), 2u);
  ExpectAnalyticsOfAFreshFullMigration(t);
}

// Derived values depend only on the legacy data: not on when a run computed
// them (the current state's time used to run up to the run's now()).
TEST_F(PostLoadTest, TwoFullRunsIntoFreshTargetsGiveByteIdenticalStateAnalytics) {
  AddOrdersWithInfiniteStates();
  auto first = NewTarget();
  auto second = NewTarget();
  Run(*first);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Run(*second);
  pg::Connection a = first->Connect();
  pg::Connection b = second->Connect();
  std::string dump = AnalyticsDump(a);
  EXPECT_GT(QueryInt(a, "SELECT count(*) FROM public.state_analytics WHERE is_current"), 0);
  EXPECT_NE(dump.find("infinity"), std::string::npos);
  EXPECT_EQ(dump, AnalyticsDump(b));
  // A second full run over the first target rewrites no derived row.
  std::string xmin = QueryString(a, "SELECT sum(xmin::text::bigint) FROM public.state_analytics");
  Run(*first);
  EXPECT_EQ(QueryString(a, "SELECT sum(xmin::text::bigint) FROM public.state_analytics"), xmin);
  EXPECT_EQ(AnalyticsDump(a), dump);
}

TEST_F(PostLoadTest, ValidationFailsWhenStateAnalyticsMissOrAddStates) {
  auto target = NewTarget();
  MigrationSummary s = Run(*target);
  pg::Connection t = target->Connect();
  std::string with_rows = QueryString(t, "SELECT o.legacy_id FROM public.orders o WHERE EXISTS "
                                         "(SELECT 1 FROM public.state_analytics sa WHERE "
                                         "sa.order_id = o.id) ORDER BY o.legacy_id LIMIT 1");
  std::string without_cancelled = QueryString(
      t, "SELECT o.legacy_id FROM public.orders o WHERE o.deleted_at IS NULL AND NOT EXISTS "
         "(SELECT 1 FROM public.instruction_states s WHERE s.order_id = o.id AND s.state = "
         "'cancelled') AND o.legacy_id::text <> '" + with_rows + "' ORDER BY o.legacy_id LIMIT 1");
  ASSERT_FALSE(with_rows.empty());
  ASSERT_FALSE(without_cancelled.empty());
  ASSERT_OK(t.Exec("DELETE FROM public.state_analytics sa USING public.orders o WHERE o.id = "
                   "sa.order_id AND o.legacy_id = " + with_rows));
  ASSERT_OK(t.Exec("INSERT INTO public.state_analytics (order_id, state, entries, "
                   "first_entered_at, time_in_state, is_current) SELECT id, 'cancelled', 1, "
                   "'2020-01-01', interval '0', false FROM public.orders WHERE legacy_id = " +
                   without_cancelled));

  validate::ValidateOptions v;
  v.legacy_url = legacy_->url();
  v.target_url = target->url();
  v.run_id = s.run_id;
  v.sample_size = 10;
  ASSERT_OK_AND_ASSIGN(validate::ValidationResult r, validate::ValidateRun(v));
  EXPECT_FALSE(r.passed);
  bool found = false;
  for (const validate::CheckResult& c : r.checks) {
    if (c.check != "state_analytics_per_order") {
      EXPECT_TRUE(c.passed) << c.check << "/" << c.entity;
      continue;
    }
    found = true;
    EXPECT_EQ(c.entity, "orders");
    EXPECT_EQ(c.severity, "error");
    EXPECT_FALSE(c.passed);
    EXPECT_EQ(c.failures, 2);
    EXPECT_EQ(std::set<std::string>(c.examples.begin(), c.examples.end()),
              (std::set<std::string>{with_rows, without_cancelled}));
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(QueryString(t, fmt::format("SELECT passed FROM medmigrate.validation_checks WHERE "
                                       "validation_id = {} AND check_name = "
                                       "'state_analytics_per_order'",
                                       r.validation_id)),
            "f");
}

// What broke: an incremental run failed in its post-load step after loading
// states; the next one succeeded and its validation passed, yet those states'
// order had no state_analytics rows (the next run derived only its own
// changes). Now a step covers every run since the last one it completed in.
TEST_F(PostLoadTest, IncrementalRunAfterOneThatFailedInPostLoadDerivesWhatThatOneLoaded) {
  auto target = NewTarget();
  Run(*target);
  pg::Connection t = target->Connect();
  AddOrdersWithInfiniteStates();
  ASSERT_OK(t.Exec(kRefuseAnalytics));
  ASSERT_OK_AND_ASSIGN(MigrationSummary failed, RunMigration(Options(*target, "incremental")));
  ASSERT_EQ(failed.state, "failed");
  EXPECT_EQ(failed.error.rfind("post_load.state_analytics: ", 0), 0u) << failed.error;
  for (const auto& e : failed.entities) {
    EXPECT_EQ(e.read, e.loaded + e.rejected + e.merged) << e.entity;
    EXPECT_EQ(e.state, "succeeded") << e.entity;
  }
  EXPECT_GT(Count(failed, "instruction_states", &track::EntityCounts::inserted), 0);
  EXPECT_TRUE(Analytics(t, order_b_).empty());
  ASSERT_OK(t.Exec(kAllowAnalytics));

  MigrationSummary next = Run(*target, "incremental");  // validation passes
  EXPECT_EQ(Count(next, "instruction_states", &track::EntityCounts::inserted), 0);
  EXPECT_EQ(Analytics(t, order_b_).size(), 2u);
  EXPECT_EQ(InfiniteWarnings(t, next.run_id), infinite_);
  ExpectAnalyticsOfAFreshFullMigration(t);
}

// A step that fails leaves the run failed, its counts balanced and its error
// naming the step; once the cause is gone, `migrate --resume RUN` reruns the
// steps and the run succeeds with the derived table complete, its warnings
// counted once.
TEST_F(PostLoadTest, FailedStepLeavesTheRunFailedAndResumeFinishesIt) {
  AddOrdersWithInfiniteStates();
  auto reference = NewTarget();
  MigrationSummary ref = Run(*reference);
  pg::Connection rc = reference->Connect();

  auto target = NewTarget();
  pg::Connection t = target->Connect();
  ASSERT_OK(t.Exec(kRefuseAnalytics));
  testing::ProcessOptions in_work;
  in_work.cwd = testing::MakeTempDir("cli");
  const std::vector<std::string> urls = {"--legacy-url", legacy_->url(), "--target-url",
                                         target->url()};
  std::vector<std::string> args = {"--log-level", "warn", "migrate", "--json"};
  args.insert(args.end(), urls.begin(), urls.end());
  testing::ProcessOutput first = testing::RunMedmigrate(args, in_work);
  EXPECT_EQ(first.exit_code, 1) << first.err;
  EXPECT_NE(first.err.find("post_load.state_analytics: "), std::string::npos) << first.err;
  const std::string run = QueryString(t, "SELECT max(id) FROM medmigrate.runs");
  EXPECT_EQ(QueryString(t, "SELECT state FROM medmigrate.runs WHERE id = " + run), "failed");
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.runs WHERE id = " + run +
                            " AND error LIKE 'post_load.state_analytics: %'"),
            1);
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.run_entities WHERE run_id = " + run +
                            " AND (read <> loaded + rejected + merged OR state <> 'succeeded')"),
            0);
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.run_entities WHERE run_id = " + run),
            static_cast<int64_t>(ref.entities.size()));
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM public.state_analytics"), 0);
  EXPECT_TRUE(InfiniteWarnings(t, std::stoll(run)).empty());

  ASSERT_OK(t.Exec(kAllowAnalytics));
  std::vector<std::string> resume = {"--log-level", "warn", "migrate", "--resume", run};
  resume.insert(resume.end(), urls.begin(), urls.end());
  testing::ProcessOutput second = testing::RunMedmigrate(resume, in_work);
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(QueryString(t, "SELECT state FROM medmigrate.runs WHERE id = " + run), "succeeded");
  EXPECT_EQ(QueryInt(t, "SELECT count(*) FROM medmigrate.runs"), 1);
  EXPECT_EQ(QueryString(t, "SELECT passed FROM medmigrate.validations WHERE run_id = " + run +
                               " ORDER BY id DESC LIMIT 1"),
            "t");
  EXPECT_EQ(AnalyticsDump(t), AnalyticsDump(rc));
  EXPECT_EQ(InfiniteWarnings(t, std::stoll(run)), infinite_);
  ExpectWarningsCounted(t, std::stoll(run));
  for (const auto& e : ref.entities) {
    EXPECT_EQ(QueryInt(t, "SELECT warnings FROM medmigrate.run_entities WHERE run_id = " + run +
                              " AND entity = '" + e.entity + "'"),
              e.warnings)
        << e.entity;
    EXPECT_EQ(QueryInt(t, "SELECT loaded FROM medmigrate.run_entities WHERE run_id = " + run +
                              " AND entity = '" + e.entity + "'"),
              e.loaded)
        << e.entity;
  }
}

}  // namespace
}  // namespace medmigrate::pipeline
