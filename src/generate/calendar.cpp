#include "generate/calendar.h"

#include <charconv>

namespace medmigrate::generate {

int64_t DaysFromCivil(int year, int month, int day) {
  int64_t y = year - (month <= 2 ? 1 : 0);
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t mp = (month + 9) % 12;
  const int64_t doy = (153 * mp + 2) / 5 + day - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  const int y = static_cast<int>(yoe + era * 400 + (m <= 2 ? 1 : 0));
  return CivilDate{y, m, d};
}

namespace {

void Put2(int v, char* out) {
  out[0] = static_cast<char>('0' + v / 10);
  out[1] = static_cast<char>('0' + v % 10);
}

void Put4(int v, char* out) {
  out[0] = static_cast<char>('0' + v / 1000 % 10);
  out[1] = static_cast<char>('0' + v / 100 % 10);
  out[2] = static_cast<char>('0' + v / 10 % 10);
  out[3] = static_cast<char>('0' + v % 10);
}

}  // namespace

size_t FormatDate(const CivilDate& date, char* out) {
  Put4(date.year, out);
  out[4] = '-';
  Put2(date.month, out + 5);
  out[7] = '-';
  Put2(date.day, out + 8);
  return 10;
}

size_t FormatTimestamp(int64_t epoch_seconds, char* out) {
  int64_t days = epoch_seconds / kSecondsPerDay;
  int64_t secs = epoch_seconds % kSecondsPerDay;
  if (secs < 0) {
    secs += kSecondsPerDay;
    --days;
  }
  FormatDate(CivilFromDays(days), out);
  out[10] = ' ';
  Put2(static_cast<int>(secs / 3600), out + 11);
  out[13] = ':';
  Put2(static_cast<int>(secs / 60 % 60), out + 14);
  out[16] = ':';
  Put2(static_cast<int>(secs % 60), out + 17);
  out[19] = '+';
  out[20] = '0';
  out[21] = '0';
  return 22;
}

size_t FormatCents(int64_t cents, char* out) {
  size_t n = 0;
  if (cents < 0) {
    out[n++] = '-';
    cents = -cents;
  }
  auto [end, ec] = std::to_chars(out + n, out + n + 24, cents / 100);
  (void)ec;
  n = static_cast<size_t>(end - out);
  out[n++] = '.';
  Put2(static_cast<int>(cents % 100), out + n);
  return n + 2;
}

}  // namespace medmigrate::generate
