// Blocking: which pairs of records are compared at all. Several passes, each a
// key built from parts of a record (phonetic surname + birth year, birth date
// with day and month unordered, e-mail, postcode + initials, ...); two records
// are a candidate pair when any pass gives them the same key, so a true pair
// that one pass misses (a typo in the surname) is still found by another.
// A pair is produced once: by the first pass that blocks it.
//
// Memory: bounded, whatever the number of records. The (pass, key, record)
// entries are sorted externally (external_sort.h: `sort_budget` bytes in
// memory, the rest in a spill file), and a walk through a pass reads them in
// order, block by block, fetching only one block's records at a time (at
// most max_block_size). "Blocked by an earlier pass" is decided on the two
// records' own keys, not on a per-record table. A block larger than
// max_block_size is skipped in that pass (a sentinel birth date shared by
// thousands), since it would cost quadratic time and carry no evidence; its
// key is kept (a few per pass). Thread-compatible: const methods may run
// concurrently.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dedup/external_sort.h"
#include "dedup/person_record.h"
#include "dedup/record_store.h"

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
  // passes that read the national id. Sorting keeps at most `sort_budget`
  // bytes in memory and spills the rest to `spill_dir` ("" : $TMPDIR).
  Blocker(const Records& records, std::vector<BlockingPass> passes, size_t max_block_size,
          bool use_national_id, size_t sort_budget = kDefaultSortBudget,
          const std::string& spill_dir = "");
  Blocker(const std::vector<PreparedRecord>& records, std::vector<BlockingPass> passes,
          size_t max_block_size, bool use_national_id);

  static constexpr size_t kDefaultSortBudget = size_t{16} << 20;

  // Calls f(i, j, record i, record j) (indices into records, i < j) once
  // per candidate pair, pass by pass. With `only` non-empty, only pairs
  // where only[i] or only[j] is set (new records against all).
  template <typename F>
  void ForEachPair(F&& f, const std::vector<uint8_t>& only = {}) const;

  // Calls f(i, j, record i, record j) for the pairs that pass `pass` is the
  // first to block: the candidate pairs ForEachPair yields in that pass.
  template <typename F>
  void ForEachNewPairOfPass(size_t pass, F&& f, const std::vector<uint8_t>& only = {}) const;

  // Calls f(i, j, record i, record j) for every pair pass `pass` blocks,
  // whether or not an earlier pass also does (model training on one pass's pairs).
  template <typename F>
  void ForEachPairOfPass(size_t pass, F&& f) const;

  // The pass named `name`, or -1.
  int FindPass(std::string_view name) const;
  const BlockingPass& pass(size_t p) const { return passes_[p]; }

  // Whether any pass blocks (i, j) together.
  bool Blocked(size_t i, size_t j) const;

  // Upper bound of the candidate pairs (sum over passes, overlaps counted).
  uint64_t PairBound() const { return pair_bound_; }
  // The pairs ForEachPairOfPass(p) gives, counted when building.
  uint64_t PairsOfPass(size_t p) const { return ranges_[p].pairs; }
  size_t pass_count() const { return passes_.size(); }
  // Whether the sorted keys went to a spill file (more than the budget).
  bool spilled() const { return sorter_.spilled(); }

  // One block of one pass, its records ascending; earlier[x * pass + q]:
  // record x's key in earlier pass q, 0 when q does not block it (unknown,
  // alone or oversize).
  struct Block {
    size_t pass = 0;
    std::vector<uint32_t> index;
    std::vector<const PreparedRecord*> record;
    std::vector<uint64_t> earlier;
    bool EarlierBlocks(size_t x, size_t y) const {
      for (size_t q = 0; q < pass; ++q) {
        const uint64_t k = earlier[x * pass + q];
        if (k != 0 && k == earlier[y * pass + q]) return true;
      }
      return false;
    }
  };

 private:
  using Entry = GroupedKey;  // group: the pass
  struct PassRange {
    uint64_t begin = 0, end = 0;     // its entries in the sorted order
    uint64_t blocks = 0;             // of two records or more, up to max_block_size
    uint64_t pairs = 0;              // in those blocks
    std::vector<uint64_t> oversize;  // keys of the blocks skipped, sorted
  };
  void Build(std::vector<BlockingPass> passes, bool use_national_id);
  // Pass q's key for r when q blocks r with another record (0 otherwise).
  uint64_t BlockingKey(size_t q, const PreparedRecord& r) const;
  // Calls f(block) for each block of pass p, in key order. With `only`
  // non-empty, blocks without a flagged record are skipped unread.
  // `earlier`: fill Block::earlier (new pairs need it, all pairs do not).
  void ForEachBlock(size_t p, const std::vector<uint8_t>& only, bool earlier,
                    const std::function<void(const Block&)>& f) const;

  std::unique_ptr<VectorRecords> owned_;  // the vector constructor's view
  const Records* records_;
  std::vector<BlockingPass> passes_;
  size_t max_block_size_;
  ExternalSorter<Entry> sorter_;
  std::vector<PassRange> ranges_;  // [pass]
  uint64_t pair_bound_ = 0;
};

template <typename F>
void Blocker::ForEachPair(F&& f, const std::vector<uint8_t>& only) const {
  for (size_t p = 0; p < passes_.size(); ++p) ForEachNewPairOfPass(p, f, only);
}

template <typename F>
void Blocker::ForEachNewPairOfPass(size_t p, F&& f, const std::vector<uint8_t>& only) const {
  ForEachBlock(p, only, /*earlier=*/true, [&](const Block& b) {
    const size_t n = b.index.size();
    for (size_t x = 0; x < n; ++x) {
      for (size_t y = x + 1; y < n; ++y) {
        const uint32_t i = b.index[x], j = b.index[y];
        if (!only.empty() && !only[i] && !only[j]) continue;
        if (b.EarlierBlocks(x, y)) continue;
        f(i, j, *b.record[x], *b.record[y]);
      }
    }
  });
}

template <typename F>
void Blocker::ForEachPairOfPass(size_t p, F&& f) const {
  ForEachBlock(p, {}, /*earlier=*/false, [&](const Block& b) {
    const size_t n = b.index.size();
    for (size_t x = 0; x < n; ++x) {
      for (size_t y = x + 1; y < n; ++y) f(b.index[x], b.index[y], *b.record[x], *b.record[y]);
    }
  });
}

}  // namespace medmigrate::dedup
