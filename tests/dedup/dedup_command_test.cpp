// `medmigrate dedup evaluate` as a user runs it: JSON with the figures, only
// counts and ratios (no record values), and one clear error for a bad file.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/process.h"

namespace medmigrate {
namespace {

using testing::RunMedmigrate;

const std::string kDataset1 = MEDMIGRATE_SOURCE_DIR "/../shared/data/febrl/dataset1.csv";

TEST(DedupCommandTest, EvaluatePrintsFiguresWithoutRecordValues) {
  if (!std::ifstream(kDataset1)) GTEST_SKIP() << kDataset1 << " is absent";
  const testing::ProcessOutput r =
      RunMedmigrate({"dedup", "evaluate", "--febrl", kDataset1, "--without-ssn", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("without_national_id"));
  EXPECT_FALSE(j.contains("with_national_id"));
  const nlohmann::json& e = j["without_national_id"];
  EXPECT_EQ(e["records"], 1000);
  EXPECT_EQ(e["true_pairs"], 500);
  EXPECT_GE(e["at_p_0_5"]["f1"].get<double>(), 0.99);
  EXPECT_GE(e["automatic_merges"]["precision"].get<double>(), 0.999);
  EXPECT_GE(e["blocking_recall"].get<double>(), 0.99);
  // Every value printed is a number (or the file name): no names, dates, ids of FEBRL.
  for (const auto& [key, value] : e.items()) {
    EXPECT_FALSE(value.is_string()) << key;
  }
  // The default prints both evaluations.
  const testing::ProcessOutput both = RunMedmigrate({"dedup", "evaluate", "--febrl", kDataset1});
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_NE(both.out.find("with soc_sec_id"), std::string::npos);
  EXPECT_NE(both.out.find("without soc_sec_id"), std::string::npos);
}

TEST(DedupCommandTest, MissingOrWrongFileFailsClearly) {
  const testing::ProcessOutput missing =
      RunMedmigrate({"dedup", "evaluate", "--febrl", "/nonexistent/file.csv"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("cannot open"), std::string::npos) << missing.err;
  const std::string dir = testing::MakeTempDir("dedup_cmd");
  const std::string path = dir + "/not_febrl.csv";
  std::ofstream(path) << "a,b\n1,2\n";
  const testing::ProcessOutput wrong = RunMedmigrate({"dedup", "evaluate", "--febrl", path});
  EXPECT_EQ(wrong.exit_code, 2);  // InvalidArgument: the user must give another file
  EXPECT_NE(wrong.err.find("line 1"), std::string::npos) << wrong.err;
}

}  // namespace
}  // namespace medmigrate
