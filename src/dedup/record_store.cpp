#include "dedup/record_store.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "dedup/external_sort.h"
#include "dedup/text_normalize.h"

namespace medmigrate::dedup {

namespace {

// A record in the spill file: this header, then its text block.
struct Stored {
  int64_t id;
  int64_t age_rank;
  NicknameGroups given_groups;
  uint32_t given_soundex;
  uint32_t family_soundex;
  int32_t given_count;
  float given_tf;
  int32_t family_count;
  float family_tf;
  float date_tf;
  float name_tf;
  int32_t email_count;
  int16_t year;
  int8_t month;
  int8_t day;
  char sex;
  uint8_t completeness;
  uint32_t text_bytes;
};
static_assert(std::is_trivially_copyable_v<Stored>);

// A fixed slot per record, so that record i is at i * kSlotBytes: one read
// per record fetched, no offset table. The text is inline when it fits (names,
// birth date and e-mail do: about 60 bytes), else in the overflow file and the
// inline bytes hold its offset there.
constexpr size_t kSlotBytes = 160;
constexpr size_t kInlineText = kSlotBytes - sizeof(Stored);

void Unpack(const Stored& s, std::string_view text, PreparedRecord* r) {
  r->id = s.id;
  r->age_rank = s.age_rank;
  r->given_groups = s.given_groups;
  r->given_soundex = s.given_soundex;
  r->family_soundex = s.family_soundex;
  r->given_count = s.given_count;
  r->given_tf = s.given_tf;
  r->family_count = s.family_count;
  r->family_tf = s.family_tf;
  r->date_tf = s.date_tf;
  r->name_tf = s.name_tf;
  r->email_count = s.email_count;
  r->year = s.year;
  r->month = s.month;
  r->day = s.day;
  r->sex = s.sex;
  r->completeness = s.completeness;
  r->text.Assign(text);
}

// One value of one counted field of one record: group the field, key the
// value's hash.
using CountEntry = GroupedKey;

// One record's counts set in place.
template <typename Record>  // PreparedRecord or Stored: the same member names
void SetCountIn(Record* r, const CountUpdate& u) {
  switch (u.field) {
    case CountedField::kGiven:
      r->given_count = u.count;
      r->given_tf = u.tf;
      break;
    case CountedField::kFamily:
      r->family_count = u.count;
      r->family_tf = u.tf;
      break;
    case CountedField::kDate:
      r->date_tf = u.tf;
      break;
    case CountedField::kName:
      r->name_tf = u.tf;
      break;
    case CountedField::kEmail:
      r->email_count = u.count;
      break;
  }
}

}  // namespace

void VectorRecords::ForEach(const std::function<void(uint32_t, const PreparedRecord&)>& f) const {
  for (size_t i = 0; i < records_->size(); ++i) f(static_cast<uint32_t>(i), (*records_)[i]);
}

void VectorRecords::SetCounts(const std::function<bool(CountUpdate*)>& next) {
  for (CountUpdate u{}; next(&u);) SetCountIn(&(*records_)[u.index], u);
}

SpilledRecords::SpilledRecords(const std::string& dir) : data_(dir), overflow_(dir) {}

uint32_t SpilledRecords::Append(const PreparedRecord& r) {
  const std::string_view text = r.text.bytes();
  const Stored s{r.id,           r.age_rank,       r.given_groups, r.given_soundex,
                 r.family_soundex, r.given_count,  r.given_tf,     r.family_count,
                 r.family_tf,    r.date_tf,        r.name_tf,      r.email_count, r.year,
                 r.month,        r.day,            r.sex,          r.completeness,
                 static_cast<uint32_t>(text.size())};
  char slot[kSlotBytes] = {};
  std::memcpy(slot, &s, sizeof s);
  if (text.size() <= kInlineText) {
    if (!text.empty()) std::memcpy(slot + sizeof s, text.data(), text.size());
  } else {
    const uint64_t at = overflow_.Append(text.data(), text.size());
    std::memcpy(slot + sizeof s, &at, sizeof at);
  }
  data_.Append(slot, sizeof slot);
  flushed_ = false;
  return static_cast<uint32_t>(count_++);
}

void SpilledRecords::Flush() const {
  if (flushed_) return;
  data_.Flush();
  overflow_.Flush();
  flushed_ = true;
}

void SpilledRecords::Unslot(const char* slot, PreparedRecord* r) const {
  Stored s;
  std::memcpy(&s, slot, sizeof s);
  if (s.text_bytes <= kInlineText) {
    Unpack(s, std::string_view(slot + sizeof s, s.text_bytes), r);
    return;
  }
  uint64_t at = 0;
  std::memcpy(&at, slot + sizeof s, sizeof at);
  thread_local std::string text;
  text.resize(s.text_bytes);
  overflow_.ReadAt(at, text.data(), text.size());
  Unpack(s, text, r);
}

const PreparedRecord& SpilledRecords::Get(uint32_t i, PreparedRecord* slot) const {
  Flush();
  char stored[kSlotBytes];
  data_.ReadAt(uint64_t{i} * kSlotBytes, stored, kSlotBytes);
  Unslot(stored, slot);
  return *slot;
}

void SpilledRecords::ForEach(
    const std::function<void(uint32_t, const PreparedRecord&)>& f) const {
  Flush();
  constexpr size_t kChunkSlots = 8192;  // 1.25 MiB
  std::vector<char> chunk(kChunkSlots * kSlotBytes);
  PreparedRecord r;
  for (size_t begin = 0; begin < count_; begin += kChunkSlots) {
    const size_t n = std::min(kChunkSlots, count_ - begin);
    data_.ReadAt(begin * kSlotBytes, chunk.data(), n * kSlotBytes);
    for (size_t k = 0; k < n; ++k) {
      Unslot(chunk.data() + k * kSlotBytes, &r);
      f(static_cast<uint32_t>(begin + k), r);
    }
  }
}

void SpilledRecords::SetCounts(const std::function<bool(CountUpdate*)>& next) {
  Flush();
  constexpr size_t kChunkSlots = 8192;
  std::vector<char> chunk(kChunkSlots * kSlotBytes);
  CountUpdate u{};
  bool more = next(&u);
  while (more) {
    const size_t begin = u.index / kChunkSlots * kChunkSlots;
    const size_t n = std::min(kChunkSlots, count_ - begin);
    data_.ReadAt(begin * kSlotBytes, chunk.data(), n * kSlotBytes);
    for (; more && u.index < begin + n; more = next(&u)) {
      char* slot = chunk.data() + (u.index - begin) * kSlotBytes;
      Stored s;
      std::memcpy(&s, slot, sizeof s);
      SetCountIn(&s, u);
      std::memcpy(slot, &s, sizeof s);
    }
    data_.WriteAt(begin * kSlotBytes, chunk.data(), n * kSlotBytes);
  }
}

void CountTermFrequencies(Records* records, size_t sort_budget, const std::string& dir) {
  const size_t n = records->size();
  ExternalSorter<CountEntry> sorter(sort_budget / 2, dir);
  records->ForEach([&](uint32_t i, const PreparedRecord& r) {
    const std::string_view given = r.given(), family = r.family();
    if (!given.empty()) sorter.Add({uint32_t(CountedField::kGiven), i, Fnv1a(given)});
    if (!family.empty()) sorter.Add({uint32_t(CountedField::kFamily), i, Fnv1a(family)});
    if (r.has_date()) {
      // The components are the value ("YYYYMMDD" digits).
      const uint64_t date = uint64_t(uint16_t(r.year)) << 16 | uint64_t(uint8_t(r.month)) << 8 |
                            uint8_t(r.day);
      sorter.Add({uint32_t(CountedField::kDate), i, date});
    }
    if (!given.empty() && !family.empty()) {
      sorter.Add({uint32_t(CountedField::kName), i, Fnv1a(family, Fnv1a(given) ^ 0x1f)});
    }
    if (!r.email().empty()) sorter.Add({uint32_t(CountedField::kEmail), i, Fnv1a(r.email())});
  });
  sorter.Finish();
  const double others = n > 2 ? static_cast<double>(n - 2) : 0;
  // -1 (not counted) below three records, as before any count.
  auto tf = [&](int count) {
    return n > 2 ? static_cast<float>(std::max(count - 2, 0) / others) : -1.0f;
  };
  // Groups of equal (field, hash); their indices are kept to set the count
  // once the group ends (at most the records holding one value).
  std::vector<uint32_t> group;
  CountEntry first{}, e{};
  ExternalSorter<CountUpdate> updates(sort_budget / 2, dir);  // by record
  auto flush = [&]() {
    const auto field = static_cast<CountedField>(first.group);
    const int count = static_cast<int>(group.size());
    for (uint32_t i : group) updates.Add({i, field, count, tf(count)});
    group.clear();
  };
  auto reader = sorter.Read();
  while (reader.Next(&e)) {
    if (!group.empty() && (e.group != first.group || e.key != first.key)) flush();
    if (group.empty()) first = e;
    group.push_back(e.index);
  }
  if (!group.empty()) flush();
  updates.Finish();
  auto by_record = updates.Read();
  records->SetCounts([&](CountUpdate* u) { return by_record.Next(u); });
}

}  // namespace medmigrate::dedup
