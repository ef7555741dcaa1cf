// Reads the legacy database for a run: one snapshot exported by a holder
// connection and imported by every reader, so all entities are read as of one
// instant while the legacy application keeps writing (DESIGN principle 6);
// rows come through COPY in keyset batches (key > last AND key <= hi ORDER BY
// key LIMIT n), so memory is one batch and a batch can be read again after a
// dropped connection.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "pg/connection.h"
#include "spec/mapping_spec.h"

namespace medmigrate::extract {

// Holds the transaction whose snapshot the readers share.
// Threads: safe to use from every reader thread.
class SharedSnapshot {
 public:
  static Result<std::unique_ptr<SharedSnapshot>> Export(const std::string& legacy_url);

  std::string id();
  // Called by a reader that could not import `failed_id` (the holder's
  // connection was lost): exports a new snapshot, once per failed id, and
  // returns the id to use. Reads before and after then see two instants; the
  // run's events say so.
  Result<std::string> Renew(const std::string& failed_id);
  int renewals();

 private:
  SharedSnapshot() = default;
  Status ExportLocked();

  std::mutex mu_;
  std::string url_;
  pg::Connection conn_;
  std::string id_;
  int renewals_ = 0;
};

// One batch of source rows in COPY text: row i is data[ends[i-1]..ends[i]),
// without its newline. Reused from batch to batch.
struct RawBatch {
  std::string data;
  std::vector<uint32_t> ends;
  int64_t last_key = 0;

  size_t rows() const { return ends.size(); }
  std::string_view Row(size_t i) const {
    size_t b = i == 0 ? 0 : ends[i - 1];
    return std::string_view(data).substr(b, ends[i] - b);
  }
  void Clear() {
    data.clear();
    ends.clear();
  }
};

struct KeyRange {
  int64_t min = 0;
  int64_t max = 0;
  int64_t rows = 0;
};

// A reader connection inside the shared snapshot.
// Threads: one thread at a time. "*snapshot" must outlive the reader.
class LegacyReader {
 public:
  static Result<LegacyReader> Open(const std::string& legacy_url, SharedSnapshot* snapshot);

  // min/max key and row count of the entity's source (rows matching `where`,
  // an SQL condition on the source's columns, when given).
  Result<KeyRange> Range(const spec::EntitySpec& entity, const std::string& where = {});
  // The source's greatest `column` (a timestamp), capped at the transaction's
  // start (dirty rows dated in the future must not move a watermark past
  // today), as text; NULL when the source is empty.
  Result<std::optional<std::string>> Max(const spec::EntitySpec& entity, const std::string& column);
  // Rows whose key is one of `keys` (sorted), in key order. Fills `out`.
  Status ReadKeys(const spec::EntitySpec& entity, std::span<const int64_t> keys, RawBatch* out);
  // Starts streaming the keys of the rows matching `where` (all when empty),
  // in key order; NextKey() gives them one by one, false at the end.
  Status BeginKeys(const spec::EntitySpec& entity, const std::string& where);
  Result<bool> NextKey(int64_t* key);
  // The source as a FROM item, aliased `src`.
  std::string From(const spec::EntitySpec& entity) const;
  // Rows with lo < key <= hi (no upper bound when hi is nullopt), in key order,
  // at most `limit`. Fills `out` (cleared first) and its last_key.
  Status ReadBatch(const spec::EntitySpec& entity, int64_t lo, std::optional<int64_t> hi,
                   int limit, RawBatch* out);
  // The column names of `select` (run with LIMIT 0), in order.
  Result<std::vector<std::string>> Columns(const std::string& select);
  // Streams the rows of `select` as COPY text lines (without the newline),
  // one call of `on_row` each, in the snapshot.
  Status Stream(const std::string& select, const std::function<Status(std::string_view)>& on_row);
  // A new connection in the (possibly renewed) snapshot, after a transient fault.
  Status Reconnect();
  int backend_pid() const { return conn_.backend_pid(); }

 private:
  LegacyReader() = default;
  Status BeginInSnapshot();
  std::string SourceSql(const spec::EntitySpec& entity) const;
  Status ReadCopy(const std::string& sql, RawBatch* out);

  std::string url_;
  SharedSnapshot* snapshot_ = nullptr;
  pg::Connection conn_;
  std::string key_line_;
};

}  // namespace medmigrate::extract
