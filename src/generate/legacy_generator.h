// `medmigrate generate`: creates the legacy MDW schema (the embedded copy of
// shared/legacy/mdw_schema.sql) in a database and fills it with realistic,
// dirty, deterministic data (legacy_model.h), streamed through COPY on several
// connections at once, then writes the ground truth (ground_truth.h) beside it.
// docs/design/generator.md has the scales, rates and truth format.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "generate/ground_truth.h"
#include "generate/legacy_tables.h"
#include "generate/scale.h"
#include "pg/connection.h"

namespace medmigrate::generate {

enum class GeneratePhase { kSchema, kLoad, kConstraints, kAnalyze, kDone };

// Live counters for a progress display. Written by the generator's workers,
// read by any thread (relaxed atomics: the numbers are for people).
struct GenerateProgress {
  std::array<std::atomic<int64_t>, kTableCount> rows{};
  std::array<int64_t, kTableCount> expected{};  // set before the load starts
  std::array<std::atomic<bool>, kTableCount> done{};
  std::atomic<GeneratePhase> phase{GeneratePhase::kSchema};
};

struct GenerateOptions {
  std::string url;  // the legacy database (must exist)
  Scale scale = Scale::kSmall;
  uint64_t seed = 1;
  // Drop the MDW tables when the database already has some; otherwise refuse.
  bool replace = false;
  int jobs = 3;  // tables loaded at once, each on its own connection
  // Where the ground truth goes; empty: "<database name>.truth.json" in the
  // working folder.
  std::string truth_path;
};

struct GenerateSummary {
  std::string database;
  std::string truth_path;
  std::array<int64_t, kTableCount> rows{};
  int64_t total_rows = 0;
  double load_seconds = 0;   // COPY of all tables
  double total_seconds = 0;  // schema to ANALYZE
};

// Generates the legacy database. FailedPrecondition, naming the tables found,
// when the database already has MDW tables and `replace` is false. Foreign
// keys, primary keys and indexes are dropped for the load and re-created with
// their exact definitions, so the catalog equals the contract afterwards.
// `progress` may be null.
Result<GenerateSummary> GenerateLegacy(const GenerateOptions& options,
                                       GenerateProgress* progress = nullptr);

// The MDW tables (kTables names) present in the connected database's schema.
Result<std::vector<std::string>> ExistingLegacyTables(pg::Connection& conn);

}  // namespace medmigrate::generate
