#include "generate/mutator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <span>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "generate/ground_truth.h"
#include "generate/legacy_generator.h"
#include "generate/legacy_model.h"
#include "generate/random.h"
#include "generate/vocabulary.h"
#include "pg/connection.h"

namespace medmigrate::generate {

namespace {

// What a mutation does with a row; part of the Rng key, so each decision has
// its own draw.
enum class Op : int64_t {
  kDelete = 1,
  kUpdate,
  kDeleteStates,
  kDeleteUser,
  kAppendState,
  kUserField,
};

bool Picked(uint64_t seed, Table t, Op op, int64_t id, double p) {
  const int64_t key = (id << 8) | (static_cast<int64_t>(t) << 3) | static_cast<int64_t>(op);
  return Rng(seed, Stream::kMutation, key).Chance(p);
}

std::string IntArray(const std::vector<int64_t>& ids) { return fmt::format("{{{}}}", fmt::join(ids, ",")); }

Result<std::vector<int64_t>> QueryIds(pg::Connection& conn, const std::string& sql,
                                      const pg::Params& params = {}) {
  MM_ASSIGN_OR_RETURN(pg::QueryResult r, conn.Query(sql, params));
  std::vector<int64_t> ids;
  ids.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) ids.push_back(r.GetInt(i, 0));
  std::sort(ids.begin(), ids.end());
  return ids;
}

// `n` fresh ids from the table's sequence (past every generated id).
Result<std::vector<int64_t>> ReserveIds(pg::Connection& conn, Table t, int64_t n) {
  if (n == 0) return std::vector<int64_t>{};
  return QueryIds(conn, fmt::format("SELECT nextval('{}_id_seq') FROM generate_series(1, {})",
                                    NameOf(t), n));
}

template <typename T>
const T& PickFrom(Rng& rng, const std::vector<T>& items) {
  return items[static_cast<size_t>(rng.Range(0, static_cast<int64_t>(items.size()) - 1))];
}

// Rows for one COPY; `fill` writes one row per call.
template <typename Fill>
Status CopyRows(pg::Connection& conn, Table t, size_t n, Fill fill) {
  if (n == 0) return Status::Ok();
  MM_RETURN_IF_ERROR(
      conn.BeginCopyIn(fmt::format("COPY {} ({}) FROM STDIN", NameOf(t), InfoOf(t).columns)));
  pg::CopyTextWriter w(&conn);
  for (size_t i = 0; i < n; ++i) {
    fill(i, w);
    Status s = w.EndRow();
    if (!s.ok()) {
      conn.AbortCopyIn("mutate failed");
      return s;
    }
  }
  Status s = w.Flush();
  if (!s.ok()) {
    conn.AbortCopyIn("mutate failed");
    return s;
  }
  return conn.EndCopyIn().status();
}

int64_t Share(double fraction, size_t n) {
  return n == 0 ? 0 : std::max<int64_t>(1, std::llround(fraction * static_cast<double>(n)));
}

struct Truth {
  std::map<std::string, std::vector<int64_t>> inserted, updated, deleted;
  std::map<std::string, std::vector<int64_t>> user_changes;  // field -> user ids
  nlohmann::json duplicates = nlohmann::json::array();
  std::vector<int64_t> states_left_orphaned;

  void Add(std::map<std::string, std::vector<int64_t>>& m, Table t, const std::vector<int64_t>& ids) {
    auto& v = m[std::string(NameOf(t))];
    v.insert(v.end(), ids.begin(), ids.end());
    std::sort(v.begin(), v.end());
  }
};

}  // namespace

Result<MutateSummary> MutateLegacy(const MutateOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const uint64_t seed = o.seed;
  const double f = o.fraction;
  MM_ASSIGN_OR_RETURN(pg::Connection conn,
                      pg::Connection::Open(o.url, "legacy database", "medmigrate generate --mutate"));
  MutateSummary summary;
  MM_ASSIGN_OR_RETURN(std::optional<std::string> db, conn.QueryValue("SELECT current_database()"));
  summary.database = db.value_or("");
  summary.truth_path = o.truth_path.empty() ? summary.database + ".mutation.json" : o.truth_path;
  MM_ASSIGN_OR_RETURN(std::vector<std::string> existing, ExistingLegacyTables(conn));
  if (existing.size() != kTableCount) {
    return Status::FailedPrecondition(fmt::format(
        "database '{}' has {} of the {} MDW tables: run 'medmigrate generate' before --mutate",
        summary.database, existing.size(), kTableCount));
  }

  MM_RETURN_IF_ERROR(conn.Exec("BEGIN; SET LOCAL synchronous_commit = off"));
  // Everything below runs in this transaction: a failure leaves the database
  // as it was (the connection closes without COMMIT).
  MM_ASSIGN_OR_RETURN(std::optional<std::string> now, conn.QueryValue("SELECT now()::text"));
  summary.started_at = now.value_or("");
  Truth truth;

  // The rows that can be touched, by id.
  MM_ASSIGN_OR_RETURN(pg::QueryResult patient_rows,
                      conn.Query("SELECT id, user_id FROM dispatch_patient ORDER BY id"));
  std::vector<int64_t> patients;
  std::map<int64_t, int64_t> user_of_patient;
  for (int i = 0; i < patient_rows.rows(); ++i) {
    patients.push_back(patient_rows.GetInt(i, 0));
    user_of_patient[patient_rows.GetInt(i, 0)] = patient_rows.GetInt(i, 1);
  }
  MM_ASSIGN_OR_RETURN(std::vector<int64_t> orders, QueryIds(conn, "SELECT id FROM dispatch_order"));
  MM_ASSIGN_OR_RETURN(std::vector<int64_t> doctors, QueryIds(conn, "SELECT id FROM dispatch_doctor"));
  MM_ASSIGN_OR_RETURN(std::vector<int64_t> offices, QueryIds(conn, "SELECT id FROM dispatch_office"));
  MM_ASSIGN_OR_RETURN(std::vector<int64_t> projects, QueryIds(conn, "SELECT id FROM dispatch_project"));
  MM_ASSIGN_OR_RETURN(std::vector<int64_t> staff,
                      QueryIds(conn, "SELECT id FROM auth_user WHERE is_staff"));
  if (patients.empty() || orders.empty() || doctors.empty()) {
    return Status::FailedPrecondition(
        fmt::format("database '{}' has no patients, orders or doctors to mutate", summary.database));
  }

  // ---- Hard deletes, Django style ----
  // The children go first, so the enforced keys hold by construction. The
  // legacy DDL has no index on jaw/plan patient_id or patient user_id, so
  // PostgreSQL's per-row foreign-key checks of a delete are sequential scans
  // (minutes at prod scale); a superuser skips them for the deletes only.
  MM_ASSIGN_OR_RETURN(std::optional<std::string> superuser,
                      conn.QueryValue("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"));
  const bool skip_fk_checks = superuser.value_or("f") == "t";
  if (skip_fk_checks) MM_RETURN_IF_ERROR(conn.Exec("SET LOCAL session_replication_role = replica"));
  std::vector<int64_t> del_orders;
  std::vector<int64_t> del_orders_with_states;
  for (int64_t id : orders) {
    if (Picked(seed, Table::kOrder, Op::kDelete, id, f / 2)) {
      del_orders.push_back(id);
      if (Picked(seed, Table::kOrder, Op::kDeleteStates, id, 0.5)) del_orders_with_states.push_back(id);
    }
  }
  std::vector<int64_t> del_patients;
  std::vector<int64_t> del_users;
  for (int64_t id : patients) {
    if (Picked(seed, Table::kPatient, Op::kDelete, id, f / 4)) {
      del_patients.push_back(id);
      if (Picked(seed, Table::kPatient, Op::kDeleteUser, id, 0.5)) {
        del_users.push_back(user_of_patient[id]);
      }
    }
  }
  std::sort(del_users.begin(), del_users.end());
  auto delete_returning = [&](Table t, const std::string& where,
                              const std::vector<int64_t>& ids) -> Status {
    if (ids.empty()) return Status::Ok();
    MM_ASSIGN_OR_RETURN(std::vector<int64_t> gone,
                        QueryIds(conn,
                                 fmt::format("DELETE FROM {} WHERE {} = ANY($1::int[]) RETURNING id",
                                             NameOf(t), where),
                                 {IntArray(ids)}));
    truth.Add(truth.deleted, t, gone);
    return Status::Ok();
  };
  MM_RETURN_NOT_OK_PREPEND(delete_returning(Table::kProduct, "order_id", del_orders), "delete products");
  MM_RETURN_NOT_OK_PREPEND(delete_returning(Table::kState, "order_id", del_orders_with_states),
                           "delete states");
  MM_RETURN_NOT_OK_PREPEND(delete_returning(Table::kOrder, "id", del_orders), "delete orders");
  MM_RETURN_NOT_OK_PREPEND(delete_returning(Table::kJaw, "patient_id", del_patients), "delete jaws");
  MM_RETURN_NOT_OK_PREPEND(delete_returning(Table::kTreatmentPlan, "patient_id", del_patients),
                           "delete treatment plans");
  MM_RETURN_NOT_OK_PREPEND(delete_returning(Table::kPatient, "id", del_patients), "delete patients");
  MM_RETURN_NOT_OK_PREPEND(delete_returning(Table::kAuthUser, "id", del_users), "delete users");
  if (!del_orders.empty()) {
    MM_ASSIGN_OR_RETURN(truth.states_left_orphaned,
                        QueryIds(conn, "SELECT id FROM dispatch_state WHERE order_id = ANY($1::int[])",
                                 {IntArray(del_orders)}));
  }
  if (skip_fk_checks) MM_RETURN_IF_ERROR(conn.Exec("SET LOCAL session_replication_role = origin"));
  const std::unordered_set<int64_t> deleted_orders(del_orders.begin(), del_orders.end());
  const std::unordered_set<int64_t> deleted_patients(del_patients.begin(), del_patients.end());
  std::vector<int64_t> kept_patients;
  for (int64_t id : patients) {
    if (!deleted_patients.count(id)) kept_patients.push_back(id);
  }
  std::vector<int64_t> kept_orders;
  for (int64_t id : orders) {
    if (!deleted_orders.count(id)) kept_orders.push_back(id);
  }

  // ---- Updates ----
  std::string text;
  {  // Orders: status moves on, price corrected, notes edited.
    std::vector<int64_t> ids;
    for (int64_t id : kept_orders) {
      if (Picked(seed, Table::kOrder, Op::kUpdate, id, f)) ids.push_back(id);
    }
    MM_RETURN_IF_ERROR(conn.Exec(
        "CREATE TEMP TABLE mm_mut_order (id integer, status varchar(32), total_price "
        "numeric(12, 2), notes text) ON COMMIT DROP"));
    MM_RETURN_IF_ERROR(conn.BeginCopyIn("COPY mm_mut_order FROM STDIN"));
    pg::CopyTextWriter w(&conn);
    for (int64_t id : ids) {
      Rng rng(seed, Stream::kMutation, -id);
      w.Int(id);
      w.Text(PickWeighted(rng, std::span<const Weighted<std::string_view>>(kOrderStatuses)));
      w.Raw(fmt::format("{}.{:02d}", rng.Range(10, 6000), rng.Range(0, 99)));
      if (rng.Chance(0.5)) {
        AppendFreeText(rng, text);
        w.Text(text);
      } else {
        w.Null();
      }
      MM_RETURN_IF_ERROR(w.EndRow());
    }
    MM_RETURN_IF_ERROR(w.Flush());
    MM_RETURN_IF_ERROR(conn.EndCopyIn().status());
    MM_RETURN_NOT_OK_PREPEND(
        conn.Exec("UPDATE dispatch_order o SET status = m.status, total_price = m.total_price, "
                  "notes = coalesce(m.notes, o.notes), updated_at = now() FROM mm_mut_order m "
                  "WHERE o.id = m.id"),
        "update orders");
    truth.Add(truth.updated, Table::kOrder, ids);
  }
  {  // Patients: birth date corrected, sex filled in.
    std::vector<int64_t> ids;
    for (int64_t id : kept_patients) {
      if (Picked(seed, Table::kPatient, Op::kUpdate, id, f)) ids.push_back(id);
    }
    MM_RETURN_IF_ERROR(conn.Exec(
        "CREATE TEMP TABLE mm_mut_patient (id integer, birthdate date, sex varchar(1)) ON "
        "COMMIT DROP"));
    MM_RETURN_IF_ERROR(conn.BeginCopyIn("COPY mm_mut_patient FROM STDIN"));
    pg::CopyTextWriter w(&conn);
    for (int64_t id : ids) {
      Rng rng(seed, Stream::kMutation, -id - (int64_t{1} << 40));
      w.Int(id);
      w.Raw(fmt::format("{}-{:02d}-{:02d}", rng.Range(1940, 2016), rng.Range(1, 12), rng.Range(1, 28)));
      w.Text(rng.Chance(0.5) ? "F" : "M");
      MM_RETURN_IF_ERROR(w.EndRow());
    }
    MM_RETURN_IF_ERROR(w.Flush());
    MM_RETURN_IF_ERROR(conn.EndCopyIn().status());
    MM_RETURN_NOT_OK_PREPEND(
        conn.Exec("UPDATE dispatch_patient p SET birthdate = m.birthdate, sex = m.sex, "
                  "updated_at = now() FROM mm_mut_patient m WHERE p.id = m.id"),
        "update patients");
    truth.Add(truth.updated, Table::kPatient, ids);
  }
  {  // auth_user: marriages, corrected first names, new addresses. No timestamp.
    const std::unordered_set<int64_t> gone_users(del_users.begin(), del_users.end());
    std::vector<int64_t> candidates;
    for (int64_t id : kept_patients) {
      const int64_t uid = user_of_patient[id];
      if (!gone_users.count(uid) && Picked(seed, Table::kAuthUser, Op::kUpdate, uid, f)) {
        candidates.push_back(uid);
      }
    }
    std::sort(candidates.begin(), candidates.end());
    MM_ASSIGN_OR_RETURN(
        pg::QueryResult users,
        conn.Query("SELECT id, first_name, last_name, email FROM auth_user WHERE id = "
                   "ANY($1::int[]) ORDER BY id",
                   {IntArray(candidates)}));
    MM_RETURN_IF_ERROR(conn.Exec(
        "CREATE TEMP TABLE mm_mut_user (id integer, first_name varchar(150), last_name "
        "varchar(150), email varchar(254)) ON COMMIT DROP"));
    MM_RETURN_IF_ERROR(conn.BeginCopyIn("COPY mm_mut_user FROM STDIN"));
    pg::CopyTextWriter w(&conn);
    std::vector<int64_t> ids;
    for (int i = 0; i < users.rows(); ++i) {
      const int64_t uid = users.GetInt(i, 0);
      Rng rng(seed, Stream::kMutation, -uid - (int64_t{2} << 40));
      std::string first(users.Get(i, 1));
      std::string last(users.Get(i, 2));
      std::string email(users.Get(i, 3));
      const int64_t what = rng.Range(0, 9);
      if (what < 4) {  // married: a new or hyphenated last name
        const std::string_view other = rng.Pick(std::span<const std::string_view>(kLastNames));
        last = rng.Chance(0.5) || last.empty() ? std::string(other) : last + "-" + std::string(other);
        if (last == users.Get(i, 2)) last += "-Smith";
        truth.user_changes["last_name"].push_back(uid);
      } else if (what < 7) {  // first name corrected
        std::string next = std::string(rng.Pick(std::span<const FirstName>(kFirstNames)).name);
        if (next == first) next += "-Marie";
        first = next;
        truth.user_changes["first_name"].push_back(uid);
      } else {  // a new address
        email = fmt::format("changed.{}_{}@{}", uid, seed % 100000,
                            rng.Pick(std::span<const std::string_view>(kEmailDomains)));
        truth.user_changes["email"].push_back(uid);
      }
      ids.push_back(uid);
      w.Int(uid);
      w.Text(first);
      w.Text(last);
      w.Text(email);
      MM_RETURN_IF_ERROR(w.EndRow());
    }
    MM_RETURN_IF_ERROR(w.Flush());
    MM_RETURN_IF_ERROR(conn.EndCopyIn().status());
    MM_RETURN_NOT_OK_PREPEND(
        conn.Exec("UPDATE auth_user u SET first_name = m.first_name, last_name = m.last_name, "
                  "email = m.email FROM mm_mut_user m WHERE u.id = m.id"),
        "update auth_user");
    truth.Add(truth.updated, Table::kAuthUser, ids);
  }
  // Plans, projects and jaws: small edits, updated_at = now().
  struct SimpleUpdate {
    Table table;
    const std::vector<int64_t>* ids;
    const char* set;
  };
  MM_ASSIGN_OR_RETURN(
      std::vector<int64_t> jaws,
      QueryIds(conn, "SELECT id FROM dispatch_jaw"));  // after the patients' jaws were deleted
  MM_ASSIGN_OR_RETURN(std::vector<int64_t> kept_plans,
                      QueryIds(conn, "SELECT id FROM dispatch_treatmentplan"));
  for (const SimpleUpdate& u :
       {SimpleUpdate{Table::kTreatmentPlan, &kept_plans, "stage_count = stage_count + 1"},
        SimpleUpdate{Table::kProject, &projects, "version = version + 1"},
        SimpleUpdate{Table::kJaw, &jaws, "jaw_type = lower(jaw_type)"}}) {
    std::vector<int64_t> ids;
    for (int64_t id : *u.ids) {
      if (Picked(seed, u.table, Op::kUpdate, id, f / 2)) ids.push_back(id);
    }
    if (ids.empty()) continue;
    MM_RETURN_NOT_OK_PREPEND(
        conn.Query(fmt::format("UPDATE {} SET {}, updated_at = now() WHERE id = ANY($1::int[])",
                               NameOf(u.table), u.set),
                   {IntArray(ids)})
            .status(),
        fmt::format("update {}", NameOf(u.table)));
    truth.Add(truth.updated, u.table, ids);
  }

  // ---- Inserts ----
  // New patients, a fifth of them duplicates of an existing one.
  const int64_t n_patients = Share(f, patients.size());
  MM_ASSIGN_OR_RETURN(std::vector<int64_t> new_users, ReserveIds(conn, Table::kAuthUser, n_patients));
  MM_ASSIGN_OR_RETURN(std::vector<int64_t> new_patients,
                      ReserveIds(conn, Table::kPatient, n_patients));
  std::vector<int64_t> dup_of(static_cast<size_t>(n_patients), 0);
  std::vector<int64_t> originals;
  for (int64_t i = 0; i < n_patients; ++i) {
    Rng rng(seed, Stream::kMutation, (int64_t{3} << 40) + i);
    if (rng.Chance(0.2)) {
      dup_of[static_cast<size_t>(i)] = PickFrom(rng, kept_patients);
      originals.push_back(dup_of[static_cast<size_t>(i)]);
    }
  }
  std::map<int64_t, std::array<std::string, 5>> original_rows;  // first, last, email, birthdate, sex
  if (!originals.empty()) {
    MM_ASSIGN_OR_RETURN(
        pg::QueryResult r,
        conn.Query("SELECT p.id, u.first_name, u.last_name, u.email, p.birthdate::text, p.sex "
                   "FROM dispatch_patient p JOIN auth_user u ON u.id = p.user_id "
                   "WHERE p.id = ANY($1::int[])",
                   {IntArray(originals)}));
    for (int i = 0; i < r.rows(); ++i) {
      original_rows[r.GetInt(i, 0)] = {std::string(r.Get(i, 1)), std::string(r.Get(i, 2)),
                                       std::string(r.Get(i, 3)),
                                       r.IsNull(i, 4) ? "\\N" : std::string(r.Get(i, 4)),
                                       r.IsNull(i, 5) ? "\\N" : std::string(r.Get(i, 5))};
    }
  }
  struct NewPerson {
    std::string first, last, email, birthdate, sex;
  };
  std::vector<NewPerson> people;
  for (int64_t i = 0; i < n_patients; ++i) {
    Rng rng(seed, Stream::kMutation, (int64_t{4} << 40) + i);
    const int64_t uid = new_users[static_cast<size_t>(i)];
    NewPerson p;
    const int64_t of = dup_of[static_cast<size_t>(i)];
    if (of != 0 && original_rows.count(of)) {
      const auto& row = original_rows[of];
      p = NewPerson{row[0], row[1], row[2], row[3], row[4]};
      std::vector<std::string> variations;
      if (ApplyTypo(rng, p.last)) {
        variations.emplace_back("typo_last_name");
      } else {
        p.email = fmt::format("second.{}@gmail.com", uid);
        variations.emplace_back("other_email");
      }
      truth.duplicates.push_back({{"patient_id", new_patients[static_cast<size_t>(i)]},
                                  {"user_id", uid},
                                  {"of_patient_id", of},
                                  {"variations", variations}});
    } else {
      const FirstName& fn = rng.Pick(std::span<const FirstName>(kFirstNames));
      p.first = fn.name;
      p.last = rng.Pick(std::span<const std::string_view>(kLastNames));
      p.email = fmt::format("new.patient_{}@{}", uid,
                            rng.Pick(std::span<const std::string_view>(kEmailDomains)));
      p.birthdate = fmt::format("{}-{:02d}-{:02d}", rng.Range(1940, 2016), rng.Range(1, 12),
                                rng.Range(1, 28));
      p.sex = std::string(1, fn.gender);
    }
    people.push_back(std::move(p));
  }
  MM_RETURN_NOT_OK_PREPEND(
      CopyRows(conn, Table::kAuthUser, people.size(),
               [&](size_t i, pg::CopyTextWriter& w) {
                 const int64_t uid = new_users[i];
                 w.Int(uid);
                 w.Text(fmt::format("pbkdf2_sha256$150000$mutated{}$", uid));
                 w.Null();
                 w.Bool(false);
                 w.Text(fmt::format("patient_{}", uid));
                 w.Text(people[i].first);
                 w.Text(people[i].last);
                 w.Text(people[i].email);
                 w.Bool(false);
                 w.Bool(true);
                 w.Raw(summary.started_at);
               }),
      "insert users");
  MM_RETURN_NOT_OK_PREPEND(CopyRows(conn, Table::kPatient, people.size(),
                                    [&](size_t i, pg::CopyTextWriter& w) {
                                      w.Int(new_patients[i]);
                                      w.Int(new_users[i]);
                                      w.Raw(people[i].birthdate);
                                      w.Raw(people[i].sex == "\\N" ? "\\N" : people[i].sex);
                                      w.Raw(summary.started_at);
                                    }),
                           "insert patients");
  truth.Add(truth.inserted, Table::kAuthUser, new_users);
  truth.Add(truth.inserted, Table::kPatient, new_patients);

  // New orders with products and states, for existing and new patients.
  std::vector<int64_t> order_patients = kept_patients;
  order_patients.insert(order_patients.end(), new_patients.begin(), new_patients.end());
  const int64_t n_orders = Share(f, orders.size());
  MM_ASSIGN_OR_RETURN(std::vector<int64_t> new_orders, ReserveIds(conn, Table::kOrder, n_orders));
  std::vector<int64_t> products_per_order;
  std::vector<int64_t> states_per_order;
  int64_t n_products = 0;
  int64_t n_states = 0;
  for (int64_t i = 0; i < n_orders; ++i) {
    Rng rng(seed, Stream::kMutation, (int64_t{5} << 40) + i);
    products_per_order.push_back(rng.Range(1, 4));
    states_per_order.push_back(rng.Range(1, 2));
    n_products += products_per_order.back();
    n_states += states_per_order.back();
  }
  MM_RETURN_NOT_OK_PREPEND(
      CopyRows(conn, Table::kOrder, new_orders.size(),
               [&](size_t i, pg::CopyTextWriter& w) {
                 Rng rng(seed, Stream::kMutation, (int64_t{6} << 40) + static_cast<int64_t>(i));
                 w.Int(new_orders[i]);
                 w.Text(fmt::format("MDW-{:07d}", new_orders[i]));
                 w.Int(PickFrom(rng, order_patients));
                 w.Int(PickFrom(rng, doctors));
                 if (rng.Chance(0.2) || offices.empty()) {
                   w.Null();
                 } else {
                   w.Int(PickFrom(rng, offices));
                 }
                 w.Text(rng.Chance(0.8) ? "new" : "New ");
                 w.Raw(fmt::format("{}.{:02d}", rng.Range(10, 6000), rng.Range(0, 99)));
                 w.Text(PickWeighted(rng, std::span<const Weighted<std::string_view>>(kCurrencies)));
                 w.Null();
                 AppendFreeText(rng, text);
                 w.Text(text);
                 w.Raw(summary.started_at);
                 w.Raw(summary.started_at);
               }),
      "insert orders");
  truth.Add(truth.inserted, Table::kOrder, new_orders);
  MM_ASSIGN_OR_RETURN(std::vector<int64_t> new_products, ReserveIds(conn, Table::kProduct, n_products));
  {
    std::vector<int64_t> product_order;
    for (size_t i = 0; i < new_orders.size(); ++i) {
      for (int64_t k = 0; k < products_per_order[i]; ++k) product_order.push_back(new_orders[i]);
    }
    MM_RETURN_NOT_OK_PREPEND(
        CopyRows(conn, Table::kProduct, new_products.size(),
                 [&](size_t i, pg::CopyTextWriter& w) {
                   Rng rng(seed, Stream::kMutation, (int64_t{7} << 40) + static_cast<int64_t>(i));
                   const ProductKind& kind = rng.Pick(std::span<const ProductKind>(kProducts));
                   w.Int(new_products[i]);
                   w.Int(product_order[i]);
                   w.Text(kind.sku);
                   w.Text(kind.name);
                   w.Int(rng.Chance(0.02) ? 0 : rng.Range(1, 3));
                   w.Raw(fmt::format("{}.{:02d}", rng.Range(1, 400), rng.Range(0, 99)));
                   w.Raw(summary.started_at);
                   w.Raw(summary.started_at);
                 }),
        "insert products");
    truth.Add(truth.inserted, Table::kProduct, new_products);
  }
  // States: those of the new orders, and one more step for some existing orders.
  std::vector<int64_t> append_to;
  for (int64_t id : kept_orders) {
    if (Picked(seed, Table::kOrder, Op::kAppendState, id, f)) append_to.push_back(id);
  }
  std::map<int64_t, int64_t> last_code;
  if (!append_to.empty()) {
    MM_ASSIGN_OR_RETURN(
        pg::QueryResult r,
        conn.Query("SELECT DISTINCT ON (order_id) order_id, state_code FROM dispatch_state "
                   "WHERE order_id = ANY($1::int[]) ORDER BY order_id, id DESC",
                   {IntArray(append_to)}));
    for (int i = 0; i < r.rows(); ++i) last_code[r.GetInt(i, 0)] = r.GetInt(i, 1);
  }
  struct NewState {
    int64_t order_id;
    int64_t code;
    std::optional<int64_t> previous;
  };
  std::vector<NewState> states;
  for (size_t i = 0; i < new_orders.size(); ++i) {
    for (int64_t k = 0; k < states_per_order[i]; ++k) {
      states.push_back(NewState{new_orders[i], k, k == 0 ? std::nullopt : std::optional<int64_t>(k - 1)});
    }
  }
  for (int64_t id : append_to) {
    const auto it = last_code.find(id);
    const std::optional<int64_t> prev =
        it == last_code.end() ? std::nullopt : std::optional<int64_t>(it->second);
    const int64_t code = prev && *prev >= 0 && *prev < 7 ? *prev + 1 : 8;
    states.push_back(NewState{id, code, prev});
  }
  MM_ASSIGN_OR_RETURN(std::vector<int64_t> new_states,
                      ReserveIds(conn, Table::kState, static_cast<int64_t>(states.size())));
  MM_RETURN_NOT_OK_PREPEND(
      CopyRows(conn, Table::kState, states.size(),
               [&](size_t i, pg::CopyTextWriter& w) {
                 Rng rng(seed, Stream::kMutation, (int64_t{8} << 40) + static_cast<int64_t>(i));
                 const NewState& s = states[i];
                 w.Int(new_states[i]);
                 w.Int(s.order_id);
                 w.Text(kStateInstructions[static_cast<size_t>(s.code)]);
                 w.Int(s.code);
                 if (s.previous) {
                   w.Int(*s.previous);
                 } else {
                   w.Null();
                 }
                 if (staff.empty() || rng.Chance(0.1)) {
                   w.Null();
                 } else {
                   w.Int(PickFrom(rng, staff));
                 }
                 w.Raw(summary.started_at);
                 w.Text("");
               }),
      "insert states");
  truth.Add(truth.inserted, Table::kState, new_states);
  // New scans of existing and new patients.
  const int64_t n_jaws = Share(f / 2, jaws.size());
  MM_ASSIGN_OR_RETURN(std::vector<int64_t> new_jaws, ReserveIds(conn, Table::kJaw, n_jaws));
  MM_RETURN_NOT_OK_PREPEND(
      CopyRows(conn, Table::kJaw, new_jaws.size(),
               [&](size_t i, pg::CopyTextWriter& w) {
                 Rng rng(seed, Stream::kMutation, (int64_t{9} << 40) + static_cast<int64_t>(i));
                 const int64_t patient = PickFrom(rng, order_patients);
                 w.Int(new_jaws[i]);
                 w.Int(patient);
                 if (new_orders.empty() || rng.Chance(0.3)) {
                   w.Null();
                 } else {
                   w.Int(PickFrom(rng, new_orders));
                 }
                 const bool upper = rng.Chance(0.5);
                 w.Text(upper ? "upper" : "lower");
                 w.Text(fmt::format("/mnt/scans/new/{}/jaw_{}.stl", patient, new_jaws[i]));
                 w.Text("");
                 w.Raw(summary.started_at);
                 w.Raw(summary.started_at);
               }),
      "insert jaws");
  truth.Add(truth.inserted, Table::kJaw, new_jaws);

  MM_RETURN_NOT_OK_PREPEND(conn.Exec("COMMIT"), "commit the mutation");

  nlohmann::json j;
  j["format"] = "medmigrate.legacy-mutation.v1";
  j["seed"] = seed;
  j["fraction"] = f;
  j["started_at"] = summary.started_at;
  auto tables_json = [](const std::map<std::string, std::vector<int64_t>>& m) {
    nlohmann::json out = nlohmann::json::object();
    for (const TableInfo& t : kTables) {
      auto it = m.find(std::string(t.name));
      out[std::string(t.name)] = it == m.end() ? std::vector<int64_t>{} : it->second;
    }
    return out;
  };
  j["inserted"] = tables_json(truth.inserted);
  j["updated"] = tables_json(truth.updated);
  j["deleted"] = tables_json(truth.deleted);
  nlohmann::json changes = nlohmann::json::object();
  for (const char* field : {"first_name", "last_name", "email"}) {
    auto& v = truth.user_changes[field];
    std::sort(v.begin(), v.end());
    changes[field] = v;
  }
  j["auth_user_changes"] = changes;
  j["duplicates_inserted"] = truth.duplicates;
  j["states_left_orphaned"] = truth.states_left_orphaned;
  MM_RETURN_NOT_OK_PREPEND(WriteJsonFile(summary.truth_path, j), "write the mutation truth");

  for (const TableInfo& t : kTables) {
    const size_t i = static_cast<size_t>(t.table);
    const std::string name(t.name);
    summary.inserted[i] = static_cast<int64_t>(truth.inserted[name].size());
    summary.updated[i] = static_cast<int64_t>(truth.updated[name].size());
    summary.deleted[i] = static_cast<int64_t>(truth.deleted[name].size());
  }
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace medmigrate::generate
