// What the CLI's status, progress and list commands (and later the API) show
// of runs, read from the tracking schema, and their JSON form: one shape for
// every surface.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "pipeline/migration.h"
#include "track/run_store.h"

namespace medmigrate::pipeline {

struct RunReport {
  track::RunRecord run;
  std::vector<track::EntityCounts> entities;
  // read = loaded + rejected + merged (+ deleted) for every entity.
  bool Balanced() const;
};

struct LiveStatus {
  std::optional<int64_t> run_id;
  std::string state;  // idle or the run's state
  std::string phase;
  std::string entity;
  int64_t rows_done = 0;
  std::optional<int64_t> rows_total;
  double rows_per_second = 0;
  std::string updated_at;
  std::optional<RunReport> latest;  // the most recent run, when there is one
};

Result<RunReport> GetRunReport(const std::string& target_url, int64_t run_id);
Result<std::vector<track::RunRecord>> ListRuns(const std::string& target_url, int limit);
Result<LiveStatus> GetLiveStatus(const std::string& target_url);

nlohmann::json ToJson(const RunReport& r);
nlohmann::json ToJson(const track::RunRecord& r);
nlohmann::json ToJson(const LiveStatus& s);
nlohmann::json ToJson(const MigrationSummary& s);

}  // namespace medmigrate::pipeline
