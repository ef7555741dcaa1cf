// The acceptance figures of issue #6 on the FEBRL files, without soc_sec_id
// and without labels in the fit: F1 >= 0.99, precision of automatic merges
// >= 0.999, blocking recall >= 0.99. The files live beside the repository
// (shared/data/febrl) and are never copied into it.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "dedup/evaluation.h"
#include "dedup/febrl_reader.h"

namespace medmigrate::dedup {
namespace {

class FebrlEvaluationTest : public ::testing::TestWithParam<const char*> {};

TEST_P(FebrlEvaluationTest, MeetsTheTargetsWithoutNationalId) {
  const std::string path = std::string(MEDMIGRATE_SOURCE_DIR "/../shared/data/febrl/") + GetParam();
  std::ifstream in(path);
  if (!in) GTEST_SKIP() << path << " is absent";
  std::ostringstream text;
  text << in.rdbuf();
  Result<FebrlData> data = ParseFebrl(text.str());
  ASSERT_TRUE(data.ok()) << data.status().message();
  DedupOptions o;
  o.use_national_id = false;
  const Evaluation e = EvaluateDedup(data->records, data->person, o);
  EXPECT_GE(e.blocking_recall, 0.99);
  EXPECT_GE(e.at_half.f1, 0.99);
  EXPECT_GE(e.at_merge_threshold.f1, 0.99);
  EXPECT_GE(e.automatic_merges.f1, 0.99);
  EXPECT_GE(e.automatic_merges.precision, 0.999);
  EXPECT_GE(e.at_merge_threshold.precision, 0.999);
}

INSTANTIATE_TEST_SUITE_P(Files, FebrlEvaluationTest,
                         ::testing::Values("dataset1.csv", "dataset2.csv"));

TEST(FebrlReaderTest, RejectsTextThatIsNotFebrl) {
  EXPECT_FALSE(ParseFebrl("a, b\n1, 2\n").ok());
  const std::string header =
      "rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, "
      "date_of_birth, soc_sec_id\n";
  EXPECT_FALSE(ParseFebrl(header + "x-1, a, b, 1, s, , t, 2600, act, 19500101, 1234567\n").ok());
  Result<FebrlData> ok = ParseFebrl(header +
                                    "rec-7-dup-1, a, b, 1, s, , t, 2600, act, 19500101, 1234567\n"
                                    "rec-7-org, a, b, 1, s, , t, 2600, act, 19500101, 1234567\n");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->person, (std::vector<int64_t>{7, 7}));
  EXPECT_EQ(ok->records[0].postcode, "2600");
}

}  // namespace
}  // namespace medmigrate::dedup
