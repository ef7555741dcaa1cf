// The checks of a validation, and what they share: connections in the run's
// legacy snapshot, streamed COPY rows, sort keys for merging two streams, and
// exact decimals. Internal to src/validate/; see validation.h for contracts.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/copy_text.h"
#include "common/status.h"
#include "pg/connection.h"
#include "spec/mapping_spec.h"
#include "track/run_store.h"
#include "validate/validation.h"

namespace medmigrate::validate {

// What every check reads; shared read-only by the check threads.
struct CheckContext {
  const ValidateOptions* options = nullptr;
  const spec::MappingSpec* spec = nullptr;
  track::RunRecord run;
  // Non-dry runs not rolled back (and this one): their rejects and cascade
  // soft-deletes (parent_deleted warnings) count as accounted rows.
  std::string reject_runs_sql;  // "run_id IN (...)"
  // A later run (not dry, not rolled back) may have changed the target since:
  // this run's rejects of keys now loaded are superseded, not contradicted.
  bool later_runs = false;
  // Merges in force: entity -> duplicate legacy id -> survivor legacy id.
  std::map<std::string, std::unordered_map<std::string, std::string>> merges;
};

// A legacy key as both databases sort it: (key, -1), or (parent key,
// position) for exploded rows whose legacy id is "<parent>:<position>".
struct Key {
  int64_t a = 0;
  int64_t b = -1;
  auto operator<=>(const Key&) const = default;
  std::string Text() const;
};
bool ParseKey(std::string_view text, Key* out);
// SQL that sorts a legacy_id column (bigint or "<parent>:<position>" text)
// as Key does: two bigint expressions "a, b".
std::string SortKeySql(const std::string& column, bool exploded);

// Reads COPY ... TO STDOUT one row at a time. "*conn" must outlive the stream.
class CopyStream {
 public:
  CopyStream(pg::Connection* conn) : conn_(conn) {}
  Status Begin(const std::string& select_sql);
  // False at the end (and on every call after it).
  Result<bool> Next();
  const CopyRow& row() const { return row_; }

 private:
  pg::Connection* conn_;
  std::string line_;
  CopyRow row_;
  bool ended_ = false;
};

// An exact decimal: value x 10^-9, from numeric text. Amounts to the cent
// never pass through floating point.
struct Decimal {
  __extension__ typedef __int128 Units;
  Units units = 0;
  static bool Parse(std::string_view text, Decimal* out);
  std::string Text() const;  // trailing zeros trimmed to at least two decimals
};

// A check result that has passed so far.
CheckResult NewCheck(std::string kind, std::string check, std::string entity,
                     std::string severity = "error");

// Collects a check's failures: counts them, keeps the first few ids.
class Failures {
 public:
  explicit Failures(CheckResult* result, int max_examples) : r_(result), max_(max_examples) {}
  void Add(const std::string& legacy_id, const std::string& what);

 private:
  CheckResult* r_;
  size_t max_;
};

// A legacy connection inside the run's snapshot (or a fresh REPEATABLE READ one).
Result<pg::Connection> OpenLegacy(const CheckContext& ctx);
Result<pg::Connection> OpenTarget(const CheckContext& ctx);
// True when target table `table` (regclass text) has a deleted_at column:
// its soft-deleted rows are out of the checks, and a reference to one is
// missing, as the loader treats it.
Result<bool> SoftDeletes(pg::Connection& target, const std::string& table);
// "SELECT <columns> FROM <table or (query) AS src>" for an entity's source.
std::string SourceFrom(const pg::Connection& conn, const spec::EntitySpec& e);
// The ids of an entity that may have no live row: rejected or soft-deleted
// with their parent (parent_deleted) by a run of reject_runs_sql, or merged.
// A later run may have loaded some of them since; callers check a live row
// first. Memory: those ids of one entity.
Result<std::unordered_set<std::string>> UnloadedIds(pg::Connection& target, const CheckContext& ctx,
                                                    const std::string& entity);

// Completeness: the run's counts balance, for each entity of the run.
Result<std::vector<CheckResult>> CheckCounts(const CheckContext& ctx);
// Completeness (key_sets, and deletes: the run's deleted count is the rows it
// soft-deleted) and integrity (references) of one entity, in one pass.
Result<std::vector<CheckResult>> CheckKeySets(const CheckContext& ctx, const spec::EntitySpec& e);
// Completeness: one [[validate.money]] entry.
Result<std::vector<CheckResult>> CheckMoney(const CheckContext& ctx, const spec::MoneyCheck& m);
// Integrity: foreign keys, unique legacy ids, enum values of one entity.
Result<std::vector<CheckResult>> CheckTargetIntegrity(const CheckContext& ctx,
                                                      const spec::EntitySpec& e);
// Integrity: a sample of rows, compared field by field.
Result<std::vector<CheckResult>> CheckSample(const CheckContext& ctx, const spec::EntitySpec& e);
// Integrity (warnings): the spec's clinical sanity conditions.
Result<std::vector<CheckResult>> CheckSanity(const CheckContext& ctx, const spec::SanityCheck& s);
// Integrity (errors): the spec's properties of derived data ([[validate.derived]]).
Result<std::vector<CheckResult>> CheckDerived(const CheckContext& ctx, const spec::DerivedCheck& d);

}  // namespace medmigrate::validate
