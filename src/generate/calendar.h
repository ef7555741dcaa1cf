// Dates and timestamps as PostgreSQL's COPY text format reads them, computed
// with integer arithmetic only (no time zone database, no locale), so the
// generated data is the same on every machine.
#pragma once

#include <cstddef>
#include <cstdint>

namespace medmigrate::generate {

struct CivilDate {
  int year;
  int month;  // 1..12
  int day;    // 1..31
};

// Days since 1970-01-01 (proleptic Gregorian), and back. H. Hinnant's algorithms.
int64_t DaysFromCivil(int year, int month, int day);
CivilDate CivilFromDays(int64_t days);

// Writes "YYYY-MM-DD" (10 chars) into `out`; returns the length.
size_t FormatDate(const CivilDate& date, char* out);
// Writes "YYYY-MM-DD HH:MM:SS+00" (22 chars) for seconds since the epoch (UTC).
size_t FormatTimestamp(int64_t epoch_seconds, char* out);
// Writes cents as "123.45" / "-0.50"; exact, never through floating point.
size_t FormatCents(int64_t cents, char* out);

inline constexpr int64_t kSecondsPerDay = 86400;

}  // namespace medmigrate::generate
