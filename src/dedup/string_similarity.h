// String comparators for pairs of prepared values. None allocates: they run
// once per compared pair, millions of times a second.
#pragma once

#include <string_view>

namespace medmigrate::dedup {

// Jaro-Winkler similarity in [0, 1] (prefix scale 0.1, prefix up to 4). Both
// empty: 1. Strings longer than 64 bytes are compared on their first 64.
double JaroWinkler(std::string_view a, std::string_view b);

// True when a and b differ by at most one insertion, deletion, substitution or
// transposition of adjacent characters (Damerau-Levenshtein distance <= 1).
bool WithinOneEdit(std::string_view a, std::string_view b);

}  // namespace medmigrate::dedup
