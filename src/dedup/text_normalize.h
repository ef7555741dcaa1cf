// Normal forms of names and codes that the comparators and blocking keys use:
// case and accents folded, punctuation and spaces dropped, phonetic codes.
// Computed once per record (PreparedRecord), never per pair.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace medmigrate::dedup {

// Lower-case ASCII letters of `text` with Latin accents folded (é -> e, ß -> s,
// ễ -> e); spaces, hyphens, apostrophes, digits and other ASCII punctuation
// dropped; code points of other scripts (李, Иван) kept as their UTF-8 bytes.
// "  O'Brien-Müller " -> "obrienmuller".
std::string NormalizeName(std::string_view text);

// Trimmed, ASCII lower case; inner spaces collapsed to one. For free-text
// address parts.
std::string NormalizeText(std::string_view text);

// Only the ASCII letters and digits, lower case ("2 6 0 0" -> "2600").
std::string NormalizeCode(std::string_view text);

// American Soundex of a normalised name, packed as (letter << 24 | digits), or
// a 32-bit hash of the name when it does not start with an ASCII letter (other
// scripts); 0 for an empty name.
uint32_t Soundex(std::string_view normalized);

// 64-bit FNV-1a, the hash of blocking keys.
uint64_t Fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull);

}  // namespace medmigrate::dedup
