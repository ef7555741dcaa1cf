#include "dedup/comparison.h"

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "dedup/string_similarity.h"

namespace medmigrate::dedup {

namespace {

constexpr std::string_view kNameLevels[] = {"missing", "exact",   "nickname",  "jw_0.92",
                                            "jw_0.80", "initial", "different", "similar_common"};
constexpr std::string_view kDateLevels[] = {
    "missing", "exact", "day_month_swapped", "one_component", "one_edit", "year_only", "different"};
constexpr std::string_view kEmailLevels[] = {"missing", "exact", "same_local_part", "different"};
constexpr std::string_view kSexLevels[] = {"missing", "same", "different"};
constexpr std::string_view kTextLevels[] = {"missing", "exact", "jw_0.92", "jw_0.80", "different"};
constexpr std::string_view kCodeLevels[] = {"missing", "exact", "one_edit", "different"};

// Level numbers, as indices into the tables above.
enum NameLevel : uint8_t {
  kNameExact = 1,
  kNameNick,
  kNameJwHigh,
  kNameJwMid,
  kNameInitial,
  kNameDiff,
  kNameSimilarCommon,
};

// Two spellings within Jaro-Winkler 0.80 that each at least
// kCommonNameRecords records hold are two names people have (Larsen, Larson),
// not a typo of one: a typo makes a spelling almost nobody else uses. Weighed
// as a level of its own, so EM learns how rarely a duplicate turns one common
// name into another, where the plain jw levels (learnt mostly from typos)
// took such different people for the same person. Two spellings of which one
// is held by less than 1/kTypoRarity as many records as the other are a name
// and its typo, however many records the typo has (at 250,000 patients a
// common slip of a common name recurs).
constexpr int kTypoRarity = 10;
enum DateLevel : uint8_t {
  kDateExact = 1,
  kDateSwapped,
  kDateOneComponent,
  kDateOneEdit,
  kDateYear,
  kDateDiff
};

uint8_t CompareName(std::string_view a, std::string_view b, const NicknameGroups* ga,
                    const NicknameGroups* gb) {
  if (a.empty() || b.empty()) return 0;
  if (a == b) return kNameExact;
  if (ga && ShareNicknameGroup(*ga, *gb)) return kNameNick;
  if (a.size() == 1 || b.size() == 1) return a[0] == b[0] ? kNameInitial : kNameDiff;
  const double jw = JaroWinkler(a, b);
  if (jw >= 0.92) return kNameJwHigh;
  if (jw >= 0.80) return kNameJwMid;
  return kNameDiff;
}

// A year mistyped: off by less than ten (the last digit, or the one before
// it carried), or its last two digits transposed (1985 / 1958). Two years
// decades apart with the same day and month are namesakes' birthdays far
// more often than a slip of the decade digit: that pair is not a typo.
bool YearTypo(int a, int b) {
  if (std::abs(a - b) < 10) return true;
  return a / 100 == b / 100 && a % 10 == (b / 10) % 10 && (a / 10) % 10 == b % 10;
}

uint8_t CompareDate(const PreparedRecord& a, const PreparedRecord& b) {
  if (!a.has_date() || !b.has_date()) return 0;
  const bool y = a.year == b.year;
  const bool m = a.month == b.month;
  const bool d = a.day == b.day;
  if (y && m && d) return kDateExact;
  if (y && a.month == b.day && a.day == b.month) return kDateSwapped;
  if (y && (m || d)) return kDateOneComponent;
  if (m && d) return YearTypo(a.year, b.year) ? kDateOneComponent : kDateDiff;
  const std::array<char, 8> da = a.date_digits();
  const std::array<char, 8> db = b.date_digits();
  if (WithinOneEdit({da.data(), da.size()}, {db.data(), db.size()})) return kDateOneEdit;
  if (y) return kDateYear;
  return kDateDiff;
}

uint8_t CompareText(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return 0;
  if (a == b) return 1;
  const double jw = JaroWinkler(a, b);
  if (jw >= 0.92) return 2;
  if (jw >= 0.80) return 3;
  return 4;
}

uint8_t CompareCode(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return 0;
  if (a == b) return 1;
  return WithinOneEdit(a, b) ? 2 : 3;
}

// Higher is better; missing counts as nothing.
int NameQuality(uint8_t level) { return level == 0 ? 0 : 8 - level; }

uint8_t SplitCommon(uint8_t level, int count_a, int count_b) {
  const bool similar = level == kNameJwHigh || level == kNameJwMid;
  // A frequent typo (one of the few ways to mistype a name many people have)
  // is still rarer than the name by far.
  const int rarer = std::min(count_a, count_b);
  const int commoner = std::max(count_a, count_b);
  if (similar && rarer >= kCommonNameRecords && rarer * kTypoRarity >= commoner) {
    return kNameSimilarCommon;
  }
  return level;
}

// A hold rule: per field, the levels that match it (a bit per level; 0: any
// level). A pattern matches when every field's level is among its levels.
struct HoldRule {
  Hold hold;
  std::string_view name;
  std::array<uint16_t, kFieldCount> levels;
};

constexpr uint16_t Levels(std::initializer_list<uint8_t> list) {
  uint16_t mask = 0;
  for (uint8_t l : list) mask = static_cast<uint16_t>(mask | (1u << l));
  return mask;
}

constexpr size_t F(FieldId f) { return static_cast<size_t>(f); }

constexpr uint16_t kKnownOtherGiven =
    Levels({kNameJwHigh, kNameJwMid, kNameInitial, kNameDiff, kNameSimilarCommon});
constexpr uint16_t kSameOrCloseFamily =
    Levels({kNameExact, kNameNick, kNameJwHigh, kNameJwMid, kNameSimilarCommon});

// In order: the first that matches names the hold. Rules are data: a new one
// is a row here and a row in comparison_test.cpp.
constexpr std::array<HoldRule, 4> kHoldRules = [] {
  std::array<HoldRule, 4> rules{};
  // Twins, triplets, siblings born on one day: a parent registers them under
  // one e-mail, with one family name and one birth date. Even a close given
  // name (Anna / Anne, Aiden / Aidan) is another child here; only exact or
  // nickname agreement may be one child registered twice.
  rules[0] = {Hold::kTwinPattern, "twin_pattern", {}};
  rules[0].levels[F(FieldId::kGiven)] = kKnownOtherGiven;
  rules[0].levels[F(FieldId::kFamily)] = kSameOrCloseFamily;
  rules[0].levels[F(FieldId::kBirthDate)] = Levels({kDateExact});
  rules[0].levels[F(FieldId::kEmail)] = Levels({1});  // exact
  rules[1] = {Hold::kSexesDiffer, "sexes_differ", {}};
  rules[1].levels[F(FieldId::kSex)] = Levels({2});  // different
  // Two names people have (similar_common: Larsen / Larson) or two unrelated
  // names: not a typo, not a nickname.
  rules[2] = {Hold::kGivenNamesDiffer, "given_names_differ", {}};
  rules[2].levels[F(FieldId::kGiven)] = Levels({kNameDiff, kNameSimilarCommon});
  // Namesakes: the same name, born in other years or on another day of the
  // same year. A typo changes one component or one digit, or swaps day and
  // month; these levels are neither.
  rules[3] = {Hold::kBirthDatesDiffer, "birth_dates_differ", {}};
  rules[3].levels[F(FieldId::kBirthDate)] = Levels({kDateYear, kDateDiff});
  return rules;
}();

}  // namespace

Hold HoldOf(Pattern p) {
  for (const HoldRule& rule : kHoldRules) {
    bool match = true;
    for (size_t f = 0; match && f < kFieldCount; ++f) {
      const uint16_t levels = rule.levels[f];
      match = levels == 0 || (levels >> LevelOf(p, f) & 1u) != 0;
    }
    if (match) return rule.hold;
  }
  return Hold::kNone;
}

std::string_view HoldName(Hold hold) {
  for (const HoldRule& rule : kHoldRules) {
    if (rule.hold == hold) return rule.name;
  }
  return "";
}

bool IsNameVariation(uint8_t level) {
  return level == kNameNick || level == kNameJwHigh || level == kNameJwMid ||
         level == kNameSimilarCommon;
}

const std::array<FieldInfo, kFieldCount> kFields = {{
    {FieldId::kGiven, "given_name", kNameLevels, kNameExact},
    {FieldId::kFamily, "family_name", kNameLevels, kNameExact},
    {FieldId::kBirthDate, "birth_date", kDateLevels, kDateExact},
    {FieldId::kSex, "sex", kSexLevels, 0},
    {FieldId::kEmail, "email", kEmailLevels, 0},
    {FieldId::kStreetNumber, "street_number", kCodeLevels, 0},
    {FieldId::kStreet, "street", kTextLevels, 0},
    {FieldId::kAddressLine2, "address_line2", kTextLevels, 0},
    {FieldId::kLocality, "locality", kTextLevels, 0},
    {FieldId::kRegion, "region", kCodeLevels, 0},
    {FieldId::kPostcode, "postcode", kCodeLevels, 0},
    {FieldId::kNationalId, "national_id", kCodeLevels, 0},
}};

Pattern Compare(const PreparedRecord& a, const PreparedRecord& b, bool use_national_id) {
  // The text fields are decoded per access (PackedText): once here.
  const std::string_view ag = a.given(), af = a.family(), bg = b.given(), bf = b.family();
  uint8_t given = CompareName(ag, bg, &a.given_groups, &b.given_groups);
  uint8_t family = CompareName(af, bf, nullptr, nullptr);
  Pattern p = 0;
  // Crossed names (given and family swapped on one side): taken when both
  // crossed comparisons are close and together better than the straight ones.
  // Tried only when a straight name is poor and an initial matches crosswise.
  if ((given > kNameJwHigh || family > kNameJwHigh) && !ag.empty() && !af.empty() && !bg.empty() &&
      !bf.empty() && (ag[0] == bf[0] || af[0] == bg[0])) {
    const uint8_t gc = CompareName(ag, bf, nullptr, nullptr);
    const uint8_t fc = CompareName(af, bg, nullptr, nullptr);
    if (gc != 0 && fc != 0 && gc <= kNameJwMid && fc <= kNameJwMid &&
        NameQuality(gc) + NameQuality(fc) > NameQuality(given) + NameQuality(family)) {
      given = gc;
      family = fc;
      p |= kCrossedNames;
    }
  }
  if (p & kCrossedNames) {
    given = SplitCommon(given, a.given_count, b.family_count);
    family = SplitCommon(family, a.family_count, b.given_count);
  } else {
    given = SplitCommon(given, a.given_count, b.given_count);
    family = SplitCommon(family, a.family_count, b.family_count);
  }
  uint8_t sex = 0;
  if (a.sex != 0 && b.sex != 0) sex = a.sex == b.sex ? 1 : 2;
  uint8_t email = 0;
  if (!a.email().empty() && !b.email().empty()) {
    email = a.email() == b.email() ? 1 : (a.email_local() == b.email_local() ? 2 : 3);
  }
  const uint8_t levels[kFieldCount] = {
      given,
      family,
      CompareDate(a, b),
      sex,
      email,
      CompareCode(a.street_number(), b.street_number()),
      CompareText(a.street(), b.street()),
      CompareText(a.address_line2(), b.address_line2()),
      CompareText(a.locality(), b.locality()),
      CompareCode(a.region(), b.region()),
      CompareCode(a.postcode(), b.postcode()),
      use_national_id ? CompareCode(a.national_id(), b.national_id()) : uint8_t{0},
  };
  for (size_t f = 0; f < kFieldCount; ++f) p |= Pattern{levels[f]} << (4 * f);
  return p;
}

}  // namespace medmigrate::dedup
