// The acceptance figures of issues #6 and #13 on the FEBRL files, without
// soc_sec_id and without labels in the fit: F1 of the pairs merged or queued
// for review >= 0.995, precision of automatic merges 1.0, blocking recall
// >= 0.99. FEBRL makes many duplicates by replacing a given name or a birth
// date wholesale (luke / mia purdon, same date and address): those are the
// pattern of twins and namesakes, held for review by the hold rules
// (comparison.h), so automatic merges recall less than before (0.86 and 0.81
// against 0.996) and the review queue takes the rest. The files live beside
// the repository (shared/data/febrl) and are never copied into it.
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
  EXPECT_GE(e.at_half.f1, 0.995);
  EXPECT_GE(e.at_merge_threshold.f1, 0.99);
  EXPECT_EQ(e.automatic_merges.precision, 1.0);
  EXPECT_GE(e.automatic_merges.recall, 0.8);
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
