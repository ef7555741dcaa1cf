// Applies the versioned, checksummed SQL migrations of sql/main (the target
// schema, public) and sql/tracking (the tracking schema, medmigrate) that are
// embedded in the binary, and records each applied file in
// medmigrate.schema_migrations. See docs/design/schemas.md.
//
// Rules: a file applies once, in its own transaction together with its record;
// a recorded file whose bytes changed, or one this binary does not know, stops
// everything before anything is applied. Concurrent inits serialize on a
// transaction-level advisory lock (transaction-level so it also works through a
// transaction-mode pooler such as Supabase's).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "pg/connection.h"

namespace medmigrate::schema {

enum class SchemaScope { kMain, kTracking };

// "main" or "tracking": the folder under sql/ and the value of schema_migrations.scope.
std::string_view ScopeName(SchemaScope scope);
// Both scopes, in the order init applies them (tracking first: a run needs it).
std::vector<SchemaScope> AllScopes();

struct Migration {
  SchemaScope scope = SchemaScope::kMain;
  int version = 0;        // NNNN of the file name, > 0
  std::string name;       // the file name, e.g. "0002_core_tables.sql"
  std::string_view sql;   // the file's bytes; must outlive the Migration
  std::string checksum;   // SHA-256 of `sql`, lower-case hex

  // "main/0002_core_tables.sql"
  std::string path() const;
};

// SHA-256 of `bytes`, lower-case hex (64 characters).
std::string Sha256Hex(std::string_view bytes);

// Parses "main/NNNN_<name>.sql" or "tracking/NNNN_<name>.sql" (NNNN: four or
// more digits, > 0; <name>: [a-z0-9_]+) into a Migration over `sql`. nullopt
// for any other path (e.g. "legacy/mdw_schema.sql", "tracking/bootstrap.sql").
std::optional<Migration> ParseMigrationPath(std::string_view path, std::string_view sql);

// The migrations compiled into this binary, of every scope, sorted by scope
// then version. Internal when two files of one scope share a version (a build
// mistake, caught by the unit tests).
Result<std::vector<Migration>> EmbeddedMigrations();
// Only those of `scope`.
Result<std::vector<Migration>> EmbeddedMigrations(SchemaScope scope);

// What happened to one file during ApplyMigrations.
struct MigrationOutcome {
  SchemaScope scope = SchemaScope::kMain;
  int version = 0;
  std::string path;          // "main/0002_core_tables.sql"
  bool applied_now = false;  // false: it was already applied
  int64_t duration_ms = 0;   // time to apply it now (0 when already applied)
};

struct InitReport {
  std::vector<MigrationOutcome> files;  // in the order they were considered
  int AppliedCount() const;
  int AlreadyAppliedCount() const;
};

// Applies the files of `available` whose scope is in `scopes` and that are not
// recorded yet, in version order, each in its own transaction with its record.
// `available` must hold the migrations of every scope (normally
// EmbeddedMigrations()): every recorded file of every scope is checked against
// it first, and
//  - DataLoss naming the file and both checksums' prefixes when a recorded
//    file's checksum differs from `available`'s;
//  - FailedPrecondition when a recorded version is not in `available` (a newer
//    medmigrate initialised this database) or when a file to apply comes
//    before one already applied (files must be added at the end);
// in both cases nothing is applied. A file that fails to apply is rolled back
// with its record, and its error names it; files applied before it stay.
// `conn` must not be inside a transaction; it is left outside one.
Result<InitReport> ApplyMigrations(pg::Connection& conn, const std::vector<SchemaScope>& scopes,
                                   const std::vector<Migration>& available);

// Opens `target_url` and applies the embedded migrations of `scopes` (both
// when empty). The entry point of `medmigrate init` and of the HTTP API's
// init routes.
Result<InitReport> InitSchemas(std::string_view target_url, std::vector<SchemaScope> scopes);

// The state of one file, for `medmigrate status` and the dashboard.
struct MigrationState {
  enum class Kind {
    kApplied,   // recorded, checksum matches
    kPending,   // in the binary, not recorded
    kModified,  // recorded with another checksum: the file was edited after it was applied
    kUnknown,   // recorded, not in the binary (a newer medmigrate applied it)
  };
  SchemaScope scope = SchemaScope::kMain;
  int version = 0;
  std::string path;
  Kind kind = Kind::kPending;
  std::string checksum;           // the binary's; empty for kUnknown
  std::string recorded_checksum;  // empty for kPending
  std::optional<std::string> applied_at;  // timestamptz text, when recorded
  std::optional<std::string> applied_by;
  int64_t duration_ms = 0;
};

// Every file of `available` and every recorded one, sorted by scope then
// version. Reads only; a database without medmigrate.schema_migrations has
// everything pending.
Result<std::vector<MigrationState>> ListMigrationStates(pg::Connection& conn,
                                                        const std::vector<Migration>& available);

}  // namespace medmigrate::schema
