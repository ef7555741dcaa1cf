// English given names and their nicknames, as groups ("william bill billy
// will ..."): two given names are nicknames of each other when they share a
// group. A name may sit in several groups ("chris": Christopher, Christine).
// The list is data (nickname_table.cpp); adding a name is adding a word.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace medmigrate::dedup {

// Up to four group ids of one name, 0-terminated; all 0 when the name is in
// no group. Stored in each PreparedRecord so the per-pair test is a few
// integer compares.
using NicknameGroups = std::array<uint16_t, 4>;

// The groups of `normalized` (a NormalizeName result). Thread-safe: the table
// is built once, on first use.
NicknameGroups LookupNicknameGroups(std::string_view normalized);

// True when the two names share a group.
bool ShareNicknameGroup(const NicknameGroups& a, const NicknameGroups& b);

}  // namespace medmigrate::dedup
