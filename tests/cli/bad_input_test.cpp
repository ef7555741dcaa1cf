// Issue 14 item 8: bad input to the CLI, each a one-line error that names
// what is wrong, exit 2 (usage) or 1 (refused), and nothing recorded.
#include <fstream>

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

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.cwd = testing::MakeTempDir("bad_input");
    options_.unset_env = {"MEDMIGRATE_LEGACY_URL", "MEDMIGRATE_TARGET_URL", "LEGACY_DB_HOST",
                          "LEGACY_DB_PORT",        "LEGACY_DB_NAME",        "LEGACY_DB_USER",
                          "LEGACY_DB_PASSWORD",    "LEGACY_DB_SSL"};
  }
  ProcessOutput Run(const std::vector<std::string>& args) { return RunMedmigrate(args, options_); }
  static int Lines(const std::string& s) {
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  }
  ProcessOptions options_;
};

struct UsageCase {
  std::vector<std::string> args;
  const char* names;  // what the one-line error must name
};

TEST_F(BadInputTest, EachBadArgumentIsOneLineNamingIt) {
  const UsageCase cases[] = {
      {{"frobnicate"}, "'frobnicate' is not a command"},
      {{"--log-level", "warn", "frobnicate", "x"}, "'frobnicate' is not a command"},
      {{"migrate", "--entities", ""}, "names no entity"},
      {{"migrate", "--entities", ",,,"}, "names no entity"},
      {{"migrate", "--resume", "-3"}, "--resume"},
      {{"generate", "--seed", "-1"}, "'-1' is not a whole number"},
      {{"generate", "--seed", "18446744073709551616"}, "out of range"},
      {{"progress", "99999999999999999999"}, "out of range"},
      {{"report", "0"}, "out of range"},
      {{"rollback", "1x", "--confirm"}, "not a whole number"},
      {{"validate", "9223372036854775808"}, "out of range"},
      {{"dedup", "show", "-5"}, "PAIR"},
      {{"cleanup", "--days", "1", "--log-dir", "/nonexistent"}, "/nonexistent"},
  };
  for (const UsageCase& c : cases) {
    ProcessOutput r = Run(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args[0] << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.names)) << c.args[0];
    EXPECT_EQ(Lines(r.err), 1) << r.err;
  }
}

TEST_F(BadInputTest, SpecOfAnUnknownFormatVersionIsRefused) {
  std::ofstream(options_.cwd + "/v99.toml")
      << "name = \"x\"\nversion = 99\nuuid_namespace = \"5b1c681e-02fe-4408-960c-0654dfa06e0f\"\n";
  testing::TestDatabase legacy("bad_legacy"), target("bad_target");
  ProcessOutput r = Run({"migrate", "--spec", "v99.toml", "--legacy-url", legacy.url(),
                         "--target-url", target.url()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("v99.toml:2:"));
  EXPECT_THAT(r.err, HasSubstr("'version' 99 is not a spec format"));
}

// A legacy database that cannot be reached: one line before any run is
// recorded, not a failed run and a table of zeros.
TEST_F(BadInputTest, UnreachableLegacyRecordsNoRun) {
  testing::TestDatabase target("bad_target");
  ProcessOutput r = Run({"init", "--target-url", target.url()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Run({"migrate", "--legacy-url", "postgres://nobody@127.0.0.1:1/none", "--target-url",
           target.url()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("legacy database: cannot reach 127.0.0.1:1"));
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("entity")));
  pg::Connection t = target.Connect();
  EXPECT_EQ(testing::QueryInt(t, "SELECT count(*) FROM medmigrate.runs"), 0);
}

// A URL read from .env says so, not that it came from the environment.
TEST_F(BadInputTest, UrlFromDotEnvIsReportedAsSuch) {
  testing::TestDatabase legacy("bad_legacy");
  std::ofstream(options_.cwd + "/.env") << "MEDMIGRATE_LEGACY_URL=" << legacy.url() << "\n";
  ProcessOutput r = Run({"check"});
  EXPECT_THAT(r.out, HasSubstr("(from MEDMIGRATE_LEGACY_URL in .env)")) << r.out << r.err;
  options_.env["MEDMIGRATE_LEGACY_URL"] = legacy.url();
  r = Run({"check"});
  EXPECT_THAT(r.out, HasSubstr("(from MEDMIGRATE_LEGACY_URL)")) << r.out << r.err;
}

}  // namespace
}  // namespace medmigrate
