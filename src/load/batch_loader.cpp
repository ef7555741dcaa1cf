#include "load/batch_loader.h"

#include <charconv>
#include <cstdint>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/copy_text.h"

namespace medmigrate::load {

namespace {

// The source key a legacy id stands for: "42" -> 42, "42:3" (child row) -> 42.
int64_t KeyOf(std::string_view legacy_id) {
  int64_t k = 0;
  std::from_chars(legacy_id.data(), legacy_id.data() + legacy_id.size(), k);
  return k;
}

}  // namespace

std::string ReasonForSqlState(const std::string& s) {
  if (s == "23503") return "orphan_reference";
  if (s == "23505") return "duplicate_key";
  if (s == "23502") return "missing_value";
  if (s.rfind("22", 0) == 0 || s.rfind("23", 0) == 0) return "invalid_value";
  return "load_error";
}

// ---- TransformedBatch ----

Status TransformedBatch::Accept(const transform::TargetRow& row,
                                std::span<const transform::RowIssue> warnings) {
  for (size_t i = 0; i < row.values.size(); ++i) {
    if (i) data_.push_back('\t');
    if (row.nulls[i]) {
      data_ += "\\N";
    } else {
      AppendCopyTextEscaped(row.values[i], &data_);
    }
  }
  data_.push_back('\n');
  row_ends_.push_back(static_cast<uint32_t>(data_.size()));
  ids_ += row.legacy_id;
  id_ends_.push_back(static_cast<uint32_t>(ids_.size()));
  for (const transform::RowIssue& w : warnings) {
    warnings_.push_back(Warning{static_cast<uint32_t>(row_ends_.size() - 1), w.column, w.reason});
  }
  return Status::Ok();
}

Status TransformedBatch::Reject(std::string_view legacy_id, const transform::RowIssue& issue) {
  rejects_.push_back(RejectedRow{std::string(legacy_id), issue.column, issue.reason});
  return Status::Ok();
}

Status TransformedBatch::Merge(std::string_view legacy_id) {
  merged_.push_back(KeyOf(legacy_id));
  return Status::Ok();
}

void TransformedBatch::Clear() {
  data_.clear();
  row_ends_.clear();
  ids_.clear();
  id_ends_.clear();
  warnings_.clear();
  rejects_.clear();
  merged_.clear();
  hashes.clear();
  read = 0;
  last_key = 0;
}

void BatchCounts::Add(const BatchCounts& o) {
  read += o.read;
  loaded += o.loaded;
  rejected += o.rejected;
  merged += o.merged;
  deleted += o.deleted;
  warnings += o.warnings;
  inserted += o.inserted;
  updated += o.updated;
  unchanged += o.unchanged;
  splits += o.splits;
}

// ---- BatchLoader ----

BatchLoader::BatchLoader(pg::Connection* conn, const transform::RowTransformer* transformer,
                         std::string schema, int64_t run)
    : conn_(conn),
      transformer_(transformer),
      schema_(std::move(schema)),
      run_(run),
      entity_(transformer->entity().name),
      entity_spec_(&transformer->entity()) {}

Status BatchLoader::Prepare() {
  if (prepared_) return Status::Ok();
  const std::vector<std::string>& cols = transformer_->TargetColumns();
  if (std::find(cols.begin(), cols.end(), "legacy_id") == cols.end()) {
    return Status::InvalidArgument(
        fmt::format("{}: the spec maps no legacy_id column (kind = \"legacy_id\")", entity_));
  }
  std::string table = conn_->QuoteIdent(schema_) + "." + conn_->QuoteIdent(entity_);
  MM_ASSIGN_OR_RETURN(auto has_deleted_at,
                      conn_->QueryValue("SELECT count(*) FROM information_schema.columns WHERE "
                                        "table_schema = $1 AND table_name = $2 AND column_name = "
                                        "'deleted_at'",
                                        {schema_, entity_}));
  MM_ASSIGN_OR_RETURN(auto exists, conn_->QueryValue("SELECT to_regclass($1)::text", {table}));
  if (!exists) {
    return Status::FailedPrecondition(fmt::format(
        "target table {} does not exist: run 'medmigrate init' first", table));
  }
  stage_ = "pg_temp." + conn_->QuoteIdent("mm_stage_" + entity_);
  MM_RETURN_IF_ERROR(conn_->Exec(fmt::format(
      "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;"
      "CREATE TEMP TABLE IF NOT EXISTS mm_stage_warnings (legacy_id text, column_name text, "
      "reason text) ON COMMIT DELETE ROWS",
      stage_, table)));

  std::string col_list, excluded, current;
  for (size_t i = 0; i < cols.size(); ++i) {
    std::string q = conn_->QuoteIdent(cols[i]);
    col_list += (i ? ", " : "") + q;
    if (i == 0) continue;  // id never changes
    excluded += (i > 1 ? ", " : "") + std::string("EXCLUDED.") + q;
    current += (i > 1 ? ", " : "") + std::string("t.") + q;
  }
  copy_stage_sql_ = fmt::format("COPY {} ({}) FROM STDIN", stage_, col_list);
  copy_target_sql_ = fmt::format("COPY {} ({}) FROM STDIN", table, col_list);

  // A soft-deleted row (deleted_at set by an incremental run) is missing too.
  live_refs_.clear();
  for (const transform::ReferenceColumn& r : transformer_->References()) {
    MM_ASSIGN_OR_RETURN(auto n, conn_->QueryValue(
                                    "SELECT count(*) FROM information_schema.columns WHERE "
                                    "table_schema = $1 AND table_name = $2 AND column_name = "
                                    "'deleted_at'",
                                    {schema_, r.spec->ref_entity}));
    live_refs_.push_back(n && *n != "0" ? " AND r.deleted_at IS NULL" : "");
  }
  auto missing = [&](const transform::ReferenceColumn& r, const std::string& alias) {
    std::string c = alias + "." + conn_->QuoteIdent(cols[r.index]);
    size_t k = static_cast<size_t>(&r - transformer_->References().data());
    return fmt::format(
        "({0} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {1}.{2} r WHERE r.id = {0}{3}))", c,
        conn_->QuoteIdent(schema_), conn_->QuoteIdent(r.spec->ref_entity), live_refs_[k]);
  };
  std::string any_missing, which_column, which_reason, returning;
  for (const transform::ReferenceColumn& r : transformer_->References()) {
    if (r.spec->on_missing == spec::OnMissing::kReject) {
      any_missing += (any_missing.empty() ? "" : " OR ") + missing(r, "s");
      which_column += fmt::format(" WHEN {} THEN {}", missing(r, "b"),
                                  conn_->QuoteLiteral(cols[r.index]));
      which_reason += fmt::format(" WHEN {} THEN {}", missing(r, "b"),
                                  conn_->QuoteLiteral(r.spec->missing_reason));
      returning += ", s." + conn_->QuoteIdent(cols[r.index]);
    } else {
      null_refs_sql_.push_back(fmt::format(
          "WITH w AS (UPDATE {0} s SET {1} = NULL WHERE {2} RETURNING s.legacy_id::text) "
          "INSERT INTO pg_temp.mm_stage_warnings SELECT legacy_id, {3}, {4} FROM w",
          stage_, conn_->QuoteIdent(cols[r.index]), missing(r, "s"),
          conn_->QuoteLiteral(cols[r.index]), conn_->QuoteLiteral(r.spec->missing_reason)));
    }
  }
  if (!any_missing.empty()) {
    reject_refs_sql_ = fmt::format(
        "WITH b AS (DELETE FROM {0} s WHERE {1} RETURNING s.legacy_id{2}) "
        "INSERT INTO medmigrate.rejects (run_id, entity, legacy_id, column_name, reason) "
        "SELECT {3}, {4}, b.legacy_id::text, CASE{5} END, CASE{6} END FROM b",
        stage_, any_missing, returning, run_, conn_->QuoteLiteral(entity_), which_column,
        which_reason);
  }
  warnings_sql_ = fmt::format(
      "INSERT INTO medmigrate.warnings (run_id, entity, legacy_id, column_name, reason) "
      "SELECT {0}, {1}, w.legacy_id, w.column_name, w.reason FROM pg_temp.mm_stage_warnings w "
      "WHERE w.legacy_id IN (SELECT legacy_id::text FROM {2})",
      run_, conn_->QuoteLiteral(entity_), stage_);
  bool deleted_at = has_deleted_at && *has_deleted_at != "0";
  if (deleted_at) {
    // A row this transaction rejects whose earlier version is live in the
    // target (it loaded before; now its parent is gone, or the value turned
    // invalid) leaves it: a fresh migration would not hold it either.
    retire_rejected_sql_ = fmt::format(
        "UPDATE {0} t SET deleted_at = now() FROM medmigrate.rejects r WHERE r.run_id = {1} AND "
        "r.entity = {2} AND r.created_at = now() AND r.legacy_id = t.legacy_id::text AND "
        "t.deleted_at IS NULL",
        table, run_, conn_->QuoteLiteral(entity_));
  }
  upsert_sql_ = fmt::format(
      "WITH up AS (INSERT INTO {0} AS t ({1}) SELECT {1} FROM {2} "
      "ON CONFLICT (id) DO UPDATE SET ({3}{4}) = ROW({5}{6}) "
      "WHERE ROW({7}) IS DISTINCT FROM ROW({5}){8} RETURNING (xmax = 0) AS inserted) "
      "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up",
      table, col_list, stage_, current.empty() ? "" : [&] {
        std::string s;
        for (size_t i = 1; i < cols.size(); ++i) s += (i > 1 ? ", " : "") + conn_->QuoteIdent(cols[i]);
        return s;
      }(),
      deleted_at ? ", deleted_at" : "", excluded, deleted_at ? ", NULL" : "", current,
      deleted_at ? " OR t.deleted_at IS NOT NULL" : "");
  prepared_ = true;
  return Status::Ok();
}

Result<BatchCounts> BatchLoader::Load(const TransformedBatch& batch, int chunk) {
  MM_RETURN_IF_ERROR(Prepare());
  if (direct_ && batch.rows() > 0) MM_RETURN_IF_ERROR(CheckReferences(batch));
  return LoadRange(batch, 0, batch.rows(), batch.last_key, chunk);
}

Result<bool> BatchLoader::RangeIsEmpty(int64_t lo, std::optional<int64_t> hi) {
  MM_RETURN_IF_ERROR(Prepare());
  if (entity_spec_->explode) return false;  // child legacy ids are text
  std::string table = conn_->QuoteIdent(schema_) + "." + conn_->QuoteIdent(entity_);
  MM_ASSIGN_OR_RETURN(
      auto v, conn_->QueryValue(
                  fmt::format("SELECT NOT EXISTS (SELECT 1 FROM {} WHERE legacy_id > {}{})", table,
                              lo, hi ? fmt::format(" AND legacy_id <= {}", *hi) : "")));
  return v && *v == "t";
}

namespace {

// Field `index` of a COPY text row (its newline, if any, excluded): [begin, end).
std::pair<size_t, size_t> FieldBounds(std::string_view row, size_t index) {
  size_t b = 0;
  for (size_t i = 0; i < index; ++i) b = row.find('\t', b) + 1;
  size_t e = row.find('\t', b);
  if (e == std::string_view::npos) e = row.size() - (!row.empty() && row.back() == '\n' ? 1 : 0);
  return {b, e};
}

// A UUID's 32 hex digits as two integers, for sorting and lookup without allocating.
bool ParseUuidBits(std::string_view text, std::pair<uint64_t, uint64_t>* out) {
  if (text.size() != 36) return false;
  uint64_t parts[2] = {0, 0};
  int digit = 0;
  for (char c : text) {
    if (c == '-') continue;
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (v < 0) return false;
    parts[digit / 16] = parts[digit / 16] * 16 + static_cast<uint64_t>(v);
    ++digit;
  }
  *out = {parts[0], parts[1]};
  return digit == 32;
}

}  // namespace

Status BatchLoader::CheckReferences(const TransformedBatch& batch) {
  const auto& refs = transformer_->References();
  ref_reject_.assign(batch.rows(), -1);
  ref_nulls_.clear();
  for (size_t k = 0; k < refs.size(); ++k) {
    const transform::ReferenceColumn& ref = refs[k];
    buffer_.assign("{");
    bool any = false;
    for (size_t i = 0; i < batch.rows(); ++i) {
      auto [b, e] = FieldBounds(batch.Row(i), ref.index);
      std::string_view v = batch.Row(i).substr(b, e - b);
      if (v == "\\N") continue;
      if (any) buffer_ += ',';
      buffer_ += v;
      any = true;
    }
    buffer_ += '}';
    existing_.clear();
    if (any) {
      MM_ASSIGN_OR_RETURN(
          pg::QueryResult r,
          conn_->Query(fmt::format("SELECT DISTINCT r.id::text FROM unnest($1::uuid[]) AS x(id) "
                                   "JOIN {}.{} r ON r.id = x.id{}",
                                   conn_->QuoteIdent(schema_), conn_->QuoteIdent(ref.spec->ref_entity),
                                   live_refs_[k]),
                       {buffer_}));
      for (int i = 0; i < r.rows(); ++i) {
        std::pair<uint64_t, uint64_t> bits;
        if (ParseUuidBits(r.Get(i, 0), &bits)) existing_.push_back(bits);
      }
      std::sort(existing_.begin(), existing_.end());
    }
    for (size_t i = 0; i < batch.rows(); ++i) {
      if (ref_reject_[i] >= 0) continue;
      auto [b, e] = FieldBounds(batch.Row(i), ref.index);
      std::string_view v = batch.Row(i).substr(b, e - b);
      if (v == "\\N") continue;
      std::pair<uint64_t, uint64_t> bits;
      bool found = ParseUuidBits(v, &bits) &&
                   std::binary_search(existing_.begin(), existing_.end(), bits);
      if (found) continue;
      if (ref.spec->on_missing == spec::OnMissing::kReject) {
        ref_reject_[i] = static_cast<int>(k);
      } else {
        ref_nulls_.emplace_back(static_cast<uint32_t>(i), static_cast<uint32_t>(k));
      }
    }
  }
  std::sort(ref_nulls_.begin(), ref_nulls_.end());
  return Status::Ok();
}

Result<BatchCounts> BatchLoader::LoadOnceDirect(const TransformedBatch& batch, size_t begin,
                                                size_t end, int64_t checkpoint_key, int chunk) {
  const auto& refs = transformer_->References();
  BatchCounts c;
  MM_RETURN_IF_ERROR(conn_->Exec("BEGIN"));
  auto fail = [&](const Status& s) {
    if (conn_->is_open()) (void)conn_->Exec("ROLLBACK");
    return s;
  };
  // Rows, with missing optional references set NULL.
  buffer_.clear();
  int64_t kept = 0;
  auto nulls = std::lower_bound(ref_nulls_.begin(), ref_nulls_.end(),
                                std::make_pair(static_cast<uint32_t>(begin), uint32_t{0}));
  for (size_t i = begin; i < end; ++i) {
    while (nulls != ref_nulls_.end() && nulls->first < i) ++nulls;
    if (ref_reject_[i] >= 0) continue;
    std::string_view row = batch.Row(i);
    if (nulls == ref_nulls_.end() || nulls->first != i) {
      buffer_ += row;
    } else {
      // Rewrite the row field by field (rare: a missing optional reference).
      std::string_view rest = row.substr(0, row.size() - 1);  // without '\n'
      for (size_t col = 0, start = 0; start <= rest.size(); ++col) {
        size_t tab = rest.find('\t', start);
        size_t stop = tab == std::string_view::npos ? rest.size() : tab;
        bool nulled = false;
        for (auto n = nulls; n != ref_nulls_.end() && n->first == i; ++n) {
          if (refs[n->second].index == col) nulled = true;
        }
        if (col) buffer_ += '\t';
        if (nulled) {
          buffer_ += "\\N";
        } else {
          buffer_ += rest.substr(start, stop - start);
        }
        if (tab == std::string_view::npos) break;
        start = tab + 1;
      }
      buffer_ += '\n';
    }
    ++kept;
  }
  if (kept > 0) {
    Status s = CopyIn(copy_target_sql_, buffer_);
    if (!s.ok()) return fail(s);
  }
  // Warnings of the kept rows: the transformer's and the NULLed references'.
  buffer_.clear();
  auto warn = [&](size_t row, const std::string& column, const std::string& reason) {
    AppendIssueRow(batch.LegacyId(row), column, reason);
    ++c.warnings;
  };
  for (const TransformedBatch::Warning& w : batch.warnings()) {
    if (w.row >= begin && w.row < end && ref_reject_[w.row] < 0) warn(w.row, *w.column, *w.reason);
  }
  for (const auto& [row, k] : ref_nulls_) {
    if (row >= begin && row < end && ref_reject_[row] < 0) {
      warn(row, transformer_->TargetColumns()[refs[k].index], refs[k].spec->missing_reason);
    }
  }
  if (!buffer_.empty()) {
    Status s = CopyIn("COPY medmigrate.warnings (run_id, entity, legacy_id, column_name, reason) FROM STDIN", buffer_);
    if (!s.ok()) return fail(s);
  }
  // Rejects: the transformer's in this key range, and the missing references'.
  int64_t lo_key = begin == 0 ? INT64_MIN : KeyOf(batch.LegacyId(begin)) - 1;
  int64_t transform_rejects = TransformRejects(batch, lo_key, checkpoint_key);
  int64_t ref_rejects = 0;
  for (size_t i = begin; i < end; ++i) {
    if (ref_reject_[i] < 0) continue;
    const transform::ReferenceColumn& r = refs[static_cast<size_t>(ref_reject_[i])];
    AppendIssueRow(batch.LegacyId(i), transformer_->TargetColumns()[r.index], r.spec->missing_reason);
    ++ref_rejects;
  }
  if (!buffer_.empty()) {
    Status s = CopyIn("COPY medmigrate.rejects (run_id, entity, legacy_id, column_name, reason) FROM STDIN", buffer_);
    if (!s.ok()) return fail(s);
  }
  c.merged = MergedIn(batch, lo_key, checkpoint_key);
  c.read = static_cast<int64_t>(end - begin) + transform_rejects + c.merged;
  c.rejected = transform_rejects + ref_rejects;
  c.loaded = kept;
  c.inserted = kept;
  Status s = RecordProgress(batch, chunk, lo_key, checkpoint_key, c);
  if (!s.ok()) return fail(s);
  s = conn_->Commit();
  if (!s.ok()) return s;
  return c;
}

Result<BatchCounts> BatchLoader::LoadRange(const TransformedBatch& batch, size_t begin, size_t end,
                                           int64_t checkpoint_key, int chunk) {
  Result<BatchCounts> r = LoadOnce(batch, begin, end, checkpoint_key, chunk);
  // A lost run lock (kAborted, pg::Connection::Commit) is no fault of a row:
  // nothing to split.
  if (r.ok() || pg::IsTransient(r.status()) || !conn_->is_open() ||
      r.status().code() == StatusCode::kAborted) {
    return r;
  }
  if (end - begin <= 1) {
    if (end == begin) return r;  // nothing to split: a fault of the batch's own statements
    BatchCounts counts;
    MM_RETURN_IF_ERROR(RejectAlone(batch, begin, checkpoint_key, chunk, r.status(), &counts));
    return counts;
  }
  // Split around the bad row: the first half's checkpoint stops just before
  // the second half's first key, so a crash in between resumes exactly.
  size_t mid = begin + (end - begin) / 2;
  int64_t mid_key = KeyOf(batch.LegacyId(mid)) - 1;
  MM_ASSIGN_OR_RETURN(BatchCounts first, LoadRange(batch, begin, mid, mid_key, chunk));
  MM_ASSIGN_OR_RETURN(BatchCounts second, LoadRange(batch, mid, end, checkpoint_key, chunk));
  first.Add(second);
  first.splits += 1;
  return first;
}

Status BatchLoader::RecordProgress(const TransformedBatch& batch, int chunk, int64_t lo_key,
                                   int64_t checkpoint_key, const BatchCounts& c) {
  if (record_hashes_ && !batch.hashes.empty()) {
    buffer_.clear();
    auto it = std::upper_bound(batch.hashes.begin(), batch.hashes.end(),
                               std::make_pair(lo_key, INT64_MAX));
    for (; it != batch.hashes.end() && it->first <= checkpoint_key; ++it) {
      buffer_ += entity_;
      buffer_ += fmt::format("\t{}\t{}\t{}\n", it->first, run_, it->second);
    }
    MM_RETURN_IF_ERROR(
        CopyIn("COPY medmigrate.row_hashes (entity, legacy_id, run_id, hash) FROM STDIN", buffer_));
  }
  return conn_->Exec(fmt::format(
      "UPDATE medmigrate.checkpoints SET last_key = '{0}', rows = rows + {1}, committed_at = now() "
      "WHERE run_id = {2} AND entity = {3} AND chunk = {4};"
      "UPDATE medmigrate.run_entities SET read = read + {5}, loaded = loaded + {6}, "
      "rejected = rejected + {7}, warnings = warnings + {8}, inserted = inserted + {9}, "
      "updated = updated + {10}, unchanged = unchanged + {11}, merged = merged + {12}, "
      "deleted = deleted + {13} WHERE run_id = {2} AND entity = {3}",
      checkpoint_key, c.read, run_, conn_->QuoteLiteral(entity_), chunk, c.read, c.loaded,
      c.rejected, c.warnings, c.inserted, c.updated, c.unchanged, c.merged, c.deleted));
}

Result<BatchCounts> BatchLoader::LoadOnce(const TransformedBatch& batch, size_t begin, size_t end,
                                          int64_t checkpoint_key, int chunk) {
  if (direct_) return LoadOnceDirect(batch, begin, end, checkpoint_key, chunk);
  BatchCounts c;
  MM_RETURN_IF_ERROR(conn_->Exec("BEGIN"));
  auto fail = [&](const Status& s) {
    if (conn_->is_open()) (void)conn_->Exec("ROLLBACK");
    return s;
  };
  int64_t staged = static_cast<int64_t>(end - begin);
  if (staged > 0) {
    Status s = CopyIn(copy_stage_sql_, batch.Rows(begin, end));
    if (!s.ok()) return fail(s);
  }
  // Warnings of these rows.
  buffer_.clear();
  for (const TransformedBatch::Warning& w : batch.warnings()) {
    if (w.row < begin || w.row >= end) continue;
    AppendCopyTextEscaped(batch.LegacyId(w.row), &buffer_);
    buffer_ += '\t';
    AppendCopyTextEscaped(*w.column, &buffer_);
    buffer_ += '\t';
    AppendCopyTextEscaped(*w.reason, &buffer_);
    buffer_ += '\n';
  }
  if (!buffer_.empty()) {
    Status s = CopyIn("COPY pg_temp.mm_stage_warnings FROM STDIN", buffer_);
    if (!s.ok()) return fail(s);
  }
  // Rows the transformer rejected, whose keys fall in this range.
  int64_t lo_key = begin == 0 ? INT64_MIN : KeyOf(batch.LegacyId(begin)) - 1;
  int64_t transform_rejects = TransformRejects(batch, lo_key, checkpoint_key);
  if (!buffer_.empty()) {
    Status s = CopyIn("COPY medmigrate.rejects (run_id, entity, legacy_id, column_name, reason) FROM STDIN", buffer_);
    if (!s.ok()) return fail(s);
  }
  int64_t ref_rejects = 0;
  if (staged > 0 && !reject_refs_sql_.empty()) {
    Result<pg::QueryResult> r = conn_->Query(reject_refs_sql_);
    if (!r.ok()) return fail(r.status());
    ref_rejects = r->AffectedRows();
  }
  if (staged > 0) {
    for (const std::string& sql : null_refs_sql_) {
      Status s = conn_->Exec(sql);
      if (!s.ok()) return fail(s);
    }
    Result<pg::QueryResult> w = conn_->Query(warnings_sql_);
    if (!w.ok()) return fail(w.status());
    c.warnings = w->AffectedRows();
    Result<pg::QueryResult> up = conn_->Query(upsert_sql_);
    if (!up.ok()) return fail(up.status());
    c.inserted = up->GetInt(0, 0);
    c.updated = up->GetInt(0, 1);
  }
  c.merged = MergedIn(batch, lo_key, checkpoint_key);
  c.read = staged + transform_rejects + c.merged;
  c.rejected = transform_rejects + ref_rejects;
  c.loaded = staged - ref_rejects;
  c.unchanged = c.loaded - c.inserted - c.updated;
  if (c.rejected > 0 && !retire_rejected_sql_.empty()) {
    Result<pg::QueryResult> retired = conn_->Query(retire_rejected_sql_);
    if (!retired.ok()) return fail(retired.status());
    c.deleted = retired->AffectedRows();
  }
  Status s = RecordProgress(batch, chunk, lo_key, checkpoint_key, c);
  if (!s.ok()) return fail(s);
  s = conn_->Commit();
  if (!s.ok()) return s;
  return c;
}

void BatchLoader::AppendIssueRow(std::string_view legacy_id, std::string_view column,
                                 std::string_view reason) {
  buffer_ += fmt::format("{}\t", run_);
  AppendCopyTextEscaped(entity_, &buffer_);
  buffer_ += '\t';
  AppendCopyTextEscaped(legacy_id, &buffer_);
  buffer_ += '\t';
  AppendCopyTextEscaped(column, &buffer_);
  buffer_ += '\t';
  AppendCopyTextEscaped(reason, &buffer_);
  buffer_ += '\n';
}

Status BatchLoader::CopyIn(std::string_view copy_sql, std::string_view data) {
  if (data.empty()) return Status::Ok();
  MM_RETURN_IF_ERROR(conn_->BeginCopyIn(copy_sql));
  Status s = conn_->PutCopyData(data);
  if (!s.ok()) {
    conn_->AbortCopyIn("medmigrate: send failed");
    return s;
  }
  return conn_->EndCopyIn().status();
}

int64_t BatchLoader::TransformRejects(const TransformedBatch& batch, int64_t lo_key,
                                      int64_t hi_key) {
  buffer_.clear();
  int64_t n = 0;
  for (const TransformedBatch::RejectedRow& r : batch.rejects()) {
    int64_t k = KeyOf(r.legacy_id);
    if (k > hi_key || k <= lo_key) continue;
    AppendIssueRow(r.legacy_id, *r.column, *r.reason);
    ++n;
  }
  return n;
}

int64_t BatchLoader::MergedIn(const TransformedBatch& batch, int64_t lo_key, int64_t hi_key) {
  const std::vector<int64_t>& m = batch.merged();
  return std::upper_bound(m.begin(), m.end(), hi_key) - std::upper_bound(m.begin(), m.end(), lo_key);
}

Status BatchLoader::RejectAlone(const TransformedBatch& batch, size_t row, int64_t checkpoint_key,
                                int chunk, const Status& why, BatchCounts* counts) {
  // The row alone failed: record it with the server's reason (the message is
  // kept without row values: pg::Connection withholds them), plus the
  // transform rejects of its key range.
  std::string reason = ReasonForSqlState(why.sqlstate());
  spdlog::debug("{} {}: refused by the target ({})", entity_, batch.LegacyId(row), reason);
  MM_RETURN_IF_ERROR(conn_->Exec("BEGIN"));
  auto fail = [&](const Status& s) {
    if (conn_->is_open()) (void)conn_->Exec("ROLLBACK");
    return s;
  };
  Result<pg::QueryResult> r = conn_->Query(
      "INSERT INTO medmigrate.rejects (run_id, entity, legacy_id, column_name, reason, detail) "
      "VALUES ($1, $2, $3, NULL, $4, $5)",
      {std::to_string(run_), entity_, std::string(batch.LegacyId(row)), reason, why.message()});
  if (!r.ok()) return fail(r.status());
  BatchCounts c;
  c.read = 1;
  c.rejected = 1;
  int64_t lo_key = row == 0 ? INT64_MIN : KeyOf(batch.LegacyId(row)) - 1;
  int64_t n = TransformRejects(batch, lo_key, checkpoint_key);
  if (n > 0) {
    Status s = CopyIn("COPY medmigrate.rejects (run_id, entity, legacy_id, column_name, reason) FROM STDIN", buffer_);
    if (!s.ok()) return fail(s);
    c.read += n;
    c.rejected += n;
  }
  c.merged = MergedIn(batch, lo_key, checkpoint_key);
  c.read += c.merged;
  if (!retire_rejected_sql_.empty()) {
    Result<pg::QueryResult> retired = conn_->Query(retire_rejected_sql_);
    if (!retired.ok()) return fail(retired.status());
    c.deleted = retired->AffectedRows();
  }
  Status s = RecordProgress(batch, chunk, lo_key, checkpoint_key, c);
  if (!s.ok()) return fail(s);
  MM_RETURN_IF_ERROR(conn_->Commit());
  counts->Add(c);
  return Status::Ok();
}

Result<bool> BatchLoader::AlreadyCommitted(int chunk, int64_t last_key) {
  MM_ASSIGN_OR_RETURN(
      auto v, conn_->QueryValue("SELECT last_key::bigint >= $4::bigint FROM medmigrate.checkpoints "
                                "WHERE run_id = $1 AND entity = $2 AND chunk = $3",
                                {std::to_string(run_), entity_, std::to_string(chunk),
                                 std::to_string(last_key)}));
  return v && *v == "t";
}

}  // namespace medmigrate::load
