// The dedup review queue and decisions (tracking 0007), for `medmigrate dedup`
// and the server: list pairs, show one with both records side by side, merge
// or keep apart, take a merge back. Decisions say who, when and why, and take
// effect at the next migration run (full or incremental), which redirects the
// references and loads or soft-deletes the records.
//
// Only Records() reads patient data (from the legacy database, through the
// spec's [dedup] source); nothing here logs it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "pg/connection.h"
#include "spec/mapping_spec.h"

namespace medmigrate::pipeline {

struct ReviewPair {
  int64_t id = 0;
  std::string entity;
  std::string legacy_id_a, legacy_id_b;
  std::string survivor;  // kept if merged
  double probability = 0;
  std::string status;  // pending | merged | distinct
  std::optional<std::string> decided_by, decided_at, reason;
  nlohmann::json explanation;  // fields, levels and weights; no values
};

// Pairs with `status` ("all": any), most probable first, at most `limit`.
Result<std::vector<ReviewPair>> ListPairs(pg::Connection& target, const std::string& status,
                                          int limit);
Result<ReviewPair> GetPair(pg::Connection& target, int64_t id);

struct Decision {
  std::string by;      // who decides (a user name)
  std::string reason;  // free text, optional
};

// Merges the pair (the less complete, then younger, record into the other)
// or marks it distinct, which also reverts a merge in force between the two.
Status ResolvePair(pg::Connection& target, int64_t id, bool merge, const Decision& d);

// Takes back the merge in force of record `legacy_id` of `entity`: the record
// is loaded again at the next run, and the pair is kept apart from then on.
// Returns the survivor it was merged into.
Result<std::string> Unmerge(pg::Connection& target, const std::string& entity,
                            const std::string& legacy_id, const Decision& d);

// The person fields of `keys` from the spec's [dedup] source in the legacy
// database: key -> (field -> value). Patient data: for display only.
Result<std::map<std::string, std::map<std::string, std::string>>> Records(
    pg::Connection& legacy, const spec::DedupSpec& dedup, const std::vector<std::string>& keys);

}  // namespace medmigrate::pipeline
