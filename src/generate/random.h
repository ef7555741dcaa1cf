// Counter-based random numbers for the legacy data generator. Every value is a
// pure function of (seed, stream, id): a row's attributes can be recomputed
// from its id alone, so tables are generated independently (and in parallel)
// and cross-table references need no lookup and no memory. std::
// distributions are avoided on purpose: their output is implementation-defined,
// and the generator promises the same data for a seed on every platform.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace medmigrate::generate {

// splitmix64's finaliser: a bijective 64-bit mix with good avalanche.
constexpr uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Independent streams of decisions. A stream is used for one purpose only, so
// adding a draw to one row generator never shifts the values of another.
// Values are part of the determinism contract: append, never renumber.
enum class Stream : uint64_t {
  kUserRow = 1,
  kUserGap,
  kOfficeRow,
  kOfficeGap,
  kDoctorRow,
  kDoctorGap,
  kDoctorOffice,
  kPatientRow,
  kPatientGap,
  kIdentity,
  kDuplicate,
  kOrderRow,
  kOrderGap,
  kOrderRefs,
  kOrderCreated,
  kProductRow,
  kProductGap,
  kJawRow,
  kJawGap,
  kProjectRow,
  kProjectGap,
  kPlanRow,
  kPlanGap,
  kTemplateRow,
  kStateRow,
  kStateOrphan,
  kEmailShare,
  kMutation,
  kHousehold,
  kMarriedName,
};

// A sequence of draws keyed by (seed, stream, id). Cheap to construct: make
// one per row (or per attribute) on the stack.
class Rng {
 public:
  Rng(uint64_t seed, Stream stream, int64_t id)
      : state_(Mix64(Mix64(Mix64(seed) ^ static_cast<uint64_t>(stream)) ^
                     static_cast<uint64_t>(id))) {}

  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return Mix64(state_);
  }
  // Uniform in [0, 1).
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  bool Chance(double p) { return Unit() < p; }
  // Uniform in [lo, hi] (inclusive); the modulo bias is below 2^-40 for the
  // ranges used here.
  int64_t Range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  template <typename T>
  const T& Pick(std::span<const T> items) {
    return items[Next() % items.size()];
  }

 private:
  uint64_t state_;
};

// One choice of a weighted table: {value, weight}.
template <typename T>
struct Weighted {
  T value;
  int weight;
};

// The index of a weighted choice; weights need not sum to anything in particular.
template <typename T>
size_t PickWeightedIndex(Rng& rng, std::span<const Weighted<T>> table) {
  int64_t total = 0;
  for (const auto& w : table) total += w.weight;
  int64_t x = static_cast<int64_t>(rng.Next() % static_cast<uint64_t>(total));
  for (size_t i = 0; i < table.size(); ++i) {
    x -= table[i].weight;
    if (x < 0) return i;
  }
  return table.size() - 1;
}

template <typename T>
const T& PickWeighted(Rng& rng, std::span<const Weighted<T>> table) {
  return table[PickWeightedIndex(rng, table)].value;
}

}  // namespace medmigrate::generate
