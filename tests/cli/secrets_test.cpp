// Issue 14 item 2: passwords holding '/', '?' or '@' were printed and stored
// (stderr, the JSON-lines log, runs.options, runs.error, events.data). A role
// whose password holds every URL-special character runs the CLI as a user
// would; nothing it prints, logs or stores holds the password or a piece of it.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/db_url.h"
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

// Every character a URL gives a meaning to, a quote, a backslash, a space and
// a non-ASCII letter; the pieces libpq would split it into are distinct.
const std::string kPassword = "Pa55/Secr?t@Host#x:y%z&w=v+u 'q\\ é;";
const std::vector<std::string> kPieces = {"Pa55", "Secr", "Host", "x:y", "w=v+u", "'q\\"};

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The password, its encodings and its pieces are in none of `texts`.
void ExpectNoSecret(const std::string& where, const std::string& text) {
  EXPECT_THAT(text, Not(HasSubstr(kPassword))) << where;
  EXPECT_THAT(text, Not(HasSubstr(PercentEncode(kPassword)))) << where;
  for (const std::string& piece : kPieces) EXPECT_THAT(text, Not(HasSubstr(piece))) << where;
}

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.cwd = testing::MakeTempDir("secrets");
    options_.unset_env = {"MEDMIGRATE_LEGACY_URL", "MEDMIGRATE_TARGET_URL", "LEGACY_DB_HOST",
                          "LEGACY_DB_PORT",        "LEGACY_DB_NAME",        "LEGACY_DB_USER",
                          "LEGACY_DB_PASSWORD",    "LEGACY_DB_SSL"};
    role_ = "mm_secret_" + std::to_string(getpid());
    pg::Connection admin = legacy_.Connect();
    ASSERT_OK(admin.Exec("DROP ROLE IF EXISTS " + role_));
    ASSERT_OK(admin.Exec("CREATE ROLE " + role_ + " LOGIN SUPERUSER PASSWORD " +
                         admin.QuoteLiteral(kPassword)));
  }
  void TearDown() override {
    pg::Connection admin = legacy_.Connect();
    (void)admin.Exec("DROP ROLE IF EXISTS " + role_);
  }
  std::string Url(const testing::TestDatabase& db, const std::string& password) const {
    return "postgres://" + role_ + ":" + password + "@127.0.0.1:" +
           std::to_string(TestCluster().port) + "/" + db.name();
  }
  ProcessOutput Run(const std::vector<std::string>& args) { return RunMedmigrate(args, options_); }

  testing::TestDatabase legacy_{"sec_legacy"};
  testing::TestDatabase target_{"sec_target"};
  std::string role_;
  ProcessOptions options_;
};

TEST_F(SecretsTest, PasswordWithEveryUrlSpecialCharacterIsNeverPrintedLoggedOrStored) {
  const std::string legacy = Url(legacy_, PercentEncode(kPassword));
  const std::string target = Url(target_, PercentEncode(kPassword));
  std::string printed;
  ProcessOutput r = Run({"check", "--legacy-url", legacy, "--target-url", target});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  printed += r.out + r.err;
  r = Run({"--log-level", "warn", "generate", "--legacy-url", legacy, "--scale", "tiny", "--seed",
           "3", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  printed += r.out + r.err;
  r = Run({"init", "--target-url", target});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  printed += r.out + r.err;
  r = Run({"--log-level", "debug", "migrate", "--legacy-url", legacy, "--target-url", target});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  printed += r.out + r.err;
  // A run that fails: the legacy database is gone mid-way (before it starts).
  r = Run({"migrate", "--legacy-url", Url(legacy_, PercentEncode(kPassword) + "x"),
           "--target-url", target});
  EXPECT_NE(r.exit_code, 0);
  printed += r.out + r.err;
  r = Run({"status", "--target-url", target});
  printed += r.out + r.err;
  r = Run({"list", "--target-url", target, "--json"});
  printed += r.out + r.err;
  ExpectNoSecret("what the CLI printed", printed);

  for (const auto& entry : std::filesystem::recursive_directory_iterator(options_.cwd)) {
    if (entry.is_regular_file()) ExpectNoSecret(entry.path().string(), ReadAll(entry.path()));
  }
  pg::Connection t = target_.Connect();
  const std::string stored = testing::QueryString(
      t, "SELECT coalesce(string_agg(concat_ws(' ', options::text, error), ' '), '') "
         "FROM medmigrate.runs");
  EXPECT_THAT(stored, HasSubstr("****"));  // the URLs are there, masked
  ExpectNoSecret("medmigrate.runs", stored);
  ExpectNoSecret("medmigrate.events",
                 testing::QueryString(t, "SELECT coalesce(string_agg(concat_ws(' ', message, "
                                         "data::text), ' '), '') FROM medmigrate.events"));
}

// Unencoded, the URL is ambiguous: libpq would take "Pa55" for a port and
// send the rest to DNS as a host name. It is refused before any connection,
// in one line that says to percent-encode, with no piece of the password.
TEST_F(SecretsTest, UnencodedSpecialCharactersAreRefusedWithoutPrintingThePassword) {
  for (const std::string& password : {std::string("Pa55/Secret"), std::string("Pa55@Host@x"),
                                     std::string("Pa55?Secr@t"), kPassword}) {
    const std::string url = Url(legacy_, password);
    ProcessOutput r = Run({"check", "--legacy-url", url, "--target-url", url});
    std::string printed = r.out + r.err;
    EXPECT_THAT(printed, Not(HasSubstr(password))) << printed;
    EXPECT_THAT(printed, Not(HasSubstr("Pa55"))) << printed;
    r = Run({"migrate", "--legacy-url", url, "--target-url", Url(target_, PercentEncode(kPassword))});
    EXPECT_NE(r.exit_code, 0);
    printed = r.out + r.err;
    EXPECT_THAT(printed, Not(HasSubstr("Pa55"))) << printed;
    if (password.find('/') != std::string::npos || password.find_first_of("@") !=
        password.rfind('@')) {
      EXPECT_THAT(printed, HasSubstr("percent-encode")) << printed;
    }
  }
}

}  // namespace
}  // namespace medmigrate
