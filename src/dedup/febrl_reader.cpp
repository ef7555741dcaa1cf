#include "dedup/febrl_reader.h"

#include <fmt/format.h>

#include <array>
#include <charconv>

namespace medmigrate::dedup {

namespace {

constexpr std::array<std::string_view, 11> kHeader = {
    "rec_id", "given_name", "surname", "street_number", "address_1", "address_2",
    "suburb", "postcode",   "state",   "date_of_birth", "soc_sec_id"};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\r' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool SplitFields(std::string_view line, std::array<std::string_view, 11>* out) {
  size_t n = 0;
  size_t pos = 0;
  while (true) {
    const size_t comma = line.find(',', pos);
    if (n == out->size()) return false;
    (*out)[n++] = Trim(line.substr(pos, comma == std::string_view::npos ? line.npos : comma - pos));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return n == out->size();
}

}  // namespace

Result<FebrlData> ParseFebrl(std::string_view text) {
  FebrlData data;
  size_t line_no = 0;
  size_t pos = 0;
  std::array<std::string_view, 11> f;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (Trim(line).empty()) continue;
    if (!SplitFields(line, &f)) {
      return Status::InvalidArgument(
          fmt::format("line {}: expected 11 comma-separated fields (FEBRL format)", line_no));
    }
    if (line_no == 1) {
      if (f != kHeader) {
        return Status::InvalidArgument(
            "line 1: not a FEBRL header (rec_id, given_name, surname, street_number, address_1, "
            "address_2, suburb, postcode, state, date_of_birth, soc_sec_id)");
      }
      continue;
    }
    // rec-<N>-org or rec-<N>-dup-<K>
    const std::string_view id = f[0];
    int64_t n = 0;
    const size_t dash = id.find('-', 4);
    if (id.substr(0, 4) != "rec-" || dash == std::string_view::npos ||
        std::from_chars(id.data() + 4, id.data() + dash, n).ec != std::errc() ||
        (id.substr(dash) != "-org" && id.substr(dash, 5) != "-dup-")) {
      return Status::InvalidArgument(
          fmt::format("line {}: rec_id is not rec-<N>-org or rec-<N>-dup-<K>", line_no));
    }
    PersonRecord r;
    r.id = static_cast<int64_t>(data.records.size()) + 1;
    r.age_rank = r.id;
    r.given = f[1];
    r.family = f[2];
    r.street_number = f[3];
    r.street = f[4];
    r.address_line2 = f[5];
    r.locality = f[6];
    r.postcode = f[7];
    r.region = f[8];
    r.birth_date = f[9];
    r.national_id = f[10];
    data.records.push_back(std::move(r));
    data.person.push_back(n);
  }
  if (data.records.empty()) return Status::InvalidArgument("no records after the header");
  return data;
}

}  // namespace medmigrate::dedup
