#include "dedup/person_record.h"

#include <algorithm>
#include <cstring>

#include "dedup/record_store.h"
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

void PackedText::Assign(std::string_view bytes) {
  if (bytes.empty()) {
    delete[] block_;
    block_ = nullptr;
    return;
  }
  if (block_ == nullptr || block_bytes() < bytes.size()) {
    delete[] block_;
    block_ = new char[bytes.size()];
  }
  std::memcpy(block_, bytes.data(), bytes.size());
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
  VectorRecords in_memory(records);
  CountTermFrequencies(&in_memory, size_t{1} << 40, "");  // never spills
}

}  // namespace medmigrate::dedup
