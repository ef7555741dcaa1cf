// Content of a migrated target, for comparing two targets or one target
// before and after: per-table hashes of every row as JSON.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pipeline/migration.h"
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

// A hash of a table's rows matching `where`. Unless `exact`, it ignores
// deleted_at. Derived tables are compared whole: they depend only on the
// migrated rows (sql/main/0004), never on when they were computed.
inline std::string TableHash(pg::Connection& c, const std::string& table,
                             const std::string& where = "true", bool exact = false) {
  std::string row = exact ? "to_jsonb(t)" : "(to_jsonb(t) - 'deleted_at')";
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

// Runs a migration that must succeed, each entity's accounting balanced.
inline MigrationSummary RunSucceeding(const MigrateOptions& o) {
  Result<MigrationSummary> s = RunMigration(o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  if (!s.ok()) return {};
  EXPECT_EQ(s->state, "succeeded") << s->error;
  for (const auto& e : s->entities) {
    EXPECT_EQ(e.read, e.loaded + e.rejected + e.merged) << o.type << " " << e.entity;
    EXPECT_EQ(e.loaded, e.inserted + e.updated + e.unchanged) << o.type << " " << e.entity;
  }
  return *s;
}

// One count of one entity of a run's summary.
inline int64_t Count(const MigrationSummary& s, const std::string& entity,
                     int64_t track::EntityCounts::*field) {
  for (const auto& e : s.entities) {
    if (e.entity == entity) return e.*field;
  }
  ADD_FAILURE() << "no entity " << entity;
  return -1;
}

}  // namespace medmigrate::pipeline
