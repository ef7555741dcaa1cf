// Turns one legacy row into target rows by an entity's column rules (trim,
// case, replace, null-if, e-mail and date checks, enum maps, JSON, references,
// explode): pure, no database. Which rows the target then refuses because a
// referenced row is missing is the loader's to find, in SQL, against the
// target itself (src/load/).
//
// Memory: holds one row's worth of reusable buffers; steady state allocates
// nothing per row except for JSON columns and exploded arrays.
// Threads: one RowTransformer per thread.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "common/copy_text.h"
#include "common/status.h"
#include "ids/uuid_derivation.h"
#include "spec/mapping_spec.h"

namespace medmigrate::transform {

// Legacy id -> the legacy id of its survivor, for one entity's merged
// records (patient deduplication). Looked up by string_view, no allocation.
struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using MergeMap = std::unordered_map<std::string, std::string, TransparentHash, std::equal_to<>>;
// Per entity name.
using MergeMaps = std::map<std::string, MergeMap, std::less<>>;

struct TransformContext {
  // The run's start date (UTC, "YYYY-MM-DD"): "in the future" means after it,
  // so a resumed run judges dates as the uninterrupted one would.
  std::string run_date;
  // The merges in force, or nullptr. With them, a row of a merged record goes
  // to RowSink::Merge instead of loading, and a reference with follow_merges
  // to a merged record points at its survivor.
  const MergeMaps* merges = nullptr;
};

// Why a row was rejected or warned about; both point into the spec.
struct RowIssue {
  const std::string* column = nullptr;  // target column
  const std::string* reason = nullptr;
};

// One target row, values in RowTransformer::TargetColumns() order.
struct TargetRow {
  std::string legacy_id;
  std::vector<std::string> values;
  std::vector<char> nulls;
};

// Receives what Transform makes of a source row.
class RowSink {
 public:
  virtual ~RowSink() = default;
  // A row to load; `row` and `warnings` are valid only during the call.
  virtual Status Accept(const TargetRow& row, std::span<const RowIssue> warnings) = 0;
  // A row that cannot be loaded (its warnings are dropped: it counts once).
  virtual Status Reject(std::string_view legacy_id, const RowIssue& issue) = 0;
  // A row of a record merged into another (TransformContext::merges).
  virtual Status Merge(std::string_view legacy_id) {
    return Status::Internal(fmt::format("record {} is merged, and this sink counts no merges",
                                        legacy_id));
  }
};

// A reference column, for the loader's existence checks.
struct ReferenceColumn {
  size_t index = 0;  // in TargetColumns()
  const spec::ColumnSpec* spec = nullptr;
};

class RowTransformer {
 public:
  // `spec` and `entity` must outlive the transformer.
  static Result<RowTransformer> Create(const spec::MappingSpec& spec,
                                       const spec::EntitySpec& entity, TransformContext context);

  // "id" first, then the spec's target columns in order, then raw columns
  // (enum/json raw_column) the spec does not list itself.
  const std::vector<std::string>& TargetColumns() const { return columns_; }
  const std::vector<ReferenceColumn>& References() const { return references_; }
  const spec::EntitySpec& entity() const { return *entity_; }

  // `source` holds the fields of entity().SourceColumns(), in that order.
  // Calls `sink` once per target row (once per array element when exploding)
  // or once to reject; a non-OK Status only when the sink fails.
  Status Transform(const CopyRow& source, RowSink& sink);

 private:
  // Per target column: how to fill it.
  struct Plan {
    const spec::ColumnSpec* column = nullptr;  // nullptr: the id, or a raw column
    int source_index = -1;                     // into the source row
    int raw_of = -1;                           // this is the raw column of plan[raw_of]
    int raw_target = -1;                       // plan index of this column's raw column
    const MergeMap* merges = nullptr;          // a reference that follows merges
  };

  RowTransformer() = default;
  // Fills row_.values[i]/nulls[i] for a value, json or reference column.
  // False when the row must be rejected (issue_ says why).
  bool FillColumn(size_t i, bool is_null, std::string_view value);
  bool ApplyRules(const spec::ColumnSpec& c, bool* is_null, std::string* v);
  void SetNull(size_t i);
  void SetValue(size_t i, std::string_view v);

  Status TransformExplode(const CopyRow& source, RowSink& sink);

  const spec::EntitySpec* entity_ = nullptr;
  TransformContext context_;
  std::optional<ids::UuidDerivation> uuids_;
  std::vector<std::string> columns_;
  std::vector<Plan> plan_;
  std::vector<ReferenceColumn> references_;
  int explode_source_ = -1;
  const MergeMap* own_merges_ = nullptr;  // this entity's merged records

  TargetRow row_;
  std::vector<RowIssue> warnings_;
  RowIssue issue_;
  std::string scratch_;
  ids::UuidText uuid_{};
};

}  // namespace medmigrate::transform
