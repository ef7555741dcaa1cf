// The model's pure parts: what exists, who duplicates whom, and typos.
#include "generate/legacy_model.h"

#include <gtest/gtest.h>

namespace medmigrate::generate {
namespace {

TEST(LegacyModelTest, ForcedGapsMakeEveryOrphanKindPossible) {
  const LegacyModel m(1, Scale::kTiny);
  EXPECT_FALSE(m.OfficeExists(3));
  EXPECT_FALSE(m.DoctorExists(5));
  EXPECT_FALSE(m.PatientExists(11));
  EXPECT_FALSE(m.OrderExists(7));
  EXPECT_FALSE(m.UserExists(4));
  EXPECT_TRUE(m.UserExists(1));
}

TEST(LegacyModelTest, DuplicatesPointAtAnEarlierExistingRoot) {
  const LegacyModel m(9, Scale::kSmall);
  int duplicates = 0;
  for (int64_t p = 1; p <= m.sizes().patients; ++p) {
    if (!m.IsDuplicate(p)) continue;
    ++duplicates;
    const int64_t root = m.RootPatient(p);
    ASSERT_LT(root, p);
    ASSERT_TRUE(m.PatientExists(root));
    ASSERT_FALSE(m.IsDuplicate(root));
    std::vector<std::string> variations;
    m.PatientIdentity(p, &variations);
    ASSERT_FALSE(variations.empty()) << p;
  }
  EXPECT_GT(duplicates, m.sizes().patients / 100);
  EXPECT_LT(duplicates, m.sizes().patients / 10);
}

TEST(LegacyModelTest, SwappedDayMonthDuplicateMirrorsItsRoot) {
  const LegacyModel m(3, Scale::kSmall);
  int checked = 0;
  for (int64_t p = 1; p <= m.sizes().patients; ++p) {
    if (!m.IsDuplicate(p)) continue;
    std::vector<std::string> v;
    const Identity dup = m.PatientIdentity(p, &v);
    if (std::find(v.begin(), v.end(), "swapped_day_month") == v.end()) continue;
    const Identity root = m.PatientIdentity(m.RootPatient(p));
    EXPECT_EQ(dup.day, root.month);
    EXPECT_EQ(dup.month, root.day);
    EXPECT_EQ(dup.year, root.year);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(LegacyModelTest, TypoChangesTheNameOrSaysItCannot) {
  for (int64_t i = 0; i < 500; ++i) {
    Rng rng(5, Stream::kMutation, i);
    std::string name = "Elizabeth";
    ASSERT_TRUE(ApplyTypo(rng, name));
    EXPECT_NE(name, "Elizabeth");
  }
  Rng rng(5, Stream::kMutation, 1);
  std::string cjk = "李";
  EXPECT_FALSE(ApplyTypo(rng, cjk));
  EXPECT_EQ(cjk, "李");
}

TEST(LegacyModelTest, CleanEmailsAreDistinctPerOwner) {
  const LegacyModel m(1, Scale::kTiny);
  Identity a;
  a.first_name = "Ann";
  a.last_name = "Lee";
  a.email_owner = 12;
  Identity b = a;
  b.email_owner = 121;
  EXPECT_NE(m.CleanEmail(a), m.CleanEmail(b));
  EXPECT_EQ(m.CleanEmail(a), m.CleanEmail(a));
}

}  // namespace
}  // namespace medmigrate::generate
