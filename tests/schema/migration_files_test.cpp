// The embedded migration files and their names: no database.
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "schema/embedded_sql.h"
#include "schema/migrator.h"
#include "support/test_macros.h"

namespace medmigrate::schema {
namespace {

TEST(Sha256HexTest, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

struct PathCase {
  std::string path;
  bool valid;
  SchemaScope scope = SchemaScope::kMain;
  int version = 0;
  std::string name;
};

TEST(ParseMigrationPathTest, Table) {
  const PathCase cases[] = {
      {"main/0001_types.sql", true, SchemaScope::kMain, 1, "0001_types.sql"},
      {"tracking/0012_run_jobs.sql", true, SchemaScope::kTracking, 12, "0012_run_jobs.sql"},
      {"main/10000_far_future.sql", true, SchemaScope::kMain, 10000, "10000_far_future.sql"},
      {"legacy/mdw_schema.sql", false, SchemaScope::kMain, 0, ""},
      {"tracking/bootstrap.sql", false, SchemaScope::kMain, 0, ""},
      {"main/0000_zero.sql", false, SchemaScope::kMain, 0, ""},     // versions start at 1
      {"main/001_short.sql", false, SchemaScope::kMain, 0, ""},     // four digits at least
      {"main/0001_.sql", false, SchemaScope::kMain, 0, ""},         // a name is needed
      {"main/0001_Types.sql", false, SchemaScope::kMain, 0, ""},    // lower case only
      {"main/0001_types.sql.orig", false, SchemaScope::kMain, 0, ""},
      {"main/0001-types.sql", false, SchemaScope::kMain, 0, ""},
      {"main/x001_types.sql", false, SchemaScope::kMain, 0, ""},
      {"other/0001_types.sql", false, SchemaScope::kMain, 0, ""},
      {"0001_types.sql", false, SchemaScope::kMain, 0, ""},
  };
  for (const PathCase& c : cases) {
    std::optional<Migration> m = ParseMigrationPath(c.path, "SELECT 1;\n");
    ASSERT_EQ(m.has_value(), c.valid) << c.path;
    if (!m) continue;
    EXPECT_EQ(m->scope, c.scope) << c.path;
    EXPECT_EQ(m->version, c.version) << c.path;
    EXPECT_EQ(m->name, c.name) << c.path;
    EXPECT_EQ(m->path(), c.path);
    EXPECT_EQ(m->checksum, Sha256Hex("SELECT 1;\n"));
  }
}

// Versions of each scope run 1, 2, 3 ... without gaps, and checksums are of the bytes.
TEST(EmbeddedMigrationsTest, BothScopesNumberedFromOneWithoutGaps) {
  for (SchemaScope scope : AllScopes()) {
    ASSERT_OK_AND_ASSIGN(std::vector<Migration> ms, EmbeddedMigrations(scope));
    ASSERT_FALSE(ms.empty()) << ScopeName(scope);
    for (size_t i = 0; i < ms.size(); ++i) {
      EXPECT_EQ(ms[i].version, static_cast<int>(i) + 1) << ms[i].path();
      EXPECT_EQ(ms[i].scope, scope);
      EXPECT_EQ(ms[i].checksum, Sha256Hex(FindEmbeddedSql(ms[i].path())));
    }
  }
  EXPECT_FALSE(FindEmbeddedSql("tracking/bootstrap.sql").empty());
}

// The migrator wraps each file in its own transaction with its record; a file
// that commits on its own would break that promise (and pasting into psql -1).
TEST(EmbeddedMigrationsTest, FilesDoNotManageTransactions) {
  ASSERT_OK_AND_ASSIGN(std::vector<Migration> ms, EmbeddedMigrations());
  const std::regex transaction_control(
      R"((^|\n)\s*(BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION)\s*;)", std::regex::icase);
  const std::regex superuser_only(
      R"(CREATE\s+EXTENSION|ALTER\s+SYSTEM|CREATE\s+ROLE|SECURITY\s+DEFINER|LANGUAGE\s+c\b)",
      std::regex::icase);
  for (const Migration& m : ms) {
    std::string sql(m.sql);
    EXPECT_FALSE(std::regex_search(sql, transaction_control)) << m.path();
    EXPECT_FALSE(std::regex_search(sql, superuser_only)) << m.path();
    EXPECT_TRUE(!sql.empty() && sql.back() == '\n') << m.path();
  }
}

}  // namespace
}  // namespace medmigrate::schema
