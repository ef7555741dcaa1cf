#include "pg/connection.h"

#include <algorithm>

#include <libpq-fe.h>

#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "common/db_url.h"

namespace medmigrate::pg {

namespace {

std::string FirstLine(std::string_view s) {
  // libpq messages may start with "connection to server at ... failed: " and end in '\n'.
  std::string out(s.substr(0, s.find('\n')));
  while (!out.empty() && (out.back() == ' ' || out.back() == '\r')) out.pop_back();
  return out;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Server messages of data errors quote the offending value ('invalid input
// syntax for type date: "1990-13-01"'), which may be patient data: withhold it.
std::string WithholdValues(std::string message, std::string_view sqlstate) {
  if (sqlstate.size() == 5 && (sqlstate.substr(0, 2) == "22" || sqlstate.substr(0, 2) == "23")) {
    size_t pos = message.find(": \"");
    if (pos != std::string::npos) message = message.substr(0, pos) + ": (value withheld)";
  }
  return message;
}

// Replaces every "..." in a libpq message by "(withheld)".
std::string WithholdQuoted(std::string message) {
  size_t open = 0;
  while ((open = message.find('"', open)) != std::string::npos) {
    const size_t close = message.find('"', open + 1);
    if (close == std::string::npos) break;
    message.replace(open, close - open + 1, "(withheld)");
    open += 10;
  }
  return message;
}

constexpr std::string_view kEncodeHint =
    "; percent-encode special characters of the user and password (%40 for @, %2F for /, %3F "
    "for ?, %23 for #, %3A for :, %25 for %)";

}  // namespace

Status ValidateUrl(std::string_view url, std::string_view what) {
  if (url.empty()) return Status::InvalidArgument(fmt::format("{} is empty", what));
  RegisterUrlSecrets(url);
  if (url.rfind("postgres://", 0) != 0 && url.rfind("postgresql://", 0) != 0) {
    return Status::InvalidArgument(fmt::format(
        "{} '{}' is not a PostgreSQL URL: it must start with postgres:// or postgresql:// "
        "(e.g. postgres://user:password@host:5432/dbname)",
        what, MaskUrl(url)));
  }
  char* err = nullptr;
  std::string s(url);
  PQconninfoOption* opts = PQconninfoParse(s.c_str(), &err);
  if (opts == nullptr) {
    // libpq quotes the part it did not understand, which may be a piece of
    // an unencoded password ('invalid port number: "Pa55"').
    std::string msg = err ? WithholdQuoted(FirstLine(err)) : "out of memory";
    if (err) PQfreemem(err);
    return Status::InvalidArgument(fmt::format(
        "{} '{}' is not a valid PostgreSQL URL: {}{}", what, MaskUrl(url), msg, kEncodeHint));
  }
  std::string host, port, dbname, password;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view key = o->keyword;
    if (key == "password") password = o->val;
    if (key == "host") host = o->val;
    if (key == "port") port = o->val;
    if (key == "dbname") dbname = o->val;
  }
  PQconninfoFree(opts);
  RegisterSecret(password);  // as libpq reads it, whatever characters it holds
  // libpq ends the userinfo at the first '@' or '/': an unencoded '@' or '/'
  // in a password leaves a host or database name that holds '@', or a port
  // that is no number. Connecting would send a piece of the password as a
  // host name to DNS and print it in libpq's errors.
  const bool port_ok =
      std::all_of(port.begin(), port.end(), [](char c) { return (c >= '0' && c <= '9') || c == ','; });
  if (host.find('@') != std::string::npos || !port_ok ||
      (dbname.find('@') != std::string::npos && password.empty())) {
    return Status::InvalidArgument(fmt::format(
        "{} '{}' is ambiguous: its user, password or host seems to hold '@', '/' or ':' "
        "unencoded{}",
        what, MaskUrl(url), kEncodeHint));
  }
  return Status::Ok();
}

bool IsTransient(const Status& status) {
  const std::string& s = status.sqlstate();
  if (s.size() != 5) return false;
  return s.rfind("08", 0) == 0 || s == "40001" || s == "40P01" || s == "57P01" || s == "57P02" ||
         s == "57P03" || s == "53300";
}

// ---- QueryResult ----

void QueryResult::Deleter::operator()(pg_result* r) const { PQclear(r); }

QueryResult::QueryResult(pg_result* r) : r_(r) {}

int QueryResult::rows() const { return r_ ? PQntuples(r_.get()) : 0; }
int QueryResult::columns() const { return r_ ? PQnfields(r_.get()) : 0; }
bool QueryResult::IsNull(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }

std::string_view QueryResult::Get(int row, int col) const {
  return std::string_view(PQgetvalue(r_.get(), row, col),
                          static_cast<size_t>(PQgetlength(r_.get(), row, col)));
}

std::optional<std::string> QueryResult::GetOptional(int row, int col) const {
  if (IsNull(row, col)) return std::nullopt;
  return std::string(Get(row, col));
}

int64_t QueryResult::GetInt(int row, int col) const {
  if (IsNull(row, col)) return 0;
  std::string_view v = Get(row, col);
  int64_t out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}

int QueryResult::ColumnIndex(std::string_view name) const {
  std::string n(name);
  return r_ ? PQfnumber(r_.get(), n.c_str()) : -1;
}

std::string QueryResult::ColumnName(int col) const { return PQfname(r_.get(), col); }

int64_t QueryResult::AffectedRows() const {
  if (!r_) return 0;
  const char* t = PQcmdTuples(r_.get());
  int64_t out = 0;
  std::from_chars(t, t + std::strlen(t), out);
  return out;
}

// ---- Connection ----

Result<Connection> Connection::Open(std::string_view url, std::string_view what,
                                    std::string_view application_name) {
  MM_RETURN_IF_ERROR(ValidateUrl(url, what));
  std::string u(url), app(application_name);
  // Defaults first: later keywords (the URL's own) override them.
  const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* values[] = {"10", app.c_str(), u.c_str(), nullptr};
  Connection c;
  c.what_ = std::string(what);
  c.conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (c.conn_ == nullptr) return Status::Internal(fmt::format("{}: out of memory", what));
  // Server notices ("relation already exists, skipping") are not for users.
  PQsetNoticeProcessor(c.conn_, [](void*, const char*) {}, nullptr);
  if (PQstatus(c.conn_) != CONNECTION_OK) {
    std::string raw = PQerrorMessage(c.conn_);
    std::string masked = MaskUrl(url);
    std::string host = PQhost(c.conn_) ? PQhost(c.conn_) : "";
    std::string port = PQport(c.conn_) ? PQport(c.conn_) : "";
    std::string user = PQuser(c.conn_) ? PQuser(c.conn_) : "";
    std::string db = PQdb(c.conn_) ? PQdb(c.conn_) : "";
    std::string where = port.empty() ? host : host + ":" + port;
    if (Contains(raw, "password authentication failed") || Contains(raw, "SCRAM")) {
      return Status::Unauthenticated(fmt::format(
          "{}: wrong password for user \"{}\" at {} ({}): check the password in the URL or "
          "variables",
          what, user, where, masked));
    }
    if (Contains(raw, "no password supplied") || Contains(raw, "fe_sendauth")) {
      return Status::Unauthenticated(fmt::format(
          "{}: the server at {} asks for a password and none was given ({}): add it to the URL",
          what, where, masked));
    }
    if (Contains(raw, "role \"") && Contains(raw, "does not exist")) {
      return Status::Unauthenticated(fmt::format(
          "{}: user \"{}\" does not exist at {} ({}): check the user name in the URL", what, user,
          where, masked));
    }
    if (Contains(raw, "database \"") && Contains(raw, "does not exist")) {
      return Status::NotFound(fmt::format(
          "{}: database \"{}\" does not exist at {} ({}): create it (createdb) or fix the URL",
          what, db, where, masked));
    }
    if (Contains(raw, "connection option") || Contains(raw, "invalid port")) {
      return Status::InvalidArgument(fmt::format("{} ({}) is not usable: {}", what, masked,
                                                 FirstLine(raw)));
    }
    if (Contains(raw, "could not translate host name")) {
      return Status::Unavailable(fmt::format(
          "{}: host \"{}\" is not known ({}): check the host name in the URL", what, host,
          masked));
    }
    if (Contains(raw, "Connection refused") || Contains(raw, "timeout expired") ||
        Contains(raw, "No route to host") || Contains(raw, "Network is unreachable")) {
      std::string why = Contains(raw, "Connection refused") ? "connection refused"
                        : Contains(raw, "timeout") ? "timed out"
                                                    : "no route";
      return Status(StatusCode::kUnavailable,
                    fmt::format("{}: cannot reach {} ({}; {}): is PostgreSQL running there? "
                                "check the host and port",
                                what, where, why, masked),
                    "08001");
    }
    std::string line = raw;
    size_t failed = line.find("failed: ");
    if (failed != std::string::npos) line = line.substr(failed + 8);
    return Status(StatusCode::kUnavailable,
                  fmt::format("{}: cannot connect ({}): {}", what, masked, FirstLine(line)),
                  "08001");
  }
  return c;
}

Connection::Connection(Connection&& o) noexcept
    : conn_(o.conn_), what_(std::move(o.what_)), commit_guard_(std::move(o.commit_guard_)) {
  o.conn_ = nullptr;
}

Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    if (conn_) PQfinish(conn_);
    conn_ = o.conn_;
    what_ = std::move(o.what_);
    commit_guard_ = std::move(o.commit_guard_);
    o.conn_ = nullptr;
  }
  return *this;
}

Connection::~Connection() {
  if (conn_) PQfinish(conn_);
}

int Connection::server_version() const { return conn_ ? PQserverVersion(conn_) : 0; }
Status Connection::Commit() {
  if (!commit_guard_.empty()) {
    Result<std::optional<std::string>> held = QueryValue(commit_guard_);
    if (!held.ok()) {
      (void)Exec("ROLLBACK");
      return held.status();
    }
    if (!*held) {
      (void)Exec("ROLLBACK");
      return Status::Aborted(
          "the run lock is no longer held by this run (its connection to the target was lost): "
          "the transaction was rolled back");
    }
  }
  return Exec("COMMIT");
}

int Connection::backend_pid() const { return conn_ ? PQbackendPID(conn_) : 0; }
std::string Connection::dbname() const { return conn_ && PQdb(conn_) ? PQdb(conn_) : ""; }

Status Connection::ConnectionError(std::string_view action) const {
  std::string msg = conn_ ? FirstLine(PQerrorMessage(conn_)) : "not connected";
  return Status(StatusCode::kUnavailable, fmt::format("{}: {}: {}", what_, action, msg), "08006");
}

Status Connection::ErrorFromResult(pg_result* r, std::string_view sql) const {
  (void)sql;
  if (PQstatus(conn_) == CONNECTION_BAD) {
    PQclear(r);
    return ConnectionError("connection lost");
  }
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string sqlstate = state ? state : "";
  std::string message = primary ? primary : FirstLine(PQerrorMessage(conn_));
  message = WithholdValues(std::move(message), sqlstate);
  PQclear(r);
  StatusCode code = StatusCode::kInternal;
  if (sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P", 0) == 0 || sqlstate == "53300") {
    code = StatusCode::kUnavailable;
  } else if (sqlstate == "40001" || sqlstate == "40P01") {
    code = StatusCode::kAborted;
  } else if (sqlstate.rfind("22", 0) == 0 || sqlstate.rfind("23", 0) == 0) {
    code = StatusCode::kInvalidArgument;
  } else if (sqlstate == "42501") {
    code = StatusCode::kPermissionDenied;
  } else if (sqlstate == "42P01" || sqlstate == "3D000" || sqlstate == "3F000") {
    code = StatusCode::kNotFound;
  }
  std::string text = sqlstate.empty() ? message : fmt::format("{} (SQLSTATE {})", message, sqlstate);
  return Status(code, fmt::format("{}: {}", what_, text), sqlstate);
}

Status Connection::Exec(std::string_view sql) {
  if (!conn_) return Status::FailedPrecondition(what_ + ": not connected");
  std::string s(sql);
  if (PQsendQuery(conn_, s.c_str()) == 0) return ConnectionError("send");
  Status first_error;
  while (pg_result* r = PQgetResult(conn_)) {
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
      PQclear(r);
    } else if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT) {
      PQclear(r);
      return Status::Internal(what_ + ": Exec cannot run COPY; use BeginCopyIn/BeginCopyOut");
    } else if (first_error.ok()) {
      first_error = ErrorFromResult(r, sql);
    } else {
      PQclear(r);
    }
  }
  if (first_error.ok() && PQstatus(conn_) == CONNECTION_BAD) return ConnectionError("connection lost");
  return first_error;
}

Result<QueryResult> Connection::Query(std::string_view sql, const Params& params) {
  if (!conn_) return Status::FailedPrecondition(what_ + ": not connected");
  std::string s(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  pg_result* r = PQexecParams(conn_, s.c_str(), static_cast<int>(values.size()), nullptr,
                              values.data(), nullptr, nullptr, 0);
  if (r == nullptr) return ConnectionError("query");
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return ErrorFromResult(r, sql);
  return QueryResult(r);
}

Result<std::optional<std::string>> Connection::QueryValue(std::string_view sql,
                                                          const Params& params) {
  MM_ASSIGN_OR_RETURN(QueryResult r, Query(sql, params));
  if (r.rows() < 1 || r.columns() < 1) return std::optional<std::string>();
  return r.GetOptional(0, 0);
}

Status Connection::BeginCopyIn(std::string_view copy_sql) {
  if (!conn_) return Status::FailedPrecondition(what_ + ": not connected");
  std::string s(copy_sql);
  pg_result* r = PQexec(conn_, s.c_str());
  if (r == nullptr) return ConnectionError("COPY");
  if (PQresultStatus(r) != PGRES_COPY_IN) return ErrorFromResult(r, copy_sql);
  PQclear(r);
  return Status::Ok();
}

Status Connection::PutCopyData(std::string_view data) {
  if (data.empty()) return Status::Ok();
  if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1) {
    return ConnectionError("COPY");
  }
  return Status::Ok();
}

Result<int64_t> Connection::EndCopyIn() {
  if (PQputCopyEnd(conn_, nullptr) != 1) return ConnectionError("COPY end");
  Status error;
  int64_t rows = 0;
  while (pg_result* r = PQgetResult(conn_)) {
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
      rows = QueryResult(r).AffectedRows();
    } else if (error.ok()) {
      error = ErrorFromResult(r, "COPY");
    } else {
      PQclear(r);
    }
  }
  if (!error.ok()) return error;
  return rows;
}

void Connection::AbortCopyIn(std::string_view reason) {
  std::string why(reason);
  PQputCopyEnd(conn_, why.c_str());
  while (pg_result* r = PQgetResult(conn_)) PQclear(r);
}

Status Connection::BeginCopyOut(std::string_view copy_sql) {
  if (!conn_) return Status::FailedPrecondition(what_ + ": not connected");
  std::string s(copy_sql);
  pg_result* r = PQexec(conn_, s.c_str());
  if (r == nullptr) return ConnectionError("COPY");
  if (PQresultStatus(r) != PGRES_COPY_OUT) return ErrorFromResult(r, copy_sql);
  PQclear(r);
  return Status::Ok();
}

Result<bool> Connection::GetCopyData(std::string* chunk) {
  chunk->clear();
  return AppendCopyData(chunk);
}

Result<bool> Connection::AppendCopyData(std::string* out) {
  char* buf = nullptr;
  int n = PQgetCopyData(conn_, &buf, 0);
  if (n > 0) {
    out->append(buf, static_cast<size_t>(n));
    PQfreemem(buf);
    return true;
  }
  if (n == -1) {
    Status error;
    while (pg_result* r = PQgetResult(conn_)) {
      if (PQresultStatus(r) != PGRES_COMMAND_OK && error.ok()) {
        error = ErrorFromResult(r, "COPY");
      } else {
        PQclear(r);
      }
    }
    if (!error.ok()) return error;
    return false;
  }
  return ConnectionError("COPY out");
}

std::string Connection::QuoteIdent(std::string_view ident) const {
  char* q = PQescapeIdentifier(conn_, ident.data(), ident.size());
  std::string out = q ? q : "";
  if (q) PQfreemem(q);
  return out;
}

std::string Connection::QuoteLiteral(std::string_view literal) const {
  char* q = PQescapeLiteral(conn_, literal.data(), literal.size());
  std::string out = q ? q : "";
  if (q) PQfreemem(q);
  return out;
}

// ---- CopyTextWriter ----

CopyTextWriter::CopyTextWriter(Connection* conn, size_t flush_bytes)
    : conn_(conn), flush_bytes_(flush_bytes) {
  buffer_.reserve(flush_bytes_ + 4096);
}

void CopyTextWriter::Separator() {
  if (row_started_) buffer_.push_back('\t');
  row_started_ = true;
}

void CopyTextWriter::Text(std::string_view value) {
  Separator();
  for (char c : value) {
    switch (c) {
      case '\\': buffer_ += "\\\\"; break;
      case '\t': buffer_ += "\\t"; break;
      case '\n': buffer_ += "\\n"; break;
      case '\r': buffer_ += "\\r"; break;
      default: buffer_.push_back(c);
    }
  }
}

void CopyTextWriter::Null() {
  Separator();
  buffer_ += "\\N";
}

void CopyTextWriter::Int(int64_t value) {
  Separator();
  char tmp[24];
  auto [end, ec] = std::to_chars(tmp, tmp + sizeof(tmp), value);
  (void)ec;
  buffer_.append(tmp, end);
}

void CopyTextWriter::Bool(bool value) {
  Separator();
  buffer_.push_back(value ? 't' : 'f');
}

void CopyTextWriter::Raw(std::string_view value) {
  Separator();
  buffer_ += value;
}

Status CopyTextWriter::EndRow() {
  buffer_.push_back('\n');
  row_started_ = false;
  ++rows_;
  if (buffer_.size() >= flush_bytes_) return Flush();
  return Status::Ok();
}

Status CopyTextWriter::Flush() {
  Status s = conn_->PutCopyData(buffer_);
  buffer_.clear();
  return s;
}

}  // namespace medmigrate::pg
