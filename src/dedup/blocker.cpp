#include "dedup/blocker.h"

#include <algorithm>

#include "dedup/text_normalize.h"

namespace medmigrate::dedup {

namespace {

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

// The key of one pass for one record; 0 when a part is unknown.
uint64_t Key(const PreparedRecord& r, const BlockingPass& pass, size_t pass_index) {
  uint64_t h = Mix(0xcbf29ce484222325ull, pass_index + 1);
  for (KeyPart part : pass.parts) {
    uint64_t v = 0;
    switch (part) {
      case KeyPart::kGiven:
        v = r.given().empty() ? 0 : Fnv1a(r.given());
        break;
      case KeyPart::kFamily:
        v = r.family().empty() ? 0 : Fnv1a(r.family());
        break;
      case KeyPart::kGivenSoundex:
        v = r.given_soundex;
        break;
      case KeyPart::kFamilySoundex:
        v = r.family_soundex;
        break;
      case KeyPart::kNamesSoundexUnordered:
        if (r.given_soundex != 0 && r.family_soundex != 0) {
          const uint64_t lo = std::min(r.given_soundex, r.family_soundex);
          const uint64_t hi = std::max(r.given_soundex, r.family_soundex);
          v = (hi << 32) | lo;
        }
        break;
      case KeyPart::kGivenInitial:
        v = r.given().empty() ? 0 : static_cast<uint8_t>(r.given()[0]);
        break;
      case KeyPart::kFamilyInitial:
        v = r.family().empty() ? 0 : static_cast<uint8_t>(r.family()[0]);
        break;
      case KeyPart::kBirthYear:
        v = r.has_date() ? static_cast<uint64_t>(r.year) : 0;
        break;
      case KeyPart::kBirthDateUnordered:
        if (r.has_date()) {
          const int lo = std::min(r.month, r.day);
          const int hi = std::max(r.month, r.day);
          v = (static_cast<uint64_t>(r.year) << 16) | static_cast<uint64_t>(lo << 8 | hi) |
              1u << 31;
        }
        break;
      case KeyPart::kEmail:
        v = r.email().empty() ? 0 : Fnv1a(r.email());
        break;
      case KeyPart::kPostcode:
        v = r.postcode().empty() ? 0 : Fnv1a(r.postcode());
        break;
      case KeyPart::kStreetNumber:
        v = r.street_number().empty() ? 0 : Fnv1a(r.street_number());
        break;
      case KeyPart::kStreet:
        v = r.street().empty() ? 0 : Fnv1a(r.street());
        break;
      case KeyPart::kLocality:
        v = r.locality().empty() ? 0 : Fnv1a(r.locality());
        break;
      case KeyPart::kNationalId:
        v = r.national_id().empty() ? 0 : Fnv1a(r.national_id());
        break;
    }
    if (v == 0) return 0;
    h = Mix(h, v);
  }
  return h == 0 ? 1 : h;
}

bool ReadsNationalId(const BlockingPass& pass) {
  return std::find(pass.parts.begin(), pass.parts.end(), KeyPart::kNationalId) != pass.parts.end();
}

}  // namespace

const std::vector<BlockingPass>& DefaultBlockingPasses() {
  static const std::vector<BlockingPass> passes = {
      {"family_soundex+birth_year", {KeyPart::kFamilySoundex, KeyPart::kBirthYear}},
      {"given_soundex+birth_year", {KeyPart::kGivenSoundex, KeyPart::kBirthYear}},
      {"names_soundex_unordered", {KeyPart::kNamesSoundexUnordered}},
      {"birth_date_unordered", {KeyPart::kBirthDateUnordered}},
      {"email", {KeyPart::kEmail}},
      {"postcode+initials", {KeyPart::kPostcode, KeyPart::kGivenInitial, KeyPart::kFamilyInitial}},
      {"postcode+street_number", {KeyPart::kPostcode, KeyPart::kStreetNumber}},
      {"street+locality", {KeyPart::kStreet, KeyPart::kLocality}},
      {"initials+birth_year",
       {KeyPart::kGivenInitial, KeyPart::kFamilyInitial, KeyPart::kBirthYear}},
      {"postcode+birth_year", {KeyPart::kPostcode, KeyPart::kBirthYear}},
      {"street_number+street", {KeyPart::kStreetNumber, KeyPart::kStreet}},
      {"national_id", {KeyPart::kNationalId}},
  };
  return passes;
}

Blocker::Blocker(const std::vector<PreparedRecord>& records, std::vector<BlockingPass> passes,
                 size_t max_block_size, bool use_national_id) {
  for (BlockingPass& p : passes) {
    if (use_national_id || !ReadsNationalId(p)) passes_.push_back(std::move(p));
  }
  passes_blocks_.resize(passes_.size());
  const size_t n = records.size();
  // 12 bytes, not 16: the key in two halves. Alive for every record at the
  // peak of the phase (all records and the earlier passes' block_of).
  struct Entry {
    uint32_t key_high, key_low, index;
    uint64_t key() const { return uint64_t{key_high} << 32 | key_low; }
  };
  std::vector<Entry> entries;
  entries.reserve(n);  // not doubled past n
  for (size_t p = 0; p < passes_.size(); ++p) {
    entries.clear();
    for (size_t i = 0; i < n; ++i) {
      const uint64_t key = Key(records[i], passes_[p], p);
      if (key != 0) {
        entries.push_back({static_cast<uint32_t>(key >> 32), static_cast<uint32_t>(key),
                           static_cast<uint32_t>(i)});
      }
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return a.key() != b.key() ? a.key() < b.key() : a.index < b.index;
    });
    // Number the blocks of two records or more, up to max_block_size.
    PassBlocks& blocks = passes_blocks_[p];
    size_t begin = 0;
    while (begin < entries.size()) {
      size_t end = begin + 1;
      while (end < entries.size() && entries[end].key() == entries[begin].key()) ++end;
      const size_t size = end - begin;
      if (size > 1 && size <= max_block_size) {
        if (blocks.block_of.empty()) blocks.block_of.assign(n, 0);
        ++blocks.blocks;
        for (size_t k = begin; k < end; ++k) blocks.block_of[entries[k].index] = blocks.blocks;
        pair_bound_ += size * (size - 1) / 2;
      }
      begin = end;
    }
  }
}

void Blocker::BlockMembers(size_t p, std::vector<uint32_t>* members,
                           std::vector<uint32_t>* ends) const {
  const PassBlocks& blocks = passes_blocks_[p];
  // ends[b] counts block b's records first, then becomes its end.
  ends->assign(blocks.blocks, 0);
  for (const uint32_t b : blocks.block_of) {
    if (b != 0) ++(*ends)[b - 1];
  }
  std::vector<uint32_t> next(blocks.blocks);
  uint32_t total = 0;
  for (uint32_t b = 0; b < blocks.blocks; ++b) {
    next[b] = total;
    total += (*ends)[b];
    (*ends)[b] = total;
  }
  members->resize(total);
  for (size_t i = 0; i < blocks.block_of.size(); ++i) {
    const uint32_t b = blocks.block_of[i];
    if (b != 0) (*members)[next[b - 1]++] = static_cast<uint32_t>(i);
  }
}

int Blocker::FindPass(std::string_view name) const {
  for (size_t p = 0; p < passes_.size(); ++p) {
    if (passes_[p].name == name) return static_cast<int>(p);
  }
  return -1;
}

bool Blocker::Blocked(size_t i, size_t j) const {
  for (size_t q = 0; q < passes_blocks_.size(); ++q) {
    if (SameBlock(q, i, j)) return true;
  }
  return false;
}

}  // namespace medmigrate::dedup
