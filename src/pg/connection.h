// The one wrapper around libpq: connections, queries with parameters, COPY in
// both directions, and the translation of libpq's errors into Status values
// whose messages name the problem and what to do, and never carry a password.
//
// Threads: a Connection is used by one thread at a time (libpq's rule).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct pg_conn;
struct pg_result;

namespace medmigrate::pg {

// Checks that `url` is a postgres:// or postgresql:// URL that libpq can parse.
// `what` names it in the message ("--legacy-url").
Status ValidateUrl(std::string_view url, std::string_view what);

// True for faults worth retrying: connection lost, admin shutdown, deadlock,
// serialization failure, too many connections.
bool IsTransient(const Status& status);

// One query's rows. Values are text (the default result format).
class QueryResult {
 public:
  QueryResult() = default;
  explicit QueryResult(pg_result* r);
  QueryResult(QueryResult&&) noexcept = default;
  QueryResult& operator=(QueryResult&&) noexcept = default;

  int rows() const;
  int columns() const;
  bool IsNull(int row, int col) const;
  // Valid while this QueryResult lives.
  std::string_view Get(int row, int col) const;
  std::optional<std::string> GetOptional(int row, int col) const;
  int64_t GetInt(int row, int col) const;  // 0 when NULL
  int ColumnIndex(std::string_view name) const;  // -1 when absent
  std::string ColumnName(int col) const;
  // Rows affected by INSERT/UPDATE/DELETE/COPY.
  int64_t AffectedRows() const;

 private:
  struct Deleter {
    void operator()(pg_result* r) const;
  };
  std::unique_ptr<pg_result, Deleter> r_;
};

using Params = std::vector<std::optional<std::string>>;

class Connection {
 public:
  // Opens a connection. `what` names the database in errors ("legacy database").
  // The message of a failure says what is wrong (unreachable host, wrong
  // password, missing database) and what to do, with the URL masked.
  static Result<Connection> Open(std::string_view url, std::string_view what,
                                 std::string_view application_name = "medmigrate");

  Connection() = default;
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  ~Connection();

  // Runs one or more statements (simple query protocol); rows are discarded.
  Status Exec(std::string_view sql);
  // One statement with $1.. parameters (text); NULL for nullopt.
  Result<QueryResult> Query(std::string_view sql, const Params& params = {});
  // The single value of a one-row, one-column query.
  Result<std::optional<std::string>> QueryValue(std::string_view sql, const Params& params = {});

  // COMMIT of the transaction in progress. With a commit guard set, runs it
  // first: when it returns no row, rolls back and fails with kAborted (the
  // run lock was lost: track/run_lock.h), so nothing commits.
  Status Commit();
  // A one-value query that must return a row for a transaction to commit;
  // empty: none.
  void set_commit_guard(std::string sql) { commit_guard_ = std::move(sql); }

  // COPY ... FROM STDIN: Begin, Put as many times as needed, End.
  Status BeginCopyIn(std::string_view copy_sql);
  Status PutCopyData(std::string_view data);
  // Ends the COPY; the number of rows the server took.
  Result<int64_t> EndCopyIn();
  // Abandons a COPY in progress (the server rolls it back).
  void AbortCopyIn(std::string_view reason);

  // COPY ... TO STDOUT: Begin, then GetCopyData until it returns false.
  Status BeginCopyOut(std::string_view copy_sql);
  // Fills `chunk` with the next piece (one row in text format). False at the end.
  Result<bool> GetCopyData(std::string* chunk);
  // Like GetCopyData, but appends the row to `*out` (one copy fewer).
  Result<bool> AppendCopyData(std::string* out);

  bool is_open() const { return conn_ != nullptr; }
  int server_version() const;  // e.g. 150018
  // The backend's pid (for pg_terminate_backend in tests and cancel).
  int backend_pid() const;
  // The database this connection is to.
  std::string dbname() const;
  const std::string& what() const { return what_; }
  pg_conn* raw() { return conn_; }

  // Quotes an identifier or literal using libpq's escaping.
  std::string QuoteIdent(std::string_view ident) const;
  std::string QuoteLiteral(std::string_view literal) const;

 private:
  Status ErrorFromResult(pg_result* r, std::string_view sql) const;
  Status ConnectionError(std::string_view action) const;

  pg_conn* conn_ = nullptr;
  std::string what_;
  std::string commit_guard_;
};

// Accumulates rows in COPY text format and sends them in large pieces. Holds at
// most about `flush_bytes` (plus one row) in memory; reuses its buffer, so the
// steady state allocates nothing per row.
// "*conn" must remain live, and in COPY IN state, while this writer is in use.
class CopyTextWriter {
 public:
  explicit CopyTextWriter(Connection* conn, size_t flush_bytes = 1 << 20);

  // Field values. Text is escaped for COPY (backslash, tab, newline, CR).
  void Text(std::string_view value);
  void Null();
  void Int(int64_t value);
  void Bool(bool value);
  // Already in COPY text form (a number, a date, a timestamp literal).
  void Raw(std::string_view value);
  template <typename T>
  void Optional(const std::optional<T>& v) {
    if (v) {
      Text(*v);
    } else {
      Null();
    }
  }
  // Ends the row; sends the buffer when it is full.
  Status EndRow();
  // Sends what is left (does not end the COPY).
  Status Flush();
  int64_t rows() const { return rows_; }

 private:
  void Separator();

  Connection* conn_;
  size_t flush_bytes_;
  std::string buffer_;
  bool row_started_ = false;
  int64_t rows_ = 0;
};

}  // namespace medmigrate::pg
