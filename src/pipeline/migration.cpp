#include "pipeline/migration.h"
#include "pipeline/run_validation.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/copy_text.h"
#include "common/file.h"
#include "common/db_url.h"
#include "extract/legacy_reader.h"
#include "load/batch_loader.h"
#include "pg/connection.h"
#include "dedup/match_model.h"
#include "dedup/spill_file.h"
#include "pipeline/dedup_phase.h"
#include "pipeline/incremental.h"
#include "pipeline/post_load.h"
#include "schema/migrator.h"
#include "spec/spec_parser.h"
#include "track/run_lock.h"
#include "transform/row_transformer.h"

namespace medmigrate::pipeline {

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};


double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// One JSON object per line: the run's structured log (no patient data).
class RunLog {
 public:
  // A new run starts its file afresh; a resumed one appends to it.
  void Open(const std::string& path, bool append) {
    if (path.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    out_.open(path, append ? std::ios::app : std::ios::trunc);
    path_ = path;
  }
  void Write(const std::string& level, const std::string& event, nlohmann::json fields = {}) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!out_) return;
    if (!fields.is_object()) fields = nlohmann::json::object();
    auto now = std::chrono::system_clock::now();
    fields["at"] = fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(now)));
    fields["level"] = level;
    fields["event"] = event;
    out_ << MaskUrl(fields.dump()) << "\n";  // no password, whatever spelled it
    out_.flush();
  }
  const std::string& path() const { return path_; }

 private:
  std::mutex mu_;
  std::ofstream out_;
  std::string path_;
};

struct Chunk {
  std::string entity;
  track::Checkpoint checkpoint;
};

// State shared by the workers, guarded by mu.
struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Chunk> chunks;             // in plan order
  std::vector<bool> taken;
  std::map<std::string, int> open_chunks;  // entity -> chunks not finished
  std::set<std::string> complete;          // entities whose chunks all finished
  std::set<std::string> started;
  std::set<std::string> steps_done;
  Status error;                            // the first run-level fault
  int busy = 0;

  // Progress, read by the monitor.
  std::map<std::string, EntityProgress> progress;
  std::map<std::string, Clock::time_point> entity_start, entity_end;
};

struct RunContext {
  const MigrateOptions* options = nullptr;
  const spec::MappingSpec* spec = nullptr;
  std::vector<const spec::EntitySpec*> entities;  // selected, dependency order
  std::set<std::string> selected;
  int64_t run_id = 0;
  std::string schema = "public";
  std::string run_date;
  extract::SharedSnapshot* snapshot = nullptr;
  Shared* shared = nullptr;
  bool incremental = false;
  // Per entity: what an incremental run reads and soft-deletes (the watermark for every run).
  std::map<std::string, EntityChanges> changes;
  // Per hash-detected entity, incremental runs: (key, hash) as last loaded.
  std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> hashes;
  // Per target table: whether the run records before-images of its changes.
  std::map<std::string, bool> capture;
  // The merges in force (patient deduplication), for every transformer.
  transform::MergeMaps merges;
  // Incremental runs: records of the dedup entity whose merge was decided or
  // taken back since they were loaded (sorted); they and the rows that refer
  // to them through follow_merges references are read again.
  std::vector<int64_t> merge_changed;
  RunLog* log = nullptr;
  // Run before every COMMIT of the run's connections (track/run_lock.h).
  std::string commit_guard;
  Clock::time_point started = Clock::now();
};

// Whether the run lock is gone: its watcher saw the session die, or the
// session no longer holds it (asked on `control`, opened anew when the
// failure took it down too).
bool LockLost(const track::RunLock& lock, pg::Connection& control, const std::string& url) {
  const std::string sql = "SELECT " + track::RunLockHeldSql(lock.holder_pid());
  Result<std::optional<std::string>> held = control.QueryValue(sql);
  if (!held.ok()) {
    // The fault took the control connection down too: a new one, so that
    // the run's end is still recorded.
    Result<pg::Connection> fresh = pg::Connection::Open(url, "target database", "medmigrate control");
    if (!fresh.ok()) return lock.lost();  // the target is gone: say what failed, as it failed
    std::string guard = lock.CommitGuardSql();
    control = std::move(fresh).value();
    control.set_commit_guard(guard);
    held = control.QueryValue(sql);
    if (!held.ok()) return lock.lost();
  }
  return lock.lost() || !*held || **held != "t";
}

template <typename F>
Status WithRetries(const RunContext& ctx, const std::string& what, F&& attempt,
                   const std::function<Status()>& recover) {
  int delay_ms = 100;
  for (int i = 0;; ++i) {
    Status s = attempt();
    if (s.ok() || !pg::IsTransient(s) || i >= ctx.options->max_retries) {
      if (!s.ok() && pg::IsTransient(s)) {
        return s.Prepend(fmt::format("{}: retried {} times", what, i));
      }
      return s;
    }
    spdlog::warn("{}: {}; retrying in {} ms ({}/{})", what, s.message(), delay_ms, i + 1,
                 ctx.options->max_retries);
    ctx.log->Write("warn", "retry", {{"what", what}, {"attempt", i + 1}, {"error", s.message()}});
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    delay_ms = std::min(delay_ms * 2, 5000);
    Status r = recover();
    if (!r.ok() && !pg::IsTransient(r)) return r;
  }
}

// Opens a legacy reader in the run's snapshot, retrying a connection that the
// server drops while it is being set up (a restart, a terminated backend).
Result<extract::LegacyReader> OpenReader(const RunContext& ctx, const std::string& what) {
  std::optional<extract::LegacyReader> reader;
  Status s = WithRetries(
      ctx, what,
      [&]() -> Status {
        MM_ASSIGN_OR_RETURN(auto r, extract::LegacyReader::Open(ctx.options->legacy_url, ctx.snapshot));
        reader.emplace(std::move(r));
        return Status::Ok();
      },
      [] { return Status::Ok(); });
  if (!s.ok()) return s;
  return std::move(*reader);
}

// One worker: a legacy reader, a target connection, a transformer and loader per entity.
class Worker {
 public:
  explicit Worker(RunContext* ctx) : ctx_(ctx) {}

  Status Open() {
    MM_ASSIGN_OR_RETURN(auto reader, OpenReader(*ctx_, "worker.open"));
    reader_.emplace(std::move(reader));
    return ConnectTarget();
  }

  // Streams one chunk to its end (or until a stop is asked).
  Status RunChunk(Chunk& chunk) {
    const spec::EntitySpec& entity = *ctx_->spec->Find(chunk.entity);
    MM_ASSIGN_OR_RETURN(Stage * stage, StageFor(entity));
    int64_t last = chunk.checkpoint.last_key;
    capture_ = ctx_->capture.count(entity.name) && ctx_->capture.at(entity.name)
                   ? std::to_string(ctx_->run_id)
                   : "";
    MM_RETURN_IF_ERROR(WithRetries(
        *ctx_, "capture setting", [&] { return ApplyCapture(); }, [&] { return ConnectTarget(); }));
    const EntityChanges* changes = nullptr;
    if (auto it = ctx_->changes.find(entity.name); it != ctx_->changes.end() && it->second.keyed) {
      changes = &it->second;
    }
    const bool hashed = entity.changes == spec::ChangeDetection::kHash && !ctx_->options->dry_run;
    const std::vector<std::pair<int64_t, int64_t>>* stored = nullptr;
    if (auto it = ctx_->hashes.find(entity.name); it != ctx_->hashes.end()) stored = &it->second;
    stage->loader->set_record_hashes(hashed);
    // A key range the target does not hold yet (every first run) loads by
    // plain COPY; anything else goes through staging and upsert.
    bool direct = false;
    MM_RETURN_NOT_OK_PREPEND(WithRetries(
                                 *ctx_, "plan load of " + entity.name,
                                 [&]() -> Status {
                                   MM_ASSIGN_OR_RETURN(direct, stage->loader->RangeIsEmpty(
                                                                   last, chunk.checkpoint.hi));
                                   return Status::Ok();
                                 },
                                 [&] { return ConnectTarget(); }),
                             "load." + entity.name);
    stage->loader->set_direct(direct);
    while (!g_stop.load()) {
      std::string what = fmt::format("{} chunk {} after key {}", entity.name,
                                      chunk.checkpoint.chunk, last);
      // Keyed (incremental): the next keys of the change set in this chunk.
      std::span<const int64_t> keys;
      if (changes) {
        auto b = std::upper_bound(changes->keys.begin(), changes->keys.end(), last);
        auto e = chunk.checkpoint.hi
                     ? std::upper_bound(b, changes->keys.end(), *chunk.checkpoint.hi)
                     : changes->keys.end();
        size_t n = std::min<size_t>(static_cast<size_t>(e - b),
                                    static_cast<size_t>(ctx_->options->batch_size));
        if (n == 0) return Status::Ok();
        keys = std::span<const int64_t>(&*b, n);
      }
      MM_RETURN_NOT_OK_PREPEND(WithRetries(
                                   *ctx_, "read " + what,
                                   [&] {
                                     if (changes) {
                                       Status st = reader_->ReadKeys(entity, keys, &raw_);
                                       raw_.last_key = keys.back();
                                       return st;
                                     }
                                     return reader_->ReadBatch(entity, last, chunk.checkpoint.hi,
                                                               ctx_->options->batch_size, &raw_);
                                   },
                                   [&] { return reader_->Reconnect(); }),
                               "extract." + entity.name);
      if (raw_.rows() == 0 && !changes) return Status::Ok();
      stage->batch.Clear();
      int64_t taken = 0;
      for (size_t i = 0; i < raw_.rows(); ++i) {
        if (!ParseCopyTextLine(raw_.Row(i), &row_)) {
          return Status::DataLoss(fmt::format("extract.{}: a row after key {} is not valid COPY text",
                                              entity.name, last));
        }
        if (hashed) {
          int64_t key = 0;
          std::string_view k = row_.Get(0);
          std::from_chars(k.data(), k.data() + k.size(), key);
          int64_t h = RowHash(raw_.Row(i));
          if (stored) {
            auto it = std::lower_bound(stored->begin(), stored->end(),
                                       std::make_pair(key, INT64_MIN));
            if (it != stored->end() && it->first == key && it->second == h) continue;
          }
          stage->batch.hashes.emplace_back(key, h);
        }
        ++taken;
        MM_RETURN_IF_ERROR(stage->transformer->Transform(row_, stage->batch));
      }
      stage->batch.last_key = raw_.last_key;
      stage->batch.read = taken;
      load::BatchCounts counts;
      MM_RETURN_NOT_OK_PREPEND(
          WithRetries(
              *ctx_, "load " + what,
              [&]() -> Status {
                // A COMMIT sent but not acknowledged may have landed.
                MM_ASSIGN_OR_RETURN(bool done, stage->loader->AlreadyCommitted(
                                                   chunk.checkpoint.chunk, raw_.last_key));
                if (done) return Status::Ok();
                MM_ASSIGN_OR_RETURN(counts, stage->loader->Load(stage->batch, chunk.checkpoint.chunk));
                return Status::Ok();
              },
              [&] { return ConnectTarget(); }),
          "load." + entity.name);
      {
        std::lock_guard<std::mutex> lock(ctx_->shared->mu);
        EntityProgress& p = ctx_->shared->progress[entity.name];
        p.read += counts.read;
        p.loaded += counts.loaded;
        p.rejected += counts.rejected;
        p.merged += counts.merged;
        p.deleted += counts.deleted;
        p.warnings += counts.warnings;
      }
      last = raw_.last_key;
      if (!changes && raw_.rows() < static_cast<size_t>(ctx_->options->batch_size)) {
        return Status::Ok();
      }
    }
    return Status::Aborted("stopped");
  }

  // Runs a post-load step (pipeline/post_load.h) and adds the warnings it
  // recorded to the entities' live counts.
  Status RunStep(const spec::PostLoadStep& step) {
    PostLoadContext pc;
    pc.spec = ctx_->spec;
    pc.run_id = ctx_->run_id;
    pc.schema = ctx_->schema;
    pc.incremental = ctx_->incremental;
    for (const std::string& t : step.writes) {
      if (ctx_->capture.count(t) && ctx_->capture.at(t)) pc.capture = true;
    }
    const Clock::time_point t0 = Clock::now();
    std::optional<PostLoadOutcome> outcome;
    Status s = WithRetries(
        *ctx_, "post_load." + step.name,
        [&]() -> Status {
          MM_ASSIGN_OR_RETURN(PostLoadOutcome o, RunPostLoadStep(target_, step, pc));
          outcome = std::move(o);
          return Status::Ok();
        },
        [&] { return ConnectTarget(); });
    if (!s.ok()) {
      ctx_->log->Write("error", "post_load", {{"step", step.name},
                                              {"seconds", SecondsSince(t0)},
                                              {"error", s.message()}});
      return s;
    }
    {
      std::lock_guard<std::mutex> lock(ctx_->shared->mu);
      for (const auto& [entity, delta] : outcome->warnings_delta) {
        auto p = ctx_->shared->progress.find(entity);
        if (p != ctx_->shared->progress.end()) p->second.warnings += delta;
      }
    }
    nlohmann::json fields = {{"step", step.name},
                             {"seconds", SecondsSince(t0)},
                             {"rows", outcome->rows},
                             {"warnings", outcome->warnings}};
    if (ctx_->incremental) fields["since_run"] = outcome->since_run;
    ctx_->log->Write("info", "post_load", fields);
    if (outcome->warnings > 0) {
      track::RunStore store(&target_);
      (void)store.AddEvent(ctx_->run_id, "warn", "post_load", "",
                           fmt::format("post_load.{}: {} warnings (medmigrate.warnings, "
                                       "detail 'post_load.{}')",
                                       step.name, outcome->warnings, step.name));
    }
    return Status::Ok();
  }

  pg::Connection& target() { return target_; }

  // Soft-deletes what left the source (incremental runs, and full runs over
  // earlier ones), once the entity's chunks are loaded. Safe to repeat: rows
  // already soft-deleted are left alone, so a resumed run applies it again.
  Result<DeleteCounts> Deletes(const spec::EntitySpec& entity) {
    auto it = ctx_->changes.find(entity.name);
    static const std::vector<int64_t> kNone;
    const std::vector<int64_t>& vanished = it == ctx_->changes.end() ? kNone : it->second.vanished;
    DeleteCounts counts;
    MM_RETURN_IF_ERROR(WithRetries(
        *ctx_, "delete." + entity.name,
        [&]() -> Status {
          MM_ASSIGN_OR_RETURN(counts, ApplyDeletes(target_, entity, vanished, ctx_->run_id,
                                                   ctx_->schema));
          return Status::Ok();
        },
        [&] { return ConnectTarget(); }));
    return counts;
  }

  // Frees an entity's transformer, loader and batch buffers: a worker holds
  // one entity's worth of memory at a time, however many entities it serves.
  void ReleaseStage(const std::string& entity) {
    stages_.erase(entity);
    raw_.data.shrink_to_fit();
  }

 private:
  struct Stage {
    std::unique_ptr<transform::RowTransformer> transformer;
    std::unique_ptr<load::BatchLoader> loader;
    load::TransformedBatch batch;
  };

  // The session's medmigrate.capture_run: the run while loading a captured table.
  Status ApplyCapture() {
    return target_.Exec(fmt::format("SET medmigrate.capture_run = '{}'", capture_));
  }

  Status ConnectTarget() {
    MM_ASSIGN_OR_RETURN(target_, pg::Connection::Open(ctx_->options->target_url, "target database",
                                                      "medmigrate loader"));
    target_.set_commit_guard(ctx_->commit_guard);
    MM_RETURN_IF_ERROR(target_.Exec("SET synchronous_commit = off"));
    MM_RETURN_IF_ERROR(ApplyCapture());
    // Every reference a batch writes was checked in SQL in the same
    // transaction (load/batch_loader.h), and no one else writes the target
    // while we hold the run lock, so the foreign keys' per-row triggers only
    // repeat that check, at most of the load's cost. Skip them where allowed
    // (superuser, like pg_restore does); elsewhere (e.g. Supabase) they run.
    // `medmigrate validate` checks every foreign key after the load.
    if (!target_.Exec("SET session_replication_role = replica").ok()) {
      spdlog::debug("target: foreign key triggers stay on during the load (not a superuser)");
    }
    // Temporary staging tables died with the old connection: prepare anew.
    for (auto& [name, stage] : stages_) {
      bool direct = stage->loader && stage->loader->direct();
      stage->loader = std::make_unique<load::BatchLoader>(&target_, stage->transformer.get(),
                                                          ctx_->schema, ctx_->run_id);
      stage->loader->set_direct(direct);
    }
    return Status::Ok();
  }

  Result<Stage*> StageFor(const spec::EntitySpec& entity) {
    auto it = stages_.find(entity.name);
    if (it != stages_.end()) return it->second.get();
    auto stage = std::make_unique<Stage>();
    MM_ASSIGN_OR_RETURN(auto t, transform::RowTransformer::Create(
                                    *ctx_->spec, entity,
                                    transform::TransformContext{ctx_->run_date, &ctx_->merges}));
    stage->transformer = std::make_unique<transform::RowTransformer>(std::move(t));
    stage->loader = std::make_unique<load::BatchLoader>(&target_, stage->transformer.get(),
                                                        ctx_->schema, ctx_->run_id);
    Stage* raw = stage.get();
    stages_[entity.name] = std::move(stage);
    return raw;
  }

  RunContext* ctx_;
  std::optional<extract::LegacyReader> reader_;
  pg::Connection target_;
  std::map<std::string, std::unique_ptr<Stage>> stages_;
  extract::RawBatch raw_;
  CopyRow row_;
  std::string capture_;
};

bool DependenciesComplete(const RunContext& ctx, const spec::EntitySpec& e) {
  for (const std::string& d : e.depends_on) {
    if (ctx.selected.count(d) && !ctx.shared->complete.count(d)) return false;
  }
  return true;
}

// Post-load steps whose entities are all complete (or not part of this run),
// and that concern at least one entity of this run. Called with mu held.
std::vector<const spec::PostLoadStep*> ReadySteps(RunContext& ctx) {
  std::vector<const spec::PostLoadStep*> out;
  if (ctx.options->dry_run) return out;
  for (const spec::PostLoadStep& s : ctx.spec->post_load) {
    if (ctx.shared->steps_done.count(s.name)) continue;
    bool concerns = false, ready = true;
    for (const std::string& a : s.after) {
      if (!ctx.selected.count(a)) continue;
      concerns = true;
      if (!ctx.shared->complete.count(a)) ready = false;
    }
    if (concerns && ready) {
      ctx.shared->steps_done.insert(s.name);
      out.push_back(&s);
    }
  }
  return out;
}

void WorkerLoop(RunContext& ctx) {
  Shared& sh = *ctx.shared;
  Worker worker(&ctx);
  Status opened = worker.Open();
  if (!opened.ok()) {
    std::lock_guard<std::mutex> lock(sh.mu);
    if (sh.error.ok()) sh.error = opened;
    sh.cv.notify_all();
    return;
  }
  track::RunStore store(&worker.target());
  while (true) {
    size_t pick = SIZE_MAX;
    {
      std::unique_lock<std::mutex> lock(sh.mu);
      while (true) {
        if (!sh.error.ok() || g_stop.load()) return;
        bool all_taken = true;
        for (size_t i = 0; i < sh.chunks.size(); ++i) {
          if (sh.taken[i]) continue;
          all_taken = false;
          const spec::EntitySpec& e = *ctx.spec->Find(sh.chunks[i].entity);
          if (DependenciesComplete(ctx, e)) {
            pick = i;
            break;
          }
        }
        if (pick != SIZE_MAX) break;
        if (all_taken && sh.busy == 0) return;
        if (all_taken) {
          // Nothing left to take; others are finishing.
          sh.cv.wait_for(lock, std::chrono::milliseconds(200));
          if (sh.busy == 0) return;
          continue;
        }
        sh.cv.wait_for(lock, std::chrono::milliseconds(200));
      }
      sh.taken[pick] = true;
      ++sh.busy;
    }
    Chunk& chunk = sh.chunks[pick];
    const std::string& entity = chunk.entity;
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(sh.mu);
      first = sh.started.insert(entity).second;
      if (first) {
        sh.progress[entity].state = "running";
        sh.entity_start[entity] = Clock::now();
      }
    }
    if (first) {
      (void)store.SetEntityState(ctx.run_id, entity, "running");
      ctx.log->Write("info", "entity_started", {{"entity", entity}});
    }
    Status s = worker.RunChunk(chunk);
    worker.ReleaseStage(entity);
    if (s.ok()) s = store.MarkChunkDone(ctx.run_id, entity, chunk.checkpoint.chunk);
    bool last_chunk = false;
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(sh.mu);
      last_chunk = --sh.open_chunks[entity] == 0;
    }
    auto changes = ctx.changes.find(entity);
    if (s.ok() && last_chunk && changes != ctx.changes.end() && changes->second.deletes) {
      Result<DeleteCounts> d = worker.Deletes(*ctx.spec->Find(entity));
      if (d.ok()) {
        std::lock_guard<std::mutex> lock(sh.mu);
        sh.progress[entity].deleted += d->deleted;
        sh.progress[entity].warnings += d->warnings;
      } else {
        s = d.status().Prepend("delete." + entity);
      }
    }
    std::vector<const spec::PostLoadStep*> steps;
    bool entity_done = false;
    {
      std::lock_guard<std::mutex> lock(sh.mu);
      --sh.busy;
      if (!s.ok()) {
        if (sh.error.ok() && !(s.code() == StatusCode::kAborted && g_stop.load())) sh.error = s;
        sh.progress[entity].state = "failed";
      } else if (last_chunk) {
        entity_done = true;
        sh.complete.insert(entity);
        sh.progress[entity].state = "succeeded";
        sh.entity_end[entity] = Clock::now();
        steps = ReadySteps(ctx);
      }
      sh.cv.notify_all();
    }
    if (!s.ok()) {
      (void)store.SetEntityState(ctx.run_id, entity, "failed");
      return;
    }
    if (entity_done) {
      // Fresh tables have no statistics yet: the steps and entities that read
      // this one next (reference probes, post-load SQL) need them to plan well.
      Status analyzed = worker.target().Exec(fmt::format(
          "ANALYZE {}.{}", worker.target().QuoteIdent(ctx.schema), worker.target().QuoteIdent(entity)));
      if (!analyzed.ok()) spdlog::warn("ANALYZE {}: {}", entity, analyzed.message());
      (void)store.SetEntityState(ctx.run_id, entity, "succeeded");
      ctx.log->Write("info", "entity_finished", {{"entity", entity}});
    }
    for (const spec::PostLoadStep* step : steps) {
      Status st = worker.RunStep(*step);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(sh.mu);
        if (sh.error.ok()) sh.error = st.Prepend("post_load." + step->name);
        sh.cv.notify_all();
        return;
      }
    }
  }
}

Result<spec::MappingSpec> LoadSpec(const MigrateOptions& o) {
  if (o.spec_path.empty()) return spec::DefaultSpec();
  return spec::LoadSpecFile(o.spec_path);
}

// Entities to migrate, in dependency order; refuses a subset whose
// dependencies are neither selected nor already in the target.
Result<std::vector<const spec::EntitySpec*>> SelectEntities(const spec::MappingSpec& spec,
                                                            const std::vector<std::string>& names,
                                                            pg::Connection& target) {
  std::vector<const spec::EntitySpec*> out;
  std::set<std::string> wanted(names.begin(), names.end());
  for (const std::string& n : names) {
    if (!spec.Find(n)) {
      std::string all;
      for (const auto& e : spec.entities) all += (all.empty() ? "" : ", ") + e.name;
      return Status::InvalidArgument(
          fmt::format("--entities: '{}' is not an entity of spec {} (entities: {})", n, spec.name, all));
    }
  }
  for (const spec::EntitySpec& e : spec.entities) {
    if (wanted.empty() || wanted.count(e.name)) out.push_back(&e);
  }
  if (wanted.empty()) return out;
  for (const spec::EntitySpec* e : out) {
    for (const std::string& d : e->depends_on) {
      if (wanted.count(d)) continue;
      MM_ASSIGN_OR_RETURN(auto any, target.QueryValue(fmt::format(
                                        "SELECT EXISTS (SELECT 1 FROM public.{})", target.QuoteIdent(d))));
      if (!any || *any != "t") {
        return Status::FailedPrecondition(fmt::format(
            "--entities: {} depends on {}, which is not in the target yet: add {} to --entities "
            "or migrate it first",
            e->name, d, d));
      }
    }
  }
  return out;
}

Status CreateDryRunSchema(pg::Connection& target, const RunContext& ctx) {
  std::string sql = fmt::format("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0};",
                                target.QuoteIdent(ctx.schema));
  for (const spec::EntitySpec& e : ctx.spec->entities) {
    sql += fmt::format("CREATE TABLE {0}.{1} (LIKE public.{1} INCLUDING ALL);",
                       target.QuoteIdent(ctx.schema), target.QuoteIdent(e.name));
  }
  return target.Exec(sql);
}

// The run's progress now; also the entity in progress, rows read and rows
// expected, when asked.
Progress Snapshot(RunContext& ctx, std::string* current, int64_t* done, int64_t* total) {
  Progress p;
  p.run_id = ctx.run_id;
  p.seconds = SecondsSince(ctx.started);
  std::lock_guard<std::mutex> lock(ctx.shared->mu);
  for (const spec::EntitySpec* e : ctx.entities) {
    EntityProgress ep = ctx.shared->progress[e->name];
    if (current && ep.state == "running") *current = e->name;
    auto st = ctx.shared->entity_start.find(e->name);
    if (st != ctx.shared->entity_start.end()) {
      auto en = ctx.shared->entity_end.find(e->name);
      Clock::time_point end = en == ctx.shared->entity_end.end() ? Clock::now() : en->second;
      ep.seconds = std::chrono::duration<double>(end - st->second).count();
    }
    if (done) *done += ep.read;
    if (total) *total += std::max<int64_t>(ep.total, 0);
    p.entities.push_back(ep);
  }
  return p;
}

// Incremental runs: the records whose merge changed since they were loaded,
// and the rows that refer to them through a follow_merges reference, join
// the entity's change set (their references now point elsewhere).
Status AddMergeChanges(const RunContext& ctx, extract::LegacyReader& reader,
                       const spec::EntitySpec& e, EntityChanges* changes) {
  const std::string& dedup_entity = ctx.spec->dedup.entity;
  std::vector<int64_t> extra;
  if (e.name == dedup_entity) {
    extra = ctx.merge_changed;
  } else if (!e.explode) {
    std::string list;
    for (int64_t k : ctx.merge_changed) list += (list.empty() ? "" : ",") + std::to_string(k);
    std::string where;
    for (const spec::ColumnSpec& c : e.columns) {
      if (c.kind != spec::ColumnSpec::Kind::kReference || !c.follow_merges ||
          c.ref_entity != dedup_entity || c.source.empty()) {
        continue;
      }
      // Untyped array: it takes the column's type (see LegacyReader::ReadKeys).
      where += fmt::format("{}src.\"{}\" = ANY('{{{}}}')", where.empty() ? "" : " OR ",
                           c.source, list);
    }
    if (where.empty()) return Status::Ok();
    MM_RETURN_IF_ERROR(reader.BeginKeys(e, where));
    for (int64_t k; true;) {
      MM_ASSIGN_OR_RETURN(bool more, reader.NextKey(&k));
      if (!more) break;
      extra.push_back(k);
    }
  }
  if (extra.empty()) return Status::Ok();
  std::vector<int64_t> merged;
  merged.reserve(changes->keys.size() + extra.size());
  std::set_union(changes->keys.begin(), changes->keys.end(), extra.begin(), extra.end(),
                 std::back_inserter(merged));
  changes->keys = std::move(merged);
  return Status::Ok();
}

// Watermarks for every run; for incremental runs also what each entity reads
// and soft-deletes, and the row hashes of hash-detected entities. Several
// entities at once, each thread with its own reader and target connection.
Status FindAllChanges(RunContext& ctx) {
  const MigrateOptions& o = *ctx.options;
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first_error;
  auto work = [&] {
    auto fail = [&](const Status& s) {
      std::lock_guard<std::mutex> lock(mu);
      if (first_error.ok()) first_error = s;
    };
    Result<extract::LegacyReader> reader = OpenReader(ctx, "plan.open");
    if (!reader.ok()) return fail(reader.status());
    pg::Connection target;
    auto connect = [&]() -> Status {
      MM_ASSIGN_OR_RETURN(target, pg::Connection::Open(o.target_url, "target database",
                                                       "medmigrate planner"));
      return Status::Ok();
    };
    if (Status s = connect(); !s.ok()) return fail(s);
    for (size_t i; (i = next++) < ctx.entities.size();) {
      const spec::EntitySpec& e = *ctx.entities[i];
      const spec::EntitySpec& source = e.explode ? *ctx.spec->Find(e.explode->parent) : e;
      EntityChanges changes;
      std::vector<std::pair<int64_t, int64_t>> hashes;
      Status s = WithRetries(
          ctx, "plan." + e.name,
          [&]() -> Status {
            ChangeQuery q;
            q.incremental = ctx.incremental;
            q.full_deletes = !ctx.options->dry_run;
            q.overlap_seconds = o.overlap_seconds;
            if (ctx.incremental && !e.updated_at.empty()) {
              MM_ASSIGN_OR_RETURN(q.previous_watermark, PreviousWatermark(target, e.name));
            }
            MM_ASSIGN_OR_RETURN(changes, FindChanges(*reader, target, e, source, q));
            if (changes.keyed && !ctx.merge_changed.empty()) {
              MM_RETURN_IF_ERROR(AddMergeChanges(ctx, *reader, e, &changes));
            }
            if (ctx.incremental && e.changes == spec::ChangeDetection::kHash) {
              MM_ASSIGN_OR_RETURN(hashes, LoadRowHashes(target, e.name));
            }
            return Status::Ok();
          },
          [&]() -> Status {
            MM_RETURN_IF_ERROR(reader->Reconnect());
            return connect();
          });
      if (!s.ok()) return fail(s.Prepend(e.name));
      std::lock_guard<std::mutex> lock(mu);
      ctx.changes[e.name] = std::move(changes);
      if (ctx.incremental && e.changes == spec::ChangeDetection::kHash) {
        ctx.hashes[e.name] = std::move(hashes);
      }
    }
  };
  std::vector<std::thread> threads;
  size_t n = std::min<size_t>(static_cast<size_t>(o.max_concurrency), ctx.entities.size());
  for (size_t i = 0; i < std::max<size_t>(n, 1); ++i) threads.emplace_back(work);
  for (std::thread& t : threads) t.join();
  return first_error;
}

}  // namespace

void RequestStop() { g_stop.store(true); }

Result<MigrationSummary> RunMigration(const MigrateOptions& o) {
  g_stop.store(false);
  if (o.type != "full" && o.type != "incremental") {
    return Status::InvalidArgument(
        fmt::format("--type '{}' is not a run type: use full or incremental", o.type));
  }
  if (o.overlap_seconds < 0 || o.overlap_seconds > 7 * 86400) {
    return Status::InvalidArgument("--overlap-seconds must be from 0 to 604800 (a week)");
  }
  if (o.batch_size < 1 || o.batch_size > 1000000) {
    return Status::InvalidArgument("--batch-size must be from 1 to 1000000 rows");
  }
  if (o.max_concurrency < 1 || o.max_concurrency > 64) {
    return Status::InvalidArgument("--max-concurrency must be from 1 to 64");
  }
  std::optional<std::string> dedup_model;
  if (!o.dedup_model_path.empty()) {
    Result<std::string> text = ReadFile(o.dedup_model_path);
    if (!text.ok()) return text.status().Prepend("--dedup-model");
    std::string error;
    if (!dedup::MatchModel::FromJson(*text, 0, &error)) {
      return Status::InvalidArgument(fmt::format(
          "--dedup-model {}: not a dedup model ('medmigrate dedup model' writes one): {}",
          o.dedup_model_path, error));
    }
    dedup_model = std::move(text).value();
  }
  if (!o.spill_dir.empty()) {
    try {
      dedup::SpillFile probe(o.spill_dir);
    } catch (const std::system_error& e) {
      return Status::InvalidArgument(fmt::format("--spill-dir: {}", e.what()));
    }
  }

  if (o.max_retries < 0 || o.max_retries > 100) {
    return Status::InvalidArgument("--max-retries must be from 0 to 100");
  }
  MM_ASSIGN_OR_RETURN(spec::MappingSpec spec, LoadSpec(o));
  MM_ASSIGN_OR_RETURN(pg::Connection control,
                      pg::Connection::Open(o.target_url, "target database", "medmigrate control"));
  MM_ASSIGN_OR_RETURN(auto tracking, control.QueryValue("SELECT to_regclass('medmigrate.runs')::text"));
  if (!tracking) {
    return Status::FailedPrecondition(
        "the target has no tracking schema: run 'medmigrate init' first");
  }
  {
    // A target set up by an older medmigrate: its tracking tables lack what
    // this one records.
    MM_ASSIGN_OR_RETURN(std::vector<schema::Migration> available, schema::EmbeddedMigrations());
    MM_ASSIGN_OR_RETURN(std::vector<schema::MigrationState> states,
                        schema::ListMigrationStates(control, available));
    std::string pending;
    for (const schema::MigrationState& m : states) {
      if (m.scope == schema::SchemaScope::kTracking &&
          m.kind == schema::MigrationState::Kind::kPending) {
        pending += (pending.empty() ? "" : ", ") + m.path;
      }
    }
    if (!pending.empty()) {
      return Status::FailedPrecondition(fmt::format(
          "the target's tracking schema is older than this medmigrate (not applied: {}): run "
          "'medmigrate init' to bring it up to date",
          pending));
    }
  }
  // One active run per target, across processes and hosts (track/run_lock.h).
  MM_ASSIGN_OR_RETURN(std::unique_ptr<track::RunLock> run_lock,
                      track::RunLock::TryAcquire(o.target_url));
  track::RunStore store(&control);
  if (!run_lock) {
    MM_ASSIGN_OR_RETURN(auto active, store.LatestRun("running"));
    return Status::FailedPrecondition(fmt::format(
        "another migration is running on this target{}: wait for it to finish",
        active ? fmt::format(" (run {}, started {})", active->id, active->started_at.value_or("?"))
               : ""));
  }
  // We hold the lock: a run still marked running died without saying so.
  MM_RETURN_IF_ERROR(track::MarkAbandonedRuns(control, run_lock->holder_pid()).status());
  // From here every write of the run commits only while the lock holds, and
  // losing it stops the run at once (it ends interrupted, resumable).
  control.set_commit_guard(run_lock->CommitGuardSql());
  run_lock->Watch([] {
    spdlog::error("the connection holding the run lock was lost: stopping the run");
    RequestStop();
  });

  RunContext ctx;
  ctx.options = &o;
  ctx.spec = &spec;
  std::vector<std::string> names = o.entities;
  bool dry_run = o.dry_run;
  if (o.resume) {
    MM_ASSIGN_OR_RETURN(track::RunRecord prior, store.GetRun(*o.resume));
    if (prior.state != "interrupted" && prior.state != "failed") {
      return Status::FailedPrecondition(fmt::format(
          "run {} is {}: only an interrupted or failed run can be resumed", prior.id, prior.state));
    }
    if (prior.spec_checksum != spec.checksum) {
      return Status::FailedPrecondition(fmt::format(
          "run {} used another mapping spec (checksum {}…, now {}…): resume it with the same spec, "
          "or start a new run",
          prior.id, prior.spec_checksum.substr(0, 12), spec.checksum.substr(0, 12)));
    }
    names = prior.entities;
    dry_run = prior.dry_run;
    ctx.run_id = prior.id;
  }
  if (dry_run && (o.type == "incremental")) {
    return Status::InvalidArgument(
        "--dry-run works with --type full only: an incremental run's changes are found against "
        "the target it would write");
  }
  MM_ASSIGN_OR_RETURN(ctx.entities, SelectEntities(spec, names, control));
  for (const auto* e : ctx.entities) ctx.selected.insert(e->name);
  ctx.incremental = o.type == "incremental";
  if (o.resume) {
    MM_ASSIGN_OR_RETURN(track::RunRecord prior, store.GetRun(*o.resume));
    ctx.incremental = prior.type == "incremental";
  }
  if (ctx.incremental) {
    // Changes are found against what a succeeded run loaded.
    for (const spec::EntitySpec* e : ctx.entities) {
      MM_ASSIGN_OR_RETURN(bool loaded, EverLoaded(control, e->name));
      if (!loaded) {
        return Status::FailedPrecondition(fmt::format(
            "incremental: {} has no succeeded full migration to continue from: run "
            "'medmigrate migrate --type full' first",
            e->name));
      }
    }
  }

  // A legacy database that cannot be reached is one line, before any run is
  // recorded (not a failed run with a table of zeros).
  {
    Result<pg::Connection> legacy =
        pg::Connection::Open(o.legacy_url, "legacy database", "medmigrate preflight");
    if (!legacy.ok()) return legacy.status();
  }
  nlohmann::json opts = {{"batch_size", o.batch_size},
                         {"overlap_seconds", o.overlap_seconds},
                         {"max_concurrency", o.max_concurrency},
                         {"max_retries", o.max_retries},
                         {"legacy", MaskUrl(o.legacy_url)},
                         {"spec_path", o.spec_path}};
  if (!o.resume) {
    MM_ASSIGN_OR_RETURN(ctx.run_id, store.CreateRun(o.type, dry_run, names, opts, spec.name,
                                                    spec.checksum, std::nullopt));
  }
  if (!dry_run) {
    // Before-images for rollback: the tables this run may write.
    std::vector<std::string> tables;
    for (const spec::EntitySpec* e : ctx.entities) tables.push_back(e->name);
    for (const spec::PostLoadStep& st : spec.post_load) {
      for (const std::string& t : st.writes) {
        if (std::find(tables.begin(), tables.end(), t) == tables.end()) tables.push_back(t);
      }
    }
    Result<std::map<std::string, bool>> capture =
        PrepareCapture(control, tables, ctx.run_id, ctx.incremental);
    if (!capture.ok()) {
      (void)store.FinishRun(ctx.run_id, "failed", capture.status().message());
      return capture.status().Prepend("capture");
    }
    ctx.capture = std::move(capture).value();
  }
  MigrateOptions effective = o;
  effective.dry_run = dry_run;
  ctx.options = &effective;

  RunLog log;
  // Run ids count per target database: the file name says which one.
  if (!o.log_dir.empty()) {
    log.Open(fmt::format("{}/{}-run-{}.jsonl", o.log_dir, control.dbname(), ctx.run_id),
             o.resume.has_value());
  }
  ctx.log = &log;
  ctx.commit_guard = run_lock->CommitGuardSql();
  MigrationSummary summary;
  summary.run_id = ctx.run_id;
  // A resumed run keeps its own type, whatever --type says.
  const std::string run_type = ctx.incremental ? "incremental" : "full";
  summary.type = run_type;
  summary.dry_run = dry_run;
  summary.log_file = log.path();

  // From here on, a failure ends the run as failed, with its message recorded.
  auto finish = [&](std::string state, const Status& why) -> Result<MigrationSummary> {
    std::string error = why.ok() ? "" : why.message();
    // Whatever failed after the lock was lost (a phase on a terminated
    // connection, a batch refused by the commit guard) failed because of it.
    if (state != "succeeded" && LockLost(*run_lock, control, o.target_url)) {
      state = "interrupted";
      error = fmt::format(
          "the connection holding the run lock was lost, so the run stopped and wrote nothing "
          "after: resume it with 'medmigrate migrate --resume {}'{}",
          ctx.run_id, error.empty() ? "" : fmt::format(" (then: {})", error));
    }
    (void)store.FinishRun(ctx.run_id, state, error);
    (void)store.AddEvent(ctx.run_id, state == "succeeded" ? "info" : "error", "run", "",
                         fmt::format("run {} {}", ctx.run_id, state),
                         error.empty() ? nlohmann::json(nullptr) : nlohmann::json{{"error", error}});
    if (!run_lock->lost()) {
      // Without the lock, the live row may be another run's by now.
      (void)store.UpdateLiveStatus(ctx.run_id, state, "", "", 0, std::nullopt, 0);
    }
    if (dry_run) {
      (void)control.Exec(fmt::format("DROP SCHEMA IF EXISTS {} CASCADE",
                                     control.QuoteIdent(ctx.schema)));
    }
    log.Write(state == "succeeded" ? "info" : "error", "run_finished",
              {{"run", ctx.run_id}, {"state", state}, {"error", error}});
    summary.state = state;
    summary.error = error;
    MM_ASSIGN_OR_RETURN(track::RunRecord rec, store.GetRun(ctx.run_id));
    summary.seconds = rec.seconds;
    MM_ASSIGN_OR_RETURN(summary.entities, store.Entities(ctx.run_id));
    return summary;
  };

  std::unique_ptr<extract::SharedSnapshot> snapshot;
  {
    Result<std::unique_ptr<extract::SharedSnapshot>> s = extract::SharedSnapshot::Export(o.legacy_url);
    if (!s.ok()) return finish("failed", s.status().Prepend("extract"));
    snapshot = std::move(s).value();
  }
  ctx.snapshot = snapshot.get();
  MM_RETURN_IF_ERROR(store.StartRun(ctx.run_id, snapshot->id()));
  {
    MM_ASSIGN_OR_RETURN(track::RunRecord rec, store.GetRun(ctx.run_id));
    ctx.run_date = rec.started_date;
  }
  log.Write("info", "run_started", {{"run", ctx.run_id}, {"type", run_type}, {"dry_run", dry_run},
                                    {"resumed", o.resume.has_value()}, {"spec", spec.name},
                                    {"options", opts}});
  (void)store.AddEvent(ctx.run_id, "info", "run", "",
                       fmt::format("run {} {}", ctx.run_id, o.resume ? "resumed" : "started"));
  if (dry_run) {
    ctx.schema = fmt::format("medmigrate_dry_run_{}", ctx.run_id);
    Status s = CreateDryRunSchema(control, ctx);
    if (!s.ok()) return finish("failed", s.Prepend("dry run"));
  }

  // Dedup: decide which records merge before any of them loads; then every
  // transformer sees the merges in force.
  const std::string& dedup_entity = spec.dedup.entity;
  if (!dedup_entity.empty() && ctx.selected.count(dedup_entity)) {
    Result<extract::LegacyReader> reader = OpenReader(ctx, "dedup.open");
    if (!reader.ok()) return finish("failed", reader.status().Prepend("dedup"));
    DedupPhaseOptions dopt;
    dopt.run_id = ctx.run_id;
    dopt.dry_run = dry_run;
    dopt.incremental = ctx.incremental;
    dopt.model_json = dedup_model;
    dopt.spill_dir = o.spill_dir;
    log.Write("info", "dedup_started", {{"entity", dedup_entity}});
    std::optional<DedupPhaseResult> phase;
    Status matched = WithRetries(
        ctx, "dedup." + dedup_entity,
        [&]() -> Status {
          MM_ASSIGN_OR_RETURN(DedupPhaseResult r, RunDedupPhase(*reader, control, spec, dopt));
          phase = r;
          return Status::Ok();
        },
        [&] { return reader->Reconnect(); });
    if (!matched.ok()) return finish("failed", matched.Prepend("dedup." + dedup_entity));
    MigrationSummary::Dedup& sd = summary.dedup;
    sd.entity = dedup_entity;
    sd.records = phase->records;
    sd.candidate_pairs = phase->candidate_pairs;
    sd.matched = phase->matched;
    sd.kept_model = phase->kept_model;
    sd.auto_merges = phase->auto_merges;
    sd.added = phase->added;
    sd.superseded = phase->superseded;
    sd.review_pairs = phase->review_pairs;
    sd.seconds = phase->seconds;
    sd.reused = phase->reused;
    log.Write("info", "dedup_finished",
              {{"entity", dedup_entity}, {"records", sd.records},
               {"candidate_pairs", sd.candidate_pairs}, {"matched", sd.matched},
               {"kept_model", sd.kept_model}, {"auto_merges", sd.auto_merges},
               {"added", sd.added}, {"superseded", sd.superseded},
               {"review_pairs", sd.review_pairs}, {"seconds", sd.seconds}, {"reused", sd.reused}});
    (void)store.AddEvent(ctx.run_id, "info", "dedup", dedup_entity,
                         fmt::format("{}: {} records merged automatically, {} pairs to review",
                                     dedup_entity, sd.auto_merges, sd.review_pairs));
  }
  {
    Result<transform::MergeMaps> merges =
        LoadMergeMaps(control, dry_run ? std::optional<int64_t>(ctx.run_id) : std::nullopt);
    if (!merges.ok()) return finish("failed", merges.status().Prepend("dedup"));
    ctx.merges = std::move(merges).value();
    if (ctx.incremental && !dedup_entity.empty() && ctx.selected.count(dedup_entity)) {
      Result<std::vector<int64_t>> changed =
          MergeChangedRecords(control, dedup_entity, ctx.schema, ctx.run_id);
      if (!changed.ok()) return finish("failed", changed.status().Prepend("dedup"));
      ctx.merge_changed = std::move(changed).value();
    }
  }

  // Plan: every entity's chunks, recorded before any data moves.
  Shared shared;
  ctx.shared = &shared;
  {
    Result<extract::LegacyReader> planner = OpenReader(ctx, "plan.open");
    if (!planner.ok()) return finish("failed", planner.status().Prepend("plan"));
    Result<std::map<std::string, std::vector<track::Checkpoint>>> existing =
        store.Checkpoints(ctx.run_id);
    if (!existing.ok()) return finish("failed", existing.status());
    const Clock::time_point plan_t0 = Clock::now();
    Status found = FindAllChanges(ctx);
    if (!found.ok()) return finish("failed", found.Prepend("plan"));
    const double changes_seconds = SecondsSince(plan_t0);
    for (const spec::EntitySpec* e : ctx.entities) {
      const spec::EntitySpec& source =
          e->explode ? *spec.Find(e->explode->parent) : *e;
      const EntityChanges& changes = ctx.changes[e->name];
      extract::KeyRange range_value;
      if (changes.keyed) {
        range_value.rows = static_cast<int64_t>(changes.keys.size());
      } else {
        Status planned = WithRetries(
            ctx, "plan." + e->name,
            [&]() -> Status {
              MM_ASSIGN_OR_RETURN(range_value, planner->Range(source));
              return Status::Ok();
            },
            [&] { return planner->Reconnect(); });
        if (!planned.ok()) return finish("failed", planned.Prepend("plan." + e->name));
      }
      const extract::KeyRange* range = &range_value;
      EntityProgress& p = shared.progress[e->name];
      p.entity = e->name;
      p.state = "pending";
      // Exploded child rows are not known until read.
      p.total = e->explode ? -1 : range->rows;
      (void)store.InitEntity(ctx.run_id, e->name);
      if (changes.watermark) {
        // A resumed run keeps its first snapshot's: later changes are read next time.
        (void)control.Query(
            "UPDATE medmigrate.run_entities SET watermark = coalesce(watermark, $3) "
            "WHERE run_id = $1 AND entity = $2",
            {std::to_string(ctx.run_id), e->name, *changes.watermark});
      }
      std::vector<track::Checkpoint> plan = (*existing)[e->name];
      if (plan.empty() && changes.keyed) {
        // Chunks of about equal numbers of changed keys.
        const std::vector<int64_t>& keys = changes.keys;
        int64_t per_chunk = std::max<int64_t>(int64_t{o.batch_size} * 2, 1);
        int64_t n = std::clamp<int64_t>(static_cast<int64_t>(keys.size()) / per_chunk, 1,
                                        o.max_concurrency * 2);
        int64_t size = static_cast<int64_t>(keys.size());
        for (int64_t i = 0; i < n; ++i) {
          track::Checkpoint c;
          c.chunk = static_cast<int>(i);
          int64_t b = size * i / n;
          c.lo = b == 0 ? (keys.empty() ? 0 : keys.front() - 1) : keys[static_cast<size_t>(b - 1)];
          c.last_key = c.lo;
          if (i + 1 < n) c.hi = keys[static_cast<size_t>(size * (i + 1) / n - 1)];
          Status s = store.PlanChunk(ctx.run_id, e->name, c);
          if (!s.ok()) return finish("failed", s);
          plan.push_back(c);
        }
      } else if (plan.empty()) {
        int64_t per_chunk = std::max<int64_t>(int64_t{o.batch_size} * 2, 1);
        int64_t n = std::clamp<int64_t>(range->rows / per_chunk, 1, o.max_concurrency * 2);
        int64_t lo = range->min - 1;
        int64_t span = range->max - lo;
        for (int64_t i = 0; i < n; ++i) {
          track::Checkpoint c;
          c.chunk = static_cast<int>(i);
          c.lo = lo + span * i / n;
          c.last_key = c.lo;
          if (i + 1 < n) c.hi = lo + span * (i + 1) / n;
          Status s = store.PlanChunk(ctx.run_id, e->name, c);
          if (!s.ok()) return finish("failed", s);
          plan.push_back(c);
        }
      } else {
        // Resuming: what was committed counts already.
        Result<std::vector<track::EntityCounts>> counts = store.Entities(ctx.run_id);
        if (counts.ok()) {
          for (const auto& c : *counts) {
            if (c.entity == e->name) {
              p.read = c.read;
              p.loaded = c.loaded;
              p.rejected = c.rejected;
              p.merged = c.merged;
              p.warnings = c.warnings;
              p.deleted = c.deleted;
            }
          }
        }
      }
      int open = 0;
      for (const track::Checkpoint& c : plan) {
        if (c.done) continue;
        shared.chunks.push_back(Chunk{e->name, c});
        ++open;
      }
      shared.open_chunks[e->name] = open;
      if (open == 0 && changes.deletes) {
        // Resuming after the entity's last chunk: the run may have stopped
        // before its deletes committed.
        Result<DeleteCounts> d = ApplyDeletes(control, *e, changes.vanished, ctx.run_id, ctx.schema);
        if (!d.ok()) return finish("failed", d.status().Prepend("delete." + e->name));
        p.deleted += d->deleted;
        p.warnings += d->warnings;
      }
      if (open == 0) {
        shared.complete.insert(e->name);
        p.state = "succeeded";
        // It may have failed after its last chunk (its deletes) last time.
        Status marked = store.SetEntityState(ctx.run_id, e->name, "succeeded");
        if (!marked.ok()) return finish("failed", marked);
      }
    }
    shared.taken.assign(shared.chunks.size(), false);
    // Where an incremental run's time goes before any row moves.
    int64_t keys = 0, vanished = 0;
    for (const auto& [name, c] : ctx.changes) {
      keys += static_cast<int64_t>(c.keys.size());
      vanished += static_cast<int64_t>(c.vanished.size());
    }
    log.Write("info", "plan_finished",
              {{"seconds", SecondsSince(plan_t0)}, {"changes_seconds", changes_seconds},
               {"changed_keys", keys}, {"vanished_keys", vanished},
               {"chunks", shared.chunks.size()}});
  }
  // Steps whose entities were all complete before a resume.
  std::vector<const spec::PostLoadStep*> early_steps;
  {
    std::lock_guard<std::mutex> lock(shared.mu);
    early_steps = ReadySteps(ctx);
  }

  // Monitor: live status row and the caller's progress display.
  std::atomic<bool> monitor_done{false};
  std::thread monitor([&] {
    Result<pg::Connection> mc =
        pg::Connection::Open(o.target_url, "target database", "medmigrate monitor");
    std::optional<track::RunStore> ms;
    if (mc.ok()) ms.emplace(&*mc);
    int64_t last_done = 0;
    auto last_t = Clock::now();
    while (!monitor_done.load()) {
      std::string current;
      int64_t done = 0, total = 0;
      Progress p = Snapshot(ctx, &current, &done, &total);
      if (o.on_progress) o.on_progress(p);
      double dt = SecondsSince(last_t);
      if (ms && dt >= 1.0) {
        double rate = (done - last_done) / dt;
        (void)ms->UpdateLiveStatus(ctx.run_id, "running", current.empty() ? "" : "load." + current,
                                   current, done, total, rate);
        last_done = done;
        last_t = Clock::now();
      }
      for (int i = 0; i < 5 && !monitor_done.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  });

  Status run_error;
  for (const spec::PostLoadStep* step : early_steps) {
    Worker w(&ctx);
    Status s = w.Open();
    if (s.ok()) s = w.RunStep(*step);
    if (!s.ok()) {
      run_error = s.Prepend("post_load." + step->name);
      break;
    }
  }
  if (run_error.ok()) {
    std::vector<std::thread> workers;
    int n = std::max(1, std::min<int>(o.max_concurrency, static_cast<int>(shared.chunks.size())));
    for (int i = 0; i < n; ++i) workers.emplace_back([&] { WorkerLoop(ctx); });
    for (std::thread& t : workers) t.join();
    run_error = shared.error;
  }
  monitor_done.store(true);
  monitor.join();
  if (o.on_progress) o.on_progress(Snapshot(ctx, nullptr, nullptr, nullptr));
  if (snapshot->renewals() > 0) {
    (void)store.AddEvent(ctx.run_id, "warn", "extract", "",
                         "the legacy snapshot was lost and taken anew: entities read before and "
                         "after it were read as of two instants");
  }
  if (run_error.ok() && !dry_run && !g_stop.load() && !dedup_entity.empty() &&
      shared.complete.count(dedup_entity)) {
    // Records loaded by earlier runs and merged since: their references were
    // redirected by this run, so their rows can go.
    bool captured = ctx.capture.count(dedup_entity) && ctx.capture.at(dedup_entity);
    static const transform::MergeMap kNone;
    auto m = ctx.merges.find(dedup_entity);
    Result<int64_t> gone =
        SoftDeleteMerged(control, dedup_entity, m == ctx.merges.end() ? kNone : m->second,
                         ctx.schema, ctx.run_id, captured);
    if (!gone.ok()) {
      run_error = gone.status().Prepend("dedup." + dedup_entity);
    } else {
      summary.dedup.soft_deleted = *gone;
      if (*gone > 0) {
        (void)store.AddEvent(ctx.run_id, "info", "dedup", dedup_entity,
                             fmt::format("{}: {} rows loaded earlier and merged since were "
                                         "soft-deleted",
                                         dedup_entity, *gone));
      }
    }
  }
  if (!run_error.ok()) return finish("failed", run_error);
  if (g_stop.load() || shared.complete.size() < ctx.entities.size()) {
    return finish("interrupted", Status::Aborted("stopped before the end: resume with --resume " +
                                                 std::to_string(ctx.run_id)));
  }
  Result<MigrationSummary> done = finish("succeeded", Status::Ok());
  if (done.ok() && !dry_run && o.validate) {
    ValidateAfterRun(o, spec, snapshot->id(), &*done);
  }
  return done;
}

}  // namespace medmigrate::pipeline
