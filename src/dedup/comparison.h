// The comparison of two prepared records, field by field, each at several
// levels (exact, nickname, Jaro-Winkler bands, initials, crossed names, birth
// date one component off or day/month swapped, ...). The fields and their
// levels are data (kFields); a pair's levels are packed into a Pattern, 4 bits
// per field, which the match model weighs. Level 0 of every field is
// "missing": one side does not know the value, and the field weighs nothing.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "dedup/person_record.h"

namespace medmigrate::dedup {

enum class FieldId : uint8_t {
  kGiven,
  kFamily,
  kBirthDate,
  kSex,
  kEmail,
  kStreetNumber,
  kStreet,
  kAddressLine2,
  kLocality,
  kRegion,
  kPostcode,
  kNationalId,
};
inline constexpr size_t kFieldCount = 12;
inline constexpr size_t kMaxLevels = 8;

struct FieldInfo {
  FieldId id;
  std::string_view name;
  std::span<const std::string_view> levels;  // [0] is "missing"
  // Level whose weight is adjusted by the value's term frequency (0: none).
  uint8_t tf_level;
};

extern const std::array<FieldInfo, kFieldCount> kFields;

// A name spelling fewer records than this hold is rare (most often a typo);
// between two spellings that at least this many records each hold, a close
// Jaro-Winkler similarity is its own level, similar_common (comparison.cpp).
inline constexpr int kCommonNameRecords = 5;

// Whether a name level is a near miss: nickname, a Jaro-Winkler band, or
// similar_common (not exact, not initial-only, not different).
bool IsNameVariation(uint8_t level);

// Levels of one pair: field f at bits [4f, 4f+4); bit 63 set when the given
// and family names matched crossed (a's given against b's family).
using Pattern = uint64_t;
inline constexpr Pattern kCrossedNames = Pattern{1} << 63;

inline uint8_t LevelOf(Pattern p, size_t field) {
  return static_cast<uint8_t>((p >> (4 * field)) & 0xF);
}

// Compares every field of a and b. Allocates nothing. With `use_national_id`
// false the national id is treated as missing on both sides.
Pattern Compare(const PreparedRecord& a, const PreparedRecord& b, bool use_national_id);

// Why a pair may at most be reviewed, never merged automatically, whatever
// it scores: its levels are those of two different people as often as of a
// careless duplicate (twins registered by a parent under one e-mail, siblings,
// namesakes). A master patient index treats these as hard rules, not as
// evidence to weigh: the score of twins is high (same family name, birth date
// and e-mail), and only a person can tell them from a duplicate.
enum class Hold : uint8_t {
  kNone = 0,
  kTwinPattern,       // same family name, birth date and e-mail; other given names
  kSexesDiffer,       // both known, different
  kGivenNamesDiffer,  // both known, beyond typo or nickname
  kBirthDatesDiffer,  // both known, beyond typo or swapped day and month
};

// The first rule of kHoldRules the pattern matches. Pure, no allocation.
Hold HoldOf(Pattern p);
// "twin_pattern", "sexes_differ", ... ("" for kNone): what the review queue
// and the explanation show.
std::string_view HoldName(Hold hold);

}  // namespace medmigrate::dedup
