#include "generate/scale.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

namespace medmigrate::generate {

namespace {

struct ScaleRow {
  Scale scale;
  std::string_view name;
  int64_t numerator;    // sizes are prod * numerator / denominator
  int64_t denominator;
};

constexpr std::array<ScaleRow, 5> kScales = {{
    {Scale::kTiny, "tiny", 1, 250},
    {Scale::kSmall, "small", 1, 25},
    {Scale::kMedium, "medium", 1, 5},
    {Scale::kLarge, "large", 4, 1},
    {Scale::kProd, "prod", 1, 1},
}};

// Production sizes, from shared/legacy/README.md.
constexpr TableSizes kProd = {.users = 400'000,
                              .offices = 400,
                              .doctors = 3'000,
                              .patients = 250'000,
                              .orders = 1'200'000,
                              .jaws = 500'000,
                              .projects = 150'000,
                              .plans = 300'000,
                              .templates = 200};

const ScaleRow& RowFor(Scale scale) {
  for (const ScaleRow& r : kScales) {
    if (r.scale == scale) return r;
  }
  return kScales[1];
}

}  // namespace

Result<Scale> ParseScale(std::string_view name) {
  for (const ScaleRow& r : kScales) {
    if (r.name == name) return r.scale;
  }
  return Status::InvalidArgument(fmt::format(
      "unknown scale '{}': use tiny, small (about 10k patients), medium, large (1M patients) "
      "or prod",
      name));
}

std::string_view ScaleName(Scale scale) { return RowFor(scale).name; }

TableSizes SizesFor(Scale scale) {
  const ScaleRow& r = RowFor(scale);
  auto s = [&](int64_t prod, int64_t floor) {
    return std::max(floor, prod * r.numerator / r.denominator);
  };
  // Floors keep every dirty fact of the small tables present at small scales.
  return TableSizes{.users = s(kProd.users, 400),
                    .offices = s(kProd.offices, 12),
                    .doctors = s(kProd.doctors, 40),
                    .patients = s(kProd.patients, 250),
                    .orders = s(kProd.orders, 1200),
                    .jaws = s(kProd.jaws, 500),
                    .projects = s(kProd.projects, 150),
                    .plans = s(kProd.plans, 300),
                    .templates = s(kProd.templates, 50)};
}

}  // namespace medmigrate::generate
