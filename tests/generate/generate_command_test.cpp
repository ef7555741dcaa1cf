// `medmigrate generate` as a user runs it: the summary it prints, and one
// clear line with the right exit code when it cannot or must not run.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/pg_fixture.h"
#include "support/process.h"

namespace medmigrate::testing {
namespace {

int Lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(GenerateCommandTest, GeneratesThenRefusesToOverwriteWithoutReplace) {
  TestDatabase db("gen_cli");
  const std::string dir = MakeTempDir("gen_cli");
  ProcessOptions in_dir;
  in_dir.cwd = dir;
  ProcessOutput first = RunMedmigrate(
      {"generate", "--legacy-url", db.url(), "--scale", "tiny", "--seed", "3", "--quiet"}, in_dir);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("dispatch_patient"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("rows/s"), std::string::npos) << first.out;
  EXPECT_TRUE(first.err.empty()) << first.err;  // --quiet
  // Default truth file: <database>.truth.json in the working folder.
  std::ifstream truth(dir + "/" + db.name() + ".truth.json");
  ASSERT_TRUE(truth.good());
  EXPECT_EQ(nlohmann::json::parse(truth)["seed"], 3);

  ProcessOutput again =
      RunMedmigrate({"generate", "--legacy-url", db.url(), "--scale", "tiny", "--quiet"}, in_dir);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("--replace"), std::string::npos) << again.err;
  EXPECT_EQ(Lines(again.err), 1) << again.err;

  ProcessOutput replaced = RunMedmigrate(
      {"generate", "--legacy-url", db.url(), "--scale", "tiny", "--replace", "--truth",
       dir + "/t.json"},
      in_dir);
  EXPECT_EQ(replaced.exit_code, 0) << replaced.err;
  EXPECT_FALSE(replaced.err.empty());  // progress lines (stderr is not a terminal here)

  ProcessOutput mutated = RunMedmigrate(
      {"generate", "--mutate", "--legacy-url", db.url(), "--seed", "4", "--truth",
       dir + "/m.json"},
      in_dir);
  EXPECT_EQ(mutated.exit_code, 0) << mutated.err;
  EXPECT_NE(mutated.out.find("deleted"), std::string::npos) << mutated.out;
}

TEST(GenerateCommandTest, BadScaleOrSeedIsAUsageError) {
  TestDatabase db("gen_cli_bad");
  ProcessOutput scale =
      RunMedmigrate({"generate", "--legacy-url", db.url(), "--scale", "huge"});
  EXPECT_EQ(scale.exit_code, 2);
  EXPECT_NE(scale.err.find("unknown scale 'huge'"), std::string::npos) << scale.err;
  EXPECT_EQ(Lines(scale.err), 1) << scale.err;
  ProcessOutput seed = RunMedmigrate({"generate", "--legacy-url", db.url(), "--seed", "abc"});
  EXPECT_EQ(seed.exit_code, 2) << seed.err;
}

TEST(GenerateCommandTest, UnreachableDatabaseIsOneClearLine) {
  ProcessOutput out = RunMedmigrate(
      {"generate", "--legacy-url", "postgres://u:secret@127.0.0.1:1/nowhere", "--scale", "tiny",
       "--quiet"});
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(Lines(out.err), 1) << out.err;
  EXPECT_EQ(out.err.find("secret"), std::string::npos) << out.err;
}

TEST(GenerateCommandTest, HelpDescribesTheOptions) {
  ProcessOutput out = RunMedmigrate({"generate", "--help"});
  EXPECT_EQ(out.exit_code, 0);
  for (const char* flag : {"--scale", "--seed", "--replace", "--mutate", "--mutate-fraction",
                           "--truth", "--jobs", "--quiet", "--legacy-url"}) {
    EXPECT_NE(out.out.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace medmigrate::testing
