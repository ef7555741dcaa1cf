// Row-level comparison: a random sample of an entity's loaded rows is read
// again from the legacy database, transformed again by the engine's own
// RowTransformer, and COPYed as the loader would write it into a temporary
// table shaped like the target table; the server then compares every column
// with the target row, typed (numeric 12.5 = 12.50, jsonb by value).
#include <fmt/format.h>

#include <chrono>
#include <optional>
#include <set>

#include "ids/uuid_derivation.h"
#include "transform/row_transformer.h"
#include "validate/checks.h"

namespace medmigrate::validate {

namespace {

using spec::ColumnSpec;

// Collects the transformed rows of the sampled legacy ids as COPY text.
class SampleSink : public transform::RowSink {
 public:
  SampleSink(const std::set<std::string>* wanted) : wanted_(wanted) {}
  Status Accept(const transform::TargetRow& row, std::span<const transform::RowIssue>) override {
    if (!wanted_->count(row.legacy_id)) return Status::Ok();
    current_.push_back(row);
    return Status::Ok();
  }
  Status Reject(std::string_view legacy_id, const transform::RowIssue& issue) override {
    std::string id(legacy_id);
    if (!wanted_->count(id)) return Status::Ok();
    rejected_.emplace_back(id, issue.reason ? *issue.reason : "rejected");
    return Status::Ok();
  }
  std::vector<transform::TargetRow>& rows() { return current_; }
  const std::vector<std::pair<std::string, std::string>>& rejected() const { return rejected_; }

 private:
  const std::set<std::string>* wanted_;
  std::vector<transform::TargetRow> current_;
  std::vector<std::pair<std::string, std::string>> rejected_;
};

}  // namespace

Result<std::vector<CheckResult>> CheckSample(const CheckContext& ctx, const spec::EntitySpec& e) {
  auto started = std::chrono::steady_clock::now();
  CheckResult r = NewCheck("integrity", "sample", e.name);
  Failures failures(&r, ctx.options->max_examples);
  const int n = ctx.options->sample_size;
  r.details["sample_size"] = n;
  if (n <= 0) return std::vector<CheckResult>{std::move(r)};

  MM_ASSIGN_OR_RETURN(pg::Connection target, OpenTarget(ctx));
  const std::string table = "public." + target.QuoteIdent(e.name);
  // Large tables are thinned by a Bernoulli sample first, so the random
  // order sorts a few rows, not the table.
  MM_ASSIGN_OR_RETURN(
      auto est, target.QueryValue(
                    fmt::format("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = "
                                "'{}'::regclass",
                                table)));
  int64_t estimate = est ? std::stoll(*est) : 0;
  std::string from = table;
  if (estimate > int64_t{n} * 20) {
    double pct = std::min(100.0, 100.0 * 4.0 * n / static_cast<double>(estimate));
    from += fmt::format(" TABLESAMPLE BERNOULLI ({:.6f})", pct);
  }
  MM_ASSIGN_OR_RETURN(pg::QueryResult picked,
                      target.Query(fmt::format("SELECT legacy_id::text FROM {} WHERE deleted_at IS "
                                               "NULL ORDER BY random() LIMIT {}",
                                               from, n)));
  std::set<std::string> wanted;
  std::set<int64_t> source_keys;
  for (int i = 0; i < picked.rows(); ++i) {
    std::string id(picked.Get(i, 0));
    Key k;
    if (!ParseKey(id, &k)) {
      return Status::DataLoss(fmt::format("{}: target legacy id {} is not a key", e.name, id));
    }
    wanted.insert(id);
    source_keys.insert(k.a);
  }
  r.checked = static_cast<int64_t>(wanted.size());
  if (wanted.empty()) return std::vector<CheckResult>{std::move(r)};

  // Re-read and transform the sampled rows.
  MM_ASSIGN_OR_RETURN(pg::Connection legacy, OpenLegacy(ctx));
  std::string keys;
  for (int64_t k : source_keys) keys += (keys.empty() ? "" : ",") + std::to_string(k);
  std::vector<std::string> sources = e.SourceColumns();
  std::string list;
  for (const std::string& c : sources) list += (list.empty() ? "" : ", ") + legacy.QuoteIdent(c);
  // Without the run's snapshot, a row the legacy application changed since
  // the run started may differ: such a difference is counted, not blamed.
  bool skip_changed =
      ctx.options->snapshot_id.empty() && !e.updated_at.empty() && ctx.run.started_at;
  if (skip_changed) {
    list += fmt::format(", ({} > {}::timestamptz)", legacy.QuoteIdent(e.updated_at),
                        legacy.QuoteLiteral(*ctx.run.started_at));
  }
  MM_ASSIGN_OR_RETURN(transform::RowTransformer transformer,
                      transform::RowTransformer::Create(
                          *ctx.spec, e, transform::TransformContext{ctx.run.started_date}));
  MM_ASSIGN_OR_RETURN(ids::UuidDerivation uuids,
                      ids::UuidDerivation::Create(ctx.spec->uuid_namespace));
  SampleSink sink(&wanted);
  std::set<std::string> seen, changed;
  CopyStream stream(&legacy);
  MM_RETURN_IF_ERROR(
      stream.Begin(fmt::format("SELECT {} FROM {} WHERE {} = ANY('{{{}}}')", list,
                               SourceFrom(legacy, e), legacy.QuoteIdent(e.key), keys)));
  const auto& columns = transformer.TargetColumns();
  std::string copy;
  while (true) {
    MM_ASSIGN_OR_RETURN(bool more, stream.Next());
    if (!more) break;
    const CopyRow& row = stream.row();
    sink.rows().clear();
    size_t rejected_before = sink.rejected().size();
    MM_RETURN_IF_ERROR(transformer.Transform(row, sink));
    bool is_changed = skip_changed && row.Get(sources.size()) == "t";
    if (is_changed) {
      for (size_t i = rejected_before; i < sink.rejected().size(); ++i) {
        changed.insert(sink.rejected()[i].first);
      }
    }
    for (transform::TargetRow& t : sink.rows()) {
      seen.insert(t.legacy_id);
      if (is_changed) changed.insert(t.legacy_id);
      // References to a merged duplicate point at its survivor.
      for (const auto& ref : transformer.References()) {
        const ColumnSpec& c = *ref.spec;
        auto m = ctx.merges.find(c.ref_entity);
        if (!c.follow_merges || m == ctx.merges.end() || e.explode) continue;
        auto src = std::find(sources.begin(), sources.end(), c.source);
        size_t f = static_cast<size_t>(src - sources.begin());
        if (src == sources.end() || row.IsNull(f)) continue;
        auto s = m->second.find(std::string(row.Get(f)));
        if (s != m->second.end()) t.values[ref.index] = uuids.Derive(c.ref_entity, s->second);
      }
      for (size_t i = 0; i < t.values.size(); ++i) {
        if (i) copy += '\t';
        if (t.nulls[i]) {
          copy += "\\N";
        } else {
          AppendCopyTextEscaped(t.values[i], &copy);
        }
      }
      copy += '\n';
    }
  }
  // A row that differs, but whose legacy updated_at is after the run's start,
  // was changed by the legacy application since: counted, not blamed.
  int64_t changed_since_run = 0;
  for (const auto& [id, reason] : sink.rejected()) {
    seen.insert(id);
    if (changed.count(id)) {
      ++changed_since_run;
    } else {
      failures.Add(id, "now_rejected");
    }
  }
  for (const std::string& id : wanted) {
    if (!seen.count(id)) failures.Add(id, "not_in_legacy");
  }

  // Load the expected rows beside the target and compare there, typed.
  std::string cols;
  for (const std::string& c : columns) cols += (cols.empty() ? "" : ", ") + target.QuoteIdent(c);
  const std::string tmp = "mm_expected";
  MM_RETURN_IF_ERROR(target.Exec(fmt::format(
      "DROP TABLE IF EXISTS pg_temp.{0}; CREATE TEMP TABLE {0} AS SELECT {1} FROM {2} WITH NO DATA",
      tmp, cols, table)));
  MM_RETURN_IF_ERROR(target.BeginCopyIn(fmt::format("COPY {} ({}) FROM STDIN", tmp, cols)));
  MM_RETURN_IF_ERROR(target.PutCopyData(copy));
  MM_RETURN_IF_ERROR(target.EndCopyIn().status());
  // A reference the loader found missing (or soft-deleted since: incremental
  // runs set those NULL too) was set NULL, as the spec says.
  for (const auto& ref : transformer.References()) {
    const ColumnSpec& c = *ref.spec;
    if (c.on_missing != spec::OnMissing::kNullWithWarning) continue;
    const std::string parent = "public." + target.QuoteIdent(c.ref_entity);
    MM_ASSIGN_OR_RETURN(bool soft, SoftDeletes(target, parent));
    MM_RETURN_IF_ERROR(target.Exec(fmt::format(
        "UPDATE {0} e SET {1} = NULL WHERE {1} IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM {2} p WHERE p.id = e.{1}{3})",
        tmp, target.QuoteIdent(c.target), parent, soft ? " AND p.deleted_at IS NULL" : "")));
  }
  std::string diffs;
  for (const std::string& c : columns) {
    diffs +=
        fmt::format("{}CASE WHEN t.{} IS DISTINCT FROM e.{} THEN {} END", diffs.empty() ? "" : ", ",
                    target.QuoteIdent(c), target.QuoteIdent(c), target.QuoteLiteral(c));
  }
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult cmp,
      target.Query(fmt::format("SELECT e.legacy_id::text, array_to_string(array_remove(ARRAY[{}]::"
                               "text[], NULL), ',') FROM {} e JOIN {} t ON t.legacy_id = "
                               "e.legacy_id AND t.deleted_at IS NULL ORDER BY 1",
                               diffs, tmp, table)));
  nlohmann::json by_column = nlohmann::json::object();
  for (int i = 0; i < cmp.rows(); ++i) {
    std::string_view differing = cmp.Get(i, 1);
    if (differing.empty()) continue;
    if (changed.count(std::string(cmp.Get(i, 0)))) {
      ++changed_since_run;
      continue;
    }
    size_t b = 0;
    while (b <= differing.size()) {
      size_t comma = differing.find(',', b);
      std::string col(differing.substr(
          b, comma == std::string_view::npos ? std::string_view::npos : comma - b));
      by_column[col] = by_column.value(col, 0) + 1;
      if (comma == std::string_view::npos) break;
      b = comma + 1;
    }
    failures.Add(std::string(cmp.Get(i, 0)), "field_differs");
  }
  r.details["differing_columns"] = by_column;
  r.details["changed_since_run"] = changed_since_run;
  (void)target.Exec("DROP TABLE IF EXISTS pg_temp." + tmp);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return std::vector<CheckResult>{std::move(r)};
}

}  // namespace medmigrate::validate
