// The CLI as a user meets it: a separate process, its exit code and what it
// prints. Each test runs in an empty folder with the database variables unset,
// so nothing of the developer's machine leaks in.
#include <fstream>

#include <nlohmann/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/pg_fixture.h"
#include "support/process.h"

namespace medmigrate {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProcessOptions;
using testing::ProcessOutput;
using testing::RunMedmigrate;
using testing::TestCluster;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.cwd = testing::MakeTempDir("cli");
    options_.unset_env = {"MEDMIGRATE_LEGACY_URL", "MEDMIGRATE_TARGET_URL", "LEGACY_DB_HOST",
                          "LEGACY_DB_PORT",        "LEGACY_DB_NAME",        "LEGACY_DB_USER",
                          "LEGACY_DB_PASSWORD",    "LEGACY_DB_SSL"};
  }
  ProcessOutput Run(const std::vector<std::string>& args) { return RunMedmigrate(args, options_); }

  static int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

  ProcessOptions options_;
};

TEST_F(CliTest, HelpListsEveryCommand) {
  ProcessOutput r = Run({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* cmd : {"pg", "check", "init", "generate", "migrate", "status", "progress",
                          "list", "demo"}) {
    EXPECT_THAT(r.out, HasSubstr(cmd));
  }
}

TEST_F(CliTest, EverySubcommandHasHelp) {
  const std::vector<std::vector<std::string>> commands = {
      {"pg"}, {"pg", "start"}, {"pg", "stop"}, {"pg", "status"}, {"check"},
      {"init"}, {"generate"}, {"migrate"}, {"status"}, {"progress"}, {"list"}, {"demo"}};
  for (const auto& cmd : commands) {
    std::vector<std::string> args = cmd;
    args.push_back("--help");
    ProcessOutput r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << cmd.back() << ": " << r.err;
    EXPECT_GT(r.out.size(), 100u) << cmd.back();
    EXPECT_THAT(r.out, Not(HasSubstr(TestCluster().password)));
  }
}

TEST_F(CliTest, UnknownFlagIsOneLineAndExitTwo) {
  ProcessOutput r = Run({"check", "--bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--bogus"));
  EXPECT_EQ(Lines(r.err), 1) << r.err;
}

TEST_F(CliTest, BadLogLevelIsNamed) {
  ProcessOutput r = Run({"--log-level", "loud", "check"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("'loud'"));
}

TEST_F(CliTest, NoDatabaseConfiguredSaysHowToGiveOne) {
  ProcessOutput r = Run({"check"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("no legacy database: give --legacy-url"));
  EXPECT_THAT(r.out, HasSubstr("no target database: give --target-url"));
}

TEST_F(CliTest, NotAPostgresUrlIsNamed) {
  ProcessOutput r = Run({"check", "--legacy-url", "mysql://u:hunter2@h/db"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("--legacy-url"));
  EXPECT_THAT(r.out, HasSubstr("postgres://"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("hunter2")));
}

TEST_F(CliTest, WrongPasswordMissingDatabaseAndUnreachableHost) {
  const auto& c = TestCluster();
  std::string port = std::to_string(c.port);
  ProcessOutput r = Run({"check", "--legacy-url",
                         "postgres://postgres:WrongPw123@127.0.0.1:" + port + "/postgres",
                         "--target-url", c.Url("no_such_database")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("wrong password for user \"postgres\""));
  EXPECT_THAT(r.out, HasSubstr("database \"no_such_database\" does not exist"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("WrongPw123")));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(c.password)));

  r = Run({"check", "--legacy-url", "postgres://u:pw@127.0.0.1:1/db"});
  EXPECT_THAT(r.out, HasSubstr("cannot reach 127.0.0.1:1"));
}

TEST_F(CliTest, UrlsComeFromEnvironmentThenDotEnv) {
  const auto& c = TestCluster();
  std::ofstream(options_.cwd + "/.env") << "# written by the test\n"
                                        << "MEDMIGRATE_TARGET_URL=" << c.Url("postgres") << "\n"
                                        << "MEDMIGRATE_LEGACY_URL=postgres://wrong@127.0.0.1:1/x\n";
  // The environment's legacy URL wins over .env's; LEGACY_DB_* parts build one.
  options_.env = {{"LEGACY_DB_HOST", "127.0.0.1"},  {"LEGACY_DB_PORT", std::to_string(c.port)},
                  {"LEGACY_DB_NAME", "postgres"},   {"LEGACY_DB_USER", c.user},
                  {"LEGACY_DB_PASSWORD", c.password}, {"LEGACY_DB_SSL", "false"}};
  ProcessOutput r = Run({"check"});
  EXPECT_EQ(r.exit_code, 1) << r.out;  // .env's MEDMIGRATE_LEGACY_URL beats LEGACY_DB_*...
  options_.env["MEDMIGRATE_LEGACY_URL"] = c.Url("postgres");  // ...until the environment has one
  r = Run({"check"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("(from MEDMIGRATE_LEGACY_URL)"));
  // Issue 14 item 8: the target URL is .env's, and the output says so.
  EXPECT_THAT(r.out, HasSubstr("(from MEDMIGRATE_TARGET_URL in .env)"));
  EXPECT_THAT(r.out, HasSubstr("connected: PostgreSQL 15"));
  EXPECT_THAT(r.out, Not(HasSubstr(c.password)));

  // With no URL variable at all, the LEGACY_DB_* parts are used.
  std::ofstream(options_.cwd + "/.env") << "MEDMIGRATE_TARGET_URL=" << c.Url("postgres") << "\n";
  options_.env.erase("MEDMIGRATE_LEGACY_URL");
  r = Run({"check"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("(from LEGACY_DB_* variables)"));
  EXPECT_THAT(r.out, HasSubstr("?sslmode=disable"));
}

TEST_F(CliTest, MalformedDotEnvNamesTheLine) {
  std::ofstream(options_.cwd + "/.env") << "OK=1\nthis is not a setting\n";
  ProcessOutput r = Run({"check"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr(".env line 2"));
}

TEST_F(CliTest, PrivateClusterStatusWithoutClusterSaysWhatToDo) {
  ProcessOutput r = Run({"pg", "status"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no private cluster in"));
  EXPECT_THAT(r.err, HasSubstr("medmigrate pg start"));
  EXPECT_EQ(Lines(r.err), 1);
}

TEST_F(CliTest, RunningPrivateClusterIsTheLastFallback) {
  // The shared test cluster, addressed through --data-dir.
  ProcessOutput r = Run({"check", "--data-dir", MEDMIGRATE_TEST_PG_DIR});
  // Its mdw_legacy/platform databases may not exist in the test cluster: the
  // point is where the URLs came from.
  EXPECT_THAT(r.out, HasSubstr("(from the private cluster in"));
  EXPECT_THAT(r.out, Not(HasSubstr(TestCluster().password)));
  EXPECT_THAT(r.out, HasSubstr(":****@127.0.0.1:" + std::to_string(TestCluster().port)));
}

TEST_F(CliTest, MigrateFlagsAreChecked) {
  ProcessOutput r = Run({"migrate", "--batch-size", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--batch-size"));
  r = Run({"migrate", "--type", "sideways"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--type"));
}

TEST_F(CliTest, MigrateBeforeInitSaysToInit) {
  testing::TestDatabase legacy("cli_legacy"), target("cli_target");
  ProcessOutput r = Run({"migrate", "--legacy-url", legacy.url(), "--target-url", target.url()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("run 'medmigrate init' first"));
  EXPECT_EQ(Lines(r.err), 1) << r.err;
}

TEST_F(CliTest, MigrateStatusProgressAndListAsAUserRunsThem) {
  testing::TestDatabase legacy("cli_legacy"), target("cli_target");
  ProcessOutput r = Run({"--log-level", "warn", "generate", "--legacy-url", legacy.url(),
                         "--scale", "tiny", "--seed", "5", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Run({"init", "--target-url", target.url()});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = Run({"migrate", "--legacy-url", legacy.url(), "--target-url", target.url(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["state"], "succeeded");
  EXPECT_EQ(summary["balanced"], true);
  ASSERT_EQ(summary["entities"].size(), 12u);
  for (const auto& e : summary["entities"]) {
    EXPECT_EQ(e["read"].get<int64_t>(),
              e["loaded"].get<int64_t>() + e["rejected"].get<int64_t>() + e["merged"].get<int64_t>())
        << e["entity"];
  }
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(TestCluster().password)));
  std::string run = std::to_string(summary["run_id"].get<int64_t>());

  r = Run({"progress", run, "--target-url", target.url(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json progress = nlohmann::json::parse(r.out);
  EXPECT_EQ(progress["entities"].size(), 12u);
  EXPECT_EQ(progress["rows_read"], summary["rows_read"]);

  r = Run({"status", "--target-url", target.url()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("latest run " + run + ": full succeeded"));
  EXPECT_THAT(r.out, HasSubstr("instruction_states"));

  r = Run({"list", "--target-url", target.url(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).size(), 1u);

  r = Run({"progress", "999", "--target-url", target.url()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("run 999 does not exist"));

  // Plain lines (not a terminal) and the table for people.
  r = Run({"migrate", "--legacy-url", legacy.url(), "--target-url", target.url()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("(full) succeeded"));
  EXPECT_THAT(r.out, HasSubstr("entity"));
  EXPECT_THAT(r.err, Not(HasSubstr("\x1b[")));
}

}  // namespace
}  // namespace medmigrate
