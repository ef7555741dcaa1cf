#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "validate/checks.h"

namespace medmigrate::validate {

std::string Key::Text() const { return b < 0 ? std::to_string(a) : fmt::format("{}:{}", a, b); }

bool ParseKey(std::string_view text, Key* out) {
  size_t colon = text.find(':');
  std::string_view first = text.substr(0, colon);
  auto r = std::from_chars(first.data(), first.data() + first.size(), out->a);
  if (r.ec != std::errc() || r.ptr != first.data() + first.size()) return false;
  out->b = -1;
  if (colon == std::string_view::npos) return true;
  std::string_view second = text.substr(colon + 1);
  auto r2 = std::from_chars(second.data(), second.data() + second.size(), out->b);
  return r2.ec == std::errc() && r2.ptr == second.data() + second.size() && out->b >= 0;
}

std::string SortKeySql(const std::string& column, bool exploded) {
  if (!exploded) return fmt::format("{0}::bigint, -1::bigint", column);
  return fmt::format(
      "split_part({0}::text, ':', 1)::bigint, "
      "coalesce(nullif(split_part({0}::text, ':', 2), '')::bigint, -1)",
      column);
}

Status CopyStream::Begin(const std::string& select_sql) {
  return conn_->BeginCopyOut(fmt::format("COPY ({}) TO STDOUT", select_sql));
}

Result<bool> CopyStream::Next() {
  if (ended_) return false;
  MM_ASSIGN_OR_RETURN(bool more, conn_->GetCopyData(&line_));
  if (!more) {
    ended_ = true;
    return false;
  }
  if (!line_.empty() && line_.back() == '\n') line_.pop_back();
  if (!ParseCopyTextLine(line_, &row_)) {
    return Status::DataLoss("a streamed row is not valid COPY text");
  }
  return true;
}

bool Decimal::Parse(std::string_view t, Decimal* out) {
  constexpr int kScale = 9;
  size_t i = 0;
  bool negative = false;
  if (i < t.size() && (t[i] == '-' || t[i] == '+')) negative = t[i++] == '-';
  Units v = 0;
  int decimals = -1;
  bool digits = false;
  for (; i < t.size(); ++i) {
    char c = t[i];
    if (c == '.' && decimals < 0) {
      decimals = 0;
      continue;
    }
    if (c < '0' || c > '9') return false;
    digits = true;
    if (decimals >= 0) {
      if (decimals == kScale) {
        if (c != '0') return false;  // finer than 10^-9: not money
        continue;
      }
      ++decimals;
    }
    v = v * 10 + (c - '0');
    if (v > (Units(1) << 120)) return false;
  }
  if (!digits) return false;
  for (int d = std::max(decimals, 0); d < kScale; ++d) v *= 10;
  out->units = negative ? -v : v;
  return true;
}

std::string Decimal::Text() const {
  Units v = units < 0 ? -units : units;
  std::string digits;
  do {
    digits.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  } while (v > 0);
  while (digits.size() < 10) digits.push_back('0');
  std::reverse(digits.begin(), digits.end());
  std::string whole = digits.substr(0, digits.size() - 9);
  std::string frac = digits.substr(digits.size() - 9);
  while (frac.size() > 2 && frac.back() == '0') frac.pop_back();
  return (units < 0 ? "-" : "") + whole + "." + frac;
}

CheckResult NewCheck(std::string kind, std::string check, std::string entity,
                     std::string severity) {
  CheckResult r;
  r.kind = std::move(kind);
  r.check = std::move(check);
  r.entity = std::move(entity);
  r.severity = std::move(severity);
  return r;
}

void Failures::Add(const std::string& legacy_id, const std::string& what) {
  ++r_->failures;
  r_->passed = r_->severity == "warning";
  if (!what.empty()) {
    auto& by = r_->details["failures_by_kind"];
    if (!by.is_object()) by = nlohmann::json::object();
    by[what] = by.value(what, 0) + 1;
  }
  if (!legacy_id.empty() && r_->examples.size() < max_ &&
      std::find(r_->examples.begin(), r_->examples.end(), legacy_id) == r_->examples.end()) {
    r_->examples.push_back(legacy_id);
  }
}

Result<pg::Connection> OpenLegacy(const CheckContext& ctx) {
  MM_ASSIGN_OR_RETURN(
      pg::Connection c,
      pg::Connection::Open(ctx.options->legacy_url, "legacy database", "medmigrate validate"));
  MM_RETURN_IF_ERROR(c.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  if (!ctx.options->snapshot_id.empty()) {
    MM_RETURN_NOT_OK_PREPEND(c.Exec(fmt::format("SET TRANSACTION SNAPSHOT {}",
                                                c.QuoteLiteral(ctx.options->snapshot_id))),
                             "legacy database: cannot read in the run's snapshot");
  }
  return c;
}

Result<pg::Connection> OpenTarget(const CheckContext& ctx) {
  MM_ASSIGN_OR_RETURN(
      pg::Connection c,
      pg::Connection::Open(ctx.options->target_url, "target database", "medmigrate validate"));
  // Streams compare text: one time zone and date style on every connection.
  MM_RETURN_IF_ERROR(c.Exec("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'"));
  return c;
}

Result<bool> SoftDeletes(pg::Connection& c, const std::string& table) {
  MM_ASSIGN_OR_RETURN(auto has,
                      c.QueryValue("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = "
                                   "$1::regclass AND attname = 'deleted_at' AND NOT attisdropped)",
                                   {table}));
  return has && *has == "t";
}

std::string SourceFrom(const pg::Connection& conn, const spec::EntitySpec& e) {
  return e.source_query.empty() ? conn.QuoteIdent(e.source_table)
                                : "(" + e.source_query + ") AS src";
}

Result<std::unordered_set<std::string>> UnloadedIds(pg::Connection& target, const CheckContext& ctx,
                                                    const std::string& entity) {
  std::unordered_set<std::string> out;
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      target.Query(fmt::format("SELECT legacy_id FROM medmigrate.rejects WHERE entity = $1 AND {0} "
                               "UNION SELECT legacy_id FROM medmigrate.warnings WHERE entity = $1 "
                               "AND reason = 'parent_deleted' AND {0}",
                               ctx.reject_runs_sql),
                   {entity}));
  for (int i = 0; i < r.rows(); ++i) out.insert(std::string(r.Get(i, 0)));
  auto m = ctx.merges.find(entity);
  if (m != ctx.merges.end()) {
    for (const auto& [dup, survivor] : m->second) out.insert(dup);
  }
  return out;
}

}  // namespace medmigrate::validate
