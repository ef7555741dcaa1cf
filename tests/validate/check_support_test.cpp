// The pure pieces the checks share: exact decimals (money to the cent, never
// floating point) and legacy keys as both databases sort them.
#include <gtest/gtest.h>

#include "validate/checks.h"

namespace medmigrate::validate {
namespace {

Decimal D(const char* text) {
  Decimal d;
  EXPECT_TRUE(Decimal::Parse(text, &d)) << text;
  return d;
}

TEST(DecimalTest, EqualValuesInAnySpellingAreEqual) {
  EXPECT_EQ(D("12.5").units, D("12.50").units);
  EXPECT_EQ(D("12").units, D("12.000000000").units);
  EXPECT_EQ(D("-0.01").units, -D("0.01").units);
  EXPECT_EQ(D("+3").units, D("3").units);
}

TEST(DecimalTest, OneCentApartIsDifferent) {
  EXPECT_NE(D("10000000000.00").units, D("10000000000.01").units);
  EXPECT_EQ(D("0.1").units + D("0.2").units, D("0.3").units);  // what a double gets wrong
}

TEST(DecimalTest, RejectsWhatIsNotANumber) {
  Decimal d;
  for (const char* bad : {"", "-", ".", "1.2.3", "12a", "1e5", "0.0000000001", " 1"}) {
    EXPECT_FALSE(Decimal::Parse(bad, &d)) << bad;
  }
  EXPECT_TRUE(Decimal::Parse("0.1000000000", &d));  // trailing zeros past 10^-9 are fine
}

TEST(DecimalTest, TextKeysCentsAndTrimsZeros) {
  EXPECT_EQ(D("12.5").Text(), "12.50");
  EXPECT_EQ(D("-0.01").Text(), "-0.01");
  EXPECT_EQ(D("1234567.125").Text(), "1234567.125");
  EXPECT_EQ(Decimal{}.Text(), "0.00");
}

TEST(KeyTest, ParsesPlainAndExplodedLegacyIds) {
  Key k;
  ASSERT_TRUE(ParseKey("42", &k));
  EXPECT_EQ(k, (Key{42, -1}));
  EXPECT_EQ(k.Text(), "42");
  ASSERT_TRUE(ParseKey("7:3", &k));
  EXPECT_EQ(k, (Key{7, 3}));
  EXPECT_EQ(k.Text(), "7:3");
  for (const char* bad : {"", "x", "7:", "7:-1", "7:3:1", "1.5"})
    EXPECT_FALSE(ParseKey(bad, &k)) << bad;
}

TEST(KeyTest, SortsAsTheDatabasesDo) {
  // A parent's row (no position) before its elements, elements by position, numerically.
  EXPECT_LT((Key{7, -1}), (Key{7, 0}));
  EXPECT_LT((Key{7, 2}), (Key{7, 10}));
  EXPECT_LT((Key{9, 99}), (Key{10, 0}));
}

}  // namespace
}  // namespace medmigrate::validate
