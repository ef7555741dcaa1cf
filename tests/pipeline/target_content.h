// Content of a migrated target, for comparing two targets or one target
// before and after: per-table hashes of every row as JSON.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "spec/spec_parser.h"
#include "support/pg_fixture.h"

namespace medmigrate::pipeline {

// Every table the migration writes.
inline std::vector<std::string> TargetTables() {
  std::vector<std::string> out;
  Result<spec::MappingSpec> mdw = spec::DefaultSpec();
  if (!mdw.ok()) {
    ADD_FAILURE() << mdw.status().message();
    return out;
  }
  for (const spec::EntitySpec& e : mdw->entities) out.push_back(e.name);
  out.push_back("state_analytics");
  return out;
}

// A hash of a table's rows matching `where`. Unless `exact`, it ignores when
// derived rows were computed (and so the time an order has spent so far in
// its current state) and deleted_at.
inline std::string TableHash(pg::Connection& c, const std::string& table,
                             const std::string& where = "true", bool exact = false) {
  std::string row = exact ? "to_jsonb(t)"
                          : "(to_jsonb(t) - 'computed_at' - 'deleted_at' - CASE WHEN to_jsonb(t) "
                            "->> 'is_current' = 'true' THEN 'time_in_state' ELSE '' END)";
  return testing::QueryString(
      c, "SELECT coalesce(md5(string_agg(j, E'\\n' ORDER BY j)), 'empty') || ':' || count(*) FROM "
         "(SELECT " + row + "::text AS j FROM public." + table + " t WHERE " + where + ") x");
}

// Every target table's hash: only the live rows (deleted_at NULL), or exactly every row.
inline std::map<std::string, std::string> TargetHashes(pg::Connection& c, bool live_only,
                                                       bool exact = false) {
  std::map<std::string, std::string> out;
  for (const std::string& t : TargetTables()) {
    bool has_deleted_at = t != "state_analytics";
    out[t] = TableHash(c, t, live_only && has_deleted_at ? "t.deleted_at IS NULL" : "true", exact);
  }
  return out;
}

}  // namespace medmigrate::pipeline
