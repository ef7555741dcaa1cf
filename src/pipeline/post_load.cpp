#include "pipeline/post_load.h"

#include <fmt/format.h>

namespace medmigrate::pipeline {

namespace {

Result<PostLoadOutcome> RunInTransaction(pg::Connection& c, const spec::PostLoadStep& step,
                                         const PostLoadContext& ctx) {
  PostLoadOutcome out;
  const std::string run = std::to_string(ctx.run_id);
  const std::string phase = "post_load." + step.name;
  MM_ASSIGN_OR_RETURN(out.since_run, PostLoadBase(c, step.name, ctx.run_id));
  MM_ASSIGN_OR_RETURN(auto started, c.QueryValue("SELECT clock_timestamp()::text"));
  MM_RETURN_IF_ERROR(c.Exec(fmt::format(
      "BEGIN; SET LOCAL search_path = {}, public; SET LOCAL medmigrate.run_id = '{}'; "
      "SET LOCAL medmigrate.since_run = '{}'; SET LOCAL medmigrate.capture_run = '{}'; "
      // Dropped at COMMIT or ROLLBACK: each execution starts with none.
      "CREATE TEMP TABLE post_load_warnings (entity text NOT NULL, legacy_id text NOT NULL, "
      "column_name text NULL, reason text NOT NULL) ON COMMIT DROP",
      c.QuoteIdent(ctx.schema), ctx.run_id, out.since_run, ctx.capture ? run : std::string())));
  const std::string& body =
      ctx.incremental && !step.incremental_sql.empty() ? step.incremental_sql : step.sql;
  {
    MM_ASSIGN_OR_RETURN(pg::QueryResult r, c.Query(body));
    out.rows = r.AffectedRows();
  }
  // A warning must name an entity, so that it is counted and reported with it.
  std::string entities = "{";
  for (const spec::EntitySpec& e : ctx.spec->entities) {
    entities += (entities.size() > 1 ? "," : "") + e.name;
  }
  entities += "}";
  {
    MM_ASSIGN_OR_RETURN(
        pg::QueryResult r,
        c.Query("SELECT DISTINCT entity FROM pg_temp.post_load_warnings "
                "WHERE NOT (entity = ANY ($1::text[])) ORDER BY 1 LIMIT 3",
                {entities}));
    if (r.rows() > 0) {
      return Status::InvalidArgument(fmt::format(
          "its statement reports warnings of '{}', which is not an entity of spec {}: a "
          "post_load_warnings row names the entity whose legacy id it carries",
          r.Get(0, 0), ctx.spec->name));
    }
  }
  // Replace what an earlier execution in this run recorded (a resume), and
  // move the entities' counters by the difference.
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult moved,
      c.Query("WITH old AS ("
              "  DELETE FROM medmigrate.warnings WHERE run_id = $1::bigint AND detail = $2::text "
              "  RETURNING entity"
              "), new AS ("
              "  INSERT INTO medmigrate.warnings (run_id, entity, legacy_id, column_name, reason, "
              "                                   detail)"
              "  SELECT DISTINCT $1::bigint, w.entity, w.legacy_id, w.column_name, w.reason, "
              "         $2::text"
              "    FROM pg_temp.post_load_warnings w"
              "  RETURNING entity"
              "), delta AS ("
              "  SELECT entity, sum(d)::bigint AS d, count(*) FILTER (WHERE d > 0) AS n"
              "    FROM (SELECT entity, 1 AS d FROM new UNION ALL SELECT entity, -1 FROM old) x"
              "   GROUP BY entity"
              "), counted AS ("
              "  UPDATE medmigrate.run_entities e SET warnings = e.warnings + delta.d"
              "    FROM delta WHERE e.run_id = $1::bigint AND e.entity = delta.entity"
              "     AND delta.d <> 0"
              ")"
              "SELECT entity, d, n FROM delta ORDER BY entity",
              {run, phase}));
  for (int i = 0; i < moved.rows(); ++i) {
    if (moved.GetInt(i, 1) != 0) out.warnings_delta[std::string(moved.Get(i, 0))] = moved.GetInt(i, 1);
    out.warnings += moved.GetInt(i, 2);
  }
  // The step completed in this run: one phase row, written with its work.
  MM_RETURN_NOT_OK_PREPEND(
      c.Query("WITH gone AS (DELETE FROM medmigrate.phases WHERE run_id = $1::bigint AND "
              "name = $2::text) "
              "INSERT INTO medmigrate.phases (run_id, name, started_at, finished_at, rows_out) "
              "VALUES ($1::bigint, $2::text, $3::timestamptz, clock_timestamp(), $4::bigint)",
              {run, phase, *started, std::to_string(out.rows)})
          .status(),
      "record the phase");
  MM_RETURN_IF_ERROR(c.Commit());
  return out;
}

}  // namespace

Result<int64_t> PostLoadBase(pg::Connection& target, const std::string& step, int64_t run_id) {
  MM_ASSIGN_OR_RETURN(
      auto v,
      target.QueryValue(
          "SELECT coalesce("
          "  (SELECT max(p.run_id) FROM medmigrate.phases p"
          "     JOIN medmigrate.runs r ON r.id = p.run_id"
          "    WHERE p.name = $1 AND p.finished_at IS NOT NULL AND p.run_id < $2::bigint"
          "      AND NOT r.dry_run AND r.state <> 'rolled_back'),"
          "  CASE WHEN NOT EXISTS (SELECT 1 FROM medmigrate.phases WHERE name = $1)"
          "       THEN (SELECT max(id) FROM medmigrate.runs"
          "              WHERE id < $2::bigint AND state = 'succeeded' AND NOT dry_run) END,"
          "  0)",
          {"post_load." + step, std::to_string(run_id)}));
  return v ? std::stoll(*v) : 0;
}

Result<PostLoadOutcome> RunPostLoadStep(pg::Connection& target, const spec::PostLoadStep& step,
                                        const PostLoadContext& ctx) {
  Result<PostLoadOutcome> r = RunInTransaction(target, step, ctx);
  if (!r.ok() && target.is_open()) (void)target.Exec("ROLLBACK");
  return r;
}

}  // namespace medmigrate::pipeline
