// Blocking: which pairs of records are compared at all. Several passes, each a
// key built from parts of a record (phonetic surname + birth year, birth date
// with day and month unordered, e-mail, postcode + initials, ...); two records
// are a candidate pair when any pass gives them the same key, so a true pair
// that one pass misses (a typo in the surname) is still found by another.
// A pair is produced once: by the first pass that blocks it.
//
// Memory: per pass that blocks anything, the block of each record (4 bytes);
// a pass that blocks nothing (a source without addresses) costs nothing.
// Building sorts one pass at a time (12 bytes per record that has the pass's
// key, freed on return); a call that goes through a pass's pairs rebuilds its
// blocks' record lists for the call (4 bytes per record in a block). A block larger than
// max_block_size is skipped in that pass (a sentinel birth date shared by thousands), since it
// would cost quadratic time and carry no evidence. Thread-compatible: const methods may run
// concurrently.
#pragma once

#include <algorithm>
#include <cstddef>
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
  // The blocks of one pass: records sharing a key, singletons and oversize
  // blocks dropped, numbered in key order.
  struct PassBlocks {
    uint32_t blocks = 0;
    // [record] 1 + the block holding it, 0: none. Equal and non-zero exactly
    // when the pass's keys are: enough for "blocked by an earlier pass".
    // Empty when the pass blocks nothing.
    std::vector<uint32_t> block_of;
  };
  // Whether pass q blocks records i and j together.
  bool SameBlock(size_t q, size_t i, size_t j) const {
    const std::vector<uint32_t>& of = passes_blocks_[q].block_of;
    return !of.empty() && of[i] != 0 && of[i] == of[j];
  }
  // Calls f(i, j) for every pair of records in a block of pass `p`, block by
  // block in key order, each block's records ascending: the order of a sort
  // by (key, record), rebuilt from block_of (a counting sort, O(records)),
  // so that no pass keeps its sorted records between calls.
  // With `only` non-empty, blocks without a flagged record are skipped.
  template <typename F>
  void ForEachBlockPair(size_t p, F&& f, const std::vector<uint8_t>& only = {}) const;
  // The records of pass p's blocks, block after block; (*ends)[b]: the end of
  // block b in *members.
  void BlockMembers(size_t p, std::vector<uint32_t>* members, std::vector<uint32_t>* ends) const;

  std::vector<BlockingPass> passes_;
  std::vector<PassBlocks> passes_blocks_;  // [pass]
  uint64_t pair_bound_ = 0;
};

template <typename F>
void Blocker::ForEachBlockPair(size_t p, F&& f, const std::vector<uint8_t>& only) const {
  std::vector<uint32_t> members;
  std::vector<uint32_t> ends;
  BlockMembers(p, &members, &ends);
  size_t begin = 0;
  for (const uint32_t end : ends) {
    // A block without a flagged record has no pair to give.
    if (!only.empty() && std::none_of(members.begin() + static_cast<std::ptrdiff_t>(begin),
                                      members.begin() + end,
                                      [&](uint32_t m) { return only[m] != 0; })) {
      begin = end;
      continue;
    }
    for (size_t x = begin; x < end; ++x) {
      for (size_t y = x + 1; y < end; ++y) f(members[x], members[y]);
    }
    begin = end;
  }
}

template <typename F>
void Blocker::ForEachPair(F&& f, const std::vector<uint8_t>& only) const {
  for (size_t p = 0; p < passes_blocks_.size(); ++p) ForEachNewPairOfPass(p, f, only);
}

template <typename F>
void Blocker::ForEachNewPairOfPass(size_t p, F&& f, const std::vector<uint8_t>& only) const {
  ForEachBlockPair(
      p,
      [&](size_t i, size_t j) {
        if (!only.empty() && !only[i] && !only[j]) return;
        for (size_t q = 0; q < p; ++q) {
          if (SameBlock(q, i, j)) return;
        }
        f(i, j);
      },
      only);
}

template <typename F>
void Blocker::ForEachPairOfPass(size_t pass, F&& f) const {
  ForEachBlockPair(pass, f);
}

}  // namespace medmigrate::dedup
