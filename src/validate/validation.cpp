#include "validate/validation.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "spec/spec_parser.h"
#include "track/run_lock.h"
#include "validate/checks.h"

namespace medmigrate::validate {

namespace {

using Task = std::function<Result<std::vector<CheckResult>>()>;

// The run lock of src/pipeline/migration.cpp ('mmig'): one migration per
// target. A validation on its own takes it too, so no run changes the target
// while it is compared (the end-of-run validation runs under the run's own).
using track::kRunLockKey;

struct Slot {
  int entity_order = 0;  // the spec's order; -1 for run-wide checks
  Task task;
  Result<std::vector<CheckResult>> result = Status::Internal("not run");
};

Result<spec::MappingSpec> LoadRunSpec(const ValidateOptions& o, const track::RunRecord& run) {
  std::string path = o.spec_path;
  if (path.empty() && run.options.is_object() && run.options.contains("spec_path") &&
      run.options["spec_path"].is_string()) {
    path = run.options["spec_path"].get<std::string>();
  }
  MM_ASSIGN_OR_RETURN(spec::MappingSpec s,
                      path.empty() ? spec::DefaultSpec() : spec::LoadSpecFile(path));
  if (!run.spec_checksum.empty() && s.checksum != run.spec_checksum) {
    return Status::FailedPrecondition(fmt::format(
        "run {} used another mapping spec (checksum {}…, this one {}…): pass --spec with the "
        "file the run used",
        run.id, run.spec_checksum.substr(0, 12), s.checksum.substr(0, 12)));
  }
  return s;
}

std::string PgArray(const std::vector<std::string>& v, const pg::Connection& c) {
  std::string out = "ARRAY[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + c.QuoteLiteral(v[i]);
  return out + "]::text[]";
}

Status StoreChecks(pg::Connection& c, int64_t validation_id, int64_t run_id,
                   const std::vector<CheckResult>& checks) {
  MM_RETURN_IF_ERROR(c.BeginCopyIn(
      "COPY medmigrate.validation_checks (validation_id, run_id, kind, check_name, entity, "
      "severity, passed, checked, failures, examples, details, seconds) FROM STDIN"));
  std::string buf;
  for (const CheckResult& r : checks) {
    std::string examples = "{";
    for (size_t i = 0; i < r.examples.size(); ++i) {
      examples += (i ? "," : "") + std::string("\"");
      for (char ch : r.examples[i]) {
        if (ch == '"' || ch == '\\') examples += '\\';
        examples += ch;
      }
      examples += "\"";
    }
    examples += "}";
    std::vector<std::string> fields = {std::to_string(validation_id),
                                       std::to_string(run_id),
                                       r.kind,
                                       r.check,
                                       r.entity,
                                       r.severity,
                                       r.passed ? "t" : "f",
                                       std::to_string(r.checked),
                                       std::to_string(r.failures),
                                       examples,
                                       r.details.dump(),
                                       fmt::format("{:.3f}", r.seconds)};
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i) buf += '\t';
      AppendCopyTextEscaped(fields[i], &buf);
    }
    buf += '\n';
  }
  MM_RETURN_IF_ERROR(c.PutCopyData(buf));
  return c.EndCopyIn().status();
}

}  // namespace

int64_t ValidationResult::FailedChecks() const {
  return std::count_if(checks.begin(), checks.end(),
                       [](const CheckResult& c) { return !c.passed; });
}

Result<ValidationResult> ValidateRun(const ValidateOptions& o) {
  auto started = std::chrono::steady_clock::now();
  if (!o.completeness && !o.integrity) {
    return Status::InvalidArgument(
        "nothing to validate: ask for --completeness, --integrity or both");
  }
  if (o.sample_size < 0 || o.sample_size > 10'000'000) {
    return Status::InvalidArgument("--sample-size must be from 0 to 10000000 rows");
  }
  if (o.concurrency < 1 || o.concurrency > 64) {
    return Status::InvalidArgument("--concurrency must be from 1 to 64");
  }
  MM_ASSIGN_OR_RETURN(pg::Connection control,
                      pg::Connection::Open(o.target_url, "target database", "medmigrate validate"));
  MM_ASSIGN_OR_RETURN(auto tables,
                      control.QueryValue("SELECT to_regclass('medmigrate.runs') IS NOT NULL AND "
                                         "to_regclass('medmigrate.validations') IS NOT NULL"));
  if (!tables || *tables != "t") {
    return Status::FailedPrecondition(
        "the target's tracking schema has no validation tables: run 'medmigrate init' first");
  }
  if (o.snapshot_id.empty()) {
    MM_ASSIGN_OR_RETURN(auto locked, control.QueryValue(fmt::format(
                                         "SELECT pg_try_advisory_lock({})", kRunLockKey)));
    if (!locked || *locked != "t") {
      return Status::FailedPrecondition(
          "a migration is running on this target: validate when it has finished");
    }
  }
  CheckContext ctx;
  ctx.options = &o;
  track::RunStore store(&control);
  MM_ASSIGN_OR_RETURN(ctx.run, store.GetRun(o.run_id));
  if (ctx.run.dry_run) {
    return Status::FailedPrecondition(
        fmt::format("run {} was a dry run: it left nothing in the target to validate", o.run_id));
  }
  std::optional<spec::MappingSpec> loaded;
  if (o.spec) {
    ctx.spec = o.spec;
  } else {
    MM_ASSIGN_OR_RETURN(loaded, LoadRunSpec(o, ctx.run));
    ctx.spec = &*loaded;
  }
  // The target is judged as it is, so the records of every run that shaped
  // it count, later ones too (validating a full run after incremental ones
  // meets their cascades); runs rolled back are undone, their rejects and
  // cascades with them, as an incremental run's change set sees it
  // (pipeline/incremental.cpp).
  ctx.reject_runs_sql = fmt::format(
      "run_id IN (SELECT id FROM medmigrate.runs WHERE NOT dry_run AND "
      "(state <> 'rolled_back' OR id = {0}))",
      o.run_id);
  {
    MM_ASSIGN_OR_RETURN(auto later, control.QueryValue("SELECT EXISTS (SELECT 1 FROM "
                                                       "medmigrate.runs WHERE id > $1 AND NOT "
                                                       "dry_run AND state <> 'rolled_back')",
                                                       {std::to_string(o.run_id)}));
    ctx.later_runs = later && *later == "t";
  }
  {
    MM_ASSIGN_OR_RETURN(pg::QueryResult m,
                        control.Query("SELECT entity, legacy_id, survivor_legacy_id FROM "
                                      "medmigrate.active_merges"));
    for (int i = 0; i < m.rows(); ++i) {
      ctx.merges[std::string(m.Get(i, 0))][std::string(m.Get(i, 1))] = std::string(m.Get(i, 2));
    }
  }

  ValidationResult v;
  v.run_id = o.run_id;
  v.sample_size = o.integrity ? o.sample_size : 0;
  if (o.completeness) v.kinds.push_back("completeness");
  if (o.integrity) v.kinds.push_back("integrity");
  {
    MM_ASSIGN_OR_RETURN(
        pg::QueryResult r,
        control.Query(fmt::format("INSERT INTO medmigrate.validations (run_id, kinds, sample_size) "
                                  "VALUES ($1, {}, $2) RETURNING id, started_at::text",
                                  PgArray(v.kinds, control)),
                      {std::to_string(o.run_id), std::to_string(v.sample_size)}));
    v.validation_id = r.GetInt(0, 0);
    v.started_at = r.Get(0, 1);
  }

  // The run's entities, in the spec's (dependency) order.
  std::vector<std::pair<int, const spec::EntitySpec*>> entities;
  for (size_t i = 0; i < ctx.spec->entities.size(); ++i) {
    const spec::EntitySpec& e = ctx.spec->entities[i];
    if (ctx.run.entities.empty() || std::find(ctx.run.entities.begin(), ctx.run.entities.end(),
                                              e.name) != ctx.run.entities.end()) {
      entities.emplace_back(static_cast<int>(i), &e);
    }
  }
  auto order_of = [&](const std::string& name) {
    for (const auto& [i, e] : entities) {
      if (e->name == name) return i;
    }
    return -2;
  };
  // Streams over whole tables first (the longest), then samples, then the
  // target-only queries.
  std::vector<Slot> slots;
  if (o.completeness) slots.push_back(Slot{-1, [&] { return CheckCounts(ctx); }});
  for (auto it = entities.rbegin(); it != entities.rend(); ++it) {
    const spec::EntitySpec* e = it->second;
    slots.push_back(Slot{it->first, [&ctx, e] { return CheckKeySets(ctx, *e); }});
  }
  if (o.completeness) {
    for (const spec::MoneyCheck& m : ctx.spec->validate.money) {
      int order = order_of(m.entity);
      if (order < 0) continue;
      slots.push_back(Slot{order, [&ctx, &m] { return CheckMoney(ctx, m); }});
    }
  }
  if (o.integrity) {
    for (const auto& [order, e] : entities) {
      slots.push_back(Slot{order, [&ctx, e = e] { return CheckSample(ctx, *e); }});
    }
    for (const auto& [order, e] : entities) {
      slots.push_back(Slot{order, [&ctx, e = e] { return CheckTargetIntegrity(ctx, *e); }});
    }
    for (const spec::SanityCheck& s : ctx.spec->validate.sanity) {
      int order = order_of(s.entity);
      if (order < 0) continue;
      slots.push_back(Slot{order, [&ctx, &s] { return CheckSanity(ctx, s); }});
    }
    for (const spec::DerivedCheck& d : ctx.spec->validate.derived) {
      int order = order_of(d.entity);
      if (order < 0) continue;
      slots.push_back(Slot{order, [&ctx, &d] { return CheckDerived(ctx, d); }});
    }
  }

  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  int n = std::min<int>(o.concurrency, static_cast<int>(slots.size()));
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&] {
      while (!failed.load()) {
        size_t k = next.fetch_add(1);
        if (k >= slots.size()) return;
        slots[k].result = slots[k].task();
        if (!slots[k].result.ok()) failed.store(true);
      }
    });
  }
  for (std::thread& t : threads) t.join();

  Status error;
  std::vector<std::pair<int, CheckResult>> all;
  for (Slot& s : slots) {
    if (!s.result.ok()) {
      if (error.ok() && s.result.status().message() != "not run") error = s.result.status();
      continue;
    }
    for (CheckResult& r : *s.result) {
      if ((r.kind == "completeness" && !o.completeness) ||
          (r.kind == "integrity" && !o.integrity)) {
        continue;
      }
      all.emplace_back(r.entity.empty() ? -1 : order_of(r.entity), std::move(r));
    }
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [order, r] : all) v.checks.push_back(std::move(r));
  v.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  if (!error.ok()) {
    v.error = error.message();
    (void)control.Query(
        "UPDATE medmigrate.validations SET finished_at = now(), passed = NULL, error = $2 WHERE "
        "id = $1",
        {std::to_string(v.validation_id), *v.error});
    (void)store.AddEvent(o.run_id, "error", "validate", "",
                         fmt::format("validation {} could not finish", v.validation_id),
                         nlohmann::json{{"error", *v.error}});
    return error.Prepend(fmt::format("validate run {}", o.run_id));
  }
  v.passed = v.FailedChecks() == 0;
  MM_RETURN_NOT_OK_PREPEND(StoreChecks(control, v.validation_id, o.run_id, v.checks),
                           "record validation");
  MM_RETURN_IF_ERROR(control
                         .Query("UPDATE medmigrate.validations SET finished_at = now(), "
                                "passed = $2 WHERE id = $1",
                                {std::to_string(v.validation_id), v.passed ? "t" : "f"})
                         .status());
  (void)store.AddEvent(
      o.run_id, v.passed ? "info" : "error", "validate", "",
      fmt::format("validation {} {}: {} of {} checks failed", v.validation_id,
                  v.passed ? "passed" : "failed", v.FailedChecks(), v.checks.size()),
      nlohmann::json{{"validation_id", v.validation_id},
                     {"seconds", v.seconds},
                     {"failed_checks", v.FailedChecks()}});
  return v;
}

Result<std::optional<ValidationResult>> LatestValidation(pg::Connection& c, int64_t run) {
  MM_ASSIGN_OR_RETURN(auto exists,
                      c.QueryValue("SELECT to_regclass('medmigrate.validations')::text"));
  if (!exists) return std::optional<ValidationResult>();
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult h,
      c.Query("SELECT id, array_to_string(kinds, ','), sample_size, started_at::text, "
              "coalesce(extract(epoch FROM finished_at - started_at), 0), passed, error "
              "FROM medmigrate.validations WHERE run_id = $1 AND finished_at IS NOT NULL "
              "ORDER BY id DESC LIMIT 1",
              {std::to_string(run)}));
  if (h.rows() == 0) return std::optional<ValidationResult>();
  ValidationResult v;
  v.validation_id = h.GetInt(0, 0);
  v.run_id = run;
  std::string kinds(h.Get(0, 1));
  for (size_t b = 0; !kinds.empty();) {
    size_t comma = kinds.find(',', b);
    v.kinds.push_back(kinds.substr(b, comma == std::string::npos ? std::string::npos : comma - b));
    if (comma == std::string::npos) break;
    b = comma + 1;
  }
  v.sample_size = static_cast<int>(h.GetInt(0, 2));
  v.started_at = h.Get(0, 3);
  v.seconds = std::stod(std::string(h.Get(0, 4)));
  v.passed = !h.IsNull(0, 5) && h.Get(0, 5) == "t";
  v.error = h.GetOptional(0, 6);
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      c.Query("SELECT kind, check_name, entity, severity, passed, checked, failures, "
              "array_to_json(examples)::text, coalesce(details, '{}')::text, seconds "
              "FROM medmigrate.validation_checks WHERE validation_id = $1 ORDER BY id",
              {std::to_string(v.validation_id)}));
  for (int i = 0; i < r.rows(); ++i) {
    CheckResult cr;
    cr.kind = r.Get(i, 0);
    cr.check = r.Get(i, 1);
    cr.entity = r.Get(i, 2);
    cr.severity = r.Get(i, 3);
    cr.passed = r.Get(i, 4) == "t";
    cr.checked = r.GetInt(i, 5);
    cr.failures = r.GetInt(i, 6);
    cr.examples = nlohmann::json::parse(r.Get(i, 7)).get<std::vector<std::string>>();
    cr.details = nlohmann::json::parse(r.Get(i, 8));
    cr.seconds = std::stod(std::string(r.Get(i, 9)));
    v.checks.push_back(std::move(cr));
  }
  return std::optional<ValidationResult>(std::move(v));
}

nlohmann::json ToJson(const CheckResult& c) {
  return {{"kind", c.kind},         {"check", c.check},       {"entity", c.entity},
          {"severity", c.severity}, {"passed", c.passed},     {"checked", c.checked},
          {"failures", c.failures}, {"examples", c.examples}, {"details", c.details},
          {"seconds", c.seconds}};
}

nlohmann::json ToJson(const ValidationResult& v) {
  nlohmann::json j = {{"validation_id", v.validation_id},
                      {"run_id", v.run_id},
                      {"passed", v.passed},
                      {"kinds", v.kinds},
                      {"sample_size", v.sample_size},
                      {"started_at", v.started_at},
                      {"seconds", v.seconds},
                      {"failed_checks", v.FailedChecks()},
                      {"error", v.error ? nlohmann::json(*v.error) : nlohmann::json(nullptr)}};
  j["checks"] = nlohmann::json::array();
  for (const CheckResult& c : v.checks) j["checks"].push_back(ToJson(c));
  return j;
}

}  // namespace medmigrate::validate
