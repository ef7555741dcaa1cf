#include "dedup/person_record.h"

#include <algorithm>
#include <unordered_map>

#include "dedup/text_normalize.h"

namespace medmigrate::dedup {

namespace {

int ParseDigits(std::string_view s) {
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

void ParseDate(std::string_view raw, PreparedRecord* r) {
  std::string digits;
  for (char c : raw) {
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
    } else if (c != '-' && c != '/' && c != ' ') {
      return;
    }
  }
  if (digits.size() != 8) return;
  const int y = ParseDigits(std::string_view(digits).substr(0, 4));
  const int m = ParseDigits(std::string_view(digits).substr(4, 2));
  const int d = ParseDigits(std::string_view(digits).substr(6, 2));
  if (y <= 0) return;
  r->year = static_cast<int16_t>(y);
  r->month = static_cast<int8_t>(m);
  r->day = static_cast<int8_t>(d);
  r->date_digits = std::move(digits);
}

char ParseSex(std::string_view raw) {
  const std::string s = NormalizeCode(raw);
  if (s == "m" || s == "male") return 'm';
  if (s == "f" || s == "female") return 'f';
  return 0;
}

void ParseEmail(std::string_view raw, PreparedRecord* r) {
  std::string e = NormalizeText(raw);
  const size_t at = e.find('@');
  if (at == std::string::npos || at == 0 || e.find('@', at + 1) != std::string::npos) return;
  const size_t dot = e.find('.', at + 2);
  if (dot == std::string::npos || dot + 1 >= e.size() || e.find(' ') != std::string::npos) return;
  std::string local = e.substr(0, at);
  if (const size_t plus = local.find('+'); plus != std::string::npos && plus > 0) {
    local.resize(plus);
  }
  r->email = std::move(e);
  r->email_local = std::move(local);
}

}  // namespace

PreparedRecord PrepareOne(const PersonRecord& in) {
  PreparedRecord r;
  r.id = in.id;
  r.age_rank = in.age_rank;
  r.given = NormalizeName(in.given);
  r.family = NormalizeName(in.family);
  r.given_groups = LookupNicknameGroups(r.given);
  r.given_soundex = Soundex(r.given);
  r.family_soundex = Soundex(r.family);
  ParseDate(in.birth_date, &r);
  r.sex = ParseSex(in.sex);
  ParseEmail(in.email, &r);
  r.street_number = NormalizeCode(in.street_number);
  r.street = NormalizeText(in.street);
  r.address_line2 = NormalizeText(in.address_line2);
  r.locality = NormalizeText(in.locality);
  r.region = NormalizeCode(in.region);
  r.postcode = NormalizeCode(in.postcode);
  r.national_id = NormalizeCode(in.national_id);
  for (bool known :
       {!r.given.empty(), !r.family.empty(), r.has_date(), r.sex != 0, !r.email.empty(),
        !r.street.empty(), !r.postcode.empty(), !r.national_id.empty()}) {
    r.completeness += known ? 1 : 0;
  }
  return r;
}

std::vector<PreparedRecord> PrepareRecords(const std::vector<PersonRecord>& records) {
  std::vector<PreparedRecord> out;
  out.reserve(records.size());
  std::unordered_map<std::string_view, int> given_count;
  std::unordered_map<std::string_view, int> family_count;
  std::unordered_map<std::string_view, int> date_count;
  // Full names, "given\x1ffamily", owned here: the map's keys point into them.
  std::vector<std::string> full_names(records.size());
  std::unordered_map<std::string_view, int> name_count;
  for (const PersonRecord& in : records) out.push_back(PrepareOne(in));
  for (const PreparedRecord& r : out) {
    if (!r.given.empty()) ++given_count[r.given];
    if (!r.family.empty()) ++family_count[r.family];
    if (r.has_date()) ++date_count[r.date_digits];
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].given.empty() || out[i].family.empty()) continue;
    full_names[i] = out[i].given + '\x1f' + out[i].family;
    ++name_count[full_names[i]];
  }
  for (PreparedRecord& r : out) {
    if (!r.given.empty()) r.given_count = given_count[r.given];
    if (!r.family.empty()) r.family_count = family_count[r.family];
  }
  if (out.size() <= 2) return out;
  const double others = static_cast<double>(out.size() - 2);
  auto tf = [&](int count) { return static_cast<float>(std::max(count - 2, 0) / others); };
  for (PreparedRecord& r : out) {
    if (!r.given.empty()) r.given_tf = tf(given_count[r.given]);
    if (!r.family.empty()) r.family_tf = tf(family_count[r.family]);
    if (r.has_date()) r.date_tf = tf(date_count[r.date_digits]);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (!full_names[i].empty()) out[i].name_tf = tf(name_count[full_names[i]]);
  }
  return out;
}

}  // namespace medmigrate::dedup
