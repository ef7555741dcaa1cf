// Status and Result<T>: how every library function reports failure. Exceptions
// stop at the edges (cli/, server/, pg/); inside, errors travel as values and
// gain one phrase of context on the way up, so the final message reads like a
// story: "generate: orders: COPY: connection lost".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace medmigrate {

enum class StatusCode {
  kOk,
  kInvalidArgument,     // bad flag, spec, URL or request: the user must change it
  kNotFound,            // a run, file, database or row that does not exist
  kAlreadyExists,
  kFailedPrecondition,  // the system is not in a state that allows this (e.g. a run is active)
  kUnavailable,         // cannot reach a server; may succeed later
  kUnauthenticated,     // wrong credentials
  kPermissionDenied,
  kDataLoss,            // something recorded no longer matches (e.g. a tampered migration)
  kAborted,             // transient conflict (deadlock, serialization failure): retry
  kInternal,
};

std::string_view StatusCodeName(StatusCode code);

class Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message, std::string sqlstate = {})
      : code_(code), message_(std::move(message)), sqlstate_(std::move(sqlstate)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
  static Status PermissionDenied(std::string m) {
    return {StatusCode::kPermissionDenied, std::move(m)};
  }
  static Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
  static Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // The PostgreSQL SQLSTATE when the error came from the server, else empty.
  const std::string& sqlstate() const { return sqlstate_; }

  // "context: message"; an OK status stays OK.
  Status Prepend(std::string_view context) const;
  std::string ToString() const { return ok() ? "OK" : message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string sqlstate_;
};

// A value or the Status that explains its absence, shaped like std::expected.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace medmigrate

#define MM_CONCAT_INNER(a, b) a##b
#define MM_CONCAT(a, b) MM_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function when it is not OK.
#define MM_RETURN_IF_ERROR(expr)                    \
  do {                                              \
    ::medmigrate::Status mm_status_ = (expr);       \
    if (!mm_status_.ok()) return mm_status_;        \
  } while (0)

// Like MM_RETURN_IF_ERROR, with one phrase of context in front of the message.
#define MM_RETURN_NOT_OK_PREPEND(expr, context)               \
  do {                                                        \
    ::medmigrate::Status mm_status_ = (expr);                 \
    if (!mm_status_.ok()) return mm_status_.Prepend(context); \
  } while (0)

#define MM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

// `lhs = value of expr`, or return its Status.
#define MM_ASSIGN_OR_RETURN(lhs, expr) \
  MM_ASSIGN_OR_RETURN_IMPL(MM_CONCAT(mm_result_, __LINE__), lhs, expr)

#define MM_ASSIGN_OR_RETURN_PREPEND_IMPL(tmp, lhs, expr, context) \
  auto tmp = (expr);                                               \
  if (!tmp.ok()) return tmp.status().Prepend(context);             \
  lhs = std::move(tmp).value()

#define MM_ASSIGN_OR_RETURN_PREPEND(lhs, expr, context) \
  MM_ASSIGN_OR_RETURN_PREPEND_IMPL(MM_CONCAT(mm_result_, __LINE__), lhs, expr, context)
