// A person as deduplication sees it (PersonRecord: the raw values a source
// gives) and the prepared form every comparison and blocking key reads
// (PreparedRecord: normal forms, phonetic codes, initials, nickname groups and
// term frequencies, computed once per record, never per pair).
//
// Records hold patient data: nothing here may reach a log line, an error or a
// report. Only `dedup list` / `dedup show` display them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dedup/nickname_table.h"

namespace medmigrate::dedup {

// Raw values; "" is unknown. Address parts are optional: a source without an
// address (MDW patients) leaves them empty and those fields weigh nothing.
struct PersonRecord {
  int64_t id = 0;        // the caller's identifier (legacy id, row number)
  int64_t age_rank = 0;  // smaller is older; picks the survivor among equals
  std::string given;
  std::string family;
  std::string birth_date;  // "YYYYMMDD" or "YYYY-MM-DD"; invalid dates are kept as given
  std::string sex;         // "m"/"male", "f"/"female" in any case; anything else unknown
  std::string email;
  std::string street_number;
  std::string street;  // first address line
  std::string address_line2;
  std::string locality;  // suburb, city
  std::string region;    // state
  std::string postcode;
  std::string national_id;  // SSN-like identifier
};

struct PreparedRecord {
  int64_t id = 0;
  int64_t age_rank = 0;
  std::string given;   // NormalizeName
  std::string family;  // NormalizeName
  NicknameGroups given_groups{};
  uint32_t given_soundex = 0;
  uint32_t family_soundex = 0;
  // Birth date components; 0 when unknown. Not checked against a calendar.
  int16_t year = 0;
  int8_t month = 0;
  int8_t day = 0;
  std::string date_digits;  // "YYYYMMDD" when known, for the one-edit level
  char sex = 0;             // 'm', 'f' or 0
  std::string email;        // lower case, "" unless it looks like local@domain
  std::string email_local;  // before '@', without a "+tag"
  std::string street_number, street, address_line2, locality, region, postcode, national_id;
  // Term frequency for the adjustment of exact agreement: the share of the
  // other records, beyond this one and the one it agrees with, that hold the
  // same value ((count - 2) / (n - 2)); -1 when unknown or not counted.
  float given_tf = -1;
  float family_tf = -1;
  float date_tf = -1;
  float name_tf = -1;  // of the full name (given and family together)
  // Records (this one included) holding the same given / family name; 0 when
  // unknown or not counted (PrepareOne). Tells a spelling nobody else uses
  // (a typo) from a name many people have (comparison.h).
  int given_count = 0;
  int family_count = 0;
  int completeness = 0;  // known fields, for the survivor rule

  bool has_date() const { return year != 0; }
};

// Prepares `records`, term frequencies counted over all of them. The result
// is indexed like the input.
std::vector<PreparedRecord> PrepareRecords(const std::vector<PersonRecord>& records);

// Prepares one record alone: term frequencies stay -1, so exact agreement on
// its names weighs the field's average (PrepareRecords sets them).
PreparedRecord PrepareOne(const PersonRecord& record);

}  // namespace medmigrate::dedup
