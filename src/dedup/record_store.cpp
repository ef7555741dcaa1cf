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
  int16_t year;
  int8_t month;
  int8_t day;
  char sex;
  uint8_t completeness;
  uint32_t text_bytes;
};
static_assert(std::is_trivially_copyable_v<Stored>);

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
  r->year = s.year;
  r->month = s.month;
  r->day = s.day;
  r->sex = s.sex;
  r->completeness = s.completeness;
  r->text.Assign(text);
}

// One value of one counted field of one record, sorted so that records with
// the same value are adjacent.
struct CountEntry {
  uint8_t field;
  uint64_t hash;
  uint32_t index;
  bool operator<(const CountEntry& o) const {
    if (field != o.field) return field < o.field;
    if (hash != o.hash) return hash < o.hash;
    return index < o.index;
  }
};

}  // namespace

void VectorRecords::ForEach(const std::function<void(uint32_t, const PreparedRecord&)>& f) const {
  for (size_t i = 0; i < records_->size(); ++i) f(static_cast<uint32_t>(i), (*records_)[i]);
}

void VectorRecords::SetCount(uint32_t i, CountedField field, int count, float tf) {
  PreparedRecord& r = (*records_)[i];
  switch (field) {
    case CountedField::kGiven:
      r.given_count = count;
      r.given_tf = tf;
      break;
    case CountedField::kFamily:
      r.family_count = count;
      r.family_tf = tf;
      break;
    case CountedField::kDate:
      r.date_tf = tf;
      break;
    case CountedField::kName:
      r.name_tf = tf;
      break;
  }
}

SpilledRecords::SpilledRecords(const std::string& dir) : data_(dir), offsets_(dir) {}

uint32_t SpilledRecords::Append(const PreparedRecord& r) {
  const std::string_view text = r.text.bytes();
  const Stored s{r.id,           r.age_rank,       r.given_groups, r.given_soundex,
                 r.family_soundex, r.given_count,  r.given_tf,     r.family_count,
                 r.family_tf,    r.date_tf,        r.name_tf,      r.year,
                 r.month,        r.day,            r.sex,          r.completeness,
                 static_cast<uint32_t>(text.size())};
  const uint64_t at = data_.Append(&s, sizeof s);
  if (!text.empty()) data_.Append(text.data(), text.size());
  offsets_.Append(&at, sizeof at);
  flushed_ = false;
  return static_cast<uint32_t>(count_++);
}

void SpilledRecords::Flush() const {
  if (flushed_) return;
  data_.Flush();
  offsets_.Flush();
  flushed_ = true;
}

uint64_t SpilledRecords::OffsetOf(uint32_t i) const {
  uint64_t at = 0;
  offsets_.ReadAt(uint64_t{i} * sizeof at, &at, sizeof at);
  return at;
}

const PreparedRecord& SpilledRecords::Get(uint32_t i, PreparedRecord* slot) const {
  Flush();
  uint64_t bounds[2] = {0, data_.size()};
  offsets_.ReadAt(uint64_t{i} * sizeof(uint64_t), bounds, (i + 1 < count_ ? 2 : 1) * sizeof(uint64_t));
  thread_local std::string bytes;
  bytes.resize(bounds[1] - bounds[0]);
  data_.ReadAt(bounds[0], bytes.data(), bytes.size());
  Stored s;
  std::memcpy(&s, bytes.data(), sizeof s);
  Unpack(s, std::string_view(bytes).substr(sizeof s, s.text_bytes), slot);
  return *slot;
}

void SpilledRecords::ForEach(
    const std::function<void(uint32_t, const PreparedRecord&)>& f) const {
  Flush();
  constexpr size_t kChunk = 1 << 20;
  std::vector<char> buffer;
  buffer.reserve(2 * kChunk);
  size_t pos = 0;
  uint64_t next = 0;  // file offset of the first byte not read yet
  PreparedRecord r;
  for (uint32_t i = 0; i < count_; ++i) {
    auto need = [&](size_t bytes) {
      if (buffer.size() - pos >= bytes) return;
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(pos));
      pos = 0;
      const size_t read =
          static_cast<size_t>(std::min<uint64_t>(std::max(kChunk, bytes), data_.size() - next));
      const size_t had = buffer.size();
      buffer.resize(had + read);
      data_.ReadAt(next, buffer.data() + had, read);
      next += read;
    };
    need(sizeof(Stored));
    Stored s;
    std::memcpy(&s, buffer.data() + pos, sizeof s);
    need(sizeof s + s.text_bytes);
    Unpack(s, std::string_view(buffer.data() + pos + sizeof s, s.text_bytes), &r);
    pos += sizeof s + s.text_bytes;
    f(i, r);
  }
}

void SpilledRecords::SetCount(uint32_t i, CountedField field, int count, float tf) {
  Flush();
  const uint64_t at = OffsetOf(i);
  switch (field) {
    case CountedField::kGiven: {
      Stored part{};
      part.given_count = count;
      part.given_tf = tf;
      data_.WriteAt(at + offsetof(Stored, given_count), &part.given_count,
                    offsetof(Stored, family_count) - offsetof(Stored, given_count));
      break;
    }
    case CountedField::kFamily: {
      Stored part{};
      part.family_count = count;
      part.family_tf = tf;
      data_.WriteAt(at + offsetof(Stored, family_count), &part.family_count,
                    offsetof(Stored, date_tf) - offsetof(Stored, family_count));
      break;
    }
    case CountedField::kDate:
      data_.WriteAt(at + offsetof(Stored, date_tf), &tf, sizeof tf);
      break;
    case CountedField::kName:
      data_.WriteAt(at + offsetof(Stored, name_tf), &tf, sizeof tf);
      break;
  }
}

void CountTermFrequencies(Records* records, size_t sort_budget, const std::string& dir) {
  const size_t n = records->size();
  ExternalSorter<CountEntry> sorter(sort_budget, dir);
  records->ForEach([&](uint32_t i, const PreparedRecord& r) {
    const std::string_view given = r.given(), family = r.family();
    if (!given.empty()) sorter.Add({uint8_t(CountedField::kGiven), Fnv1a(given), i});
    if (!family.empty()) sorter.Add({uint8_t(CountedField::kFamily), Fnv1a(family), i});
    if (r.has_date()) {
      // The components are the value ("YYYYMMDD" digits).
      const uint64_t date = uint64_t(uint16_t(r.year)) << 16 | uint64_t(uint8_t(r.month)) << 8 |
                            uint8_t(r.day);
      sorter.Add({uint8_t(CountedField::kDate), date, i});
    }
    if (!given.empty() && !family.empty()) {
      sorter.Add({uint8_t(CountedField::kName), Fnv1a(family, Fnv1a(given) ^ 0x1f), i});
    }
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
  auto flush = [&]() {
    const auto field = static_cast<CountedField>(first.field);
    const int count = static_cast<int>(group.size());
    for (uint32_t i : group) records->SetCount(i, field, count, tf(count));
    group.clear();
  };
  auto reader = sorter.Read();
  while (reader.Next(&e)) {
    if (!group.empty() && (e.field != first.field || e.hash != first.hash)) flush();
    if (group.empty()) first = e;
    group.push_back(e.index);
  }
  if (!group.empty()) flush();
}

}  // namespace medmigrate::dedup
