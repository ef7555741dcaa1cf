// The model's pure parts: what exists, who duplicates whom, and typos.
#include "generate/legacy_model.h"

#include <fmt/format.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

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

// The households of one small database, each once (by its first member).
std::map<HouseholdKind, std::vector<Household>> Households(const LegacyModel& m) {
  std::map<HouseholdKind, std::vector<Household>> out;
  for (int64_t p = 1; p <= m.sizes().patients; ++p) {
    Household h = m.HouseholdOf(p);
    if (h.kind != HouseholdKind::kNone && h.members.front() == p) out[h.kind].push_back(h);
  }
  return out;
}

int64_t Pairs(const std::vector<Household>& hs) {
  int64_t n = 0;
  for (const Household& h : hs) {
    const auto k = static_cast<int64_t>(h.members.size());
    n += k * (k - 1) / 2;
  }
  return n;
}

TEST(LegacyModelTest, EveryKindOfHouseholdAtSmallScaleWithEnoughTwins) {
  const LegacyModel m(7, Scale::kSmall);
  auto hs = Households(m);
  EXPECT_GE(Pairs(hs[HouseholdKind::kTwins]), 100);
  for (HouseholdKind k : {HouseholdKind::kSiblings, HouseholdKind::kFamily,
                          HouseholdKind::kNamesakes}) {
    EXPECT_GE(hs[k].size(), 20u) << HouseholdKindName(k);
  }
  bool triplets = false;
  int64_t members = 0;
  for (const auto& [kind, list] : hs) {
    for (const Household& h : list) {
      members += static_cast<int64_t>(h.members.size());
      if (kind == HouseholdKind::kTwins && h.members.size() == 3) triplets = true;
      for (int64_t p : h.members) {
        ASSERT_TRUE(m.PatientExists(p));
        ASSERT_FALSE(m.IsDuplicate(p)) << p;
        // Every member reports the same household.
        Household again = m.HouseholdOf(p);
        EXPECT_EQ(again.members, h.members);
        EXPECT_EQ(again.kind, kind);
      }
    }
  }
  EXPECT_TRUE(triplets);
  // A few per cent of the patients.
  EXPECT_GT(members, m.sizes().patients / 50);
  EXPECT_LT(members, m.sizes().patients / 10);
}

TEST(LegacyModelTest, TwinsShareFamilyNameBirthDateAndAddressNotTheirGivenName) {
  const LegacyModel m(7, Scale::kSmall);
  int64_t pairs = 0, mixed = 0;
  auto hs = Households(m);
  for (const Household& h : hs[HouseholdKind::kTwins]) {
    const Identity a = m.PatientIdentity(h.members[0]);
    for (size_t i = 1; i < h.members.size(); ++i) {
      const Identity b = m.PatientIdentity(h.members[i]);
      EXPECT_EQ(a.last_name, b.last_name);
      EXPECT_EQ(std::tie(a.year, a.month, a.day), std::tie(b.year, b.month, b.day));
      EXPECT_EQ(b.birth, Identity::Birth::kNormal);
      EXPECT_EQ(m.CleanEmail(a), m.CleanEmail(b));
      EXPECT_NE(a.first_name, b.first_name);
      ++pairs;
      mixed += a.gender != b.gender;
    }
  }
  ASSERT_GT(pairs, 0);
  EXPECT_GT(mixed * 2, pairs) << "mostly different sexes";
  EXPECT_LT(mixed, pairs) << "some twins of one sex";
}

TEST(LegacyModelTest, SiblingsAndFamiliesShareAnAddressAndDifferInNameAndBirth) {
  const LegacyModel m(7, Scale::kSmall);
  auto hs = Households(m);
  for (HouseholdKind k : {HouseholdKind::kSiblings, HouseholdKind::kFamily}) {
    for (const Household& h : hs[k]) {
      if (k == HouseholdKind::kFamily) {
        // Three accounts or more were planned; one may be gone (deleted or a duplicate).
        EXPECT_GE(h.members.size(), 2u);
      }
      std::set<std::string> emails, firsts, dates;
      for (int64_t p : h.members) {
        const Identity x = m.PatientIdentity(p);
        EXPECT_EQ(x.last_name, m.PatientIdentity(h.members[0]).last_name);
        emails.insert(m.CleanEmail(x));
        firsts.insert(x.first_name);
        dates.insert(fmt::format("{}-{}-{}", x.year, x.month, x.day));
      }
      EXPECT_EQ(emails.size(), 1u) << HouseholdKindName(k);
      EXPECT_EQ(firsts.size(), h.members.size()) << HouseholdKindName(k);
      EXPECT_EQ(dates.size(), h.members.size()) << HouseholdKindName(k);
    }
  }
  size_t of_three = 0;
  for (const Household& h : hs[HouseholdKind::kFamily]) of_three += h.members.size() >= 3;
  EXPECT_GT(of_three * 2, hs[HouseholdKind::kFamily].size());
}

TEST(LegacyModelTest, NamesakesShareTheFullNameBornDecadesApartWithOwnAddresses) {
  const LegacyModel m(7, Scale::kSmall);
  auto hs = Households(m);
  ASSERT_FALSE(hs[HouseholdKind::kNamesakes].empty());
  for (const Household& h : hs[HouseholdKind::kNamesakes]) {
    ASSERT_EQ(h.members.size(), 2u);
    const Identity a = m.PatientIdentity(h.members[0]);
    const Identity b = m.PatientIdentity(h.members[1]);
    EXPECT_EQ(a.first_name, b.first_name);
    EXPECT_EQ(a.last_name, b.last_name);
    EXPECT_GE(std::abs(a.year - b.year), 20);
    EXPECT_NE(m.CleanEmail(a), m.CleanEmail(b));
  }
}

TEST(LegacyModelTest, MarriedNameDuplicatesKeepGivenNameAndBirthDate) {
  const LegacyModel m(7, Scale::kSmall);
  int kept = 0, changed = 0;
  for (int64_t p = 1; p <= m.sizes().patients; ++p) {
    if (!m.IsDuplicate(p)) continue;
    std::vector<std::string> v;
    const Identity dup = m.PatientIdentity(p, &v);
    if (std::find(v.begin(), v.end(), "married_name") == v.end()) continue;
    const Identity root = m.PatientIdentity(m.RootPatient(p));
    EXPECT_EQ(dup.first_name, root.first_name);
    EXPECT_NE(dup.last_name, root.last_name);
    EXPECT_EQ(std::tie(dup.birth, dup.year, dup.month, dup.day),
              std::tie(root.birth, root.year, root.month, root.day));
    const bool other_email = std::find(v.begin(), v.end(), "other_email") != v.end();
    if (other_email) {
      EXPECT_NE(m.CleanEmail(dup), m.CleanEmail(root));
      ++changed;
    } else {
      EXPECT_EQ(m.CleanEmail(dup), m.CleanEmail(root));
      ++kept;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(changed, 0);
}

TEST(LegacyModelTest, HouseholdsAreTheSameForASeedAndDifferForAnother) {
  const LegacyModel a(7, Scale::kSmall), b(7, Scale::kSmall), c(8, Scale::kSmall);
  int64_t differ = 0;
  for (int64_t p = 1; p <= 2000; ++p) {
    EXPECT_EQ(a.HouseholdOf(p).members, b.HouseholdOf(p).members);
    EXPECT_EQ(a.PatientIdentity(p).first_name, b.PatientIdentity(p).first_name);
    differ += a.HouseholdOf(p).members != c.HouseholdOf(p).members;
  }
  EXPECT_GT(differ, 0);
}

}  // namespace
}  // namespace medmigrate::generate
