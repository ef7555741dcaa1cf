// Where the matcher reads prepared records from: a vector in memory (tests,
// benchmarks, `dedup evaluate` on a file) or a spill file (the pipeline's
// phase, whose memory must not grow with the number of patients).
//
// The matcher reaches records by index (their order of arrival, which is the
// legacy key order in the pipeline): block members, random pairs for u, the
// members of a cluster. A spilled record is read back into a caller's slot,
// so one slot per record the caller holds at once.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dedup/person_record.h"
#include "dedup/spill_file.h"

namespace medmigrate::dedup {

// The values counted over all records (CountTermFrequencies).
enum class CountedField : uint8_t { kGiven, kFamily, kDate, kName, kEmail };

// The count of records holding record `index`'s value of `field` (this one
// included) and its term frequency.
struct CountUpdate {
  uint32_t index;
  CountedField field;
  int32_t count;
  float tf;
  bool operator<(const CountUpdate& o) const {
    return index != o.index ? index < o.index : field < o.field;
  }
};

class Records {
 public:
  virtual ~Records() = default;
  virtual size_t size() const = 0;
  // Record i; the reference is valid until `slot` is used again (a record
  // in memory is returned itself, `slot` untouched).
  virtual const PreparedRecord& Get(uint32_t i, PreparedRecord* slot) const = 0;
  // Every record, in index order.
  virtual void ForEach(const std::function<void(uint32_t, const PreparedRecord&)>& f) const = 0;
  // Sets the counts `next` gives, in ascending index, until it returns false.
  virtual void SetCounts(const std::function<bool(CountUpdate*)>& next) = 0;
};

class VectorRecords final : public Records {
 public:
  explicit VectorRecords(std::vector<PreparedRecord>* records) : records_(records) {}
  explicit VectorRecords(const std::vector<PreparedRecord>& records)
      : records_(const_cast<std::vector<PreparedRecord>*>(&records)), read_only_(true) {}
  size_t size() const override { return records_->size(); }
  const PreparedRecord& Get(uint32_t i, PreparedRecord*) const override { return (*records_)[i]; }
  void ForEach(const std::function<void(uint32_t, const PreparedRecord&)>& f) const override;
  void SetCounts(const std::function<bool(CountUpdate*)>& next) override;

 private:
  std::vector<PreparedRecord>* records_;
  bool read_only_ = false;
};

// Records appended one by one (prepared as read) to an unnamed spill file;
// memory: two write buffers, whatever the number of records.
class SpilledRecords final : public Records {
 public:
  explicit SpilledRecords(const std::string& dir = "");
  // Returns the record's index. Every Append before any read.
  uint32_t Append(const PreparedRecord& r);
  size_t size() const override { return count_; }
  const PreparedRecord& Get(uint32_t i, PreparedRecord* slot) const override;
  void ForEach(const std::function<void(uint32_t, const PreparedRecord&)>& f) const override;
  // One pass through the file: read a chunk, set its counts, write it back.
  void SetCounts(const std::function<bool(CountUpdate*)>& next) override;
  // Bytes on disk.
  uint64_t bytes() const { return data_.size() + overflow_.size(); }

 private:
  void Flush() const;
  void Unslot(const char* slot, PreparedRecord* r) const;

  mutable SpillFile data_;      // a fixed slot per record, in index order
  mutable SpillFile overflow_;  // texts too long for their slot
  mutable bool flushed_ = true;
  size_t count_ = 0;
};

// Counts the term frequencies (and name counts) of `records`, prepared one
// by one (PrepareOne), over all of them: values are compared by a 64-bit
// hash. Sorts with at most `sort_budget` bytes in memory (values, then the
// counts by record, half each); beyond, it spills to `dir`.
void CountTermFrequencies(Records* records, size_t sort_budget, const std::string& dir);

}  // namespace medmigrate::dedup
