// The run report (`medmigrate report RUN`): what a run did, gathered once from
// the tracking schema (run, per-entity counts, rejects and warnings grouped by
// reason, the latest validation, throughput over time) and rendered as
// Markdown, JSON (docs/report-schema.json) or one self-contained HTML file
// (inline CSS and SVG, no external assets).
//
// No patient data: only legacy ids, entity and column names, counts, reason
// codes and timings are read, so nothing else can be rendered (DESIGN
// principle 7).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "pipeline/run_queries.h"
#include "validate/validation.h"

namespace medmigrate::report {

// Rejects or warnings of one entity, column and reason.
struct ReasonGroup {
  std::string entity;
  std::string column;  // "" when the row as a whole is at fault
  std::string reason;
  int64_t count = 0;
  std::vector<std::string> examples;  // legacy ids, at most 5
};

// Rows per second in [t - width, t), t in seconds since the run started.
struct ThroughputPoint {
  double t = 0;
  double rows_per_second = 0;
};

struct RunReportData {
  pipeline::RunReport run;
  std::vector<ReasonGroup> rejects;
  std::vector<ReasonGroup> warnings;
  std::optional<validate::ValidationResult> validation;
  // From the chunks' commit times: each chunk's rows spread evenly from its
  // entity's start to the chunk's last commit (the tracking schema keeps one
  // checkpoint per chunk, not one per batch).
  std::vector<ThroughputPoint> throughput;
  std::string generated_at;  // UTC, ISO 8601
};

Result<RunReportData> LoadRunReport(const std::string& target_url, int64_t run_id);

std::string RenderMarkdown(const RunReportData& r);
nlohmann::json RenderJson(const RunReportData& r);
std::string RenderHtml(const RunReportData& r);

// "md", "json" or "html"; InvalidArgument otherwise.
Result<std::string> Render(const RunReportData& r, const std::string& format);

}  // namespace medmigrate::report
