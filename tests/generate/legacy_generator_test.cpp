// The generator against a real PostgreSQL: the catalog it leaves equals the
// contract (shared/legacy/mdw_schema.sql), every dirty fact of
// shared/legacy/README.md is in the data (queried, not assumed) in exactly the
// amounts the ground truth says, and a seed always gives the same database.
#include "generate/legacy_generator.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/pg_fixture.h"
#include "support/process.h"

namespace medmigrate::generate {
namespace {

using nlohmann::json;
using testing::QueryInt;
using testing::QueryString;
using testing::TestDatabase;

// Every row of `sql`, columns joined with '|', NULL as "<null>".
std::vector<std::string> QueryRows(pg::Connection& conn, const std::string& sql) {
  Result<pg::QueryResult> r = conn.Query(sql);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status().message();
  std::vector<std::string> rows;
  if (!r.ok()) return rows;
  for (int i = 0; i < r->rows(); ++i) {
    std::string row;
    for (int c = 0; c < r->columns(); ++c) {
      if (c > 0) row += '|';
      row += r->IsNull(i, c) ? "<null>" : std::string(r->Get(i, c));
    }
    rows.push_back(row);
  }
  return rows;
}

json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

size_t FactSize(const json& truth, const std::string& fact) {
  return truth["facts"].contains(fact) ? truth["facts"][fact].size() : 0;
}

// One small database shared by the tests of this file (generating it is the
// slow part).
class GeneratedSmall : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = new TestDatabase("gen_small");
    dir_ = new std::string(testing::MakeTempDir("gen_small"));
    GenerateOptions o;
    o.url = db_->url();
    o.scale = Scale::kSmall;
    o.seed = 20240601;
    o.truth_path = *dir_ + "/truth.json";
    Result<GenerateSummary> r = GenerateLegacy(o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    summary_ = new GenerateSummary(*r);
    truth_ = new json(ReadJson(o.truth_path));
  }
  static void TearDownTestSuite() {
    delete truth_;
    delete summary_;
    delete dir_;
    delete db_;
  }
  void SetUp() override {
    ASSERT_NE(truth_, nullptr);
    conn_ = db_->Connect();
  }

  static TestDatabase* db_;
  static std::string* dir_;
  static GenerateSummary* summary_;
  static json* truth_;
  pg::Connection conn_;
};

TestDatabase* GeneratedSmall::db_ = nullptr;
std::string* GeneratedSmall::dir_ = nullptr;
GenerateSummary* GeneratedSmall::summary_ = nullptr;
json* GeneratedSmall::truth_ = nullptr;

// The catalog queries the contract is compared by.
const char* const kCatalogQueries[] = {
    "SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length, "
    "numeric_precision, numeric_scale, is_nullable, column_default FROM "
    "information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 3",
    "SELECT conrelid::regclass::text, conname, contype, condeferrable, condeferred, "
    "convalidated, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
    "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
    "ORDER BY 1, 2",
    "SELECT sequence_name, data_type, start_value, increment FROM information_schema.sequences "
    "WHERE sequence_schema = 'public' ORDER BY 1",
    "SELECT relname, relkind, relpersistence FROM pg_class WHERE relnamespace = "
    "'public'::regnamespace ORDER BY 1",
};

TEST_F(GeneratedSmall, CatalogEqualsTheSharedContract) {
  std::ifstream in(MEDMIGRATE_SOURCE_DIR "/../shared/legacy/mdw_schema.sql");
  ASSERT_TRUE(in.good()) << "shared/legacy/mdw_schema.sql beside the repository";
  std::stringstream ddl;
  ddl << in.rdbuf();
  TestDatabase contract("gen_contract");
  pg::Connection c = contract.Connect();
  ASSERT_OK(c.Exec(ddl.str()));
  for (const char* sql : kCatalogQueries) {
    const std::vector<std::string> want = QueryRows(c, sql);
    ASSERT_FALSE(want.empty()) << sql;
    EXPECT_EQ(QueryRows(conn_, sql), want) << sql;
  }
}

TEST_F(GeneratedSmall, RowCountsMatchTheTruthAndTheScale) {
  int64_t total = 0;
  for (const TableInfo& t : kTables) {
    const int64_t n = QueryInt(conn_, fmt::format("SELECT count(*) FROM {}", t.name));
    EXPECT_EQ(n, (*truth_)["tables"][std::string(t.name)]["rows"].get<int64_t>()) << t.name;
    EXPECT_GT(n, 0) << t.name;
    total += n;
    // Sequences lie past every id, including deleted ones orphans point at.
    EXPECT_GE(QueryInt(conn_, fmt::format("SELECT last_value FROM {}_id_seq", t.name)),
              (*truth_)["tables"][std::string(t.name)]["id_max"].get<int64_t>());
  }
  EXPECT_EQ(total, summary_->total_rows);
  const int64_t patients = QueryInt(conn_, "SELECT count(*) FROM dispatch_patient");
  EXPECT_GT(patients, 9000);
  EXPECT_LE(patients, 10000);
  // Gaps: rows deleted long ago.
  EXPECT_GT(QueryInt(conn_, "SELECT max(id) - count(*) FROM dispatch_patient"), 0);
  EXPECT_GT(QueryInt(conn_, "SELECT max(id) - count(*) FROM dispatch_order"), 0);
}

// One dirty fact: a query counting the rows that have it, and the truth list
// (facts) that must have exactly as many ids. An empty fact means "> 0 only".
struct FactQuery {
  std::string fact;
  std::string count_sql;
};

TEST_F(GeneratedSmall, EveryDirtyFactIsPresentInTheExactAmountOfTheTruth) {
  const std::vector<FactQuery> kFacts = {
      {"orders_orphan_patient",
       "SELECT count(*) FROM dispatch_order o WHERE NOT EXISTS "
       "(SELECT 1 FROM dispatch_patient p WHERE p.id = o.patient_id)"},
      {"orders_orphan_doctor",
       "SELECT count(*) FROM dispatch_order o WHERE o.doctor_id IS NOT NULL AND NOT EXISTS "
       "(SELECT 1 FROM dispatch_doctor d WHERE d.id = o.doctor_id)"},
      {"orders_orphan_office",
       "SELECT count(*) FROM dispatch_order o WHERE o.office_id IS NOT NULL AND NOT EXISTS "
       "(SELECT 1 FROM dispatch_office f WHERE f.id = o.office_id)"},
      {"doctors_orphan_office",
       "SELECT count(*) FROM dispatch_doctor d WHERE d.office_id IS NOT NULL AND NOT EXISTS "
       "(SELECT 1 FROM dispatch_office f WHERE f.id = d.office_id)"},
      {"doctors_office_null", "SELECT count(*) FROM dispatch_doctor WHERE office_id IS NULL"},
      {"jaws_orphan_order",
       "SELECT count(*) FROM dispatch_jaw j WHERE j.order_id IS NOT NULL AND NOT EXISTS "
       "(SELECT 1 FROM dispatch_order o WHERE o.id = j.order_id)"},
      {"plans_orphan_doctor",
       "SELECT count(*) FROM dispatch_treatmentplan t WHERE t.doctor_id IS NOT NULL AND NOT "
       "EXISTS (SELECT 1 FROM dispatch_doctor d WHERE d.id = t.doctor_id)"},
      {"states_orphan_order",
       "SELECT count(*) FROM dispatch_state s WHERE NOT EXISTS "
       "(SELECT 1 FROM dispatch_order o WHERE o.id = s.order_id)"},
      {"states_deleted_changed_by",
       "SELECT count(*) FROM dispatch_state s WHERE s.changed_by_id IS NOT NULL AND NOT EXISTS "
       "(SELECT 1 FROM auth_user u WHERE u.id = s.changed_by_id)"},
      {"states_unknown_code",
       "SELECT count(*) FROM dispatch_state WHERE state_code NOT BETWEEN 0 AND 9 "
       "OR previous_state_code NOT BETWEEN 0 AND 9"},
      {"products_nonpositive_quantity", "SELECT count(*) FROM dispatch_product WHERE quantity <= 0"},
      {"patients_birthdate_null", "SELECT count(*) FROM dispatch_patient WHERE birthdate IS NULL"},
      {"patients_birthdate_sentinel",
       "SELECT count(*) FROM dispatch_patient WHERE birthdate = '1900-01-01'"},
      {"patients_birthdate_future",
       "SELECT count(*) FROM dispatch_patient WHERE birthdate > current_date"},
      {"patients_updated_2099",
       "SELECT count(*) FROM dispatch_patient WHERE updated_at >= '2099-01-01'"},
      {"users_first_name_empty", "SELECT count(*) FROM auth_user WHERE first_name = ''"},
      {"users_last_name_empty", "SELECT count(*) FROM auth_user WHERE last_name = ''"},
      {"users_name_stray_spaces",
       "SELECT count(*) FROM auth_user WHERE first_name <> btrim(first_name) "
       "OR last_name <> btrim(last_name)"},
      {"users_name_non_ascii",
       "SELECT count(*) FROM auth_user WHERE first_name ~ '[^\\x01-\\x7f]' "
       "OR last_name ~ '[^\\x01-\\x7f]'"},
      {"users_email_empty", "SELECT count(*) FROM auth_user WHERE email = ''"},
      {"users_email_invalid",
       "SELECT count(*) FROM auth_user WHERE email <> '' AND "
       "email !~ '^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$'"},
      {"projects_updated_before_created",
       "SELECT count(*) FROM dispatch_project WHERE updated_at < created_at"},
      {"orders_updated_before_created",
       "SELECT count(*) FROM dispatch_order WHERE updated_at < created_at"},
      {"orders_updated_2099", "SELECT count(*) FROM dispatch_order WHERE updated_at >= '2099-01-01'"},
      {"products_updated_before_created",
       "SELECT count(*) FROM dispatch_product WHERE updated_at < created_at"},
      {"jaws_updated_2099", "SELECT count(*) FROM dispatch_jaw WHERE updated_at >= '2099-01-01'"},
      // Presence only: these depend on collation-free but loose checks.
      {"", "SELECT count(*) FROM auth_user WHERE last_name ~ '[^\\x01-\\x7f]' AND "
           "last_name !~ '[A-Za-z]' AND last_name <> ''"},  // non-Latin scripts
      {"", "SELECT count(*) FROM auth_user WHERE last_name ~ '[A-Z]{2}' AND last_name !~ '[a-z]'"},
      {"", "SELECT count(*) FROM auth_user WHERE last_name ~ '^[a-z]'"},  // o'brien
      {"", "SELECT count(*) FROM auth_user WHERE first_name IN ('José', 'Zoë', 'Søren')"},
      {"", "SELECT count(*) FROM auth_user WHERE last_name IN ('Müller', 'O''Brien', 'Nguyễn')"},
  };
  for (const FactQuery& f : kFacts) {
    const int64_t n = QueryInt(conn_, f.count_sql);
    EXPECT_GT(n, 0) << f.count_sql;
    if (!f.fact.empty()) {
      EXPECT_EQ(static_cast<size_t>(n), FactSize(*truth_, f.fact)) << f.fact << ": " << f.count_sql;
    }
  }
  // Every table with both timestamps has some updated_at before created_at.
  EXPECT_GT(QueryInt(conn_, "SELECT count(*) FROM dispatch_treatmentplan WHERE updated_at < created_at"), 0);
}

TEST_F(GeneratedSmall, OrphanIdsAreTheOnesTheTruthLists) {
  // The ids themselves, not only their number: a migration compares its rejects with these.
  std::vector<std::string> rows = QueryRows(
      conn_,
      "SELECT o.id FROM dispatch_order o WHERE NOT EXISTS "
      "(SELECT 1 FROM dispatch_patient p WHERE p.id = o.patient_id) ORDER BY 1");
  std::vector<std::string> want;
  for (const json& id : (*truth_)["facts"]["orders_orphan_patient"]) {
    want.push_back(std::to_string(id.get<int64_t>()));
  }
  EXPECT_EQ(rows, want);
}

// A column's raw values with their counts must equal the truth's "values".
TEST_F(GeneratedSmall, RawValueCountsMatchTheTruth) {
  const std::vector<std::pair<std::string, std::string>> kValues = {
      {"dispatch_order.status", "SELECT status, count(*) FROM dispatch_order GROUP BY 1"},
      {"dispatch_order.currency", "SELECT currency, count(*) FROM dispatch_order GROUP BY 1"},
      {"dispatch_patient.sex",
       "SELECT coalesce(sex, 'NULL'), count(*) FROM dispatch_patient GROUP BY 1"},
      {"dispatch_jaw.jaw_type", "SELECT jaw_type, count(*) FROM dispatch_jaw GROUP BY 1"},
      {"dispatch_state.state_code",
       "SELECT state_code::text, count(*) FROM dispatch_state GROUP BY 1"},
      {"dispatch_jaw.scan_file_form",
       "SELECT CASE WHEN scan_file = '' THEN 'empty' WHEN scan_file LIKE '/mnt/scans/%' THEN "
       "'unix' WHEN left(scan_file, 9) = 'C:\\scans\\' THEN 'windows' ELSE 'other' END, count(*) "
       "FROM dispatch_jaw GROUP BY 1"},
  };
  for (const auto& [column, sql] : kValues) {
    std::map<std::string, int64_t> got;
    Result<pg::QueryResult> r = conn_.Query(sql);
    ASSERT_OK(r);
    for (int i = 0; i < r->rows(); ++i) got[std::string(r->Get(i, 0))] = r->GetInt(i, 1);
    std::map<std::string, int64_t> want;
    for (const auto& [raw, n] : (*truth_)["values"][column].items()) want[raw] = n.get<int64_t>();
    EXPECT_EQ(got, want) << column;
  }
  // README's named variants all occur.
  for (const char* status : {"new", "New ", " NEW", "in_progress", "In Progress", "in-progress",
                             "shipped", "SHIPPED", "delivered", "cancelled", "canceled"}) {
    EXPECT_GT(QueryInt(conn_, fmt::format("SELECT count(*) FROM dispatch_order WHERE status = '{}'",
                                          status)),
              0)
        << "'" << status << "'";
  }
  for (const char* code : {"-1", "99", "0", "9"}) {
    EXPECT_GT(QueryInt(conn_, fmt::format("SELECT count(*) FROM dispatch_state WHERE state_code = {}",
                                          code)),
              0);
  }
  for (const char* sex : {"M", "F", "U", "m", "f", ""}) {
    EXPECT_GT(QueryInt(conn_, fmt::format("SELECT count(*) FROM dispatch_patient WHERE sex = '{}'",
                                          sex)),
              0);
  }
  EXPECT_GT(QueryInt(conn_, "SELECT count(*) FROM dispatch_patient WHERE sex IS NULL"), 0);
  EXPECT_GT(QueryInt(conn_, "SELECT count(*) FROM dispatch_order WHERE currency <> 'USD'"), 0);
  // Money has cents, never more digits.
  EXPECT_GT(QueryInt(conn_, "SELECT count(*) FROM dispatch_order WHERE total_price <> trunc(total_price)"), 0);
}

TEST_F(GeneratedSmall, FreeTextCountsMatchTheTruth) {
  const std::vector<std::pair<std::string, std::string>> kKinds = {
      {"html", "~ '<[a-zA-Z/][^>]*>'"},
      {"control", "~ '[\\x01-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]'"},
      {"tab_newline", "~ '[\\t\\n\\r]'"},
      {"backslash", "LIKE '%\\\\%'"},
      {"quote", "~ '[''\"]'"},
      {"non_ascii", "~ '[^\\x01-\\x7f]'"},
  };
  for (const auto& [table_column, counts] : (*truth_)["free_text"].items()) {
    const std::string table = table_column.substr(0, table_column.find('.'));
    const std::string column = table_column.substr(table_column.find('.') + 1);
    for (const auto& [kind, predicate] : kKinds) {
      const int64_t want = counts.contains(kind) ? counts[kind].get<int64_t>() : 0;
      EXPECT_EQ(QueryInt(conn_, fmt::format("SELECT count(*) FROM {} WHERE {} {}", table, column,
                                            predicate)),
                want)
          << table_column << " " << kind;
    }
  }
  EXPECT_GT((*truth_)["free_text"]["dispatch_order.notes"]["html"].get<int64_t>(), 0);
  EXPECT_GT((*truth_)["free_text"]["dispatch_order.notes"]["control"].get<int64_t>(), 0);
  EXPECT_GT(QueryInt(conn_, "SELECT count(*) FROM dispatch_order WHERE notes LIKE '%<script>%'"), 0);
}

TEST_F(GeneratedSmall, InvalidJsonIsExactlyWhereTheTruthSays) {
  struct JsonColumn {
    const char* table;
    const char* column;
    const char* fact;
  };
  for (const JsonColumn& c : {JsonColumn{"dispatch_project", "metadata", "projects_invalid_metadata"},
                              JsonColumn{"dispatch_template", "tasks", "templates_invalid_tasks"}}) {
    Result<pg::QueryResult> r =
        conn_.Query(fmt::format("SELECT id, {} FROM {} ORDER BY id", c.column, c.table));
    ASSERT_OK(r);
    std::vector<int64_t> invalid;
    for (int i = 0; i < r->rows(); ++i) {
      const std::string_view text = r->Get(i, 1);
      if (!json::accept(text)) {
        invalid.push_back(r->GetInt(i, 0));
        continue;
      }
      if (std::string_view(c.table) == "dispatch_template") {
        const json tasks = json::parse(text);
        ASSERT_TRUE(tasks.is_array());
        for (const json& t : tasks) {
          EXPECT_TRUE(t.contains("name") && t.contains("role") && t.contains("sequence") &&
                      t.contains("duration_hours"))
              << t.dump();
        }
      }
    }
    EXPECT_FALSE(invalid.empty()) << c.table;
    EXPECT_EQ(json(invalid), (*truth_)["facts"][c.fact]) << c.table;
  }
}

TEST_F(GeneratedSmall, DuplicatePatientsAreThereWithEveryKindOfVariation) {
  const json& clusters = (*truth_)["duplicate_clusters"];
  ASSERT_GT(clusters.size(), 100u);
  std::map<std::string, int> kinds;
  int of_three = 0;
  std::vector<std::string> swapped_pairs;
  std::vector<std::string> nickname_pairs;
  for (const json& c : clusters) {
    if (c["patient_ids"].size() >= 3) ++of_three;
    const int64_t root = c["patient_ids"][0].get<int64_t>();
    for (const json& d : c["duplicates"]) {
      for (const json& v : d["variations"]) {
        ++kinds[v.get<std::string>()];
        if (v == "swapped_day_month") {
          swapped_pairs.push_back(fmt::format("({},{})", root, d["patient_id"].get<int64_t>()));
        }
        if (v == "nickname") {
          nickname_pairs.push_back(fmt::format("({},{})", root, d["patient_id"].get<int64_t>()));
        }
      }
    }
  }
  EXPECT_GT(of_three, 0);
  for (const char* kind : {"typo_first_name", "typo_last_name", "nickname", "swapped_day_month",
                           "other_email"}) {
    EXPECT_GT(kinds[kind], 0) << kind;
  }
  // Every cluster member is a patient with its own account.
  std::string members;
  for (const json& c : clusters) {
    for (const json& p : c["patient_ids"]) members += (members.empty() ? "" : ",") + p.dump();
  }
  int64_t n_members = 0;
  for (const json& c : clusters) n_members += static_cast<int64_t>(c["patient_ids"].size());
  EXPECT_EQ(QueryInt(conn_, fmt::format("SELECT count(DISTINCT user_id) FROM dispatch_patient "
                                        "WHERE id IN ({})",
                                        members)),
            n_members);
  // Swapped day and month, seen in the data.
  std::string pairs;
  for (const std::string& p : swapped_pairs) pairs += (pairs.empty() ? "" : ",") + p;
  EXPECT_EQ(QueryInt(conn_, fmt::format(
                                "SELECT count(*) FROM (VALUES {}) v(a, b) "
                                "JOIN dispatch_patient r ON r.id = v.a JOIN dispatch_patient d ON "
                                "d.id = v.b WHERE extract(day FROM r.birthdate) = extract(month "
                                "FROM d.birthdate) AND extract(month FROM r.birthdate) = "
                                "extract(day FROM d.birthdate) AND r.birthdate <> d.birthdate",
                                pairs)),
            static_cast<int64_t>(swapped_pairs.size()));
  // Nicknames: the duplicate's first name is shorter than the root's (Bob for Robert).
  pairs.clear();
  for (const std::string& p : nickname_pairs) pairs += (pairs.empty() ? "" : ",") + p;
  EXPECT_GT(QueryInt(conn_, fmt::format(
                                "SELECT count(*) FROM (VALUES {}) v(a, b) "
                                "JOIN dispatch_patient r ON r.id = v.a JOIN auth_user ru ON ru.id = "
                                "r.user_id JOIN dispatch_patient d ON d.id = v.b JOIN auth_user du "
                                "ON du.id = d.user_id WHERE lower(btrim(du.first_name)) IN "
                                "('bob', 'rob', 'liz', 'beth', 'bill', 'will', 'jim', 'mike', "
                                "'tom', 'kate', 'sue', 'pat', 'jen', 'chris', 'dan', 'tony', "
                                "'ed', 'sam', 'ben', 'nick', 'jon', 'alex', 'peggy', 'cathy', "
                                "'becky', 'vicky', 'debbie', 'matt', 'rick', 'joe')",
                                pairs)),
            0);
}

// Every pair of a distinct group, as the rows were written: (kind, a, b) VALUES.
std::string GroupPairs(const json& truth) {
  std::string values;
  for (const json& g : truth["distinct_groups"]) {
    const json& ids = g["patient_ids"];
    for (size_t i = 0; i < ids.size(); ++i) {
      for (size_t j = i + 1; j < ids.size(); ++j) {
        values += fmt::format("{}('{}', {}, {})", values.empty() ? "" : ",",
                              g["kind"].get<std::string>(), ids[i].get<int64_t>(),
                              ids[j].get<int64_t>());
      }
    }
  }
  return values;
}

TEST_F(GeneratedSmall, DistinctGroupsAreInTheRowsAsTheTruthSays) {
  const json& groups = (*truth_)["distinct_groups"];
  std::map<std::string, int64_t> pairs;
  for (const json& g : groups) {
    const auto n = static_cast<int64_t>(g["patient_ids"].size());
    ASSERT_GE(n, 2);
    ASSERT_EQ(g["user_ids"].size(), g["patient_ids"].size());
    pairs[g["kind"].get<std::string>()] += n * (n - 1) / 2;
  }
  EXPECT_GE(pairs["twins"], 100);
  for (const char* kind : {"siblings", "family", "namesakes"}) EXPECT_GT(pairs[kind], 0) << kind;
  // One query per rule; each counts the pairs of the kinds it applies to that break it.
  const std::string from = fmt::format(
      "FROM (VALUES {}) v(kind, a, b) JOIN dispatch_patient pa ON pa.id = v.a "
      "JOIN auth_user ua ON ua.id = pa.user_id JOIN dispatch_patient pb ON pb.id = v.b "
      "JOIN auth_user ub ON ub.id = pb.user_id ",
      GroupPairs(*truth_));
  auto count = [&](const std::string& where) {
    return QueryInt(conn_, "SELECT count(*) " + from + "WHERE " + where);
  };
  const std::string same_last = "lower(btrim(ua.last_name)) = lower(btrim(ub.last_name))";
  const std::string same_first = "lower(btrim(ua.first_name)) = lower(btrim(ub.first_name))";
  const std::string same_email = "lower(ua.email) = lower(ub.email) AND ua.email LIKE '%@%'";
  const int64_t all = count("true");
  EXPECT_EQ(all, pairs["twins"] + pairs["siblings"] + pairs["family"] + pairs["namesakes"]);
  EXPECT_EQ(count(fmt::format("kind = 'twins' AND {} AND pa.birthdate = pb.birthdate AND {} AND "
                              "NOT {} AND pa.user_id <> pb.user_id",
                              same_last, same_email, same_first)),
            pairs["twins"]);
  EXPECT_EQ(count(fmt::format("kind = 'siblings' AND {} AND {} AND NOT {} AND "
                              "pa.birthdate <> pb.birthdate",
                              same_last, same_email, same_first)),
            pairs["siblings"]);
  // Parents and children: one address and family name, other given names and dates.
  EXPECT_EQ(count(fmt::format("kind = 'family' AND {} AND {} AND NOT {} AND "
                              "pa.birthdate <> pb.birthdate",
                              same_last, same_email, same_first)),
            pairs["family"]);
  EXPECT_EQ(count(fmt::format("kind = 'namesakes' AND {} AND {} AND lower(ua.email) <> "
                              "lower(ub.email) AND abs(extract(year FROM pa.birthdate) - "
                              "extract(year FROM pb.birthdate)) >= 20",
                              same_last, same_first)),
            pairs["namesakes"]);
  // Mostly boy and girl: sexes as written (M/m, F/f) differ in most twin pairs.
  EXPECT_GT(2 * count("kind = 'twins' AND lower(pa.sex) IN ('m', 'f') AND lower(pb.sex) IN "
                      "('m', 'f') AND lower(pa.sex) <> lower(pb.sex)"),
            count("kind = 'twins' AND lower(pa.sex) IN ('m', 'f') AND lower(pb.sex) IN ('m', 'f')"));
  // No member of a group is also in a duplicate cluster as a duplicate.
  std::set<int64_t> duplicates;
  for (const json& c : (*truth_)["duplicate_clusters"]) {
    for (const json& d : c["duplicates"]) duplicates.insert(d["patient_id"].get<int64_t>());
  }
  for (const json& g : groups) {
    for (const json& id : g["patient_ids"]) EXPECT_EQ(duplicates.count(id.get<int64_t>()), 0u);
  }
}

TEST_F(GeneratedSmall, MarriedNameDuplicatesKeepGivenNameAndBirthDate) {
  std::string values;
  int64_t n = 0, kept_email = 0;
  for (const json& c : (*truth_)["duplicate_clusters"]) {
    for (const json& d : c["duplicates"]) {
      const json& v = d["variations"];
      if (std::find(v.begin(), v.end(), "married_name") == v.end()) continue;
      const bool other = std::find(v.begin(), v.end(), "other_email") != v.end();
      values += fmt::format("{}({}, {}, {})", values.empty() ? "" : ",",
                            c["patient_ids"][0].get<int64_t>(), d["patient_id"].get<int64_t>(),
                            other ? "false" : "true");
      ++n;
      kept_email += !other;
    }
  }
  ASSERT_GT(n, 0);
  EXPECT_GT(kept_email, 0);
  EXPECT_LT(kept_email, n);
  // The root's own row may have lost a name ('' when unknown): those are not compared.
  const std::string known = fmt::format(
      "SELECT count(*) FROM (VALUES {}) v(a, b, kept) JOIN dispatch_patient pa ON pa.id = v.a "
      "JOIN auth_user ua ON ua.id = pa.user_id JOIN dispatch_patient pb ON pb.id = v.b "
      "JOIN auth_user ub ON ub.id = pb.user_id WHERE ua.first_name <> '' AND ua.last_name <> ''",
      values);
  const int64_t comparable = QueryInt(conn_, known);
  EXPECT_GT(comparable, n * 9 / 10);
  const std::string sql = known +
                          " AND lower(btrim(ua.first_name)) = lower(btrim(ub.first_name)) AND "
                          "lower(btrim(ua.last_name)) <> lower(btrim(ub.last_name)) AND "
                          "pa.birthdate IS NOT DISTINCT FROM pb.birthdate";
  EXPECT_EQ(QueryInt(conn_, sql), comparable);
  // Where the truth says the address was kept, both rows give it (unless a
  // row's own dirt emptied or broke one of them).
  EXPECT_GT(QueryInt(conn_, sql + " AND v.kept AND lower(ua.email) = lower(ub.email)"), 0);
  EXPECT_EQ(QueryInt(conn_, sql + " AND NOT v.kept AND lower(ua.email) = lower(ub.email) AND "
                                  "ua.email LIKE '%@%'"),
            0);
}

TEST_F(GeneratedSmall, SharedEmailsMatchTheTruth) {
  const int64_t groups = QueryInt(
      conn_,
      "SELECT count(*) FROM (SELECT lower(email) FROM auth_user WHERE email ~ "
      "'^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$' GROUP BY 1 HAVING count(*) > 1) s");
  EXPECT_GT(groups, 0);
  EXPECT_EQ(static_cast<size_t>(groups), (*truth_)["shared_emails"].size());
}

TEST_F(GeneratedSmall, EnforcedForeignKeysAreBackAndValidated) {
  EXPECT_EQ(QueryInt(conn_, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND "
                            "connamespace = 'public'::regnamespace AND convalidated"),
            5);
}

TEST_F(GeneratedSmall, RefusesAnExistingLegacyDatabaseWithoutReplace) {
  GenerateOptions o;
  o.url = db_->url();
  o.scale = Scale::kTiny;
  o.truth_path = *dir_ + "/refused.json";
  Result<GenerateSummary> r = GenerateLegacy(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("--replace"), std::string::npos);
  EXPECT_EQ(QueryInt(conn_, "SELECT count(*) FROM dispatch_patient"),
            (*truth_)["tables"]["dispatch_patient"]["rows"].get<int64_t>());
}

// Per-table content hashes of a database.
std::map<std::string, std::string> ContentHashes(pg::Connection& conn) {
  std::map<std::string, std::string> out;
  for (const TableInfo& t : kTables) {
    out[std::string(t.name)] = QueryString(
        conn, fmt::format("SELECT md5(string_agg(t::text, E'\\n' ORDER BY id)) FROM {} t", t.name));
  }
  return out;
}

TEST(GenerateDeterminismTest, SameSeedSameDatabaseOtherSeedOtherDatabase) {
  const std::string dir = testing::MakeTempDir("gen_determinism");
  TestDatabase a("gen_det_a");
  TestDatabase b("gen_det_b");
  TestDatabase c("gen_det_c");
  auto generate = [&](const TestDatabase& db, uint64_t seed, int jobs) {
    GenerateOptions o;
    o.url = db.url();
    o.scale = Scale::kTiny;
    o.seed = seed;
    o.jobs = jobs;
    o.truth_path = dir + "/" + db.name() + ".json";
    Result<GenerateSummary> r = GenerateLegacy(o);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return o.truth_path;
  };
  // Different parallelism on purpose: the data must not depend on it.
  const std::string ta = generate(a, 77, 1);
  const std::string tb = generate(b, 77, 4);
  const std::string tc = generate(c, 78, 3);
  pg::Connection ca = a.Connect();
  pg::Connection cb = b.Connect();
  pg::Connection cc = c.Connect();
  const auto ha = ContentHashes(ca);
  EXPECT_EQ(ha, ContentHashes(cb));
  const auto hc = ContentHashes(cc);
  for (const auto& [table, hash] : ha) {
    EXPECT_FALSE(hash.empty()) << table;
    EXPECT_NE(hash, hc.at(table)) << table;
  }
  EXPECT_EQ(ReadJson(ta), ReadJson(tb));
  EXPECT_NE(ReadJson(ta), ReadJson(tc));
}

}  // namespace
}  // namespace medmigrate::generate
