#include "dedup/string_similarity.h"

#include <gtest/gtest.h>

#include "dedup/nickname_table.h"
#include "dedup/text_normalize.h"

namespace medmigrate::dedup {
namespace {

struct JwCase {
  const char* a;
  const char* b;
  double expected;
};

// Reference values from Winkler (1990) and the Python jellyfish library.
TEST(JaroWinklerTest, MatchesReferenceValues) {
  const JwCase cases[] = {
      {"martha", "marhta", 0.9611},
      {"dwayne", "duane", 0.84},
      {"dixon", "dicksonx", 0.8133},
      {"jones", "johnson", 0.8323},
      {"abc", "abc", 1.0},
      {"abc", "xyz", 0.0},
      {"", "", 1.0},
      {"a", "", 0.0},
      {"crate", "trace", 0.7333},
  };
  for (const JwCase& c : cases) {
    EXPECT_NEAR(JaroWinkler(c.a, c.b), c.expected, 1e-3) << c.a << " / " << c.b;
    EXPECT_NEAR(JaroWinkler(c.b, c.a), c.expected, 1e-3) << c.b << " / " << c.a;
  }
}

TEST(JaroWinklerTest, LongStringsCompareTheirFirst64Bytes) {
  const std::string a(100, 'x');
  std::string b = a;
  b[90] = 'y';
  EXPECT_DOUBLE_EQ(JaroWinkler(a, b), 1.0);
}

TEST(WithinOneEditTest, AcceptsOneEditOnly) {
  EXPECT_TRUE(WithinOneEdit("2600", "2600"));
  EXPECT_TRUE(WithinOneEdit("2600", "2601"));  // substitution
  EXPECT_TRUE(WithinOneEdit("2600", "260"));   // deletion
  EXPECT_TRUE(WithinOneEdit("260", "2600"));   // insertion
  EXPECT_TRUE(WithinOneEdit("2600", "6200"));  // transposition
  EXPECT_FALSE(WithinOneEdit("2600", "6201"));
  EXPECT_FALSE(WithinOneEdit("2600", "26"));
  EXPECT_FALSE(WithinOneEdit("19450812", "19451208"));
}

TEST(NormalizeNameTest, FoldsCaseAccentsAndPunctuation) {
  EXPECT_EQ(NormalizeName("  O'Brien-Müller "), "obrienmuller");
  EXPECT_EQ(NormalizeName("JOSÉ"), "jose");
  EXPECT_EQ(NormalizeName("Nguyễn"), "nguyen");
  EXPECT_EQ(NormalizeName("Łukasz"), "lukasz");
  EXPECT_EQ(NormalizeName("van der Berg"), "vanderberg");
  EXPECT_EQ(NormalizeName("Straße"), "strasse");
  EXPECT_EQ(NormalizeName("李"), "李");
  EXPECT_EQ(NormalizeName(""), "");
}

TEST(SoundexTest, AmericanSoundex) {
  auto code = [](const char* name) {
    const uint32_t s = Soundex(name);
    return std::string(1, static_cast<char>(s >> 24)) + std::to_string(s & 0xFFFFFF);
  };
  EXPECT_EQ(code("robert"), "r163");
  EXPECT_EQ(code("rupert"), "r163");
  EXPECT_EQ(code("ashcraft"), "a261");
  EXPECT_EQ(code("tymczak"), "t522");
  EXPECT_EQ(code("pfister"), "p236");
  EXPECT_EQ(code("lee"), "l0");
  EXPECT_EQ(Soundex(""), 0u);
  EXPECT_NE(Soundex("李"), 0u);
}

TEST(NicknameTableTest, SharedGroupsOnly) {
  EXPECT_TRUE(ShareNicknameGroup(LookupNicknameGroups("william"), LookupNicknameGroups("bill")));
  EXPECT_TRUE(ShareNicknameGroup(LookupNicknameGroups("peggy"), LookupNicknameGroups("margaret")));
  EXPECT_TRUE(ShareNicknameGroup(LookupNicknameGroups("chris"), LookupNicknameGroups("christina")));
  EXPECT_TRUE(
      ShareNicknameGroup(LookupNicknameGroups("chris"), LookupNicknameGroups("christopher")));
  EXPECT_FALSE(
      ShareNicknameGroup(LookupNicknameGroups("christopher"), LookupNicknameGroups("christina")));
  EXPECT_FALSE(ShareNicknameGroup(LookupNicknameGroups("zzz"), LookupNicknameGroups("zzz")));
}

}  // namespace
}  // namespace medmigrate::dedup
