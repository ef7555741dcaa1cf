#include "pipeline/rollback.h"

#include <chrono>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "pg/connection.h"
#include "pipeline/migration.h"
#include "track/run_store.h"

namespace medmigrate::pipeline {

namespace {

struct TableInfo {
  std::string name;  // schema-qualified, as recorded
  bool was_empty = false;
  std::vector<std::string> pk, columns;
};

Result<std::vector<std::string>> Columns(pg::Connection& c, const std::string& table, bool pk) {
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      c.Query(pk ? "SELECT a.attname FROM pg_index i "
                   "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
                   "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                   "WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.ord"
                 : "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 "
                   "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
              {table}));
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.Get(i, 0));
  return out;
}

// Parents before children, by the foreign keys among `tables`.
Result<std::vector<TableInfo>> DependencyOrder(pg::Connection& c, std::vector<TableInfo> tables) {
  std::map<std::string, std::set<std::string>> parents;
  for (const TableInfo& t : tables) {
    MM_ASSIGN_OR_RETURN(pg::QueryResult r,
                        c.Query("SELECT DISTINCT confrelid::regclass::text FROM pg_constraint "
                                "WHERE contype = 'f' AND conrelid = $1::regclass "
                                "AND confrelid <> conrelid",
                                {t.name}));
    for (int i = 0; i < r.rows(); ++i) {
      std::string p(r.Get(i, 0));
      if (p.find('.') == std::string::npos) p = "public." + p;
      parents[t.name].insert(p);
    }
  }
  std::vector<TableInfo> out;
  std::set<std::string> placed;
  while (!tables.empty()) {
    bool progressed = false;
    for (auto it = tables.begin(); it != tables.end();) {
      bool ready = true;
      for (const std::string& p : parents[it->name]) {
        bool listed = std::any_of(tables.begin(), tables.end(),
                                  [&](const TableInfo& t) { return t.name == p; });
        if (listed && !placed.count(p)) ready = false;
      }
      if (ready) {
        placed.insert(it->name);
        out.push_back(std::move(*it));
        it = tables.erase(it);
        progressed = true;
      } else {
        ++it;
      }
    }
    if (!progressed) {  // a cycle: keep the recorded order for the rest
      for (TableInfo& t : tables) out.push_back(std::move(t));
      break;
    }
  }
  return out;
}

std::string QuoteTable(const pg::Connection& c, const std::string& qualified) {
  size_t dot = qualified.find('.');
  return c.QuoteIdent(qualified.substr(0, dot)) + "." + c.QuoteIdent(qualified.substr(dot + 1));
}

std::string Join(const pg::Connection& c, const std::vector<std::string>& cols,
                 const std::string& prefix) {
  std::string out;
  for (size_t i = 0; i < cols.size(); ++i) out += (i ? ", " : "") + prefix + c.QuoteIdent(cols[i]);
  return out;
}

}  // namespace

Result<RollbackSummary> RollbackRun(const std::string& target_url, int64_t run) {
  auto started = std::chrono::steady_clock::now();
  MM_ASSIGN_OR_RETURN(pg::Connection c,
                      pg::Connection::Open(target_url, "target database", "medmigrate rollback"));
  MM_ASSIGN_OR_RETURN(auto tracking, c.QueryValue("SELECT to_regclass('medmigrate.row_images')::text"));
  if (!tracking) {
    return Status::FailedPrecondition(
        "the target's tracking schema has no before-images: run 'medmigrate init' first");
  }
  MM_ASSIGN_OR_RETURN(auto locked,
                      c.QueryValue(fmt::format("SELECT pg_try_advisory_lock({})", kRunLockKey)));
  if (!locked || *locked != "t") {
    return Status::FailedPrecondition(
        "a migration is running on this target: wait for it to finish, then roll back");
  }
  track::RunStore store(&c);
  MM_ASSIGN_OR_RETURN(track::RunRecord rec, store.GetRun(run));
  if (rec.state == "rolled_back") {
    return Status::FailedPrecondition(fmt::format("run {} is already rolled back", run));
  }
  if (rec.dry_run) {
    return Status::FailedPrecondition(
        fmt::format("run {} was a dry run: it wrote nothing to the target to roll back", run));
  }
  MM_ASSIGN_OR_RETURN(auto later,
                      c.QueryValue("SELECT max(id)::text FROM medmigrate.runs WHERE id > $1 AND "
                                   "NOT dry_run AND state <> 'rolled_back'",
                                   {std::to_string(run)}));
  if (later) {
    return Status::FailedPrecondition(fmt::format(
        "run {} is not the latest run: roll back run {} first (only the latest run that is not "
        "rolled back can be)",
        run, *later));
  }
  MM_ASSIGN_OR_RETURN(pg::QueryResult recorded,
                      c.Query("SELECT tbl, was_empty FROM medmigrate.run_tables WHERE run_id = $1 "
                              "ORDER BY tbl",
                              {std::to_string(run)}));
  if (recorded.rows() == 0) {
    return Status::FailedPrecondition(fmt::format(
        "run {} has no before-images (it started before they were recorded, or cleanup removed "
        "them): it cannot be rolled back",
        run));
  }
  std::vector<TableInfo> tables;
  for (int i = 0; i < recorded.rows(); ++i) {
    TableInfo t;
    t.name = std::string(recorded.Get(i, 0));
    t.was_empty = recorded.Get(i, 1) == "t";
    MM_ASSIGN_OR_RETURN(t.pk, Columns(c, t.name, true));
    MM_ASSIGN_OR_RETURN(t.columns, Columns(c, t.name, false));
    if (t.pk.empty()) {
      return Status::FailedPrecondition(fmt::format("{} has no primary key: cannot restore", t.name));
    }
    tables.push_back(std::move(t));
  }
  MM_ASSIGN_OR_RETURN(tables, DependencyOrder(c, std::move(tables)));

  RollbackSummary summary;
  summary.run_id = run;
  const std::string r = std::to_string(run);
  MM_RETURN_IF_ERROR(c.Exec("BEGIN"));
  auto fail = [&](const Status& s) {
    if (c.is_open()) (void)c.Exec("ROLLBACK");
    return s.Prepend(fmt::format("rollback of run {} (nothing changed)", run));
  };
  // Foreign keys are checked at the end of the statement that breaks them; a
  // superuser skips the per-row checks as the load does (the order keeps them true).
  Result<std::optional<std::string>> super =
      c.QueryValue("SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user");
  if (super.ok() && *super && **super == "true") {
    if (Status s = c.Exec("SET LOCAL session_replication_role = replica"); !s.ok()) return fail(s);
  }
  if (Status s = c.Exec("SET LOCAL medmigrate.capture_run = ''"); !s.ok()) return fail(s);
  // Children first: remove what the run inserted.
  for (auto it = tables.rbegin(); it != tables.rend(); ++it) {
    const TableInfo& t = *it;
    std::string table = QuoteTable(c, t.name);
    Result<pg::QueryResult> res =
        t.was_empty
            ? c.Query("DELETE FROM " + table)
            : c.Query(fmt::format(
                  "DELETE FROM {0} t USING (SELECT DISTINCT ON (key) key, op FROM "
                  "medmigrate.row_images WHERE run_id = $1 AND tbl = $2 ORDER BY key, seq) f "
                  "WHERE f.op = 'insert' AND ({1}) = ({2})",
                  table, Join(c, t.pk, "t."),
                  Join(c, t.pk, "(jsonb_populate_record(NULL::" + table + ", f.key)).")),
                  {r, t.name});
    if (!res.ok()) return fail(res.status());
    summary.deleted[t.name] = res->AffectedRows();
  }
  // Parents first: put back what the run updated or deleted.
  for (const TableInfo& t : tables) {
    if (t.was_empty) continue;
    std::string table = QuoteTable(c, t.name);
    std::vector<std::string> rest;
    for (const std::string& col : t.columns) {
      if (std::find(t.pk.begin(), t.pk.end(), col) == t.pk.end()) rest.push_back(col);
    }
    std::string update =
        rest.empty() ? "NOTHING"
                     : fmt::format("UPDATE SET ({}) = ROW({})", Join(c, rest, ""),
                                   Join(c, rest, "EXCLUDED."));
    Result<pg::QueryResult> res = c.Query(
        fmt::format("INSERT INTO {0} ({1}) SELECT {2} FROM (SELECT jsonb_populate_record(NULL::{0}, "
                    "f.image) AS r FROM (SELECT DISTINCT ON (key) key, op, image FROM "
                    "medmigrate.row_images WHERE run_id = $1 AND tbl = $2 ORDER BY key, seq) f "
                    "WHERE f.op <> 'insert') x ON CONFLICT ({3}) DO {4}",
                    table, Join(c, t.columns, ""), Join(c, t.columns, "(x.r)."), Join(c, t.pk, ""),
                    update),
        {r, t.name});
    if (!res.ok()) return fail(res.status());
    summary.restored[t.name] = res->AffectedRows();
  }
  for (const std::string& sql :
       {std::string("DELETE FROM medmigrate.row_hashes WHERE run_id = $1"),
        // The automatic merges the run's dedup phase took back hold again
        // (its own merges fall out of force with the run).
        std::string("UPDATE medmigrate.merges SET reverted_at = NULL, reverted_by = NULL, "
                    "reverted_run_id = NULL, revert_reason = NULL WHERE reverted_run_id = $1"),
        std::string("UPDATE medmigrate.runs SET state = 'rolled_back', rolled_back_at = now() "
                    "WHERE id = $1")}) {
    if (Result<pg::QueryResult> res = c.Query(sql, {r}); !res.ok()) return fail(res.status());
  }
  if (Status s = store.AddEvent(run, "info", "rollback", "", fmt::format("run {} rolled back", run));
      !s.ok()) {
    return fail(s);
  }
  MM_RETURN_IF_ERROR(c.Commit());
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

Result<CleanupSummary> CleanupRuns(const std::string& target_url, int days,
                                   const std::string& log_dir) {
  if (days < 0) return Status::InvalidArgument("--days must be 0 or more");
  MM_ASSIGN_OR_RETURN(pg::Connection c,
                      pg::Connection::Open(target_url, "target database", "medmigrate cleanup"));
  MM_ASSIGN_OR_RETURN(auto tracking, c.QueryValue("SELECT to_regclass('medmigrate.row_images')::text"));
  if (!tracking) {
    return Status::FailedPrecondition("the target has no tracking schema: run 'medmigrate init' first");
  }
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult runs,
      c.Query("SELECT id FROM medmigrate.runs WHERE state NOT IN ('pending', 'running') "
              "AND coalesce(finished_at, created_at) < now() - make_interval(days => $1) "
              "AND id IS DISTINCT FROM (SELECT max(id) FROM medmigrate.runs "
              "WHERE state = 'succeeded' AND NOT dry_run) ORDER BY id",
              {std::to_string(days)}));
  CleanupSummary summary;
  summary.runs = runs.rows();
  if (runs.rows() == 0) return summary;
  std::string ids = "{";
  for (int i = 0; i < runs.rows(); ++i) ids += (i ? "," : "") + std::string(runs.Get(i, 0));
  ids += "}";
  MM_RETURN_IF_ERROR(c.Exec("BEGIN"));
  const std::vector<std::pair<std::string, std::string>> deletes = {
      {"checkpoints", "DELETE FROM medmigrate.checkpoints WHERE run_id = ANY($1::bigint[])"},
      {"row_images", "DELETE FROM medmigrate.row_images WHERE run_id = ANY($1::bigint[])"},
      {"run_tables", "DELETE FROM medmigrate.run_tables WHERE run_id = ANY($1::bigint[])"},
      {"events", "DELETE FROM medmigrate.events WHERE run_id = ANY($1::bigint[])"},
      // A key's latest hash stays: the next incremental run compares with it.
      {"row_hashes",
       "DELETE FROM medmigrate.row_hashes h WHERE h.run_id = ANY($1::bigint[]) AND EXISTS "
       "(SELECT 1 FROM medmigrate.row_hashes n WHERE n.entity = h.entity AND n.legacy_id = "
       "h.legacy_id AND n.run_id > h.run_id)"},
  };
  for (const auto& [table, sql] : deletes) {
    Result<pg::QueryResult> r = c.Query(sql, {ids});
    if (!r.ok()) {
      (void)c.Exec("ROLLBACK");
      return r.status().Prepend("cleanup " + table);
    }
    summary.rows[table] = r->AffectedRows();
  }
  MM_RETURN_IF_ERROR(c.Commit());
  if (!log_dir.empty()) {
    for (int i = 0; i < runs.rows(); ++i) {
      std::filesystem::path f = std::filesystem::path(log_dir) /
                                fmt::format("{}-run-{}.jsonl", c.dbname(), runs.Get(i, 0));
      std::error_code ec;
      auto size = std::filesystem::file_size(f, ec);
      if (!ec && std::filesystem::remove(f, ec)) {
        ++summary.log_files;
        summary.log_bytes += static_cast<int64_t>(size);
      }
    }
  }
  return summary;
}

}  // namespace medmigrate::pipeline
