// `medmigrate generate --mutate`: one realistic batch of changes applied to a
// generated legacy database, as the running legacy application would make
// between two migration runs: inserts (new accounts and patients, some of
// them duplicates of existing patients; orders with products and states;
// jaws), updates (orders, patients, plans, jaws, projects with updated_at =
// now(); auth_user names and e-mails, which leave no timestamp) and hard
// deletes (Django style: an order's products first; a patient's jaws and plans
// first; states of some deleted orders are left behind as orphans).
//
// Deterministic: the same seed on the same database state makes the same
// changes (ids come from the tables' sequences). One transaction: a failure
// changes nothing. The mutation truth (ids inserted, updated and deleted per
// table) is written as JSON; it holds ids only, no patient data.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "generate/legacy_tables.h"

namespace medmigrate::generate {

struct MutateOptions {
  std::string url;  // a database filled by GenerateLegacy
  uint64_t seed = 1;
  double fraction = 0.01;  // share of each table's rows inserted, updated and deleted
  // Empty: "<database name>.mutation.json" in the working folder.
  std::string truth_path;
};

struct MutateSummary {
  std::string database;
  std::string truth_path;
  std::string started_at;  // the transaction's now(): every updated_at it set
  std::array<int64_t, kTableCount> inserted{};
  std::array<int64_t, kTableCount> updated{};
  std::array<int64_t, kTableCount> deleted{};
  double seconds = 0;
};

// FailedPrecondition when the database lacks the MDW tables (run generate first).
Result<MutateSummary> MutateLegacy(const MutateOptions& options);

}  // namespace medmigrate::generate
