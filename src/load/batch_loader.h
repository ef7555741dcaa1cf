// Loads one batch of transformed rows into a target table, exactly once:
// rows are COPYed into a temporary staging table, rows whose referenced row is
// not in the target are rejected or have the reference set NULL (as the spec
// says) in SQL, the rest are upserted (a row that would not change is not
// written, so a re-run updates nothing), and the batch's rejects, warnings,
// counters and checkpoint are written in the same transaction (DESIGN
// principle 3). A batch the target refuses is split in halves and retried
// until the offending row stands alone; that row is rejected with the
// server's reason and the rest load (pgloader's copy-retry-batch).
//
// Memory: the batch it is given; nothing else grows with the table.
// Threads: one BatchLoader per target connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "pg/connection.h"
#include "transform/row_transformer.h"

namespace medmigrate::load {

// Rows made by a RowTransformer, in COPY text, with their warnings and the
// rows the transformer rejected. Reused from batch to batch (Clear()).
class TransformedBatch : public transform::RowSink {
 public:
  struct Warning {
    uint32_t row;
    const std::string* column;
    const std::string* reason;
  };
  struct RejectedRow {
    std::string legacy_id;
    const std::string* column;
    const std::string* reason;
  };

  Status Accept(const transform::TargetRow& row,
                std::span<const transform::RowIssue> warnings) override;
  Status Reject(std::string_view legacy_id, const transform::RowIssue& issue) override;
  Status Merge(std::string_view legacy_id) override;
  void Clear();

  size_t rows() const { return row_ends_.size(); }
  std::string_view Row(size_t i) const { return Slice(data_, row_ends_, i); }
  std::string_view LegacyId(size_t i) const { return Slice(ids_, id_ends_, i); }
  // Rows [begin, end) as one piece of COPY text.
  std::string_view Rows(size_t begin, size_t end) const {
    size_t b = begin == 0 ? 0 : row_ends_[begin - 1];
    return std::string_view(data_).substr(b, row_ends_[end - 1] - b);
  }
  const std::vector<Warning>& warnings() const { return warnings_; }
  const std::vector<RejectedRow>& rejects() const { return rejects_; }
  // Keys of the rows of merged records, in the order read (ascending).
  const std::vector<int64_t>& merged() const { return merged_; }

  int64_t read = 0;      // source rows this batch stands for (child rows when exploding)
  int64_t last_key = 0;  // the highest source key read
  // (source key, hash of the source row) of every source row taken up, in key
  // order, for entities whose changes are found by hash (spec `changes`).
  std::vector<std::pair<int64_t, int64_t>> hashes;

 private:
  static std::string_view Slice(const std::string& s, const std::vector<uint32_t>& ends, size_t i) {
    size_t b = i == 0 ? 0 : ends[i - 1];
    return std::string_view(s).substr(b, ends[i] - b);
  }
  std::string data_;
  std::vector<uint32_t> row_ends_;
  std::string ids_;
  std::vector<uint32_t> id_ends_;
  std::vector<Warning> warnings_;
  std::vector<RejectedRow> rejects_;
  std::vector<int64_t> merged_;
};

struct BatchCounts {
  int64_t read = 0, loaded = 0, rejected = 0, merged = 0, warnings = 0;
  int64_t inserted = 0, updated = 0, unchanged = 0;
  int64_t deleted = 0;  // live rows of earlier runs soft-deleted because rejected now
  int splits = 0;  // how many times the batch was split around a bad row
  void Add(const BatchCounts& o);
};

class BatchLoader {
 public:
  // "*conn" and "*transformer" must outlive the loader. `schema` holds the
  // target tables ("public", or a dry run's scratch schema).
  BatchLoader(pg::Connection* conn, const transform::RowTransformer* transformer,
              std::string schema, int64_t run);

  // Loads `batch` and moves chunk `chunk`'s checkpoint to batch.last_key, in
  // one transaction (more than one when the batch had to be split). On a
  // transient fault the transaction is rolled back and the Status says so;
  // call AlreadyCommitted() after reconnecting to learn whether it landed.
  Result<BatchCounts> Load(const TransformedBatch& batch, int chunk);

  // True when the target holds no row whose legacy id lies in (lo, hi] (hi
  // nullopt: unbounded): then every batch of that key range is new, and Load
  // may COPY it straight into the target instead of staging and upserting.
  // Always false for entities whose legacy ids are not integers.
  Result<bool> RangeIsEmpty(int64_t lo, std::optional<int64_t> hi);
  // Record the batch's source row hashes (medmigrate.row_hashes) with it.
  void set_record_hashes(bool on) { record_hashes_ = on; }
  // Whether Load takes the fast path for the batches that follow.
  void set_direct(bool direct) { direct_ = direct; }
  bool direct() const { return direct_; }

  // True when chunk's checkpoint is at or past `last_key`: a batch whose
  // COMMIT was sent but not acknowledged did land.
  Result<bool> AlreadyCommitted(int chunk, int64_t last_key);

 private:
  Status Prepare();
  // Loads rows [begin, end) of `batch`, and the rows the transformer rejected
  // whose keys fall in the same key range, and sets the checkpoint to
  // `checkpoint_key` (the range's last key).
  Result<BatchCounts> LoadRange(const TransformedBatch& batch, size_t begin, size_t end,
                                int64_t checkpoint_key, int chunk);
  Result<BatchCounts> LoadOnce(const TransformedBatch& batch, size_t begin, size_t end,
                               int64_t checkpoint_key, int chunk);
  // The fast path, for a batch none of whose rows is in the target yet (every
  // first full run): references were resolved by CheckReferences, rows go
  // straight into the target table by COPY, with no staging and no upsert.
  Result<BatchCounts> LoadOnceDirect(const TransformedBatch& batch, size_t begin, size_t end,
                                     int64_t checkpoint_key, int chunk);
  // Resolves every reference column of `batch` against the target with one
  // query per column, filling ref_reject_ / ref_nulls_.
  Status CheckReferences(const TransformedBatch& batch);
  Status RejectAlone(const TransformedBatch& batch, size_t row, int64_t checkpoint_key, int chunk,
                     const Status& why, BatchCounts* counts);
  // Appends one (run, entity, legacy id, column, reason) row in COPY text to buffer_.
  void AppendIssueRow(std::string_view legacy_id, std::string_view column,
                      std::string_view reason);
  // COPY `data` (nothing when empty) with `copy_sql`.
  Status CopyIn(std::string_view copy_sql, std::string_view data);
  // COPY text of the transform rejects with lo_key < key <= hi_key; their count.
  int64_t TransformRejects(const TransformedBatch& batch, int64_t lo_key, int64_t hi_key);
  // Rows of merged records with lo_key < key <= hi_key (their merge records
  // were written by the run's dedup phase).
  static int64_t MergedIn(const TransformedBatch& batch, int64_t lo_key, int64_t hi_key);
  // Counters, checkpoint and the hashes of keys in (lo_key, checkpoint_key].
  Status RecordProgress(const TransformedBatch& batch, int chunk, int64_t lo_key,
                        int64_t checkpoint_key, const BatchCounts& c);

  pg::Connection* conn_;
  const transform::RowTransformer* transformer_;
  std::string schema_;
  int64_t run_;
  std::string entity_;
  const spec::EntitySpec* entity_spec_;
  bool prepared_ = false;
  bool record_hashes_ = false;

  // SQL built once from the spec.
  std::string stage_;
  std::string copy_stage_sql_;
  std::string reject_refs_sql_;
  std::vector<std::string> null_refs_sql_;
  std::string warnings_sql_;
  std::string upsert_sql_;
  std::string retire_rejected_sql_;
  std::vector<std::string> live_refs_;  // per reference: the condition that its row is live
  std::string copy_target_sql_;
  std::string buffer_;

  // Per batch, for the fast path.
  bool direct_ = false;
  std::vector<int> ref_reject_;  // per row: index into References() that rejects it, or -1
  std::vector<std::pair<uint32_t, uint32_t>> ref_nulls_;  // (row, reference index) set NULL
  std::vector<std::pair<uint64_t, uint64_t>> existing_;   // scratch: UUIDs found
};

// The reason recorded for a row the target refused, from its SQLSTATE.
std::string ReasonForSqlState(const std::string& sqlstate);

}  // namespace medmigrate::load
