#include "track/run_store.h"

#include <unistd.h>

#include <fmt/format.h>

#include "common/db_url.h"

namespace medmigrate::track {

namespace {

std::string PgArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ",";
    out += "\"";
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += "\"";
  }
  return out + "}";
}

std::vector<std::string> ParsePgArray(std::string_view s) {
  std::vector<std::string> out;
  if (s.size() < 2) return out;
  std::string cur;
  bool quoted = false;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    char c = s[i];
    if (c == '"') {
      quoted = !quoted;
    } else if (c == '\\' && i + 2 < s.size()) {
      cur += s[++i];
    } else if (c == ',' && !quoted) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty() || s.size() > 2) out.push_back(cur);
  return out;
}

std::optional<std::string> Text(std::optional<int64_t> v) {
  if (!v) return std::nullopt;
  return std::to_string(*v);
}

std::optional<std::string> TextOrNull(const std::string& v) {
  if (v.empty()) return std::nullopt;
  return v;
}

constexpr const char* kRunColumns =
    "id, type, state, dry_run, entities, options::text, coalesce(spec_name, ''), "
    "coalesce(spec_checksum, ''), created_at::text, started_at::text, finished_at::text, "
    "to_char(coalesce(started_at, created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), "
    "extract(epoch FROM coalesce(finished_at, now()) - coalesce(started_at, created_at)), "
    "error, resumed_from";

RunRecord ReadRun(const pg::QueryResult& r, int row) {
  RunRecord run;
  run.id = r.GetInt(row, 0);
  run.type = r.Get(row, 1);
  run.state = r.Get(row, 2);
  run.dry_run = r.Get(row, 3) == "t";
  run.entities = ParsePgArray(r.Get(row, 4));
  run.options = nlohmann::json::parse(r.Get(row, 5), nullptr, false);
  run.spec_name = r.Get(row, 6);
  run.spec_checksum = r.Get(row, 7);
  run.created_at = r.Get(row, 8);
  run.started_at = r.GetOptional(row, 9);
  run.finished_at = r.GetOptional(row, 10);
  run.started_date = r.Get(row, 11);
  run.seconds = r.IsNull(row, 12) ? 0 : std::stod(std::string(r.Get(row, 12)));
  run.error = r.GetOptional(row, 13);
  if (!r.IsNull(row, 14)) run.resumed_from = r.GetInt(row, 14);
  return run;
}

}  // namespace

EntityCounts EntityCounts::Total(const std::vector<EntityCounts>& entities) {
  EntityCounts t;
  for (const EntityCounts& e : entities) {
    t.read += e.read;
    t.loaded += e.loaded;
    t.rejected += e.rejected;
    t.merged += e.merged;
    t.warnings += e.warnings;
    t.inserted += e.inserted;
    t.updated += e.updated;
    t.unchanged += e.unchanged;
    t.deleted += e.deleted;
  }
  return t;
}

nlohmann::json EntityCounts::ToJson() const {
  return {{"entity", entity},     {"state", state},         {"read", read},
          {"loaded", loaded},     {"rejected", rejected},   {"merged", merged},
          {"warnings", warnings}, {"inserted", inserted},   {"updated", updated},
          {"unchanged", unchanged}, {"deleted", deleted},   {"seconds", seconds}};
}

Result<int64_t> RunStore::CreateRun(const std::string& type, bool dry_run,
                                    const std::vector<std::string>& entities,
                                    const nlohmann::json& options, const std::string& spec_name,
                                    const std::string& spec_checksum,
                                    std::optional<int64_t> resumed_from) {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  MM_ASSIGN_OR_RETURN(
      auto id,
      conn_->QueryValue(
          "INSERT INTO medmigrate.runs (type, dry_run, entities, options, spec_name, "
          "spec_checksum, resumed_from, host, pid, created_by) "
          "VALUES ($1, $2, $3::text[], $4::jsonb, $5, $6, $7, $8, $9, 'cli') RETURNING id",
          {type, dry_run ? "true" : "false", PgArray(entities), options.dump(), spec_name,
           spec_checksum,
           Text(resumed_from),
           std::string(host), std::to_string(getpid())}));
  return std::stoll(*id);
}

Status RunStore::StartRun(int64_t run, const std::string& snapshot_id) {
  return conn_
      ->Query("UPDATE medmigrate.runs SET state = 'running', started_at = coalesce(started_at, "
              "now()), snapshot_id = $2, error = NULL, finished_at = NULL, pid = $3 WHERE id = $1",
              {std::to_string(run), snapshot_id, std::to_string(getpid())})
      .status();
}

Status RunStore::FinishRun(int64_t run, const std::string& state, const std::string& error) {
  return conn_
      ->Query("UPDATE medmigrate.runs SET state = $2, finished_at = now(), error = $3 WHERE id = $1",
              {std::to_string(run), state, TextOrNull(MaskUrl(error))})
      .status();
}

Status RunStore::MarkInterrupted(int64_t run) {
  return conn_
      ->Query("UPDATE medmigrate.runs SET state = 'interrupted' WHERE id = $1 AND state = 'running'",
              {std::to_string(run)})
      .status();
}

Result<RunRecord> RunStore::GetRun(int64_t run) {
  MM_ASSIGN_OR_RETURN(pg::QueryResult r,
                      conn_->Query(fmt::format("SELECT {} FROM medmigrate.runs WHERE id = $1",
                                               kRunColumns),
                                   {std::to_string(run)}));
  if (r.rows() == 0) {
    return Status::NotFound(fmt::format("run {} does not exist ('medmigrate list' shows the runs)", run));
  }
  return ReadRun(r, 0);
}

Result<std::vector<RunRecord>> RunStore::ListRuns(int limit) {
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query(fmt::format("SELECT {} FROM medmigrate.runs ORDER BY id DESC LIMIT $1",
                               kRunColumns),
                   {std::to_string(limit)}));
  std::vector<RunRecord> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(ReadRun(r, i));
  return out;
}

Result<std::optional<RunRecord>> RunStore::LatestRun(const std::string& state) {
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query(fmt::format("SELECT {} FROM medmigrate.runs WHERE ($1 = '' OR state = $1) "
                               "ORDER BY id DESC LIMIT 1",
                               kRunColumns),
                   {state}));
  if (r.rows() == 0) return std::optional<RunRecord>();
  return std::optional<RunRecord>(ReadRun(r, 0));
}

Status RunStore::InitEntity(int64_t run, const std::string& entity) {
  return conn_
      ->Query("INSERT INTO medmigrate.run_entities (run_id, entity) VALUES ($1, $2) "
              "ON CONFLICT DO NOTHING",
              {std::to_string(run), entity})
      .status();
}

Status RunStore::SetEntityState(int64_t run, const std::string& entity, const std::string& state) {
  return conn_
      ->Query("UPDATE medmigrate.run_entities SET state = $3, "
              "started_at = CASE WHEN $3 = 'running' THEN coalesce(started_at, now()) "
              "ELSE started_at END, "
              "finished_at = CASE WHEN $3 IN ('succeeded', 'failed', 'skipped') THEN now() "
              "ELSE NULL END WHERE run_id = $1 AND entity = $2",
              {std::to_string(run), entity, state})
      .status();
}

Result<std::vector<EntityCounts>> RunStore::Entities(int64_t run) {
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query("SELECT entity, state, read, loaded, rejected, merged, warnings, inserted, "
                   "updated, unchanged, deleted, coalesce(extract(epoch FROM coalesce(finished_at, "
                   "now()) - started_at), 0) FROM medmigrate.run_entities WHERE run_id = $1 "
                   "ORDER BY started_at NULLS LAST, entity",
                   {std::to_string(run)}));
  std::vector<EntityCounts> out;
  for (int i = 0; i < r.rows(); ++i) {
    EntityCounts e;
    e.entity = r.Get(i, 0);
    e.state = r.Get(i, 1);
    e.read = r.GetInt(i, 2);
    e.loaded = r.GetInt(i, 3);
    e.rejected = r.GetInt(i, 4);
    e.merged = r.GetInt(i, 5);
    e.warnings = r.GetInt(i, 6);
    e.inserted = r.GetInt(i, 7);
    e.updated = r.GetInt(i, 8);
    e.unchanged = r.GetInt(i, 9);
    e.deleted = r.GetInt(i, 10);
    e.seconds = std::stod(std::string(r.Get(i, 11)));
    out.push_back(std::move(e));
  }
  return out;
}

Status RunStore::PlanChunk(int64_t run, const std::string& entity, const Checkpoint& c) {
  return conn_
      ->Query("INSERT INTO medmigrate.checkpoints (run_id, entity, chunk, last_key, lo_key, "
              "hi_key, rows, done) VALUES ($1, $2, $3, $4, $6, $5, 0, false) "
              "ON CONFLICT (run_id, entity, chunk) DO NOTHING",
              {std::to_string(run), entity, std::to_string(c.chunk), std::to_string(c.last_key),
               Text(c.hi),
               std::to_string(c.lo)})
      .status();
}

Result<std::map<std::string, std::vector<Checkpoint>>> RunStore::Checkpoints(int64_t run) {
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query("SELECT entity, chunk, lo_key, hi_key, last_key, done "
                   "FROM medmigrate.checkpoints WHERE run_id = $1 ORDER BY entity, chunk",
                   {std::to_string(run)}));
  std::map<std::string, std::vector<Checkpoint>> out;
  for (int i = 0; i < r.rows(); ++i) {
    Checkpoint c;
    c.chunk = static_cast<int>(r.GetInt(i, 1));
    c.lo = r.GetInt(i, 2);
    if (!r.IsNull(i, 3)) c.hi = r.GetInt(i, 3);
    c.last_key = std::stoll(std::string(r.Get(i, 4)));
    c.done = r.Get(i, 5) == "t";
    out[std::string(r.Get(i, 0))].push_back(c);
  }
  return out;
}

Status RunStore::MarkChunkDone(int64_t run, const std::string& entity, int chunk) {
  return conn_
      ->Query("UPDATE medmigrate.checkpoints SET done = true WHERE run_id = $1 AND entity = $2 "
              "AND chunk = $3",
              {std::to_string(run), entity, std::to_string(chunk)})
      .status();
}

Status RunStore::AddEvent(std::optional<int64_t> run, const std::string& level,
                          const std::string& phase, const std::string& entity,
                          const std::string& message, const nlohmann::json& data) {
  return conn_
      ->Query("INSERT INTO medmigrate.events (run_id, level, phase, entity, message, data) "
              "VALUES ($1, $2, nullif($3, ''), nullif($4, ''), $5, $6::jsonb)",
              // No password reaches the tracking schema, whatever spelled it.
              {Text(run), level, phase, entity, MaskUrl(message),
               data.is_null() ? std::nullopt : std::optional<std::string>(MaskUrl(data.dump()))})
      .status();
}

Status RunStore::UpdateLiveStatus(std::optional<int64_t> run, const std::string& state,
                                  const std::string& phase, const std::string& entity,
                                  int64_t rows_done, std::optional<int64_t> rows_total,
                                  double rows_per_second) {
  return conn_
      ->Query("UPDATE medmigrate.live_status SET run_id = $1, state = $2, phase = nullif($3, ''), "
              "entity = nullif($4, ''), rows_done = $5, rows_total = $6, rows_per_second = $7, "
              "updated_at = now()",
              {Text(run), state, phase,
               entity, std::to_string(rows_done),
               Text(rows_total),
               fmt::format("{:.1f}", rows_per_second)})
      .status();
}

Result<std::map<std::string, std::map<std::string, int64_t>>> RunStore::ReasonCounts(
    int64_t run, bool rejects) {
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query(fmt::format("SELECT entity, reason, count(*) FROM medmigrate.{} WHERE run_id = "
                               "$1 GROUP BY 1, 2 ORDER BY 1, 2",
                               rejects ? "rejects" : "warnings"),
                   {std::to_string(run)}));
  std::map<std::string, std::map<std::string, int64_t>> out;
  for (int i = 0; i < r.rows(); ++i) {
    out[std::string(r.Get(i, 0))][std::string(r.Get(i, 1))] = r.GetInt(i, 2);
  }
  return out;
}

}  // namespace medmigrate::track
