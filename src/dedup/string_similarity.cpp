#include "dedup/string_similarity.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace medmigrate::dedup {

double JaroWinkler(std::string_view a, std::string_view b) {
  constexpr size_t kMax = 64;
  if (a.size() > kMax) a = a.substr(0, kMax);
  if (b.size() > kMax) b = b.substr(0, kMax);
  if (a.empty() && b.empty()) return 1.0;
  if (a.empty() || b.empty()) return 0.0;
  if (a == b) return 1.0;
  const size_t window = std::max<size_t>(std::max(a.size(), b.size()) / 2, 1) - 1;
  // Positions of each byte in b as a bit set, so each character of a finds its
  // first unmatched partner inside the window with a few bit operations.
  // Only the entries of bytes that occur in a or b are written and read.
  std::array<uint64_t, 256> positions;  // NOLINT: filled below for every byte read
  for (char c : a) positions[static_cast<unsigned char>(c)] = 0;
  for (char c : b) positions[static_cast<unsigned char>(c)] = 0;
  for (size_t j = 0; j < b.size(); ++j)
    positions[static_cast<unsigned char>(b[j])] |= uint64_t{1} << j;
  uint64_t matched_a = 0;
  uint64_t matched_b = 0;
  size_t matches = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const size_t lo = i > window ? i - window : 0;
    const size_t hi = std::min(b.size(), i + window + 1);
    if (lo >= hi) continue;
    const uint64_t upto = hi >= 64 ? ~uint64_t{0} : (uint64_t{1} << hi) - 1;
    const uint64_t from = ~((uint64_t{1} << lo) - 1);
    const uint64_t candidates =
        positions[static_cast<unsigned char>(a[i])] & upto & from & ~matched_b;
    if (candidates == 0) continue;
    matched_b |= candidates & (~candidates + 1);  // lowest set bit
    matched_a |= uint64_t{1} << i;
    ++matches;
  }
  if (matches == 0) return 0.0;
  size_t transpositions = 0;
  uint64_t ra = matched_a;
  uint64_t rb = matched_b;
  while (ra != 0) {
    const int i = std::countr_zero(ra);
    const int j = std::countr_zero(rb);
    if (a[static_cast<size_t>(i)] != b[static_cast<size_t>(j)]) ++transpositions;
    ra &= ra - 1;
    rb &= rb - 1;
  }
  const double m = static_cast<double>(matches);
  const double jaro = (m / static_cast<double>(a.size()) + m / static_cast<double>(b.size()) +
                       (m - static_cast<double>(transpositions) / 2.0) / m) /
                      3.0;
  size_t prefix = 0;
  while (prefix < 4 && prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  return jaro + static_cast<double>(prefix) * 0.1 * (1.0 - jaro);
}

bool WithinOneEdit(std::string_view a, std::string_view b) {
  if (a.size() > b.size()) std::swap(a, b);
  if (b.size() - a.size() > 1) return false;
  size_t i = 0;
  while (i < a.size() && a[i] == b[i]) ++i;
  if (i == a.size()) return true;
  if (a.size() == b.size()) {
    if (a.substr(i + 1) == b.substr(i + 1)) return true;  // substitution
    return i + 1 < a.size() && a[i] == b[i + 1] && a[i + 1] == b[i] &&
           a.substr(i + 2) == b.substr(i + 2);  // transposition
  }
  return a.substr(i) == b.substr(i + 1);  // insertion into a
}

}  // namespace medmigrate::dedup
