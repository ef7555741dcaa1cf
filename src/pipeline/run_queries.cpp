#include "pipeline/run_queries.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pg/connection.h"
#include "track/run_lock.h"

namespace medmigrate::pipeline {

namespace {

Result<pg::Connection> OpenTracking(const std::string& url) {
  MM_ASSIGN_OR_RETURN(pg::Connection c, pg::Connection::Open(url, "target database"));
  MM_ASSIGN_OR_RETURN(auto t, c.QueryValue("SELECT to_regclass('medmigrate.runs')::text"));
  if (!t) {
    return Status::FailedPrecondition(
        "the target has no tracking schema: run 'medmigrate init' first");
  }
  // Never show `running` for a run whose process is gone (killed, or its
  // lock connection lost): no session holds the lock, so it is interrupted.
  // A reader without write access still gets its answer.
  Result<int64_t> marked = track::MarkAbandonedRuns(c);
  if (!marked.ok()) spdlog::debug("could not mark abandoned runs: {}", marked.status().message());
  return c;
}

bool Balanced(const std::vector<track::EntityCounts>& entities) {
  for (const auto& e : entities) {
    if (e.read != e.loaded + e.rejected + e.merged) return false;
  }
  return true;
}

}  // namespace

bool RunReport::Balanced() const { return pipeline::Balanced(entities); }

Result<RunReport> GetRunReport(const std::string& target_url, int64_t run_id) {
  MM_ASSIGN_OR_RETURN(pg::Connection c, OpenTracking(target_url));
  track::RunStore store(&c);
  RunReport r;
  MM_ASSIGN_OR_RETURN(r.run, store.GetRun(run_id));
  MM_ASSIGN_OR_RETURN(r.entities, store.Entities(run_id));
  return r;
}

Result<std::vector<track::RunRecord>> ListRuns(const std::string& target_url, int limit) {
  MM_ASSIGN_OR_RETURN(pg::Connection c, OpenTracking(target_url));
  track::RunStore store(&c);
  return store.ListRuns(limit);
}

Result<LiveStatus> GetLiveStatus(const std::string& target_url) {
  MM_ASSIGN_OR_RETURN(pg::Connection c, OpenTracking(target_url));
  MM_ASSIGN_OR_RETURN(pg::QueryResult r,
                      c.Query("SELECT run_id, state, coalesce(phase, ''), coalesce(entity, ''), "
                              "rows_done, rows_total, coalesce(rows_per_second, 0), "
                              "updated_at::text FROM medmigrate.live_status"));
  LiveStatus s;
  if (r.rows() > 0) {
    if (!r.IsNull(0, 0)) s.run_id = r.GetInt(0, 0);
    s.state = r.Get(0, 1);
    s.phase = r.Get(0, 2);
    s.entity = r.Get(0, 3);
    s.rows_done = r.GetInt(0, 4);
    if (!r.IsNull(0, 5)) s.rows_total = r.GetInt(0, 5);
    s.rows_per_second = std::stod(std::string(r.Get(0, 6)));
    s.updated_at = r.Get(0, 7);
  }
  track::RunStore store(&c);
  MM_ASSIGN_OR_RETURN(auto latest, store.LatestRun());
  if (latest) {
    RunReport rep;
    rep.run = *latest;
    MM_ASSIGN_OR_RETURN(rep.entities, store.Entities(latest->id));
    s.latest = rep;
  }
  return s;
}

nlohmann::json ToJson(const track::RunRecord& r) {
  nlohmann::json j = {{"run_id", r.id},
                      {"type", r.type},
                      {"state", r.state},
                      {"dry_run", r.dry_run},
                      {"entities_requested", r.entities},
                      {"spec", r.spec_name},
                      {"created_at", r.created_at},
                      {"started_at", r.started_at ? nlohmann::json(*r.started_at) : nullptr},
                      {"finished_at", r.finished_at ? nlohmann::json(*r.finished_at) : nullptr},
                      {"seconds", r.seconds},
                      {"error", r.error ? nlohmann::json(*r.error) : nullptr},
                      {"resumed_from", r.resumed_from ? nlohmann::json(*r.resumed_from) : nullptr}};
  return j;
}

nlohmann::json ToJson(const RunReport& r) {
  nlohmann::json j = ToJson(r.run);
  j["entities"] = nlohmann::json::array();
  int64_t read = 0;
  for (const auto& e : r.entities) {
    j["entities"].push_back(e.ToJson());
    read += e.read;
  }
  j["rows_read"] = read;
  j["rows_per_second"] = r.run.seconds > 0 ? read / r.run.seconds : 0.0;
  j["balanced"] = r.Balanced();
  return j;
}

nlohmann::json ToJson(const LiveStatus& s) {
  nlohmann::json j = {{"run_id", s.run_id ? nlohmann::json(*s.run_id) : nullptr},
                      {"state", s.state},
                      {"phase", s.phase},
                      {"entity", s.entity},
                      {"rows_done", s.rows_done},
                      {"rows_total", s.rows_total ? nlohmann::json(*s.rows_total) : nullptr},
                      {"rows_per_second", s.rows_per_second},
                      {"updated_at", s.updated_at}};
  j["latest_run"] = s.latest ? ToJson(*s.latest) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json ToJson(const MigrationSummary& s) {
  nlohmann::json j = {{"run_id", s.run_id},   {"type", s.type},       {"state", s.state},
                      {"dry_run", s.dry_run}, {"seconds", s.seconds}, {"log_file", s.log_file},
                      {"error", s.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.error)}};
  j["entities"] = nlohmann::json::array();
  int64_t read = 0;
  for (const auto& e : s.entities) {
    j["entities"].push_back(e.ToJson());
    read += e.read;
  }
  j["rows_read"] = read;
  j["rows_per_second"] = s.seconds > 0 ? read / s.seconds : 0.0;
  j["balanced"] = Balanced(s.entities);
  j["validation"] = s.validation.empty()
                        ? nlohmann::json(nullptr)
                        : nlohmann::json{{"result", s.validation},
                                         {"validation_id", s.validation_id},
                                         {"failed_checks", s.validation_failed_checks},
                                         {"seconds", s.validation_seconds},
                                         {"error", s.validation_error.empty()
                                                       ? nlohmann::json(nullptr)
                                                       : nlohmann::json(s.validation_error)}};
  const MigrationSummary::Dedup& d = s.dedup;
  j["dedup"] = d.entity.empty() ? nlohmann::json(nullptr)
                                : nlohmann::json{{"entity", d.entity},
                                                 {"records", d.records},
                                                 {"matched", d.matched},
                                                 {"kept_model", d.kept_model},
                                                 {"candidate_pairs", d.candidate_pairs},
                                                 {"auto_merges", d.auto_merges},
                                                 {"added", d.added},
                                                 {"superseded", d.superseded},
                                                 {"review_pairs", d.review_pairs},
                                                 {"soft_deleted", d.soft_deleted},
                                                 {"seconds", d.seconds},
                                                 {"reused", d.reused}};
  return j;
}

}  // namespace medmigrate::pipeline
