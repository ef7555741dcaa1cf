// `medmigrate init` as a process, as an operator runs it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/pg_fixture.h"
#include "support/process.h"

namespace medmigrate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// True when `text` is exactly one line (ends with its only newline).
bool OneLine(const std::string& text) {
  return !text.empty() && text.find('\n') == text.size() - 1;
}

TEST(InitCommandTest, AppliesThenReportsEverythingAlreadyApplied) {
  TestDatabase db("init_cli");
  ProcessOutput first = RunMedmigrate({"init", "--target-url", db.url()});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.out, HasSubstr("applied tracking/0001_runs.sql ("));
  EXPECT_THAT(first.out, HasSubstr("applied main/0002_core_tables.sql ("));
  EXPECT_THAT(first.out, HasSubstr("0 already applied"));
  EXPECT_THAT(first.out, Not(HasSubstr(TestCluster().password)));

  ProcessOutput second = RunMedmigrate({"init", "--target-url", db.url()});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.out, HasSubstr("already applied main/0002_core_tables.sql"));
  EXPECT_THAT(second.out, HasSubstr(" 0 applied now"));
}

TEST(InitCommandTest, TrackingFlagThenMainFlag) {
  TestDatabase db("init_cli_scopes");
  ProcessOutput tracking = RunMedmigrate({"init", "--tracking", "--target-url", db.url()});
  ASSERT_EQ(tracking.exit_code, 0) << tracking.err;
  EXPECT_THAT(tracking.out, Not(HasSubstr("main/")));
  pg::Connection conn = db.Connect();
  EXPECT_EQ(QueryString(conn, "SELECT to_regclass('public.orders')"), "");
  EXPECT_EQ(QueryString(conn, "SELECT to_regclass('medmigrate.runs')"), "medmigrate.runs");

  ProcessOutput main = RunMedmigrate({"init", "--main", "--target-url", db.url()});
  ASSERT_EQ(main.exit_code, 0) << main.err;
  EXPECT_THAT(main.out, HasSubstr("applied main/0001_types.sql"));
  EXPECT_THAT(main.out, Not(HasSubstr("tracking/")));
  EXPECT_EQ(QueryString(conn, "SELECT to_regclass('public.orders')"), "orders");
}

TEST(InitCommandTest, TamperedChecksumStopsWithOneLineNamingTheFile) {
  TestDatabase db("init_cli_tamper");
  ASSERT_EQ(RunMedmigrate({"init", "--target-url", db.url()}).exit_code, 0);
  pg::Connection conn = db.Connect();
  ASSERT_OK(conn.Exec("UPDATE medmigrate.schema_migrations SET checksum = repeat('0', 64) "
                      "WHERE scope = 'main' AND version = 2"));
  ProcessOutput out = RunMedmigrate({"init", "--target-url", db.url()});
  EXPECT_NE(out.exit_code, 0);
  EXPECT_TRUE(OneLine(out.err)) << out.err;
  EXPECT_THAT(out.err, HasSubstr("main/0002_core_tables.sql"));
  EXPECT_THAT(out.err, HasSubstr("000000000000"));
  EXPECT_EQ(out.out, "");
}

TEST(InitCommandTest, UnreachableHostGivesOneClearLine) {
  ProcessOutput out =
      RunMedmigrate({"init", "--target-url", "postgres://someone:secret@127.0.0.1:1/platform"});
  EXPECT_NE(out.exit_code, 0);
  EXPECT_TRUE(OneLine(out.err)) << out.err;
  EXPECT_THAT(out.err, HasSubstr("127.0.0.1:1"));
  EXPECT_THAT(out.err, Not(HasSubstr("secret")));
}

TEST(InitCommandTest, MalformedUrlIsAUsageError) {
  ProcessOutput out = RunMedmigrate({"init", "--target-url", "mysql://x@y/z"});
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_TRUE(OneLine(out.err)) << out.err;
  EXPECT_THAT(out.err, HasSubstr("--target-url"));
}

TEST(InitCommandTest, WrongPasswordGivesOneClearLine) {
  const pg::ClusterInfo& cluster = TestCluster();
  ProcessOutput out = RunMedmigrate(
      {"init", "--target-url",
       "postgres://" + cluster.user + ":not-the-password@127.0.0.1:" +
           std::to_string(cluster.port) + "/postgres"});
  EXPECT_NE(out.exit_code, 0);
  EXPECT_TRUE(OneLine(out.err)) << out.err;
  EXPECT_THAT(out.err, Not(HasSubstr("not-the-password")));
}

TEST(InitCommandTest, HelpDescribesTheFlags) {
  ProcessOutput out = RunMedmigrate({"init", "--help"});
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_THAT(out.out, HasSubstr("--main"));
  EXPECT_THAT(out.out, HasSubstr("--tracking"));
  EXPECT_THAT(out.out, HasSubstr("checksum"));
}

}  // namespace
}  // namespace medmigrate::testing
