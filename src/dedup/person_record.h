// A person as deduplication sees it (PersonRecord: the raw values a source
// gives) and the prepared form every comparison and blocking key reads
// (PreparedRecord: normal forms, phonetic codes, initials, nickname groups and
// term frequencies, computed once per record, never per pair).
//
// Records hold patient data: nothing here may reach a log line, an error or a
// report. Only `dedup list` / `dedup show` display them.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
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

// The text fields of one prepared record in one heap block (none when all
// are empty): a header of field lengths, then the fields back to back. A
// dozen std::string members cost 32 bytes each even when empty, and one
// allocation each when longer than 15 bytes; a source that fills few fields
// (MDW: names, birth date, e-mail) pays here for what it holds only.
class PackedText {
 public:
  enum Slot : uint8_t {
    kGiven,
    kFamily,
    kEmail,
    kEmailLocal,  // a prefix of kEmail: its length only, no bytes of its own
    kStreetNumber,
    kStreet,
    kAddressLine2,
    kLocality,
    kRegion,
    kPostcode,
    kNationalId,
    kSlotCount,
  };

  PackedText() = default;
  // `fields` indexed by Slot; fields[kEmailLocal] must be a prefix of
  // fields[kEmail].
  explicit PackedText(const std::string_view (&fields)[kSlotCount]);
  PackedText(const PackedText& other);
  PackedText& operator=(const PackedText& other);
  PackedText(PackedText&& other) noexcept : block_(other.block_) { other.block_ = nullptr; }
  PackedText& operator=(PackedText&& other) noexcept;
  ~PackedText() { delete[] block_; }

  // Inline: a comparison reads a dozen fields of two records.
  std::string_view Get(Slot slot) const {
    if (block_ == nullptr) return {};
    const size_t size = Length(slot);
    if (size == 0) return {};  // most fields of most sources: no offset to add up
    const size_t stored = slot == kEmailLocal ? kEmail : slot;  // the local part starts it
    size_t offset = HeaderBytes();
    for (size_t f = 0; f < stored; ++f) {
      if (f != kEmailLocal) offset += Length(f);
    }
    return {block_ + offset, size};
  }
  // Bytes of the heap block (0 when every field is empty).
  size_t block_bytes() const;
  // The block as bytes ("" when every field is empty), and back: a record
  // spilled to a file and read again (record_store.h). Assign reuses the
  // block when it is large enough: no allocation per record read.
  std::string_view bytes() const { return {block_, block_bytes()}; }
  void Assign(std::string_view bytes);

 private:
  size_t Length(size_t slot) const {
    if (block_[0] == 0) return static_cast<uint8_t>(block_[1 + slot]);
    uint32_t size = 0;
    std::memcpy(&size, block_ + 1 + slot * sizeof(uint32_t), sizeof size);
    return size;
  }
  size_t HeaderBytes() const { return 1 + kSlotCount * (block_[0] == 0 ? 1 : sizeof(uint32_t)); }

  // block_[0]: 1 when lengths are 4 bytes each, 0 when 1 byte (every field
  // under 256 bytes, the usual case); then kSlotCount lengths; then the
  // fields other than kEmailLocal, in Slot order.
  char* block_ = nullptr;
};

// Memory: 72 bytes and the text's block (header and bytes: about 60 bytes for
// names, birth date and e-mail).
struct PreparedRecord {
  int64_t id = 0;
  int64_t age_rank = 0;
  PackedText text;
  NicknameGroups given_groups{};
  uint32_t given_soundex = 0;
  uint32_t family_soundex = 0;
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
  // Records (this one included) holding the same e-mail; 0 when unknown or
  // not counted. Above 2, the address is a shared contact (a family's), and
  // agreement on it is weak evidence (match_model.h).
  int email_count = 0;
  // Birth date components; 0 when unknown. Not checked against a calendar.
  int16_t year = 0;
  int8_t month = 0;
  int8_t day = 0;
  char sex = 0;              // 'm', 'f' or 0
  uint8_t completeness = 0;  // known fields, for the survivor rule

  std::string_view given() const { return text.Get(PackedText::kGiven); }    // NormalizeName
  std::string_view family() const { return text.Get(PackedText::kFamily); }  // NormalizeName
  // Lower case, "" unless it looks like local@domain.
  std::string_view email() const { return text.Get(PackedText::kEmail); }
  // Before '@', without a "+tag".
  std::string_view email_local() const { return text.Get(PackedText::kEmailLocal); }
  std::string_view street_number() const { return text.Get(PackedText::kStreetNumber); }
  std::string_view street() const { return text.Get(PackedText::kStreet); }
  std::string_view address_line2() const { return text.Get(PackedText::kAddressLine2); }
  std::string_view locality() const { return text.Get(PackedText::kLocality); }
  std::string_view region() const { return text.Get(PackedText::kRegion); }
  std::string_view postcode() const { return text.Get(PackedText::kPostcode); }
  std::string_view national_id() const { return text.Get(PackedText::kNationalId); }

  bool has_date() const { return year != 0; }
  // "YYYYMMDD" when known (has_date()), for the one-edit level. Computed, not
  // stored: inline, since many candidate pairs get that far.
  std::array<char, 8> date_digits() const {
    const unsigned y = static_cast<uint16_t>(year);  // 1..9999
    const unsigned m = static_cast<uint8_t>(month);  // 0..99
    const unsigned d = static_cast<uint8_t>(day);
    auto digit = [](unsigned v) { return static_cast<char>('0' + v % 10); };
    return {digit(y / 1000), digit(y / 100), digit(y / 10), digit(y),
            digit(m / 10),   digit(m),       digit(d / 10), digit(d)};
  }
};

// Prepares `records`, term frequencies counted over all of them. The result
// is indexed like the input.
std::vector<PreparedRecord> PrepareRecords(const std::vector<PersonRecord>& records);

// Counts the term frequencies (and name counts) of records prepared one by
// one (PrepareOne) over all of them: PrepareRecords is PrepareOne on each,
// then this. For a caller that prepares while it reads, so that the raw
// records never all exist at once. Values are compared by a 64-bit hash;
// records in a spill file are counted by CountTermFrequencies(Records*, ...)
// (record_store.h), of which this is the in-memory call.
void CountTermFrequencies(std::vector<PreparedRecord>* records);

// Prepares one record alone: term frequencies stay -1, so exact agreement on
// its names weighs the field's average (PrepareRecords sets them).
PreparedRecord PrepareOne(const PersonRecord& record);

}  // namespace medmigrate::dedup
