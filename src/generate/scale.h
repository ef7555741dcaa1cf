// Named sizes of a generated legacy database. `prod` is the production
// database described in shared/legacy/README.md; the others scale every table
// by the same factor (templates keep a floor so their dirty facts still occur).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace medmigrate::generate {

enum class Scale { kTiny, kSmall, kMedium, kLarge, kProd };

// Id-space sizes per table: ids 1..n are considered, and a few of them are
// "deleted long ago" (never generated), so row counts come out slightly lower.
// Products and states have no size of their own: they hang off orders
// (about 2.5 products and 5 states per order).
struct TableSizes {
  int64_t users = 0;
  int64_t offices = 0;
  int64_t doctors = 0;
  int64_t patients = 0;
  int64_t orders = 0;
  int64_t jaws = 0;
  int64_t projects = 0;
  int64_t plans = 0;
  int64_t templates = 0;
};

// "tiny" (1/250 of prod, for quick tests), "small" (1/25: about 10k patients),
// "medium" (1/5), "large" (4 x prod: 1M patients), "prod".
// InvalidArgument listing the names otherwise.
Result<Scale> ParseScale(std::string_view name);
std::string_view ScaleName(Scale scale);
TableSizes SizesFor(Scale scale);

}  // namespace medmigrate::generate
