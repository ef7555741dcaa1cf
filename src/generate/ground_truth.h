// What the generator injected into a legacy database, written as JSON beside
// it (docs/design/generator.md gives the format): row counts, duplicate
// patient clusters, the legacy ids affected by each dirty fact, and counts of
// raw values. The migration's tests and benchmarks compare their reject and
// merge counts with it, so every list is exact: built from the values
// actually written, never from the rates that chose them.
//
// Threads: one TableTruth per table, each filled by the one thread that
// generates that table; GroundTruth is assembled after the workers join.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "generate/legacy_tables.h"

namespace medmigrate::generate {

struct DuplicateMember {
  int64_t patient_id = 0;
  int64_t user_id = 0;
  // What differs from the cluster's first patient: typo_first_name,
  // typo_last_name, nickname, swapped_day_month, other_email, married_name
  // (another family name, same given name and birth date; with other_email
  // when the address changed too).
  std::vector<std::string> variations;
};

// One person registered several times. The first patient (root) is the
// original registration; every duplicate was derived from it.
struct DuplicateCluster {
  int64_t root_patient_id = 0;
  int64_t root_user_id = 0;
  std::vector<DuplicateMember> duplicates;
};

// Patients that are different people whom deduplication must never merge:
// twins or triplets (one family name, birth date and e-mail), siblings and
// families (one family name and e-mail), namesakes (one full name, birth
// dates decades apart). A duplicate of a member is that member's person.
struct DistinctGroup {
  std::string kind;  // twins, siblings, family, namesakes
  std::vector<int64_t> patient_ids;  // ascending
  std::vector<int64_t> user_ids;     // of the same patients, in the same order
};

struct TableTruth {
  int64_t rows = 0;
  // The highest id considered: rows were generated for some ids in 1..id_max,
  // the others were "deleted long ago". The table's sequence is set here, so
  // new rows never reuse an id that an orphan reference points at.
  int64_t id_max = 0;
  // Fact name (e.g. "orders_orphan_patient") -> affected ids, ascending.
  std::map<std::string, std::vector<int64_t>, std::less<>> facts;
  // "table.column" -> raw value -> rows ("NULL" for NULL).
  std::map<std::string, std::map<std::string, int64_t, std::less<>>, std::less<>> values;

  // "table.column" -> kind of special content (html, control, tab_newline,
  // backslash, quote, non_ascii) -> rows whose value contains it.
  std::map<std::string, std::map<std::string, int64_t, std::less<>>, std::less<>> free_text;

  // dispatch_patient only: duplicate clusters by root patient id.
  std::map<int64_t, DuplicateCluster> clusters;
  // dispatch_patient only: households and namesakes, by first patient id.
  std::vector<DistinctGroup> distinct_groups;

  void AddFact(std::string_view fact, int64_t id);
  void CountValue(std::string_view column, std::string_view raw);
  // Counts a free-text value's TextFlag bits (vocabulary.h) under `column`.
  void CountText(std::string_view column, uint8_t flags);
};

struct GroundTruth {
  uint64_t seed = 0;
  std::string scale;
  std::array<TableTruth, kTableCount> tables;
  // auth_user ids sharing one address (compared lower-cased), for addresses
  // that look valid; one array per address, by smallest id.
  std::vector<std::vector<int64_t>> shared_emails;

  TableTruth& of(Table t) { return tables[static_cast<size_t>(t)]; }
  const TableTruth& of(Table t) const { return tables[static_cast<size_t>(t)]; }
  nlohmann::json ToJson() const;
};

// Writes `json` to `path` (pretty-printed, trailing newline), replacing it.
Status WriteJsonFile(const std::string& path, const nlohmann::json& json);

}  // namespace medmigrate::generate
