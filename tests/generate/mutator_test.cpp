// generate --mutate against a real generated database: the mutation truth's
// inserted, updated and deleted ids are what the database shows afterwards.
#include "generate/mutator.h"

#include <fstream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "generate/legacy_generator.h"
#include "support/pg_fixture.h"
#include "support/process.h"

namespace medmigrate::generate {
namespace {

using nlohmann::json;
using testing::QueryInt;
using testing::QueryString;
using testing::TestDatabase;

std::string IdList(const json& ids) {
  std::vector<int64_t> v = ids.get<std::vector<int64_t>>();
  return v.empty() ? "NULL" : fmt::format("{}", fmt::join(v, ","));
}

// user id -> "first|last|email"
std::map<int64_t, std::string> Users(pg::Connection& conn) {
  std::map<int64_t, std::string> out;
  Result<pg::QueryResult> r =
      conn.Query("SELECT id, first_name || '|' || last_name || '|' || email FROM auth_user");
  EXPECT_TRUE(r.ok());
  for (int i = 0; r.ok() && i < r->rows(); ++i) out[r->GetInt(i, 0)] = std::string(r->Get(i, 1));
  return out;
}

TEST(MutatorTest, TruthMatchesTheDatabaseAfterOneBatch) {
  const std::string dir = testing::MakeTempDir("gen_mutate");
  TestDatabase db("gen_mutate");
  GenerateOptions g;
  g.url = db.url();
  g.scale = Scale::kTiny;
  g.seed = 5;
  g.truth_path = dir + "/truth.json";
  ASSERT_OK(GenerateLegacy(g));
  pg::Connection conn = db.Connect();
  const std::map<int64_t, std::string> before = Users(conn);
  const int64_t orders_before = QueryInt(conn, "SELECT count(*) FROM dispatch_order");

  MutateOptions m;
  m.url = db.url();
  m.seed = 11;
  m.fraction = 0.05;
  m.truth_path = dir + "/mutation.json";
  ASSERT_OK_AND_ASSIGN(MutateSummary s, MutateLegacy(m));
  std::ifstream in(m.truth_path);
  const json t = json::parse(in);
  EXPECT_EQ(t["started_at"], s.started_at);

  // Deleted ids are gone; inserted ids are there.
  for (const TableInfo& table : kTables) {
    const std::string name(table.name);
    EXPECT_EQ(QueryInt(conn, fmt::format("SELECT count(*) FROM {} WHERE id IN ({})", name,
                                         IdList(t["deleted"][name]))),
              0)
        << name;
    EXPECT_EQ(QueryInt(conn, fmt::format("SELECT count(*) FROM {} WHERE id IN ({})", name,
                                         IdList(t["inserted"][name]))),
              static_cast<int64_t>(t["inserted"][name].size()))
        << name;
  }
  for (const char* name : {"dispatch_order", "dispatch_product", "dispatch_patient", "auth_user",
                           "dispatch_state", "dispatch_jaw"}) {
    EXPECT_FALSE(t["inserted"][name].empty()) << name;
  }
  for (const char* name : {"dispatch_order", "dispatch_product", "dispatch_patient"}) {
    EXPECT_FALSE(t["deleted"][name].empty()) << name;
  }
  EXPECT_EQ(QueryInt(conn, "SELECT count(*) FROM dispatch_order"),
            orders_before + static_cast<int64_t>(t["inserted"]["dispatch_order"].size()) -
                static_cast<int64_t>(t["deleted"]["dispatch_order"].size()));
  // Orphaned states of deleted orders remain, as Django left them.
  EXPECT_FALSE(t["states_left_orphaned"].empty());
  EXPECT_EQ(QueryInt(conn, fmt::format("SELECT count(*) FROM dispatch_state WHERE id IN ({})",
                                       IdList(t["states_left_orphaned"]))),
            static_cast<int64_t>(t["states_left_orphaned"].size()));

  // Updated rows carry the mutation's now(); nothing else does.
  for (const char* name : {"dispatch_order", "dispatch_patient", "dispatch_treatmentplan",
                           "dispatch_project", "dispatch_jaw"}) {
    ASSERT_FALSE(t["updated"][name].empty()) << name;
    EXPECT_EQ(QueryInt(conn, fmt::format("SELECT count(*) FROM {} WHERE id IN ({}) AND "
                                         "updated_at >= '{}'",
                                         name, IdList(t["updated"][name]),
                                         s.started_at)),
              static_cast<int64_t>(t["updated"][name].size()))
        << name;
    EXPECT_EQ(QueryInt(conn, fmt::format("SELECT count(*) FROM {} WHERE updated_at >= '{}' AND "
                                         "updated_at < '2099-01-01'",
                                         name, s.started_at)),
              static_cast<int64_t>(t["updated"][name].size() + t["inserted"][name].size()))
        << name;
  }
  // auth_user changes have no timestamp: exactly the listed users changed.
  const std::map<int64_t, std::string> after = Users(conn);
  std::set<int64_t> changed;
  for (const auto& [id, value] : before) {
    auto it = after.find(id);
    if (it != after.end() && it->second != value) changed.insert(id);
  }
  std::set<int64_t> listed;
  for (const auto& [field, ids] : t["auth_user_changes"].items()) {
    EXPECT_FALSE(ids.empty()) << field;
    for (const json& id : ids) listed.insert(id.get<int64_t>());
  }
  EXPECT_EQ(changed, listed);
  EXPECT_EQ(listed.size(), t["updated"]["auth_user"].size());
  EXPECT_FALSE(t["duplicates_inserted"].empty());
  // The enforced foreign keys still hold (checked at COMMIT; this re-checks).
  EXPECT_EQ(QueryInt(conn, "SELECT count(*) FROM dispatch_product p WHERE NOT EXISTS "
                           "(SELECT 1 FROM dispatch_order o WHERE o.id = p.order_id)"),
            0);
}

TEST(MutatorTest, SameSeedOnTheSameDatabaseMakesTheSameChanges) {
  const std::string dir = testing::MakeTempDir("gen_mutate_det");
  TestDatabase a("gen_mut_a");
  TestDatabase b("gen_mut_b");
  for (const TestDatabase* db : {&a, &b}) {
    GenerateOptions g;
    g.url = db->url();
    g.scale = Scale::kTiny;
    g.seed = 6;
    g.truth_path = dir + "/" + db->name() + ".truth.json";
    ASSERT_OK(GenerateLegacy(g));
    MutateOptions m;
    m.url = db->url();
    m.seed = 3;
    m.truth_path = dir + "/" + db->name() + ".mutation.json";
    ASSERT_OK(MutateLegacy(m));
  }
  auto read = [&](const TestDatabase& db) {
    std::ifstream in(dir + "/" + db.name() + ".mutation.json");
    json j = json::parse(in);
    j.erase("started_at");
    return j;
  };
  EXPECT_EQ(read(a), read(b));
  pg::Connection ca = a.Connect();
  pg::Connection cb = b.Connect();
  const char* kHash =
      "SELECT md5(string_agg(id || first_name || last_name || email, ',' ORDER BY id)) FROM "
      "auth_user";
  EXPECT_EQ(QueryString(ca, kHash), QueryString(cb, kHash));
}

TEST(MutatorTest, RefusesADatabaseWithoutTheLegacyTables) {
  TestDatabase db("gen_mut_empty");
  MutateOptions m;
  m.url = db.url();
  m.truth_path = testing::MakeTempDir("gen_mut_empty") + "/m.json";
  Result<MutateSummary> r = MutateLegacy(m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("generate"), std::string::npos);
}

}  // namespace
}  // namespace medmigrate::generate
