#include "pipeline/incremental.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace medmigrate::pipeline {

namespace {

// Streams "<bigint>[\t<bool>]" rows of a COPY out, one at a time.
class TargetKeyStream {
 public:
  explicit TargetKeyStream(pg::Connection* conn) : conn_(conn) {}
  Status Begin(const std::string& sql) { return conn_->BeginCopyOut(sql); }
  // False at the end.
  Result<bool> Next(int64_t* key, bool* deleted) {
    line_.clear();
    MM_ASSIGN_OR_RETURN(bool more, conn_->AppendCopyData(&line_));
    if (!more) return false;
    if (!line_.empty() && line_.back() == '\n') line_.pop_back();
    size_t tab = line_.find('\t');
    std::string_view k = std::string_view(line_).substr(0, tab);
    if (std::from_chars(k.data(), k.data() + k.size(), *key).ec != std::errc()) {
      return Status::DataLoss("target database: a legacy_id is not an integer");
    }
    *deleted = tab != std::string::npos && line_.compare(tab + 1, 1, "t") == 0;
    return true;
  }

 private:
  pg::Connection* conn_;
  std::string line_;
};

std::string Table(const pg::Connection& c, const std::string& schema, const std::string& name) {
  return c.QuoteIdent(schema) + "." + c.QuoteIdent(name);
}

// Keys of `entity` that earlier real runs rejected or merged: not new, though
// the target does not hold them.
Result<std::vector<int64_t>> SettledKeys(pg::Connection& target, const std::string& entity) {
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      target.Query("SELECT DISTINCT k FROM ("
                   "  SELECT rj.legacy_id AS k FROM medmigrate.rejects rj"
                   "    JOIN medmigrate.runs ru ON ru.id = rj.run_id"
                   "   WHERE rj.entity = $1 AND NOT ru.dry_run AND ru.state <> 'rolled_back'"
                   "  UNION ALL"
                   "  SELECT m.legacy_id FROM medmigrate.active_merges m"
                   "   WHERE m.entity = $1) s",
                   {entity}));
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    std::string_view v = r.Get(i, 0);
    int64_t k = 0;
    if (std::from_chars(v.data(), v.data() + v.size(), k).ec == std::errc()) out.push_back(k);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<EntityChanges> FindChanges(extract::LegacyReader& reader, pg::Connection& target,
                                  const spec::EntitySpec& entity, const spec::EntitySpec& source,
                                  const ChangeQuery& q) {
  EntityChanges out;
  if (!entity.updated_at.empty()) {
    MM_ASSIGN_OR_RETURN(out.watermark, reader.Max(source, entity.updated_at));
  }
  if (!q.incremental) {
    if (!q.full_deletes) return out;
    MM_ASSIGN_OR_RETURN(pg::QueryResult held,
                        target.Query(fmt::format("SELECT EXISTS (SELECT 1 FROM {})",
                                                 Table(target, q.schema, entity.name))));
    if (held.Get(0, 0) != "t") return out;
  }
  out.deletes = true;

  std::vector<int64_t> changed;
  if (q.incremental && entity.changes == spec::ChangeDetection::kUpdatedAt) {
    if (!q.previous_watermark) {
      return Status::FailedPrecondition(fmt::format(
          "{}: no succeeded run recorded its updated_at watermark: run a full migration first",
          entity.name));
    }
    std::string where = fmt::format(
        "{} >= {}::timestamptz - make_interval(secs => {})", target.QuoteIdent(entity.updated_at),
        target.QuoteLiteral(*q.previous_watermark), q.overlap_seconds);
    MM_RETURN_IF_ERROR(reader.BeginKeys(source, where));
    int64_t k = 0;
    while (true) {
      MM_ASSIGN_OR_RETURN(bool more, reader.NextKey(&k));
      if (!more) break;
      changed.push_back(k);
    }
  }
  out.keyed = q.incremental && entity.changes != spec::ChangeDetection::kHash;

  // Exploded rows have text legacy ids and follow their parent's deletes
  // through their reference to it.
  if (entity.explode) {
    out.keys = std::move(changed);
    return out;
  }

  // Merge the source's keys with the target's: new keys and vanished rows.
  std::vector<int64_t> settled;
  if (q.incremental) {
    MM_ASSIGN_OR_RETURN(settled, SettledKeys(target, entity.name));
  }
  std::vector<int64_t> fresh;
  MM_RETURN_IF_ERROR(reader.BeginKeys(source, ""));
  TargetKeyStream t(&target);
  MM_RETURN_IF_ERROR(t.Begin(fmt::format(
      "COPY (SELECT legacy_id, deleted_at IS NOT NULL FROM {} ORDER BY legacy_id) TO STDOUT",
      Table(target, q.schema, entity.name))));
  int64_t lk = 0, tk = 0;
  bool deleted = false;
  MM_ASSIGN_OR_RETURN(bool lmore, reader.NextKey(&lk));
  MM_ASSIGN_OR_RETURN(bool tmore, t.Next(&tk, &deleted));
  auto add_new = [&](int64_t k) {
    if (q.incremental && !std::binary_search(settled.begin(), settled.end(), k)) fresh.push_back(k);
  };
  while (lmore || tmore) {
    if (lmore && (!tmore || lk < tk)) {
      add_new(lk);
      MM_ASSIGN_OR_RETURN(lmore, reader.NextKey(&lk));
    } else if (tmore && (!lmore || tk < lk)) {
      if (!deleted) out.vanished.push_back(tk);
      MM_ASSIGN_OR_RETURN(tmore, t.Next(&tk, &deleted));
    } else {
      MM_ASSIGN_OR_RETURN(lmore, reader.NextKey(&lk));
      MM_ASSIGN_OR_RETURN(tmore, t.Next(&tk, &deleted));
    }
  }
  if (out.keyed) {
    out.keys.reserve(changed.size() + fresh.size());
    std::set_union(changed.begin(), changed.end(), fresh.begin(), fresh.end(),
                   std::back_inserter(out.keys));
  }
  return out;
}

Result<std::optional<std::string>> PreviousWatermark(pg::Connection& target,
                                                     const std::string& entity) {
  return target.QueryValue(
      "SELECT e.watermark FROM medmigrate.run_entities e JOIN medmigrate.runs r ON r.id = e.run_id "
      "WHERE e.entity = $1 AND r.state = 'succeeded' AND NOT r.dry_run AND e.watermark IS NOT NULL "
      "ORDER BY r.id DESC LIMIT 1",
      {entity});
}

Result<bool> EverLoaded(pg::Connection& target, const std::string& entity) {
  MM_ASSIGN_OR_RETURN(
      auto v, target.QueryValue("SELECT EXISTS (SELECT 1 FROM medmigrate.run_entities e JOIN "
                                "medmigrate.runs r ON r.id = e.run_id WHERE e.entity = $1 AND "
                                "r.state = 'succeeded' AND NOT r.dry_run)",
                                {entity}));
  return v && *v == "t";
}

Result<std::vector<std::pair<int64_t, int64_t>>> LoadRowHashes(pg::Connection& target,
                                                               const std::string& entity) {
  std::vector<std::pair<int64_t, int64_t>> out;
  MM_RETURN_IF_ERROR(target.BeginCopyOut(fmt::format(
      "COPY (SELECT DISTINCT ON (legacy_id) legacy_id, hash FROM medmigrate.row_hashes "
      "WHERE entity = {} ORDER BY legacy_id, run_id DESC) TO STDOUT",
      target.QuoteLiteral(entity))));
  std::string line;
  while (true) {
    line.clear();
    MM_ASSIGN_OR_RETURN(bool more, target.AppendCopyData(&line));
    if (!more) break;
    size_t tab = line.find('\t');
    if (tab == std::string::npos) continue;
    int64_t k = 0, h = 0;
    std::from_chars(line.data(), line.data() + tab, k);
    std::from_chars(line.data() + tab + 1, line.data() + line.size(), h);
    out.emplace_back(k, h);
  }
  return out;
}

int64_t RowHash(std::string_view row) {
  // FNV-1a, 64 bits: a changed row differs with probability 1 - 2^-64.
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : row) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<int64_t>(h);
}

Result<std::map<std::string, bool>> PrepareCapture(pg::Connection& target,
                                                   const std::vector<std::string>& tables,
                                                   int64_t run, bool incremental) {
  std::map<std::string, bool> capture;
  for (const std::string& name : tables) {
    std::string table = Table(target, "public", name);
    MM_ASSIGN_OR_RETURN(auto exists, target.QueryValue("SELECT to_regclass($1)::text", {table}));
    if (!exists) {
      return Status::FailedPrecondition(fmt::format(
          "target table {} does not exist: run 'medmigrate init' first", table));
    }
    MM_ASSIGN_OR_RETURN(
        auto has, target.QueryValue("SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass "
                                    "AND tgname = 'medmigrate_capture'",
                                    {table}));
    if (!has || *has == "0") {
      MM_ASSIGN_OR_RETURN(
          pg::QueryResult pk,
          target.Query("SELECT a.attname FROM pg_index i "
                       "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
                       "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                       "WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.ord",
                       {table}));
      if (pk.rows() == 0) {
        return Status::FailedPrecondition(
            fmt::format("target table {} has no primary key: rollback could not restore it", table));
      }
      std::string args;
      for (int i = 0; i < pk.rows(); ++i) {
        args += (i ? ", " : "") + target.QuoteLiteral(std::string(pk.Get(i, 0)));
      }
      MM_RETURN_IF_ERROR(target.Exec(fmt::format(
          "CREATE TRIGGER medmigrate_capture AFTER INSERT OR UPDATE OR DELETE ON {0} "
          "FOR EACH ROW WHEN (coalesce(current_setting('medmigrate.capture_run', true), '') <> '') "
          "EXECUTE FUNCTION medmigrate.capture_row({1});"
          // Fires in session_replication_role = replica too, which loads use.
          "ALTER TABLE {0} ENABLE ALWAYS TRIGGER medmigrate_capture",
          table, args)));
    }
    MM_RETURN_IF_ERROR(
        target
            .Query(fmt::format("INSERT INTO medmigrate.run_tables (run_id, tbl, was_empty) "
                               "SELECT $1, $2, NOT EXISTS (SELECT 1 FROM {}) "
                               "ON CONFLICT (run_id, tbl) DO NOTHING",
                               table),
                   {std::to_string(run), "public." + name})
            .status());
    MM_ASSIGN_OR_RETURN(auto was_empty,
                        target.QueryValue("SELECT was_empty FROM medmigrate.run_tables "
                                          "WHERE run_id = $1 AND tbl = $2",
                                          {std::to_string(run), "public." + name}));
    capture[name] = incremental || !(was_empty && *was_empty == "t");
  }
  return capture;
}

Result<DeleteCounts> ApplyDeletes(pg::Connection& target, const spec::EntitySpec& entity,
                                  const std::vector<int64_t>& vanished, int64_t run,
                                  const std::string& schema) {
  DeleteCounts c;
  std::string table = Table(target, schema, entity.name);
  std::string run_text = std::to_string(run);
  MM_RETURN_IF_ERROR(target.Exec("BEGIN"));
  auto fail = [&](const Status& s) {
    if (target.is_open()) (void)target.Exec("ROLLBACK");
    return s;
  };
  Status s = target.Exec(fmt::format("SET LOCAL medmigrate.capture_run = '{}'", run));
  if (!s.ok()) return fail(s);
  if (!vanished.empty()) {
    std::string list = "{";
    for (size_t i = 0; i < vanished.size(); ++i) list += (i ? "," : "") + std::to_string(vanished[i]);
    list += "}";
    Result<pg::QueryResult> r = target.Query(
        fmt::format("UPDATE {} SET deleted_at = now() WHERE legacy_id = ANY($1::bigint[]) "
                    "AND deleted_at IS NULL",
                    table),
        {list});
    if (!r.ok()) return fail(r.status());
    c.deleted += r->AffectedRows();
  }
  for (const spec::ColumnSpec& col : entity.columns) {
    if (col.kind != spec::ColumnSpec::Kind::kReference) continue;
    std::string parent = Table(target, schema, col.ref_entity);
    // Rows of the parent that this run soft-deleted.
    std::string gone = fmt::format(
        "SELECT p.id FROM {} p WHERE p.deleted_at IS NOT NULL AND p.id IN ("
        "SELECT (i.key ->> 'id')::uuid FROM medmigrate.row_images i WHERE i.run_id = {} "
        "AND i.tbl = {} AND i.op = 'update' AND i.image ->> 'deleted_at' IS NULL)",
        parent, run, target.QuoteLiteral(schema + "." + col.ref_entity));
    bool reject = col.on_missing == spec::OnMissing::kReject;
    std::string ref = target.QuoteIdent(col.target);
    Result<pg::QueryResult> r = target.Query(fmt::format(
        "WITH gone AS ({0}), c AS (UPDATE {1} t SET {2} FROM gone WHERE t.{3} = gone.id "
        "AND t.deleted_at IS NULL RETURNING t.legacy_id) "
        "INSERT INTO medmigrate.warnings (run_id, entity, legacy_id, column_name, reason) "
        "SELECT {4}, {5}, c.legacy_id::text, {6}, {7} FROM c",
        gone, table, reject ? "deleted_at = now()" : ref + " = NULL", ref, run,
        target.QuoteLiteral(entity.name), target.QuoteLiteral(col.target),
        target.QuoteLiteral(reject ? std::string("parent_deleted") : col.missing_reason)));
    if (!r.ok()) return fail(r.status());
    if (reject) c.deleted += r->AffectedRows();
    c.warnings += r->AffectedRows();
  }
  s = target.Exec(fmt::format(
      "UPDATE medmigrate.run_entities SET deleted = deleted + {}, warnings = warnings + {} "
      "WHERE run_id = {} AND entity = {}",
      c.deleted, c.warnings, run, target.QuoteLiteral(entity.name)));
  if (!s.ok()) return fail(s);
  MM_RETURN_IF_ERROR(target.Commit());
  return c;
}

}  // namespace medmigrate::pipeline
