// The tracking schema (medmigrate.*) seen from the engine and the CLI: runs,
// their per-entity counts, checkpoints, events and the live status row. The
// CLI, the API and the dashboard read the same tables (DESIGN principle 8).
// Batch-level writes (checkpoint, counters, rejects) happen inside the load
// transaction instead; see load/batch_loader.h.
//
// Threads: a RunStore uses one connection; one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "pg/connection.h"

namespace medmigrate::track {

struct RunRecord {
  int64_t id = 0;
  std::string type;   // full | incremental
  std::string state;  // pending | running | succeeded | failed | cancelled | interrupted | rolled_back
  bool dry_run = false;
  std::vector<std::string> entities;
  nlohmann::json options;
  std::string spec_name;
  std::string spec_checksum;
  std::string created_at;
  std::optional<std::string> started_at;
  std::optional<std::string> finished_at;
  std::string started_date;  // YYYY-MM-DD (UTC) of started_at, else of created_at
  double seconds = 0;        // finished - started, or now - started while running
  std::optional<std::string> error;
  std::optional<int64_t> resumed_from;
};

struct EntityCounts {
  std::string entity;
  std::string state;
  int64_t read = 0, loaded = 0, rejected = 0, merged = 0, warnings = 0;
  int64_t inserted = 0, updated = 0, unchanged = 0, deleted = 0;
  double seconds = 0;
  nlohmann::json ToJson() const;
  // The sum of every count of `entities` (state, name and seconds left empty).
  static EntityCounts Total(const std::vector<EntityCounts>& entities);
};

struct Checkpoint {
  int chunk = 0;
  int64_t lo = 0;               // exclusive lower bound of the chunk
  std::optional<int64_t> hi;    // inclusive upper bound; nullopt: unbounded
  int64_t last_key = 0;         // highest key committed
  bool done = false;
};

class RunStore {
 public:
  // "*conn" must outlive the store.
  explicit RunStore(pg::Connection* conn) : conn_(conn) {}

  Result<int64_t> CreateRun(const std::string& type, bool dry_run,
                            const std::vector<std::string>& entities, const nlohmann::json& options,
                            const std::string& spec_name, const std::string& spec_checksum,
                            std::optional<int64_t> resumed_from);
  Status StartRun(int64_t run, const std::string& snapshot_id);
  // Sets the final state; `error` is one line without patient data.
  Status FinishRun(int64_t run, const std::string& state, const std::string& error = {});
  // Runs marked running whose process is gone (their lock is free) become interrupted.
  Status MarkInterrupted(int64_t run);

  Result<RunRecord> GetRun(int64_t run);
  Result<std::vector<RunRecord>> ListRuns(int limit);
  Result<std::optional<RunRecord>> LatestRun(const std::string& state = {});

  Status InitEntity(int64_t run, const std::string& entity);
  Status SetEntityState(int64_t run, const std::string& entity, const std::string& state);
  Result<std::vector<EntityCounts>> Entities(int64_t run);

  // Creates a chunk's checkpoint row (idempotent) and reads all of a run's.
  Status PlanChunk(int64_t run, const std::string& entity, const Checkpoint& c);
  Result<std::map<std::string, std::vector<Checkpoint>>> Checkpoints(int64_t run);
  Status MarkChunkDone(int64_t run, const std::string& entity, int chunk);

  Status AddEvent(std::optional<int64_t> run, const std::string& level, const std::string& phase,
                  const std::string& entity, const std::string& message,
                  const nlohmann::json& data = nullptr);
  Status UpdateLiveStatus(std::optional<int64_t> run, const std::string& state,
                          const std::string& phase, const std::string& entity, int64_t rows_done,
                          std::optional<int64_t> rows_total, double rows_per_second);

  // Per-reason counts of a run's rejects and warnings: entity -> reason -> count.
  Result<std::map<std::string, std::map<std::string, int64_t>>> ReasonCounts(int64_t run,
                                                                             bool rejects);

 private:
  pg::Connection* conn_;
};

}  // namespace medmigrate::track
