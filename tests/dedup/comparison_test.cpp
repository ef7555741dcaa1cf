#include "dedup/comparison.h"

#include <gtest/gtest.h>

namespace medmigrate::dedup {
namespace {

PersonRecord Person(const char* given, const char* family, const char* date, const char* email = "",
                    const char* sex = "") {
  PersonRecord r;
  r.given = given;
  r.family = family;
  r.birth_date = date;
  r.email = email;
  r.sex = sex;
  return r;
}

std::string_view Level(const PersonRecord& a, const PersonRecord& b, FieldId field) {
  const size_t f = static_cast<size_t>(field);
  return kFields[f].levels[LevelOf(Compare(PrepareOne(a), PrepareOne(b), false), f)];
}

// One row per level: the table is the specification of the comparators.
struct LevelCase {
  PersonRecord a;
  PersonRecord b;
  FieldId field;
  const char* level;
};

TEST(ComparisonTest, LevelsOfEachField) {
  const LevelCase cases[] = {
      {Person("John", "Smith", "1980-03-04"), Person(" JOHN ", "smith", "19800304"),
       FieldId::kGiven, "exact"},
      {Person("William", "Smith", ""), Person("Bill", "Smith", ""), FieldId::kGiven, "nickname"},
      {Person("Jonathan", "Smith", ""), Person("Jonathen", "Smith", ""), FieldId::kGiven,
       "jw_0.92"},
      {Person("J", "Smith", ""), Person("John", "Smith", ""), FieldId::kGiven, "initial"},
      {Person("John", "Smith", ""), Person("Mary", "Smith", ""), FieldId::kGiven, "different"},
      {Person("", "Smith", ""), Person("Mary", "Smith", ""), FieldId::kGiven, "missing"},
      {Person("John", "Smith", ""), Person("John", "Smyth", ""), FieldId::kFamily, "jw_0.80"},
      {Person("x", "x", "1980-03-04"), Person("x", "x", "1980-03-04"), FieldId::kBirthDate,
       "exact"},
      {Person("x", "x", "1980-03-04"), Person("x", "x", "1980-04-03"), FieldId::kBirthDate,
       "day_month_swapped"},
      {Person("x", "x", "1980-03-04"), Person("x", "x", "1981-03-04"), FieldId::kBirthDate,
       "one_component"},
      {Person("x", "x", "19800304"), Person("x", "x", "19800340"), FieldId::kBirthDate,
       "one_component"},
      {Person("x", "x", "1985-03-04"), Person("x", "x", "1958-03-04"), FieldId::kBirthDate,
       "one_component"},
      // Namesakes' birthdays: same day and month, decades apart (not one edit).
      {Person("x", "x", "1950-03-04"), Person("x", "x", "1980-03-04"), FieldId::kBirthDate,
       "different"},
      {Person("x", "x", "1950-03-04"), Person("x", "x", "1994-03-04"), FieldId::kBirthDate,
       "different"},
      {Person("x", "x", "19800314"), Person("x", "x", "19800134"), FieldId::kBirthDate, "one_edit"},
      {Person("x", "x", "1980-03-04"), Person("x", "x", "1980-11-22"), FieldId::kBirthDate,
       "year_only"},
      {Person("x", "x", "1980-03-04"), Person("x", "x", "1975-11-22"), FieldId::kBirthDate,
       "different"},
      {Person("x", "x", "1980-03-04"), Person("x", "x", ""), FieldId::kBirthDate, "missing"},
      {Person("x", "x", "", "A@B.com"), Person("x", "x", "", "a@b.com"), FieldId::kEmail, "exact"},
      {Person("x", "x", "", "ann@b.com"), Person("x", "x", "", "ann+x@c.org"), FieldId::kEmail,
       "same_local_part"},
      {Person("x", "x", "", "ann@b.com"), Person("x", "x", "", "n/a"), FieldId::kEmail, "missing"},
      {Person("x", "x", "", "", "M"), Person("x", "x", "", "", "m"), FieldId::kSex, "same"},
      {Person("x", "x", "", "", "M"), Person("x", "x", "", "", "F"), FieldId::kSex, "different"},
      {Person("x", "x", "", "", "U"), Person("x", "x", "", "", "F"), FieldId::kSex, "missing"},
  };
  for (const LevelCase& c : cases) {
    EXPECT_EQ(Level(c.a, c.b, c.field), c.level)
        << kFields[static_cast<size_t>(c.field)].name << ": " << c.a.given << " " << c.a.family
        << " " << c.a.birth_date << " / " << c.b.given << " " << c.b.family << " "
        << c.b.birth_date;
  }
}

TEST(ComparisonTest, CrossedNamesCompareGivenWithFamily) {
  const PreparedRecord a = PrepareOne(Person("Smith", "John", ""));
  const PreparedRecord b = PrepareOne(Person("John", "Smith", ""));
  const Pattern p = Compare(a, b, false);
  EXPECT_TRUE(p & kCrossedNames);
  EXPECT_EQ(LevelOf(p, 0), 1);  // exact, crossed
  EXPECT_EQ(LevelOf(p, 1), 1);
  const Pattern straight = Compare(b, b, false);
  EXPECT_FALSE(straight & kCrossedNames);
}

TEST(ComparisonTest, NationalIdOnlyWhenAsked) {
  PersonRecord a = Person("x", "y", "");
  a.national_id = "1234567";
  PersonRecord b = a;
  const size_t f = static_cast<size_t>(FieldId::kNationalId);
  EXPECT_EQ(LevelOf(Compare(PrepareOne(a), PrepareOne(b), true), f), 1);
  EXPECT_EQ(LevelOf(Compare(PrepareOne(a), PrepareOne(b), false), f), 0);
}

// Larsen and Larson, each held by many records, are two names people have;
// "Larsne", held by one, is a typo of one of them. PrepareOne counts nothing,
// so alone the pair keeps the plain Jaro-Winkler level.
TEST(ComparisonTest, SimilarSpellingsOfCommonNamesAreTheirOwnLevel) {
  std::vector<PersonRecord> people;
  for (int i = 0; i < kCommonNameRecords; ++i) {
    people.push_back(Person("Ann", "Larsen", ""));
    people.push_back(Person("Ann", "Larson", ""));
  }
  people.push_back(Person("Ann", "Larsne", ""));
  const std::vector<PreparedRecord> r = PrepareRecords(people);
  const size_t family = static_cast<size_t>(FieldId::kFamily);
  auto level = [&](size_t i, size_t j) {
    return kFields[family].levels[LevelOf(Compare(r[i], r[j], false), family)];
  };
  EXPECT_EQ(level(0, 1), "similar_common");
  EXPECT_EQ(level(0, people.size() - 1), "jw_0.92");
  EXPECT_EQ(Level(people[0], people[1], FieldId::kFamily), "jw_0.92");
  EXPECT_TRUE(IsNameVariation(LevelOf(Compare(r[0], r[1], false), family)));
}

}  // namespace
}  // namespace medmigrate::dedup

namespace medmigrate::dedup {
namespace {

Hold HoldOfPair(const PersonRecord& a, const PersonRecord& b) {
  return HoldOf(Compare(PrepareOne(a), PrepareOne(b), false));
}

// One row per hold rule and per case each must leave alone: twins, siblings
// and namesakes are never merged automatically (issue 13); a duplicate with a
// typo, a nickname or a swapped day and month still may be.
struct HoldCase {
  const char* what;
  PersonRecord a;
  PersonRecord b;
  Hold hold;
};

TEST(ComparisonTest, HoldRulesKeepDifferentPeopleFromAutomaticMerges) {
  const HoldCase cases[] = {
      {"twins, other names, other sexes",
       Person("Liam", "Novak", "2014-05-06", "parent@x.org", "M"),
       Person("Emma", "Novak", "2014-05-06", "parent@x.org", "F"), Hold::kTwinPattern},
      {"same-sex twins with close names",
       Person("Aiden", "Novak", "2014-05-06", "parent@x.org", "M"),
       Person("Aidan", "Novak", "2014-05-06", "parent@x.org", "M"), Hold::kTwinPattern},
      {"twins, one name a typo-like band", Person("Anna", "Novak", "2014-05-06", "p@x.org"),
       Person("Anne", "Novak", "2014-05-06", "p@x.org"), Hold::kTwinPattern},
      {"sexes differ", Person("Sam", "Novak", "2014-05-06", "", "M"),
       Person("Sam", "Novak", "2014-05-06", "", "F"), Hold::kSexesDiffer},
      {"given names differ", Person("Liam", "Novak", "2014-05-06"),
       Person("Oscar", "Novak", "2014-05-06"), Hold::kGivenNamesDiffer},
      {"namesakes decades apart", Person("John", "Smith", "1951-02-03", "js@x.org"),
       Person("John", "Smith", "1982-07-19", "js@x.org"), Hold::kBirthDatesDiffer},
      {"namesakes of one year", Person("John", "Smith", "1982-02-03"),
       Person("John", "Smith", "1982-07-19"), Hold::kBirthDatesDiffer},
      {"siblings on a parent's address", Person("Liam", "Novak", "2012-01-02", "p@x.org"),
       Person("Emma", "Novak", "2015-08-09", "p@x.org"), Hold::kGivenNamesDiffer},
      {"duplicate: exact", Person("Liam", "Novak", "2014-05-06", "p@x.org", "M"),
       Person("LIAM", "novak", "2014-05-06", "p@x.org", "m"), Hold::kNone},
      {"duplicate: nickname", Person("William", "Novak", "2014-05-06", "p@x.org"),
       Person("Bill", "Novak", "2014-05-06", "p@x.org"), Hold::kNone},
      {"duplicate: typo, other e-mail", Person("Jonathan", "Novak", "2014-05-06", "a@x.org"),
       Person("Jonathen", "Novak", "2014-05-06", "b@y.org"), Hold::kNone},
      {"duplicate: day and month swapped", Person("Liam", "Novak", "2014-05-06"),
       Person("Liam", "Novak", "2014-06-05"), Hold::kNone},
      {"duplicate: one digit off", Person("Liam", "Novak", "2014-05-06"),
       Person("Liam", "Novak", "2014-05-08"), Hold::kNone},
      {"duplicate: sex unknown on one side", Person("Liam", "Novak", "2014-05-06", "", "M"),
       Person("Liam", "Novak", "2014-05-06", "", "U"), Hold::kNone},
      {"duplicate: married, new surname", Person("Anna", "Novak", "1990-05-06", "", "F"),
       Person("Anna", "Berg", "1990-05-06", "", "F"), Hold::kNone},
  };
  for (const HoldCase& c : cases) {
    EXPECT_EQ(HoldOfPair(c.a, c.b), c.hold) << c.what;
    EXPECT_EQ(HoldOfPair(c.b, c.a), c.hold) << c.what << " (sides swapped)";
  }
  EXPECT_EQ(HoldName(Hold::kTwinPattern), "twin_pattern");
  EXPECT_EQ(HoldName(Hold::kNone), "");
}

}  // namespace
}  // namespace medmigrate::dedup
