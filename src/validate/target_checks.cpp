// Checks that need only the target database: the run's counts, foreign keys
// (the catalog's constraints, which the engine may have loaded around, and
// the spec's references), unique legacy ids, enum values, the spec's
// clinical sanity conditions and its properties of derived data. Each is one set-based query per column. Rows
// an incremental run soft-deleted (deleted_at) are out, except for unique
// keys: a live row pointing at a soft-deleted parent is an orphan.
#include <fmt/format.h>

#include <chrono>
#include <set>

#include "validate/checks.h"

namespace medmigrate::validate {

namespace {

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Runs `sql`, which returns (count, examples text[]), into a check.
Status CountAndExamples(pg::Connection& c, const std::string& sql, const std::string& what,
                        int max_examples, CheckResult* r) {
  MM_ASSIGN_OR_RETURN(pg::QueryResult q, c.Query(sql));
  int64_t count = q.GetInt(0, 0);
  if (count == 0) return Status::Ok();
  Failures f(r, max_examples);
  // Examples first, then the rest of the count.
  std::string_view arr = q.IsNull(0, 1) ? std::string_view() : q.Get(0, 1);
  if (arr.size() >= 2) arr = arr.substr(1, arr.size() - 2);
  int64_t added = 0;
  size_t b = 0;
  while (!arr.empty() && b <= arr.size()) {
    size_t comma = arr.find(',', b);
    std::string id(
        arr.substr(b, comma == std::string_view::npos ? std::string_view::npos : comma - b));
    if (id.size() >= 2 && id.front() == '"') id = id.substr(1, id.size() - 2);
    f.Add(id, what);
    ++added;
    if (comma == std::string_view::npos) break;
    b = comma + 1;
  }
  for (; added < count; ++added) f.Add("", what);
  return Status::Ok();
}

std::string ExamplesSql(const std::string& id_expr, int n) {
  return fmt::format("(array_agg({0} ORDER BY {0}))[1:{1}]", id_expr, n);
}

}  // namespace

Result<std::vector<CheckResult>> CheckCounts(const CheckContext& ctx) {
  auto started = std::chrono::steady_clock::now();
  MM_ASSIGN_OR_RETURN(pg::Connection c, OpenTarget(ctx));
  track::RunStore store(&c);
  MM_ASSIGN_OR_RETURN(std::vector<track::EntityCounts> counts, store.Entities(ctx.run.id));
  std::vector<CheckResult> out;
  for (const track::EntityCounts& e : counts) {
    CheckResult r = NewCheck("completeness", "counts", e.entity);
    r.checked = e.read;
    r.details = {{"read", e.read},     {"loaded", e.loaded},   {"rejected", e.rejected},
                 {"merged", e.merged}, {"deleted", e.deleted}, {"state", e.state}};
    if (e.read != e.loaded + e.rejected + e.merged) {
      r.passed = false;
      r.failures = std::abs(e.read - (e.loaded + e.rejected + e.merged));
    }
    if (e.state != "succeeded") {
      r.passed = false;
      r.details["not_finished"] = true;
    }
    r.seconds = Since(started);
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<CheckResult>> CheckTargetIntegrity(const CheckContext& ctx,
                                                      const spec::EntitySpec& e) {
  auto started = std::chrono::steady_clock::now();
  MM_ASSIGN_OR_RETURN(pg::Connection c, OpenTarget(ctx));
  const int n = ctx.options->max_examples;
  const std::string table = "public." + c.QuoteIdent(e.name);
  std::vector<CheckResult> out;

  // Only live rows count (incremental runs soft-delete): a live row's
  // reference must name a live parent.
  MM_ASSIGN_OR_RETURN(bool soft, SoftDeletes(c, table));
  const std::string live = soft ? " AND c.deleted_at IS NULL" : "";

  // Foreign keys: the catalog's single- and multi-column constraints, and the
  // spec's references (a target without constraints is checked all the same).
  CheckResult fk = NewCheck("integrity", "foreign_keys", e.name);
  std::set<std::pair<std::string, std::string>> done;  // (column, parent table)
  nlohmann::json columns = nlohmann::json::object();
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult cat,
      c.Query("SELECT con.conname, pc.relname, "
              "(SELECT string_agg(quote_ident(a.attname), ',' ORDER BY k.i) FROM "
              "unnest(con.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = "
              "con.conrelid AND a.attnum = k.n), "
              "(SELECT string_agg(quote_ident(a.attname), ',' ORDER BY k.i) FROM "
              "unnest(con.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = "
              "con.confrelid AND a.attnum = k.n), pn.nspname, "
              "(SELECT string_agg(a.attname::text, ',' ORDER BY k.i) FROM "
              "unnest(con.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = "
              "con.conrelid AND a.attnum = k.n) "
              "FROM pg_constraint con JOIN pg_class pc ON pc.oid = con.confrelid "
              "JOIN pg_namespace pn ON pn.oid = pc.relnamespace "
              "WHERE con.contype = 'f' AND con.conrelid = $1::regclass ORDER BY con.conname",
              {table}));
  struct Fk {
    std::string name, parent, cols, pcols, raw;  // raw: the column names unquoted
  };
  std::vector<Fk> fks;
  for (int i = 0; i < cat.rows(); ++i) {
    fks.push_back(Fk{
        std::string(cat.Get(i, 0)),
        c.QuoteIdent(std::string(cat.Get(i, 4))) + "." + c.QuoteIdent(std::string(cat.Get(i, 1))),
        std::string(cat.Get(i, 2)), std::string(cat.Get(i, 3)), std::string(cat.Get(i, 5))});
    done.insert({std::string(cat.Get(i, 5)), std::string(cat.Get(i, 1))});
  }
  for (const spec::ColumnSpec& col : e.columns) {
    if (col.kind != spec::ColumnSpec::Kind::kReference) continue;
    if (done.count({col.target, col.ref_entity})) continue;
    fks.push_back(Fk{"spec:" + col.target, "public." + c.QuoteIdent(col.ref_entity),
                     c.QuoteIdent(col.target), "id", col.target});
  }
  for (const Fk& f : fks) {
    std::vector<std::string> cs, ps;
    for (size_t b = 0;;) {
      size_t comma = f.cols.find(',', b);
      cs.push_back(f.cols.substr(b, comma == std::string::npos ? std::string::npos : comma - b));
      if (comma == std::string::npos) break;
      b = comma + 1;
    }
    for (size_t b = 0;;) {
      size_t comma = f.pcols.find(',', b);
      ps.push_back(f.pcols.substr(b, comma == std::string::npos ? std::string::npos : comma - b));
      if (comma == std::string::npos) break;
      b = comma + 1;
    }
    std::string not_null, join;
    for (size_t i = 0; i < cs.size() && i < ps.size(); ++i) {
      not_null += (i ? " AND " : "") + fmt::format("c.{} IS NOT NULL", cs[i]);
      join += (i ? " AND " : "") + fmt::format("p.{} = c.{}", ps[i], cs[i]);
    }
    MM_ASSIGN_OR_RETURN(bool parent_soft, SoftDeletes(c, f.parent));
    if (parent_soft) join += " AND p.deleted_at IS NULL";
    int64_t before = fk.failures;
    MM_RETURN_IF_ERROR(CountAndExamples(
        c,
        fmt::format("SELECT count(*), {} FROM {} c WHERE {}{} AND NOT EXISTS (SELECT 1 FROM {} p "
                    "WHERE {})",
                    ExamplesSql("c.legacy_id::text", n), table, not_null, live, f.parent, join),
        f.raw, n, &fk));
    columns[f.raw] = fk.failures - before;
  }
  fk.details["orphans_by_column"] = columns;
  MM_ASSIGN_OR_RETURN(auto rows,
                      c.QueryValue("SELECT count(*) FROM " + table + " c WHERE true" + live));
  fk.checked = rows ? std::stoll(*rows) : 0;
  fk.seconds = Since(started);
  out.push_back(std::move(fk));

  // Unique keys: one row per legacy id (and per id). A valid unique index on
  // the column guarantees it already (no scan); without one, count.
  CheckResult uq = NewCheck("integrity", "unique_keys", e.name);
  uq.checked = out.back().checked;
  nlohmann::json enforced = nlohmann::json::array();
  for (const std::string col : {"legacy_id", "id"}) {
    MM_ASSIGN_OR_RETURN(
        auto indexed,
        c.QueryValue("SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
                     "i.indrelid AND a.attnum = i.indkey[0] WHERE i.indrelid = $1::regclass AND "
                     "i.indisunique AND i.indisvalid AND i.indnatts = 1 AND i.indpred IS NULL AND "
                     "a.attname = $2)",
                     {table, col}));
    if (indexed && *indexed == "t") {
      enforced.push_back(col);
      continue;
    }
    std::string id_expr = col == "id" ? "min(legacy_id::text)" : "legacy_id::text";
    MM_RETURN_IF_ERROR(CountAndExamples(
        c,
        fmt::format("SELECT count(*), {} FROM (SELECT {} AS legacy_id FROM {} GROUP BY {} "
                    "HAVING count(*) > 1) d",
                    ExamplesSql("d.legacy_id", n), id_expr, table, col),
        "duplicate_" + col, n, &uq));
  }
  uq.details["enforced_by_unique_index"] = enforced;
  uq.seconds = Since(started);
  out.push_back(std::move(uq));

  // Enum values: every enum column holds one of the spec's values (or its fallback).
  CheckResult en = NewCheck("integrity", "enum_values", e.name);
  en.checked = out.front().checked;
  nlohmann::json enum_cols = nlohmann::json::array();
  for (const spec::ColumnSpec& col : e.columns) {
    if (!col.enum_spec) continue;
    enum_cols.push_back(col.target);
    std::string values;
    for (const std::string& v : col.enum_spec->values) {
      values += (values.empty() ? "" : ", ") + c.QuoteLiteral(v);
    }
    if (col.enum_spec->unknown) values += ", " + c.QuoteLiteral(*col.enum_spec->unknown);
    // An enum type whose every label is allowed cannot hold anything else: no scan.
    MM_ASSIGN_OR_RETURN(
        auto by_type,
        c.QueryValue(fmt::format("SELECT t.typtype = 'e' AND NOT EXISTS (SELECT 1 FROM pg_enum e "
                                 "WHERE e.enumtypid = t.oid AND e.enumlabel NOT IN ({})) FROM "
                                 "pg_attribute a JOIN pg_type t ON t.oid = a.atttypid WHERE "
                                 "a.attrelid = $1::regclass AND a.attname = $2",
                                 values),
                     {table, col.target}));
    if (by_type && *by_type == "t") {
      en.details["enforced_by_type"].push_back(col.target);
      continue;
    }
    MM_RETURN_IF_ERROR(CountAndExamples(
        c,
        fmt::format(
            "SELECT count(*), {} FROM {} c WHERE c.{} IS NOT NULL AND c.{}::text NOT IN ({}){}",
            ExamplesSql("c.legacy_id::text", n), table, c.QuoteIdent(col.target),
            c.QuoteIdent(col.target), values, live),
        col.target, n, &en));
  }
  en.details["columns"] = enum_cols;
  en.seconds = Since(started);
  if (!enum_cols.empty()) out.push_back(std::move(en));
  return out;
}

Result<std::vector<CheckResult>> CheckSanity(const CheckContext& ctx, const spec::SanityCheck& s) {
  auto started = std::chrono::steady_clock::now();
  MM_ASSIGN_OR_RETURN(pg::Connection c, OpenTarget(ctx));
  CheckResult r = NewCheck("integrity", s.name, s.entity, "warning");
  const std::string table = c.QuoteIdent(s.entity);
  // The condition names the table's columns unqualified, and other tables by name.
  MM_RETURN_IF_ERROR(c.Exec("SET search_path = public"));
  // The condition stays in WHERE, where the planner can turn an EXISTS into
  // a semi-join; in the select list it would run once per row.
  MM_RETURN_NOT_OK_PREPEND(
      CountAndExamples(
          c,
          fmt::format("SELECT count(*), {} FROM {} WHERE deleted_at IS NULL AND ({})",
                      ExamplesSql(table + ".legacy_id::text", ctx.options->max_examples), table,
                      s.where),
          s.name, ctx.options->max_examples, &r),
      "sanity check " + s.name);
  MM_ASSIGN_OR_RETURN(auto rows,
                      c.QueryValue("SELECT count(*) FROM " + table + " WHERE deleted_at IS NULL"));
  r.checked = rows ? std::stoll(*rows) : 0;
  r.details["condition"] = s.where;
  r.passed = true;
  r.seconds = Since(started);
  return std::vector<CheckResult>{std::move(r)};
}

Result<std::vector<CheckResult>> CheckDerived(const CheckContext& ctx, const spec::DerivedCheck& d) {
  auto started = std::chrono::steady_clock::now();
  MM_ASSIGN_OR_RETURN(pg::Connection c, OpenTarget(ctx));
  CheckResult r = NewCheck("integrity", d.name, d.entity);
  MM_RETURN_IF_ERROR(c.Exec("SET search_path = public"));
  // The query's first column, whatever it is called, is the legacy id.
  MM_RETURN_NOT_OK_PREPEND(
      CountAndExamples(c,
                       fmt::format("SELECT count(*), {} FROM ({}) AS f(legacy_id)",
                                   ExamplesSql("f.legacy_id::text", ctx.options->max_examples),
                                   d.query),
                       d.name, ctx.options->max_examples, &r),
      "derived check " + d.name);
  const std::string table = "public." + c.QuoteIdent(d.entity);
  MM_ASSIGN_OR_RETURN(bool soft, SoftDeletes(c, table));
  MM_ASSIGN_OR_RETURN(auto rows, c.QueryValue("SELECT count(*) FROM " + table +
                                              (soft ? " WHERE deleted_at IS NULL" : "")));
  r.checked = rows ? std::stoll(*rows) : 0;
  r.seconds = Since(started);
  return std::vector<CheckResult>{std::move(r)};
}

}  // namespace medmigrate::validate
