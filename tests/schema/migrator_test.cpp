// ApplyMigrations and ListMigrationStates on a real PostgreSQL.
#include "schema/migrator.h"

#include <unistd.h>

#include <algorithm>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schema/embedded_sql.h"
#include "support/pg_fixture.h"

namespace medmigrate::schema {
namespace {

using ::medmigrate::testing::QueryInt;
using ::medmigrate::testing::QueryString;
using ::medmigrate::testing::TestCluster;
using ::medmigrate::testing::TestDatabase;
using ::testing::HasSubstr;

// The migrated tables of DESIGN.md's target schema.
const char* const kMigratedTables[] = {
    "offices",  "profiles",        "doctors",
    "patients", "orders",          "products",
    "jaws",     "projects",        "treatment_plans",
    "workflow_templates", "workflow_template_tasks", "instruction_states"};
const char* const kDerivedTables[] = {"state_analytics", "project_embeddings",
                                      "treatment_plan_embeddings"};
const char* const kTrackingTables[] = {"schema_migrations", "runs",     "run_entities",
                                       "live_status",       "phases",   "checkpoints",
                                       "rejects",           "warnings", "merges",
                                       "events"};

std::string_view FindEmbeddedSqlOrDie(std::string_view path) {
  std::string_view sql = FindEmbeddedSql(path);
  EXPECT_FALSE(sql.empty()) << path << " is not embedded";
  return sql;
}

std::vector<Migration> All() {
  Result<std::vector<Migration>> r = EmbeddedMigrations();
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : std::vector<Migration>{};
}

size_t CountScope(const std::vector<Migration>& ms, SchemaScope scope) {
  return std::count_if(ms.begin(), ms.end(), [&](const Migration& m) { return m.scope == scope; });
}

bool TableExists(pg::Connection& conn, std::string_view schema, std::string_view table) {
  return !QueryString(conn, fmt::format("SELECT to_regclass('{}.{}')", schema, table)).empty();
}

// Columns, constraints, indexes, types and triggers of public and medmigrate, as text.
std::string CatalogSnapshot(pg::Connection& conn) {
  return QueryString(conn, R"sql(
    SELECT string_agg(line, E'\n' ORDER BY line) FROM (
      SELECT format('column %s.%s.%s %s %s %s', table_schema, table_name, column_name,
                    data_type, is_nullable, column_default) AS line
        FROM information_schema.columns WHERE table_schema IN ('public', 'medmigrate')
      UNION ALL
      SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
        FROM pg_constraint WHERE connamespace::regnamespace::text IN ('public', 'medmigrate')
      UNION ALL
      SELECT format('index %s', indexdef) FROM pg_indexes
        WHERE schemaname IN ('public', 'medmigrate')
      UNION ALL
      SELECT format('type %s %s', t.typname, e.enumlabel) FROM pg_type t
        JOIN pg_enum e ON e.enumtypid = t.oid
      UNION ALL
      SELECT format('trigger %s %s', tgrelid::regclass, tgname) FROM pg_trigger WHERE NOT tgisinternal
    ) s)sql");
}

TEST(MigratorTest, InitCreatesEveryDesignTableWithUuidIdsAndLegacyIds) {
  TestDatabase db("schema_tables");
  pg::Connection conn = db.Connect();
  ASSERT_OK_AND_ASSIGN(InitReport report, ApplyMigrations(conn, AllScopes(), All()));
  EXPECT_EQ(report.AppliedCount(), static_cast<int>(All().size()));
  EXPECT_EQ(report.AlreadyAppliedCount(), 0);

  for (const char* t : kMigratedTables) {
    SCOPED_TRACE(t);
    ASSERT_TRUE(TableExists(conn, "public", t));
    EXPECT_EQ(QueryString(conn, fmt::format(
                                    "SELECT data_type FROM information_schema.columns WHERE "
                                    "table_schema = 'public' AND table_name = '{}' AND "
                                    "column_name = 'id'", t)),
              "uuid");
    // id is the primary key, alone.
    EXPECT_EQ(QueryString(conn, fmt::format(
                                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE "
                                    "conrelid = 'public.{}'::regclass AND contype = 'p'", t)),
              "PRIMARY KEY (id)");
    EXPECT_EQ(QueryString(conn, fmt::format("SELECT is_nullable FROM information_schema.columns "
                                            "WHERE table_schema = 'public' AND table_name = '{}' "
                                            "AND column_name = 'legacy_id'", t)),
              "NO");
    EXPECT_EQ(QueryInt(conn, fmt::format("SELECT count(*) FROM pg_constraint WHERE conrelid = "
                                         "'public.{}'::regclass AND contype = 'u' AND "
                                         "pg_get_constraintdef(oid) = 'UNIQUE (legacy_id)'", t)),
              1);
    EXPECT_EQ(QueryInt(conn, fmt::format("SELECT count(*) FROM information_schema.columns WHERE "
                                         "table_schema = 'public' AND table_name = '{}' AND "
                                         "column_name = 'deleted_at'", t)),
              1);
  }
  EXPECT_EQ(QueryString(conn, "SELECT data_type FROM information_schema.columns WHERE "
                              "table_name = 'workflow_template_tasks' AND column_name = 'legacy_id'"),
            "text");
  EXPECT_EQ(QueryString(conn, "SELECT data_type FROM information_schema.columns WHERE "
                              "table_name = 'orders' AND column_name = 'legacy_id'"),
            "bigint");
  for (const char* t : kDerivedTables) EXPECT_TRUE(TableExists(conn, "public", t)) << t;
  for (const char* t : kTrackingTables) EXPECT_TRUE(TableExists(conn, "medmigrate", t)) << t;
  // No password hash is kept.
  EXPECT_EQ(QueryInt(conn, "SELECT count(*) FROM information_schema.columns WHERE "
                           "table_schema = 'public' AND column_name ILIKE '%password%'"),
            0);
  // No row-level security anywhere.
  EXPECT_EQ(QueryInt(conn, "SELECT count(*) FROM pg_class WHERE relrowsecurity AND "
                           "relnamespace::regnamespace::text IN ('public', 'medmigrate')"),
            0);
}

TEST(MigratorTest, ForeignKeysAreEnforcedAndIndexed) {
  TestDatabase db("schema_fk");
  pg::Connection conn = db.Connect();
  ASSERT_OK(ApplyMigrations(conn, AllScopes(), All()));
  Status s = conn.Exec(
      "INSERT INTO orders (id, legacy_id, order_number, patient_id, status, total_price, "
      "currency, created_at, updated_at) VALUES (gen_random_uuid(), 1, 'A-1', "
      "gen_random_uuid(), 'new', 10.00, 'USD', now(), now())");
  EXPECT_EQ(s.sqlstate(), "23503") << s.message();

  // Every foreign key column leads some index (joins and ON DELETE checks stay fast).
  std::string unindexed = QueryString(conn, R"sql(
    SELECT string_agg(c.conrelid::regclass || '.' || a.attname, ', ')
      FROM pg_constraint c
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
     WHERE c.contype = 'f'
       AND c.connamespace::regnamespace::text IN ('public', 'medmigrate')
       AND NOT EXISTS (SELECT 1 FROM pg_index i
                        WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1]))sql");
  EXPECT_EQ(unindexed, "");

  // Run-owned rows go with their run.
  ASSERT_OK(conn.Exec(
      "INSERT INTO medmigrate.runs (type) VALUES ('full');"
      "INSERT INTO medmigrate.rejects (run_id, entity, legacy_id, reason) "
      "  SELECT id, 'orders', '7', 'orphan_reference' FROM medmigrate.runs;"
      "UPDATE medmigrate.live_status SET run_id = (SELECT id FROM medmigrate.runs);"
      "DELETE FROM medmigrate.runs;"));
  EXPECT_EQ(QueryInt(conn, "SELECT count(*) FROM medmigrate.rejects"), 0);
  EXPECT_EQ(QueryInt(conn, "SELECT count(*) FROM medmigrate.live_status WHERE run_id IS NULL"), 1);

  // Negative quantities cannot land.
  s = conn.Exec("INSERT INTO products (id, legacy_id, order_id, sku, name, quantity, unit_price, "
                "created_at, updated_at) VALUES (gen_random_uuid(), 1, gen_random_uuid(), 's', "
                "'n', -1, 1, now(), now())");
  EXPECT_EQ(s.sqlstate(), "23514") << s.message();
}

TEST(MigratorTest, LiveStatusHoldsExactlyOneRow) {
  TestDatabase db("schema_live");
  pg::Connection conn = db.Connect();
  ASSERT_OK(ApplyMigrations(conn, {SchemaScope::kTracking}, All()));
  EXPECT_EQ(QueryInt(conn, "SELECT count(*) FROM medmigrate.live_status"), 1);
  EXPECT_FALSE(conn.Exec("INSERT INTO medmigrate.live_status (singleton) VALUES (true)").ok());
  EXPECT_FALSE(conn.Exec("INSERT INTO medmigrate.live_status (singleton) VALUES (false)").ok());
  EXPECT_FALSE(conn.Exec("DELETE FROM medmigrate.live_status").ok());
  EXPECT_FALSE(conn.Exec("TRUNCATE medmigrate.live_status").ok());
  ASSERT_OK(conn.Exec("UPDATE medmigrate.live_status SET state = 'running', rows_done = 5"));
  EXPECT_EQ(QueryInt(conn, "SELECT count(*) FROM medmigrate.live_status"), 1);
}

TEST(MigratorTest, SecondInitAppliesNothingAndChangesNothing) {
  TestDatabase db("schema_idem");
  pg::Connection conn = db.Connect();
  ASSERT_OK(ApplyMigrations(conn, AllScopes(), All()));
  std::string before = CatalogSnapshot(conn);
  std::string records_before =
      QueryString(conn, "SELECT string_agg(scope || version || checksum || applied_at, ',' "
                        "ORDER BY scope, version) FROM medmigrate.schema_migrations");
  ASSERT_FALSE(before.empty());

  ASSERT_OK_AND_ASSIGN(InitReport second, ApplyMigrations(conn, AllScopes(), All()));
  EXPECT_EQ(second.AppliedCount(), 0);
  EXPECT_EQ(second.AlreadyAppliedCount(), static_cast<int>(All().size()));
  EXPECT_EQ(CatalogSnapshot(conn), before);
  EXPECT_EQ(QueryString(conn, "SELECT string_agg(scope || version || checksum || applied_at, ',' "
                              "ORDER BY scope, version) FROM medmigrate.schema_migrations"),
            records_before);
  EXPECT_EQ(QueryInt(conn, "SELECT count(*) FROM medmigrate.live_status"), 1);
}

TEST(MigratorTest, TamperedMigrationStopsWithDataLossAndAppliesNothing) {
  TestDatabase db("schema_tamper");
  pg::Connection conn = db.Connect();
  std::vector<Migration> original = All();
  ASSERT_OK(ApplyMigrations(conn, AllScopes(), original));

  // An edited copy of an applied file, and a new file after it.
  std::vector<Migration> edited = original;
  const std::string altered_sql = std::string(FindEmbeddedSqlOrDie("main/0002_core_tables.sql")) +
                                  "\nCREATE INDEX orders_currency_idx ON public.orders (currency);\n";
  const std::string new_sql = "CREATE TABLE public.should_not_exist (id int);\n";
  for (Migration& m : edited) {
    if (m.path() == "main/0002_core_tables.sql") {
      m.sql = altered_sql;
      m.checksum = Sha256Hex(altered_sql);
    }
  }
  int next = static_cast<int>(CountScope(original, SchemaScope::kMain)) + 1;
  edited.push_back(*ParseMigrationPath(fmt::format("main/{:04d}_new_table.sql", next), new_sql));

  std::string before = CatalogSnapshot(conn);
  Result<InitReport> r = ApplyMigrations(conn, AllScopes(), edited);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  const std::string recorded = Sha256Hex(FindEmbeddedSqlOrDie("main/0002_core_tables.sql"));
  EXPECT_THAT(r.status().message(), HasSubstr("main/0002_core_tables.sql"));
  EXPECT_THAT(r.status().message(), HasSubstr(recorded.substr(0, 12)));
  EXPECT_THAT(r.status().message(), HasSubstr(Sha256Hex(altered_sql).substr(0, 12)));
  EXPECT_THAT(r.status().message(), HasSubstr("new numbered migration"));
  EXPECT_FALSE(TableExists(conn, "public", "should_not_exist"));
  EXPECT_EQ(CatalogSnapshot(conn), before);

  // The state listing shows the same thing.
  ASSERT_OK_AND_ASSIGN(std::vector<MigrationState> states, ListMigrationStates(conn, edited));
  for (const MigrationState& st : states) {
    if (st.path == "main/0002_core_tables.sql") {
      EXPECT_EQ(st.kind, MigrationState::Kind::kModified);
    } else if (st.version == next && st.scope == SchemaScope::kMain) {
      EXPECT_EQ(st.kind, MigrationState::Kind::kPending);
    } else {
      EXPECT_EQ(st.kind, MigrationState::Kind::kApplied) << st.path;
    }
  }
}

TEST(MigratorTest, NewMigrationAppliesAfterTheOthers) {
  TestDatabase db("schema_next");
  pg::Connection conn = db.Connect();
  std::vector<Migration> ms = All();
  ASSERT_OK(ApplyMigrations(conn, AllScopes(), ms));
  const std::string new_sql = "ALTER TABLE public.orders ADD COLUMN priority integer NULL;\n";
  int next = static_cast<int>(CountScope(ms, SchemaScope::kMain)) + 1;
  ms.push_back(*ParseMigrationPath(fmt::format("main/{:04d}_order_priority.sql", next), new_sql));
  ASSERT_OK_AND_ASSIGN(InitReport report, ApplyMigrations(conn, AllScopes(), ms));
  ASSERT_EQ(report.AppliedCount(), 1);
  EXPECT_EQ(QueryInt(conn, "SELECT count(*) FROM information_schema.columns WHERE "
                           "table_name = 'orders' AND column_name = 'priority'"),
            1);
  EXPECT_EQ(QueryString(conn, fmt::format("SELECT name FROM medmigrate.schema_migrations WHERE "
                                          "scope = 'main' AND version = {}", next)),
            fmt::format("{:04d}_order_priority.sql", next));
}

TEST(MigratorTest, FailingMigrationRollsBackWithItsRecordAndNamesTheFile) {
  TestDatabase db("schema_fail");
  pg::Connection conn = db.Connect();
  std::vector<Migration> ms = All();
  const std::string bad_sql =
      "CREATE TABLE public.half_done (id int);\nSELECT * FROM no_such_table;\n";
  int next = static_cast<int>(CountScope(ms, SchemaScope::kMain)) + 1;
  ms.push_back(*ParseMigrationPath(fmt::format("main/{:04d}_broken.sql", next), bad_sql));
  Result<InitReport> r = ApplyMigrations(conn, AllScopes(), ms);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr(fmt::format("main/{:04d}_broken.sql", next)));
  EXPECT_THAT(r.status().message(), HasSubstr("no_such_table"));
  EXPECT_FALSE(TableExists(conn, "public", "half_done"));
  EXPECT_EQ(QueryInt(conn, fmt::format("SELECT count(*) FROM medmigrate.schema_migrations WHERE "
                                       "scope = 'main' AND version = {}", next)),
            0);
  // The files before it stay applied, and the connection is usable.
  EXPECT_TRUE(TableExists(conn, "public", "orders"));
  EXPECT_EQ(QueryInt(conn, "SELECT count(*) FROM medmigrate.schema_migrations"),
            static_cast<int64_t>(All().size()));
}

TEST(MigratorTest, RecordedVersionUnknownToThisBinaryStops) {
  TestDatabase db("schema_newer");
  pg::Connection conn = db.Connect();
  ASSERT_OK(ApplyMigrations(conn, AllScopes(), All()));
  ASSERT_OK(conn.Exec("INSERT INTO medmigrate.schema_migrations (scope, version, name, checksum) "
                      "VALUES ('tracking', 999, '0999_future.sql', 'abc')"));
  Result<InitReport> r = ApplyMigrations(conn, AllScopes(), All());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("initialised by a newer medmigrate"));
  EXPECT_THAT(r.status().message(), HasSubstr("tracking/0999_future.sql"));
}

TEST(MigratorTest, TrackingAloneThenMain) {
  TestDatabase db("schema_scopes");
  pg::Connection conn = db.Connect();
  std::vector<Migration> ms = All();
  ASSERT_OK_AND_ASSIGN(InitReport tracking, ApplyMigrations(conn, {SchemaScope::kTracking}, ms));
  EXPECT_EQ(tracking.AppliedCount(), static_cast<int>(CountScope(ms, SchemaScope::kTracking)));
  for (const char* t : kTrackingTables) EXPECT_TRUE(TableExists(conn, "medmigrate", t)) << t;
  for (const char* t : kMigratedTables) EXPECT_FALSE(TableExists(conn, "public", t)) << t;
  EXPECT_EQ(QueryInt(conn, "SELECT count(*) FROM pg_type WHERE typname = 'order_status'"), 0);

  ASSERT_OK_AND_ASSIGN(std::vector<MigrationState> states, ListMigrationStates(conn, ms));
  for (const MigrationState& st : states) {
    EXPECT_EQ(st.kind, st.scope == SchemaScope::kTracking ? MigrationState::Kind::kApplied
                                                         : MigrationState::Kind::kPending)
        << st.path;
  }

  ASSERT_OK_AND_ASSIGN(InitReport main, ApplyMigrations(conn, {SchemaScope::kMain}, ms));
  EXPECT_EQ(main.AppliedCount(), static_cast<int>(CountScope(ms, SchemaScope::kMain)));
  EXPECT_EQ(main.AlreadyAppliedCount(), 0);  // tracking files are not considered
  for (const char* t : kMigratedTables) EXPECT_TRUE(TableExists(conn, "public", t)) << t;
}

TEST(MigratorTest, MainAloneStillRecordsItsFiles) {
  TestDatabase db("schema_mainonly");
  pg::Connection conn = db.Connect();
  ASSERT_OK(ApplyMigrations(conn, {SchemaScope::kMain}, All()));
  EXPECT_TRUE(TableExists(conn, "public", "orders"));
  EXPECT_FALSE(TableExists(conn, "medmigrate", "runs"));
  EXPECT_EQ(QueryInt(conn, "SELECT count(*) FROM medmigrate.schema_migrations"),
            static_cast<int64_t>(CountScope(All(), SchemaScope::kMain)));
}

TEST(MigratorTest, ListMigrationStatesOnAnEmptyDatabaseIsAllPending) {
  TestDatabase db("schema_list");
  pg::Connection conn = db.Connect();
  ASSERT_OK_AND_ASSIGN(std::vector<MigrationState> states, ListMigrationStates(conn, All()));
  ASSERT_EQ(states.size(), All().size());
  for (const MigrationState& st : states) EXPECT_EQ(st.kind, MigrationState::Kind::kPending);
  EXPECT_FALSE(TableExists(conn, "medmigrate", "schema_migrations"));  // listing writes nothing
}

TEST(MigratorTest, ConcurrentInitsSerialize) {
  TestDatabase db("schema_race");
  std::vector<Migration> ms = All();
  Result<InitReport> results[3] = {Status::Internal("not run"), Status::Internal("not run"),
                                   Status::Internal("not run")};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      Result<pg::Connection> c = pg::Connection::Open(db.url(), "target database");
      if (!c.ok()) {
        results[i] = c.status();
        return;
      }
      results[i] = ApplyMigrations(*c, AllScopes(), ms);
    });
  }
  for (std::thread& t : threads) t.join();
  int applied = 0;
  for (const Result<InitReport>& r : results) {
    ASSERT_TRUE(r.ok()) << r.status().message();
    applied += r->AppliedCount();
  }
  EXPECT_EQ(applied, static_cast<int>(ms.size()));
  pg::Connection conn = db.Connect();
  EXPECT_EQ(QueryInt(conn, "SELECT count(*) FROM medmigrate.schema_migrations"),
            static_cast<int64_t>(ms.size()));
}

// Supabase gives the project owner a plain role that owns the database, not a
// superuser: init must need nothing more.
TEST(MigratorTest, WorksForANonSuperuserThatOwnsTheDatabase) {
  const std::string role = fmt::format("owner_{}", getpid());
  const std::string dbname = fmt::format("supa_{}", getpid());
  ASSERT_OK_AND_ASSIGN(pg::Connection admin,
                       pg::Connection::Open(TestCluster().Url("postgres"), "test cluster"));
  (void)admin.Exec(fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", dbname));
  (void)admin.Exec(fmt::format("DROP ROLE IF EXISTS {}", role));
  ASSERT_OK(admin.Exec(fmt::format(
      "CREATE ROLE {} LOGIN PASSWORD 'owner-pw' NOSUPERUSER NOCREATEDB NOCREATEROLE", role)));
  ASSERT_OK(admin.Exec(fmt::format("CREATE DATABASE {} OWNER {}", dbname, role)));

  const std::string url = fmt::format("postgres://{}:owner-pw@127.0.0.1:{}/{}", role,
                                      TestCluster().port, dbname);
  Result<InitReport> r = InitSchemas(url, {});
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (r.ok()) {
    EXPECT_EQ(r->AppliedCount(), static_cast<int>(All().size()));
    Result<InitReport> again = InitSchemas(url, {});
    ASSERT_TRUE(again.ok()) << again.status().message();
    EXPECT_EQ(again->AppliedCount(), 0);
  }
  {
    ASSERT_OK_AND_ASSIGN(pg::Connection as_owner, pg::Connection::Open(url, "owner"));
    EXPECT_EQ(QueryString(as_owner, "SELECT applied_by FROM medmigrate.schema_migrations LIMIT 1"),
              role);
    EXPECT_EQ(QueryString(as_owner, "SELECT tableowner FROM pg_tables WHERE tablename = 'orders'"),
              role);
  }
  (void)admin.Exec(fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", dbname));
  (void)admin.Exec(fmt::format("DROP ROLE IF EXISTS {}", role));
}

}  // namespace
}  // namespace medmigrate::schema
