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
                 size_t max_block_size, bool use_national_id)
    : owned_(std::make_unique<VectorRecords>(records)),
      records_(owned_.get()),
      max_block_size_(max_block_size),
      sorter_(kDefaultSortBudget, "") {
  Build(std::move(passes), use_national_id);
}

Blocker::Blocker(const Records& records, std::vector<BlockingPass> passes, size_t max_block_size,
                 bool use_national_id, size_t sort_budget, const std::string& spill_dir)
    : records_(&records), max_block_size_(max_block_size), sorter_(sort_budget, spill_dir) {
  Build(std::move(passes), use_national_id);
}

void Blocker::Build(std::vector<BlockingPass> passes, bool use_national_id) {
  const Records& records = *records_;
  for (BlockingPass& p : passes) {
    if (use_national_id || !ReadsNationalId(p)) passes_.push_back(std::move(p));
  }
  ranges_.resize(passes_.size());
  records.ForEach([&](uint32_t i, const PreparedRecord& r) {
    for (size_t p = 0; p < passes_.size(); ++p) {
      const uint64_t key = Key(r, passes_[p], p);
      if (key != 0) sorter_.Add({static_cast<uint32_t>(p), i, key});
    }
  });
  sorter_.Finish();
  // One walk: where each pass's entries are, its blocks and oversize keys.
  auto reader = sorter_.Read();
  Entry e{}, first{};
  uint64_t at = 0, run = 0;
  auto end_group = [&]() {
    if (run == 0) return;
    PassRange& range = ranges_[first.group];
    if (run > max_block_size_) {
      range.oversize.push_back(first.key);
    } else if (run > 1) {
      ++range.blocks;
      range.pairs += run * (run - 1) / 2;
      pair_bound_ += run * (run - 1) / 2;
    }
    run = 0;
  };
  for (size_t p = 0; p < passes_.size(); ++p) ranges_[p].begin = ranges_[p].end = 0;
  std::vector<bool> seen(passes_.size(), false);
  while (reader.Next(&e)) {
    if (run > 0 && (e.group != first.group || e.key != first.key)) end_group();
    if (run == 0) first = e;
    ++run;
    if (!seen[e.group]) {
      seen[e.group] = true;
      ranges_[e.group].begin = at;
    }
    ranges_[e.group].end = ++at;
  }
  end_group();
}

uint64_t Blocker::BlockingKey(size_t q, const PreparedRecord& r) const {
  const PassRange& range = ranges_[q];
  if (range.blocks == 0) return 0;
  const uint64_t key = Key(r, passes_[q], q);
  if (key == 0 || std::binary_search(range.oversize.begin(), range.oversize.end(), key)) return 0;
  return key;
}

void Blocker::ForEachBlock(size_t p, const std::vector<uint8_t>& only, bool earlier,
                           const std::function<void(const Block&)>& f) const {
  const PassRange& range = ranges_[p];
  if (range.blocks == 0) return;
  Block block;
  block.pass = p;
  std::vector<PreparedRecord> slots;  // the block's records when they are not in memory
  std::vector<uint32_t> members;
  auto emit = [&]() {
    const size_t n = members.size();
    if (n < 2 || n > max_block_size_) return;
    // A block without a flagged record has no pair to give.
    if (!only.empty() &&
        std::none_of(members.begin(), members.end(), [&](uint32_t m) { return only[m] != 0; })) {
      return;
    }
    if (slots.size() < n) slots.resize(n);
    block.index = members;
    block.record.resize(n);
    block.earlier.assign(earlier ? n * p : 0, 0);
    for (size_t x = 0; x < n; ++x) {
      const PreparedRecord& r = records_->Get(members[x], &slots[x]);
      block.record[x] = &r;
      if (!earlier) continue;
      for (size_t q = 0; q < p; ++q) block.earlier[x * p + q] = BlockingKey(q, r);
    }
    f(block);
  };
  auto reader = sorter_.Read(range.begin, range.end);
  Entry e{};
  uint64_t key = 0;
  while (reader.Next(&e)) {
    if (!members.empty() && e.key != key) {
      emit();
      members.clear();
    }
    key = e.key;
    // Past max_block_size the block is skipped: its records are not kept.
    if (members.size() <= max_block_size_) members.push_back(e.index);
  }
  if (!members.empty()) emit();
}

int Blocker::FindPass(std::string_view name) const {
  for (size_t p = 0; p < passes_.size(); ++p) {
    if (passes_[p].name == name) return static_cast<int>(p);
  }
  return -1;
}

bool Blocker::Blocked(size_t i, size_t j) const {
  PreparedRecord slot_i, slot_j;
  const PreparedRecord& a = records_->Get(static_cast<uint32_t>(i), &slot_i);
  const PreparedRecord& b = records_->Get(static_cast<uint32_t>(j), &slot_j);
  for (size_t q = 0; q < passes_.size(); ++q) {
    const uint64_t k = BlockingKey(q, a);
    if (k != 0 && k == BlockingKey(q, b)) return true;
  }
  return false;
}

}  // namespace medmigrate::dedup
