// Sorting more entries than memory should hold: entries are buffered up to a
// budget, each full buffer is sorted and written to a spill file as a run,
// and the runs are merged into one sorted file. Entries that fit the budget
// are sorted in memory and never touch a file (small populations, tests).
//
// Memory: the budget while adding, then 64 KiB per run while merging and
// 64 KiB per reader.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <type_traits>
#include <vector>

#include "dedup/spill_file.h"

namespace medmigrate::dedup {

// A record's key in a group (a blocking pass, a counted field), sorted so
// that the records with equal keys in a group are adjacent, in record order.
struct GroupedKey {
  uint32_t group;
  uint32_t index;
  uint64_t key;
  bool operator<(const GroupedKey& o) const {
    if (group != o.group) return group < o.group;
    if (key != o.key) return key < o.key;
    return index < o.index;
  }
};

// Entry: trivially copyable with a strict weak order (operator<).
template <typename Entry>
class ExternalSorter {
  static_assert(std::is_trivially_copyable_v<Entry>);

 public:
  static constexpr size_t kReadEntries = (64 * 1024) / sizeof(Entry);

  ExternalSorter(size_t budget_bytes, std::string dir)
      : capacity_(std::max<size_t>(budget_bytes / sizeof(Entry), kReadEntries)),
        dir_(std::move(dir)) {}

  void Add(const Entry& e) {
    if (buffer_.size() == buffer_.capacity() && buffer_.capacity() < capacity_) {
      buffer_.reserve(std::min(capacity_, std::max<size_t>(1024, buffer_.capacity() * 2)));
    }
    buffer_.push_back(e);
    ++count_;
    if (buffer_.size() == capacity_) SpillRun();
  }

  // Sorts what was added; Read after it.
  void Finish() {
    if (runs_.empty()) {
      std::sort(buffer_.begin(), buffer_.end());
      return;
    }
    if (!buffer_.empty()) SpillRun();
    std::vector<Entry>().swap(buffer_);
    Merge();
  }

  uint64_t size() const { return count_; }
  // Whether the entries went to a file (more than the budget).
  bool spilled() const { return sorted_ != nullptr; }

  // Entries [from, to) of the sorted order, one at a time.
  class Reader {
   public:
    bool Next(Entry* e) {
      if (at_ >= to_) return false;
      if (memory_ != nullptr) {
        *e = memory_[at_++];
        return true;
      }
      if (pos_ == chunk_.size()) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(kReadEntries, to_ - at_));
        chunk_.resize(n);
        file_->ReadAt(at_ * sizeof(Entry), chunk_.data(), n * sizeof(Entry));
        pos_ = 0;
      }
      *e = chunk_[pos_++];
      ++at_;
      return true;
    }

   private:
    friend class ExternalSorter;
    const Entry* memory_ = nullptr;
    const SpillFile* file_ = nullptr;
    uint64_t at_ = 0, to_ = 0;
    std::vector<Entry> chunk_;
    size_t pos_ = 0;
  };

  Reader Read(uint64_t from, uint64_t to) const {
    Reader r;
    r.at_ = from;
    r.to_ = std::min(to, count_);
    if (sorted_ != nullptr) {
      r.file_ = sorted_.get();
    } else {
      r.memory_ = buffer_.data();
    }
    return r;
  }
  Reader Read() const { return Read(0, count_); }

 private:
  struct Run {
    uint64_t begin, end;  // entries in runs_file_
  };

  void SpillRun() {
    std::sort(buffer_.begin(), buffer_.end());
    if (!runs_file_) runs_file_ = std::make_unique<SpillFile>(dir_);
    const uint64_t begin = runs_file_->size() / sizeof(Entry);
    runs_file_->Append(buffer_.data(), buffer_.size() * sizeof(Entry));
    runs_.push_back({begin, begin + buffer_.size()});
    buffer_.clear();
  }

  void Merge() {
    runs_file_->Flush();
    struct Cursor {
      std::vector<Entry> chunk;
      size_t pos = 0;
      uint64_t next = 0, end = 0;  // entries of the run not yet in chunk
    };
    std::vector<Cursor> cursors(runs_.size());
    auto refill = [&](Cursor& c) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kReadEntries, c.end - c.next));
      c.chunk.resize(n);
      if (n > 0) runs_file_->ReadAt(c.next * sizeof(Entry), c.chunk.data(), n * sizeof(Entry));
      c.next += n;
      c.pos = 0;
      return n > 0;
    };
    // (entry, run): the smallest entry first.
    using Head = std::pair<Entry, size_t>;
    auto later = [](const Head& x, const Head& y) {
      if (y.first < x.first) return true;
      if (x.first < y.first) return false;
      return x.second > y.second;
    };
    std::priority_queue<Head, std::vector<Head>, decltype(later)> heads(later);
    for (size_t r = 0; r < runs_.size(); ++r) {
      cursors[r].next = runs_[r].begin;
      cursors[r].end = runs_[r].end;
      if (refill(cursors[r])) heads.push({cursors[r].chunk[0], r});
    }
    sorted_ = std::make_unique<SpillFile>(dir_);
    std::vector<Entry> out;
    out.reserve(kReadEntries);
    while (!heads.empty()) {
      const auto [e, r] = heads.top();
      heads.pop();
      out.push_back(e);
      if (out.size() == kReadEntries) {
        sorted_->Append(out.data(), out.size() * sizeof(Entry));
        out.clear();
      }
      Cursor& c = cursors[r];
      if (++c.pos == c.chunk.size() && !refill(c)) continue;
      heads.push({c.chunk[c.pos], r});
    }
    sorted_->Append(out.data(), out.size() * sizeof(Entry));
    sorted_->Flush();
    runs_file_.reset();  // the runs are in sorted_ now
    runs_.clear();
  }

  size_t capacity_;
  std::string dir_;
  uint64_t count_ = 0;
  std::vector<Entry> buffer_;
  std::vector<Run> runs_;
  std::unique_ptr<SpillFile> runs_file_;
  std::unique_ptr<SpillFile> sorted_;
};

}  // namespace medmigrate::dedup
