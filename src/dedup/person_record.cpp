#include "dedup/person_record.h"

#include <algorithm>
#include <cstring>

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
}

char ParseSex(std::string_view raw) {
  const std::string s = NormalizeCode(raw);
  if (s == "m" || s == "male") return 'm';
  if (s == "f" || s == "female") return 'f';
  return 0;
}

// The e-mail (lower case) and its local part's length, or "" when it does
// not look like local@domain.
std::string ParseEmail(std::string_view raw, size_t* local_size) {
  std::string e = NormalizeText(raw);
  const size_t at = e.find('@');
  if (at == std::string::npos || at == 0 || e.find('@', at + 1) != std::string::npos) return {};
  const size_t dot = e.find('.', at + 2);
  if (dot == std::string::npos || dot + 1 >= e.size() || e.find(' ') != std::string::npos) {
    return {};
  }
  *local_size = at;
  if (const size_t plus = e.find('+'); plus != std::string::npos && plus > 0 && plus < at) {
    *local_size = plus;
  }
  return e;
}

// Groups of equal values among records, counted without copying a value:
// (hash, index) sorted, then runs of equal hash split by `equal` (a hash
// collision costs a comparison, never a wrong count). Sets counts[i] to the
// records holding i's value for every i with has(i), 0 for the others.
template <typename Has, typename Hash, typename Equal>
void CountEqual(size_t n, Has&& has, Hash&& hash, Equal&& equal, std::vector<int>* counts) {
  struct Entry {
    uint64_t hash;
    uint32_t index;
  };
  counts->assign(n, 0);
  std::vector<Entry> entries;
  entries.reserve(n);  // not doubled past n (pages beyond those used stay untouched)
  for (size_t i = 0; i < n; ++i) {
    if (has(i)) entries.push_back({hash(i), static_cast<uint32_t>(i)});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.index < b.index;
  });
  std::vector<uint32_t> rest;
  size_t begin = 0;
  while (begin < entries.size()) {
    size_t end = begin + 1;
    while (end < entries.size() && entries[end].hash == entries[begin].hash) ++end;
    rest.clear();
    for (size_t k = begin; k < end; ++k) rest.push_back(entries[k].index);
    while (!rest.empty()) {  // almost always one pass: one value per hash
      const uint32_t first = rest[0];
      auto same = std::stable_partition(rest.begin(), rest.end(),
                                        [&](uint32_t i) { return equal(first, i); });
      const int count = static_cast<int>(same - rest.begin());
      for (auto it = rest.begin(); it != same; ++it) (*counts)[*it] = count;
      rest.erase(rest.begin(), same);
    }
    begin = end;
  }
}

}  // namespace

PackedText::PackedText(const std::string_view (&fields)[kSlotCount]) {
  size_t bytes = 0;
  bool wide = false;
  for (size_t f = 0; f < kSlotCount; ++f) {
    if (f != kEmailLocal) bytes += fields[f].size();
    wide = wide || fields[f].size() > UINT8_MAX;
  }
  if (bytes == 0) return;
  const size_t length_bytes = wide ? sizeof(uint32_t) : 1;
  block_ = new char[1 + kSlotCount * length_bytes + bytes];
  block_[0] = wide ? 1 : 0;
  char* out = block_ + 1;
  for (size_t f = 0; f < kSlotCount; ++f) {
    const uint32_t size = static_cast<uint32_t>(fields[f].size());
    if (wide) {
      std::memcpy(out, &size, sizeof size);
    } else {
      *out = static_cast<char>(size);
    }
    out += length_bytes;
  }
  for (size_t f = 0; f < kSlotCount; ++f) {
    if (f == kEmailLocal || fields[f].empty()) continue;
    std::memcpy(out, fields[f].data(), fields[f].size());
    out += fields[f].size();
  }
}

PackedText::PackedText(const PackedText& other) {
  if (other.block_ == nullptr) return;
  const size_t bytes = other.block_bytes();
  block_ = new char[bytes];
  std::memcpy(block_, other.block_, bytes);
}

PackedText& PackedText::operator=(const PackedText& other) {
  if (this != &other) *this = PackedText(other);
  return *this;
}

PackedText& PackedText::operator=(PackedText&& other) noexcept {
  if (this != &other) {
    delete[] block_;
    block_ = other.block_;
    other.block_ = nullptr;
  }
  return *this;
}

size_t PackedText::block_bytes() const {
  if (block_ == nullptr) return 0;
  size_t bytes = HeaderBytes();
  for (size_t f = 0; f < kSlotCount; ++f) {
    if (f != kEmailLocal) bytes += Length(f);
  }
  return bytes;
}

PreparedRecord PrepareOne(const PersonRecord& in) {
  PreparedRecord r;
  r.id = in.id;
  r.age_rank = in.age_rank;
  const std::string given = NormalizeName(in.given);
  const std::string family = NormalizeName(in.family);
  r.given_groups = LookupNicknameGroups(given);
  r.given_soundex = Soundex(given);
  r.family_soundex = Soundex(family);
  ParseDate(in.birth_date, &r);
  r.sex = ParseSex(in.sex);
  size_t local_size = 0;
  const std::string email = ParseEmail(in.email, &local_size);
  const std::string street_number = NormalizeCode(in.street_number);
  const std::string street = NormalizeText(in.street);
  const std::string address_line2 = NormalizeText(in.address_line2);
  const std::string locality = NormalizeText(in.locality);
  const std::string region = NormalizeCode(in.region);
  const std::string postcode = NormalizeCode(in.postcode);
  const std::string national_id = NormalizeCode(in.national_id);
  const std::string_view fields[PackedText::kSlotCount] = {
      given,         family,   email,         std::string_view(email).substr(0, local_size),
      street_number, street,   address_line2, locality,
      region,        postcode, national_id};
  r.text = PackedText(fields);
  for (bool known : {!given.empty(), !family.empty(), r.has_date(), r.sex != 0, !email.empty(),
                     !street.empty(), !postcode.empty(), !national_id.empty()}) {
    r.completeness += known ? 1 : 0;
  }
  return r;
}

std::vector<PreparedRecord> PrepareRecords(const std::vector<PersonRecord>& records) {
  std::vector<PreparedRecord> out;
  out.reserve(records.size());
  for (const PersonRecord& in : records) out.push_back(PrepareOne(in));
  CountTermFrequencies(&out);
  return out;
}

void CountTermFrequencies(std::vector<PreparedRecord>* records) {
  std::vector<PreparedRecord>& out = *records;
  const size_t n = out.size();
  std::vector<int> counts;
  auto given = [&](size_t i) { return out[i].given(); };
  auto family = [&](size_t i) { return out[i].family(); };
  CountEqual(
      n, [&](size_t i) { return !given(i).empty(); }, [&](size_t i) { return Fnv1a(given(i)); },
      [&](size_t i, size_t j) { return given(i) == given(j); }, &counts);
  for (size_t i = 0; i < n; ++i) out[i].given_count = counts[i];
  CountEqual(
      n, [&](size_t i) { return !family(i).empty(); }, [&](size_t i) { return Fnv1a(family(i)); },
      [&](size_t i, size_t j) { return family(i) == family(j); }, &counts);
  for (size_t i = 0; i < n; ++i) out[i].family_count = counts[i];
  if (n <= 2) return;
  const double others = static_cast<double>(n - 2);
  auto tf = [&](int count) { return static_cast<float>(std::max(count - 2, 0) / others); };
  for (PreparedRecord& r : out) {
    if (!r.given().empty()) r.given_tf = tf(r.given_count);
    if (!r.family().empty()) r.family_tf = tf(r.family_count);
  }
  // Birth dates: the components are the value ("YYYYMMDD" digits).
  auto date = [&](size_t i) {
    return uint64_t(uint16_t(out[i].year)) << 16 | uint64_t(uint8_t(out[i].month)) << 8 |
           uint8_t(out[i].day);
  };
  CountEqual(
      n, [&](size_t i) { return out[i].has_date(); }, date,
      [&](size_t i, size_t j) { return date(i) == date(j); }, &counts);
  for (PreparedRecord& r : out) {
    if (r.has_date()) r.date_tf = tf(counts[static_cast<size_t>(&r - out.data())]);
  }
  // Full names: given and family both the same.
  auto named = [&](size_t i) { return !given(i).empty() && !family(i).empty(); };
  CountEqual(
      n, named, [&](size_t i) { return Fnv1a(family(i), Fnv1a(given(i)) ^ 0x1f); },
      [&](size_t i, size_t j) { return given(i) == given(j) && family(i) == family(j); }, &counts);
  for (size_t i = 0; i < n; ++i) {
    if (named(i)) out[i].name_tf = tf(counts[i]);
  }
}

}  // namespace medmigrate::dedup
