// Blocking: which pairs of records are compared at all. Several passes, each a
// key built from parts of a record (phonetic surname + birth year, birth date
// with day and month unordered, e-mail, postcode + initials, ...); two records
// are a candidate pair when any pass gives them the same key, so a true pair
// that one pass misses (a typo in the surname) is still found by another.
// A pair is produced once: by the first pass that blocks it.
//
// Memory: one 64-bit key per record and pass. A block larger than
// max_block_size is skipped in that pass (a sentinel birth date shared by
// thousands), since it would cost quadratic time and carry no evidence.
// Thread-compatible: const methods may run concurrently.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "dedup/person_record.h"

namespace medmigrate::dedup {

enum class KeyPart : uint8_t {
  kGiven,
  kFamily,
  kGivenSoundex,
  kFamilySoundex,
  kNamesSoundexUnordered,  // {soundex(given), soundex(family)} in either order
  kGivenInitial,
  kFamilyInitial,
  kBirthYear,
  kBirthDateUnordered,  // year + {month, day} in either order
  kEmail,
  kPostcode,
  kStreetNumber,
  kStreet,
  kLocality,
  kNationalId,
};

struct BlockingPass {
  std::string_view name;
  std::vector<KeyPart> parts;
};

// The passes every data set is blocked with (the method is the same for every
// source; a pass whose parts a source lacks blocks nothing).
const std::vector<BlockingPass>& DefaultBlockingPasses();

class Blocker {
 public:
  // `records` must outlive the Blocker. `use_national_id` false drops the
  // passes that read the national id.
  Blocker(const std::vector<PreparedRecord>& records, std::vector<BlockingPass> passes,
          size_t max_block_size, bool use_national_id);

  // Calls f(i, j) (indices into records, i < j) once per candidate pair,
  // pass by pass. With `only` non-empty, only pairs where only[i] or only[j]
  // is set (new records against all).
  template <typename F>
  void ForEachPair(F&& f, const std::vector<uint8_t>& only = {}) const;

  // Calls f(i, j) for the pairs that pass `pass` is the first to block: the
  // candidate pairs ForEachPair yields in that pass.
  template <typename F>
  void ForEachNewPairOfPass(size_t pass, F&& f, const std::vector<uint8_t>& only = {}) const;

  // Calls f(i, j) for every pair pass `pass` blocks, whether or not an
  // earlier pass also does (model training on one pass's pairs).
  template <typename F>
  void ForEachPairOfPass(size_t pass, F&& f) const;

  // The pass named `name`, or -1.
  int FindPass(std::string_view name) const;
  const BlockingPass& pass(size_t p) const { return passes_[p]; }

  // Whether any pass blocks (i, j) together.
  bool Blocked(size_t i, size_t j) const;

  // Upper bound of the candidate pairs (sum over passes, overlaps counted).
  uint64_t PairBound() const { return pair_bound_; }
  size_t pass_count() const { return passes_.size(); }

 private:
  struct Entry {
    uint64_t key;
    uint32_t index;
  };
  std::vector<BlockingPass> passes_;
  size_t n_ = 0;
  std::vector<std::vector<uint64_t>> keys_;  // [pass][record], 0: not blocked
  std::vector<std::vector<Entry>> sorted_;   // [pass], blocks of equal key, oversize dropped
  uint64_t pair_bound_ = 0;
};

template <typename F>
void Blocker::ForEachPair(F&& f, const std::vector<uint8_t>& only) const {
  for (size_t p = 0; p < sorted_.size(); ++p) ForEachNewPairOfPass(p, f, only);
}

template <typename F>
void Blocker::ForEachNewPairOfPass(size_t p, F&& f, const std::vector<uint8_t>& only) const {
  const std::vector<Entry>& entries = sorted_[p];
  size_t begin = 0;
  while (begin < entries.size()) {
    size_t end = begin + 1;
    while (end < entries.size() && entries[end].key == entries[begin].key) ++end;
    for (size_t x = begin; x < end; ++x) {
      for (size_t y = x + 1; y < end; ++y) {
        size_t i = entries[x].index;
        size_t j = entries[y].index;
        if (i > j) std::swap(i, j);
        if (!only.empty() && !only[i] && !only[j]) continue;
        bool earlier = false;
        for (size_t q = 0; q < p && !earlier; ++q) {
          earlier = keys_[q][i] != 0 && keys_[q][i] == keys_[q][j];
        }
        if (!earlier) f(i, j);
      }
    }
    begin = end;
  }
}

template <typename F>
void Blocker::ForEachPairOfPass(size_t pass, F&& f) const {
  const std::vector<Entry>& entries = sorted_[pass];
  size_t begin = 0;
  while (begin < entries.size()) {
    size_t end = begin + 1;
    while (end < entries.size() && entries[end].key == entries[begin].key) ++end;
    for (size_t x = begin; x < end; ++x) {
      for (size_t y = x + 1; y < end; ++y) {
        const size_t i = entries[x].index;
        const size_t j = entries[y].index;
        f(std::min(i, j), std::max(i, j));
      }
    }
    begin = end;
  }
}

}  // namespace medmigrate::dedup
