#include "pipeline/dedup_review.h"

#include <fmt/format.h>

namespace medmigrate::pipeline {

namespace {

constexpr std::string_view kPairColumns =
    "id, entity, legacy_id_a, legacy_id_b, survivor_legacy_id, probability, status, decided_by, "
    "to_char(decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), reason, "
    "explanation::text";

ReviewPair PairFrom(const pg::QueryResult& r, int i) {
  ReviewPair p;
  p.id = r.GetInt(i, 0);
  p.entity = r.Get(i, 1);
  p.legacy_id_a = r.Get(i, 2);
  p.legacy_id_b = r.Get(i, 3);
  p.survivor = r.Get(i, 4);
  p.probability = std::stod(std::string(r.Get(i, 5)));
  p.status = r.Get(i, 6);
  p.decided_by = r.GetOptional(i, 7);
  p.decided_at = r.GetOptional(i, 8);
  p.reason = r.GetOptional(i, 9);
  p.explanation = nlohmann::json::parse(r.Get(i, 10), nullptr, /*allow_exceptions=*/false);
  return p;
}

// Runs `body` in a transaction; rolls back when it fails.
template <typename F>
Status InTransaction(pg::Connection& target, F&& body) {
  MM_RETURN_IF_ERROR(target.Exec("BEGIN"));
  Status s = body();
  if (!s.ok()) {
    if (target.is_open()) (void)target.Exec("ROLLBACK");
    return s;
  }
  return target.Commit();
}

}  // namespace

Result<std::vector<ReviewPair>> ListPairs(pg::Connection& target, const std::string& status,
                                          int limit) {
  if (status != "all" && status != "pending" && status != "merged" && status != "distinct") {
    return Status::InvalidArgument(fmt::format(
        "--status '{}' is not a review status: use pending, merged, distinct or all", status));
  }
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      target.Query(fmt::format("SELECT {} FROM medmigrate.dedup_pairs WHERE ($1 = 'all' OR "
                               "status = $1) ORDER BY probability DESC, id LIMIT {}",
                               kPairColumns, limit),
                   {status}));
  std::vector<ReviewPair> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(PairFrom(r, i));
  return out;
}

Result<ReviewPair> GetPair(pg::Connection& target, int64_t id) {
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      target.Query(fmt::format("SELECT {} FROM medmigrate.dedup_pairs WHERE id = $1", kPairColumns),
                   {std::to_string(id)}));
  if (r.rows() == 0) {
    return Status::NotFound(
        fmt::format("there is no review pair {}: see 'medmigrate dedup list --status all'", id));
  }
  return PairFrom(r, 0);
}

Status ResolvePair(pg::Connection& target, int64_t id, bool merge, const Decision& d) {
  if (d.by.empty()) return Status::InvalidArgument("a decision needs who takes it (--by)");
  MM_ASSIGN_OR_RETURN(ReviewPair p, GetPair(target, id));
  const std::string& other = p.survivor == p.legacy_id_a ? p.legacy_id_b : p.legacy_id_a;
  return InTransaction(target, [&]() -> Status {
    MM_RETURN_IF_ERROR(target
                           .Query("UPDATE medmigrate.dedup_pairs SET status = $2, decided_by = $3, "
                                  "decided_at = now(), reason = nullif($4, '') WHERE id = $1",
                                  {std::to_string(id), merge ? "merged" : "distinct", d.by,
                                   d.reason})
                           .status());
    // Whatever merged the two before (either way round) no longer holds; a
    // record the reviewer merges leaves any other merge it was in.
    MM_RETURN_IF_ERROR(
        target
            .Query("UPDATE medmigrate.merges SET reverted_at = now(), reverted_by = $4, "
                   "revert_reason = $5 WHERE entity = $1 AND reverted_at IS NULL AND "
                   "((legacy_id = $2 AND survivor_legacy_id = $3) OR "
                   " (legacy_id = $3 AND survivor_legacy_id = $2) OR ($6 AND legacy_id = $7))",
                   {p.entity, p.legacy_id_a, p.legacy_id_b, d.by,
                    merge ? "replaced by a reviewer's merge" : "a reviewer kept them apart",
                    merge ? "true" : "false", other})
            .status());
    if (!merge) return Status::Ok();
    return target
        .Query("INSERT INTO medmigrate.merges (run_id, entity, legacy_id, survivor_legacy_id, "
               "probability, decided_by, reason, pair_id) VALUES (NULL, $1, $2, $3, $4, $5, "
               "coalesce(nullif($6, ''), 'merged by a reviewer'), $7)",
               {p.entity, other, p.survivor, fmt::format("{:.6f}", p.probability), d.by, d.reason,
                std::to_string(id)})
        .status();
  });
}

Result<std::string> Unmerge(pg::Connection& target, const std::string& entity,
                            const std::string& legacy_id, const Decision& d) {
  if (d.by.empty()) return Status::InvalidArgument("a decision needs who takes it (--by)");
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult m,
      target.Query("SELECT m.id, m.survivor_legacy_id, coalesce(m.probability, 1) "
                   "FROM medmigrate.merges m LEFT JOIN medmigrate.runs r ON r.id = m.run_id "
                   "WHERE m.entity = $1 AND m.legacy_id = $2 AND m.reverted_at IS NULL "
                   "AND (m.run_id IS NULL OR (NOT r.dry_run AND r.rolled_back_at IS NULL))",
                   {entity, legacy_id}));
  if (m.rows() == 0) {
    return Status::NotFound(fmt::format(
        "{} {} is not merged into another record: nothing to take back", entity, legacy_id));
  }
  std::string survivor(m.Get(0, 1));
  std::string probability(m.Get(0, 2));
  int64_t a = std::stoll(legacy_id), b = std::stoll(survivor);
  std::string lo = std::to_string(std::min(a, b)), hi = std::to_string(std::max(a, b));
  Status s = InTransaction(target, [&]() -> Status {
    MM_RETURN_IF_ERROR(
        target
            .Query("UPDATE medmigrate.merges SET reverted_at = now(), reverted_by = $3, "
                   "revert_reason = coalesce(nullif($4, ''), 'taken back by a reviewer') "
                   "WHERE entity = $1 AND legacy_id = $2 AND reverted_at IS NULL",
                   {entity, legacy_id, d.by, d.reason})
            .status());
    // Kept apart from now on: the next run must not merge them again.
    return target
        .Query("INSERT INTO medmigrate.dedup_pairs AS p (entity, legacy_id_a, legacy_id_b, "
               "survivor_legacy_id, probability, explanation, status, decided_by, decided_at, "
               "reason) VALUES ($1, $2, $3, $4, $5, '{}', 'distinct', $6, now(), "
               "coalesce(nullif($7, ''), 'unmerged')) "
               "ON CONFLICT (entity, legacy_id_a, legacy_id_b) DO UPDATE SET status = 'distinct', "
               "decided_by = excluded.decided_by, decided_at = now(), reason = excluded.reason",
               {entity, lo, hi, survivor, probability, d.by, d.reason})
        .status();
  });
  if (!s.ok()) return s;
  return survivor;
}

Result<std::map<std::string, std::map<std::string, std::string>>> Records(
    pg::Connection& legacy, const spec::DedupSpec& dedup, const std::vector<std::string>& keys) {
  std::map<std::string, std::map<std::string, std::string>> out;
  if (dedup.entity.empty()) return Status::FailedPrecondition("the spec has no [dedup] section");
  MM_ASSIGN_OR_RETURN(pg::QueryResult head,
                      legacy.Query(fmt::format("SELECT * FROM ({}) AS q LIMIT 0", dedup.source)));
  std::string key = legacy.QuoteIdent(head.ColumnName(0));
  std::string list;
  for (const std::string& k : keys) list += (list.empty() ? "" : ",") + k;
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      legacy.Query(fmt::format("SELECT * FROM ({}) AS q WHERE q.{} = ANY($1)",
                               dedup.source, key),
                   {"{" + list + "}"}));
  for (int i = 0; i < r.rows(); ++i) {
    auto& fields = out[std::string(r.Get(i, 0))];
    for (int c = 1; c < r.columns(); ++c) {
      fields[r.ColumnName(c)] = r.IsNull(i, c) ? "" : std::string(r.Get(i, c));
    }
  }
  return out;
}

}  // namespace medmigrate::pipeline
