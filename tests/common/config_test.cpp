#include "common/config.h"

#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "support/process.h"

namespace medmigrate {
namespace {

std::string WriteFile(const std::string& text) {
  std::string dir = testing::MakeTempDir("dotenv");
  std::string path = dir + "/.env";
  std::ofstream(path) << text;
  return path;
}

TEST(ReadDotEnvTest, ParsesQuotesCommentsAndExport) {
  std::string path = WriteFile(
      "# comment\n"
      "\n"
      "export MEDMIGRATE_LEGACY_URL=postgres://a:b@h/d\n"
      "SINGLE='a # kept \\n'\n"
      "DOUBLE=\"line\\nnext\" # trailing comment\n"
      "PLAIN = value with spaces # comment\n"
      "EMPTY=\n");
  auto vars = ReadDotEnv(path);
  ASSERT_TRUE(vars.ok()) << vars.status().message();
  EXPECT_EQ(vars->at("MEDMIGRATE_LEGACY_URL"), "postgres://a:b@h/d");
  EXPECT_EQ(vars->at("SINGLE"), "a # kept \\n");
  EXPECT_EQ(vars->at("DOUBLE"), "line\nnext");
  EXPECT_EQ(vars->at("PLAIN"), "value with spaces");
  EXPECT_EQ(vars->at("EMPTY"), "");
}

TEST(ReadDotEnvTest, NamesTheBadLineButNotItsText) {
  std::string path = WriteFile("GOOD=1\nthis line has password=hunter2 and no key\n");
  auto vars = ReadDotEnv(path);
  ASSERT_FALSE(vars.ok());
  EXPECT_NE(vars.status().message().find("line 2"), std::string::npos);
  EXPECT_EQ(vars.status().message().find("hunter2"), std::string::npos);
}

TEST(ReadDotEnvTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadDotEnv("/nonexistent/.env").status().code(), StatusCode::kNotFound);
}

TEST(ResolveDatabaseUrlTest, FlagBeatsEnvironmentBeatsDotEnv) {
  VariableLookup env = FromMap({{"MEDMIGRATE_LEGACY_URL", "postgres://env/db"}});
  VariableLookup dotenv = FromMap({{"MEDMIGRATE_LEGACY_URL", "postgres://dotenv/db"},
                                   {"MEDMIGRATE_TARGET_URL", "postgres://dotenv/target"}});
  VariableLookup vars = Layered(env, dotenv);

  auto flag = ResolveDatabaseUrl(DatabaseRole::kLegacy, std::string("postgres://flag/db"), vars);
  ASSERT_TRUE(flag.ok());
  EXPECT_EQ((*flag)->url, "postgres://flag/db");
  EXPECT_EQ((*flag)->source, "--legacy-url");

  auto from_env = ResolveDatabaseUrl(DatabaseRole::kLegacy, std::nullopt, vars);
  EXPECT_EQ((*from_env)->url, "postgres://env/db");

  auto target = ResolveDatabaseUrl(DatabaseRole::kTarget, std::nullopt, vars);
  EXPECT_EQ((*target)->url, "postgres://dotenv/target");
}

TEST(ResolveDatabaseUrlTest, BuildsLegacyUrlFromDeploymentVariables) {
  VariableLookup vars = FromMap({{"LEGACY_DB_HOST", "10.0.0.5"},
                                 {"LEGACY_DB_PORT", "5433"},
                                 {"LEGACY_DB_NAME", "mdw"},
                                 {"LEGACY_DB_USER", "reader"},
                                 {"LEGACY_DB_PASSWORD", "s3cret!"},
                                 {"LEGACY_DB_SSL", "require"}});
  auto r = ResolveDatabaseUrl(DatabaseRole::kLegacy, std::nullopt, vars);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->url, "postgres://reader:s3cret%21@10.0.0.5:5433/mdw?sslmode=require");
  EXPECT_EQ((*r)->source, "LEGACY_DB_* variables");
}

TEST(ResolveDatabaseUrlTest, IncompleteDeploymentVariablesAreAnError) {
  VariableLookup vars = FromMap({{"LEGACY_DB_HOST", "h"}, {"LEGACY_DB_PASSWORD", "pw"}});
  auto r = ResolveDatabaseUrl(DatabaseRole::kLegacy, std::nullopt, vars);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("database name"), std::string::npos);
  EXPECT_EQ(r.status().message().find("pw"), std::string::npos);
}

TEST(ResolveDatabaseUrlTest, NothingConfiguredIsNullopt) {
  auto r = ResolveDatabaseUrl(DatabaseRole::kTarget, std::nullopt, FromMap({}));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

}  // namespace
}  // namespace medmigrate
