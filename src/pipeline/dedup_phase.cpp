#include "pipeline/dedup_phase.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <functional>
#include <iterator>
#include <memory>
#include <system_error>
#include <optional>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/copy_text.h"
#include "dedup/deduplicator.h"
#include "dedup/record_store.h"
#include "dedup/spill_file.h"
#include "pipeline/incremental.h"

namespace medmigrate::pipeline {

namespace {

using dedup::PersonRecord;

// The person fields a dedup source may name, and where each goes.
struct FieldSlot {
  std::string_view name;
  std::string PersonRecord::*member;
};
constexpr std::array<FieldSlot, 12> kFieldSlots = {{
    {"given", &PersonRecord::given},
    {"family", &PersonRecord::family},
    {"birth_date", &PersonRecord::birth_date},
    {"sex", &PersonRecord::sex},
    {"email", &PersonRecord::email},
    {"street_number", &PersonRecord::street_number},
    {"street", &PersonRecord::street},
    {"address_line2", &PersonRecord::address_line2},
    {"locality", &PersonRecord::locality},
    {"region", &PersonRecord::region},
    {"postcode", &PersonRecord::postcode},
    {"national_id", &PersonRecord::national_id},
}};

std::string FieldNames() {
  std::string out;
  for (const FieldSlot& f : kFieldSlots) {
    if (!out.empty()) out += ", ";
    out += f.name;
  }
  return out;
}

bool ParseKey(std::string_view s, int64_t* key) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *key);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Status ForEachDedupRecord(extract::LegacyReader& reader, const spec::DedupSpec& d,
                          const std::function<Status(const PersonRecord&)>& each) {
  return ForEachHashedDedupRecord(reader, d,
                                  [&](const PersonRecord& r, int64_t) { return each(r); });
}

Status ForEachHashedDedupRecord(
    extract::LegacyReader& reader, const spec::DedupSpec& d,
    const std::function<Status(const PersonRecord&, int64_t hash)>& each) {
  Result<std::vector<std::string>> named = reader.Columns(d.source);
  if (!named.ok()) return named.status().Prepend("[dedup] source");
  const std::vector<std::string>& columns = *named;
  if (columns.size() < 2) {
    return Status::InvalidArgument(
        "[dedup] source must return the key first, then person fields by name (" + FieldNames() +
        ")");
  }
  std::vector<std::string PersonRecord::*> slots;
  for (size_t i = 1; i < columns.size(); ++i) {
    auto it = std::find_if(kFieldSlots.begin(), kFieldSlots.end(),
                           [&](const FieldSlot& f) { return f.name == columns[i]; });
    if (it == kFieldSlots.end()) {
      return Status::InvalidArgument(fmt::format(
          "[dedup] source column '{}' is not a person field (allowed: {})", columns[i],
          FieldNames()));
    }
    slots.push_back(it->member);
  }
  PersonRecord r;  // one at a time: its strings keep their capacity
  CopyRow row;
  std::string select = fmt::format("SELECT * FROM ({}) AS q ORDER BY 1", d.source);
  Status s = reader.Stream(select, [&](std::string_view line) -> Status {
    if (!ParseCopyTextLine(line, &row) || row.size != columns.size()) {
      return Status::DataLoss("[dedup] source: a row is not valid COPY text");
    }
    if (row.IsNull(0) || !ParseKey(row.Get(0), &r.id)) {
      return Status::InvalidArgument(fmt::format(
          "[dedup] source: the first column ('{}') must be the entity's integer key", columns[0]));
    }
    r.age_rank = r.id;  // legacy ids grow with time: the smaller, the older
    for (size_t i = 1; i < row.size; ++i) {
      if (row.IsNull(i)) {
        (r.*slots[i - 1]).clear();
      } else {
        (r.*slots[i - 1]).assign(row.Get(i));
      }
    }
    return each(r, RowHash(line));
  });
  if (!s.ok()) return s.Prepend("[dedup] source");
  return Status::Ok();
}

Result<std::vector<PersonRecord>> ReadDedupRecords(extract::LegacyReader& reader,
                                                   const spec::DedupSpec& d) {
  std::vector<PersonRecord> records;
  MM_RETURN_IF_ERROR(ForEachDedupRecord(reader, d, [&](const PersonRecord& r) {
    records.push_back(r);
    return Status::Ok();
  }));
  return records;
}

namespace {

std::string Key(int64_t k) { return std::to_string(k); }

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The hash recorded for a record that left the source: the next run does not
// take it for gone again (a real row's hash is 0 once in 2^64).
constexpr int64_t kGoneHash = 0;

// An unordered pair of legacy keys, smaller first.
std::pair<int64_t, int64_t> PairOf(int64_t a, int64_t b) { return {std::min(a, b), std::max(a, b)}; }

struct PairHash {
  size_t operator()(const std::pair<int64_t, int64_t>& p) const {
    return std::hash<int64_t>{}(p.first * 1000003 ^ p.second);
  }
};

struct ExistingMerge {
  int64_t id = 0;
  std::string legacy_id;
  std::string survivor;
  bool automatic = false;
};

// The explanation of a pair as JSON: the matcher's fields, levels and
// weights, never a value.
nlohmann::json ExplanationJson(const dedup::Explanation& e) {
  nlohmann::json fields = nlohmann::json::array();
  for (const dedup::FieldContribution& f : e.fields) {
    fields.push_back({{"field", std::string(f.field)},
                      {"level", std::string(f.level)},
                      {"bits", std::round(f.bits * 100) / 100},
                      {"tf_bits", std::round(f.tf_bits * 100) / 100}});
  }
  nlohmann::json out = {{"prior_bits", std::round(e.prior_bits * 100) / 100},
                        {"total_bits", std::round(e.total_bits * 100) / 100},
                        {"crossed_names", e.crossed_names},
                        {"fields", fields}};
  // Why a person must decide, whatever the score (dedup::Hold).
  if (!e.hold.empty()) out["hold"] = std::string(e.hold);
  return out;
}

// The hashes recorded at each key's last match, streamed in key order
// (COPY out of the target) beside the records read from the legacy source.
class StoredHashes {
 public:
  explicit StoredHashes(pg::Connection& target) : target_(target) {}
  Status Start(const std::string& entity) {
    MM_RETURN_IF_ERROR(target_.BeginCopyOut(fmt::format(
        "COPY (SELECT DISTINCT ON (legacy_id) legacy_id, hash FROM medmigrate.row_hashes "
        "WHERE entity = {} ORDER BY legacy_id, run_id DESC) TO STDOUT",
        target_.QuoteLiteral(entity))));
    return Advance();
  }
  // Moves to the first stored key >= `key`, adding the keys passed to
  // `gone` (they are not in the source). Keys recorded as gone are skipped.
  Status SkipTo(int64_t key, std::vector<int64_t>* gone) {
    while (has_ && key_ < key) {
      gone->push_back(key_);
      MM_RETURN_IF_ERROR(Advance());
    }
    return Status::Ok();
  }
  // The hash stored for `key` (a key of the source, ascending), or none;
  // the stored keys before it are added to `gone`.
  Status Find(int64_t key, std::vector<int64_t>* gone, std::optional<int64_t>* hash) {
    MM_RETURN_IF_ERROR(SkipTo(key, gone));
    hash->reset();
    if (!has_ || key_ != key) return Status::Ok();
    *hash = hash_;
    return Advance();
  }

 private:
  Status Advance() {
    while (true) {
      line_.clear();
      MM_ASSIGN_OR_RETURN(bool more, target_.AppendCopyData(&line_));
      if (!more) {
        has_ = false;
        return Status::Ok();
      }
      const size_t tab = line_.find('\t');
      if (tab == std::string::npos) continue;
      if (!ParseKey(std::string_view(line_).substr(0, tab), &key_)) continue;
      std::string_view h = std::string_view(line_).substr(tab + 1);
      if (!h.empty() && h.back() == '\n') h.remove_suffix(1);
      if (!ParseKey(h, &hash_) || hash_ == kGoneHash) continue;
      has_ = true;
      return Status::Ok();
    }
  }

  pg::Connection& target_;
  std::string line_;
  bool has_ = false;
  int64_t key_ = 0, hash_ = 0;
};

}  // namespace

Result<DedupPhaseResult> RunDedupPhase(extract::LegacyReader& reader, pg::Connection& target,
                                       const spec::MappingSpec& spec,
                                       const DedupPhaseOptions& o) {
  const spec::DedupSpec& d = spec.dedup;
  DedupPhaseResult result;
  if (d.entity.empty()) return result;
  auto t0 = std::chrono::steady_clock::now();
  const std::string hash_entity = "dedup:" + d.entity;
  if (o.run_id) {
    MM_ASSIGN_OR_RETURN(pg::QueryResult done,
                        target.Query("SELECT records, candidate_pairs, auto_merges, review_pairs "
                                     "FROM medmigrate.dedup_phases WHERE run_id = $1 AND entity = $2",
                                     {std::to_string(*o.run_id), d.entity}));
    if (done.rows() > 0) {
      result.reused = true;
      result.records = done.GetInt(0, 0);
      result.candidate_pairs = done.GetInt(0, 1);
      result.auto_merges = done.GetInt(0, 2);
      result.review_pairs = done.GetInt(0, 3);
      return result;
    }
  }

  // Incremental: the model kept by the last run that recorded one. Without
  // one, this run fits a model and matches every record, as a full run does.
  std::optional<std::string> model_json = o.model_json;
  if (o.incremental && !model_json) {
    MM_ASSIGN_OR_RETURN(model_json, KeptDedupModel(target, d.entity));
  }
  const bool scoped = o.incremental && model_json.has_value();

  // What reviewers and earlier runs decided.
  std::unordered_map<int64_t, ExistingMerge> active;  // by merged record
  {
    MM_ASSIGN_OR_RETURN(
        pg::QueryResult m,
        target.Query("SELECT m.id, m.legacy_id, m.survivor_legacy_id, m.decided_by = 'auto' "
                     "FROM medmigrate.merges m LEFT JOIN medmigrate.runs r ON r.id = m.run_id "
                     "WHERE m.entity = $1 AND m.reverted_at IS NULL "
                     "AND (m.run_id IS NULL OR (NOT r.dry_run AND r.rolled_back_at IS NULL))",
                     {d.entity}));
    for (int i = 0; i < m.rows(); ++i) {
      int64_t k = 0;
      if (!ParseKey(m.Get(i, 1), &k)) continue;
      active[k] = ExistingMerge{m.GetInt(i, 0), std::string(m.Get(i, 1)), std::string(m.Get(i, 2)),
                                m.Get(i, 3) == "t"};
    }
  }
  std::unordered_set<std::pair<int64_t, int64_t>, PairHash> distinct;
  {
    MM_ASSIGN_OR_RETURN(pg::QueryResult p,
                        target.Query("SELECT legacy_id_a, legacy_id_b FROM medmigrate.dedup_pairs "
                                     "WHERE entity = $1 AND status = 'distinct'",
                                     {d.entity}));
    for (int i = 0; i < p.rows(); ++i) {
      int64_t a = 0, b = 0;
      if (ParseKey(p.Get(i, 0), &a) && ParseKey(p.Get(i, 1), &b)) distinct.insert(PairOf(a, b));
    }
  }
  // The record index of each key an automatic merge names, found as read.
  std::unordered_map<int64_t, uint32_t> index_of_key;
  for (const auto& [k, m] : active) {
    int64_t s = 0;
    if (!m.automatic || !ParseKey(m.survivor, &s)) continue;
    index_of_key.emplace(k, UINT32_MAX);
    index_of_key.emplace(s, UINT32_MAX);
  }

  // Prepared as read into a spill file: the phase's memory does not grow
  // with the number of records (DESIGN principle 4). A record is flagged
  // (matched) when new or changed; `hashes` (a spill file of (key, hash))
  // are the hashes to record: the flagged records', and 0 for stored keys
  // that left the source (`gone`).
  std::unique_ptr<dedup::SpilledRecords> store;
  std::optional<dedup::SpillFile> hashes;
  try {
    store = std::make_unique<dedup::SpilledRecords>(o.spill_dir);
    hashes.emplace(o.spill_dir);
  } catch (const std::system_error& e) {
    return Status::Internal(fmt::format("[dedup] {}", e.what()));
  }
  std::vector<uint8_t> flagged;  // one byte per record
  std::vector<int64_t> gone;
  int64_t hash_rows = 0;
  auto add_hash = [&](int64_t key, int64_t hash) {
    const int64_t row[2] = {key, hash};
    hashes->Append(row, sizeof row);
    ++hash_rows;
  };
  dedup::DedupOptions options;
  options.merge_threshold = d.merge_threshold;
  options.review_threshold = d.review_threshold;
  options.keep_threshold = d.review_threshold;
  options.max_cluster_size = static_cast<size_t>(d.max_cluster_size);
  options.spill_dir = o.spill_dir;
  dedup::DedupResult matched;
  dedup::MatchScope scope;
  std::optional<dedup::MatchModel> kept;
  double read_seconds = 0, count_seconds = 0;
  try {
    // The stored hashes stream in key order beside the records (a merge
    // join), never all in memory. Keys that left the source were recorded
    // with hash 0 (kGoneHash), once.
    StoredHashes stored(target);
    if (scoped) MM_RETURN_IF_ERROR(stored.Start(hash_entity));
    MM_RETURN_IF_ERROR(
        ForEachHashedDedupRecord(reader, d, [&](const PersonRecord& r, int64_t h) -> Status {
          bool same = false;
          if (scoped) {
            std::optional<int64_t> was;
            if (Status found = stored.Find(r.id, &gone, &was); !found.ok()) return found;
            same = was == h;
          }
          const uint32_t index = store->Append(dedup::PrepareOne(r));
          if (auto it = index_of_key.find(r.id); it != index_of_key.end()) it->second = index;
          flagged.push_back(same ? 0 : 1);
          if (!same) add_hash(r.id, h);
          return Status::Ok();
        }));
    if (scoped) MM_RETURN_IF_ERROR(stored.SkipTo(INT64_MAX, &gone));
    for (int64_t k : gone) add_hash(k, kGoneHash);
    hashes->Flush();
    read_seconds = Since(t0);
    dedup::CountTermFrequencies(store.get(), options.sort_budget, o.spill_dir);
    count_seconds = Since(t0) - read_seconds;
    result.records = static_cast<int64_t>(store->size());

    if (model_json) {
      std::string error;
      kept = dedup::MatchModel::FromJson(*model_json, store->size(), &error);
      if (!kept) {
        return Status::InvalidArgument(fmt::format("[dedup] {} model is not valid: {}",
                                                   o.model_json ? "the given" : "the stored",
                                                   error));
      }
      result.kept_model = true;
    }
    scope.model = kept ? &*kept : nullptr;
    auto index_of = [&](int64_t k) -> std::optional<uint32_t> {
      auto it = index_of_key.find(k);
      if (it == index_of_key.end() || it->second == UINT32_MAX) return std::nullopt;
      return it->second;
    };
    if (scoped) {
      // A record merged with a flagged or vanished one is decided again too;
      // the other automatic merges join as pairs, so that a cluster a
      // flagged record joins is whole.
      for (const auto& [k, m] : active) {
        int64_t s = 0;
        if (!m.automatic || !ParseKey(m.survivor, &s)) continue;
        std::optional<uint32_t> ik = index_of(k), is = index_of(s);
        if (ik && is && !flagged[*ik] && !flagged[*is]) continue;
        if (ik) flagged[*ik] = 1;
        if (is) flagged[*is] = 1;
      }
      for (const auto& [k, m] : active) {
        int64_t s = 0;
        if (!m.automatic || !ParseKey(m.survivor, &s)) continue;
        std::optional<uint32_t> ik = index_of(k), is = index_of(s);
        if (ik && is && !flagged[*ik] && !flagged[*is]) {
          scope.also.emplace_back(std::min(*ik, *is), std::max(*ik, *is));
        }
      }
      std::sort(scope.also.begin(), scope.also.end());
      scope.only_new = flagged;
    }
    result.matched = scoped ? std::count(flagged.begin(), flagged.end(), 1)
                            : static_cast<int64_t>(store->size());
    if (store->size() > 0) matched = dedup::Deduplicate(*store, options, scope);
  } catch (const std::system_error& e) {
    return Status::Internal(fmt::format("[dedup] {}", e.what()));
  }
  std::vector<uint8_t> changed = scoped ? std::move(flagged) : std::vector<uint8_t>();
  std::vector<uint8_t>().swap(scope.only_new);
  result.candidate_pairs = static_cast<int64_t>(matched.stats.candidate_pairs);
  result.pairs_per_second = matched.stats.pairs_per_second;
  // Records are read back from the spill file: only those of clusters and
  // review pairs.
  const dedup::Records& prepared = *store;
  dedup::PreparedRecord slot_a, slot_b;
  auto key_of = [&](uint32_t i) { return prepared.Get(i, &slot_a).id; };
  auto probability = [&](uint32_t a, uint32_t b) {
    return dedup::MatchModel::Probability(
        matched.model.Score(prepared.Get(a, &slot_a), prepared.Get(b, &slot_b)));
  };
  // Decided again by this phase: every record in a full match; else the
  // flagged ones and the clusters they are in.
  std::unordered_set<int64_t> decided;
  auto is_decided = [&](int64_t k) { return !scoped || decided.count(k) > 0; };

  // The root a record is merged into now (itself when none).
  auto root = [&](int64_t k) {
    for (int guard = 0; guard < 64; ++guard) {
      auto it = active.find(k);
      int64_t next = 0;
      if (it == active.end() || !ParseKey(it->second.survivor, &next)) break;
      k = next;
    }
    return k;
  };
  if (scoped) {
    for (size_t i = 0; i < changed.size(); ++i) {
      if (changed[i]) decided.insert(key_of(static_cast<uint32_t>(i)));
    }
    for (int64_t k : gone) decided.insert(k);
    for (const dedup::Cluster& c : matched.clusters.clusters) {
      bool touched = std::any_of(c.members.begin(), c.members.end(),
                                 [&](uint32_t m) { return changed[m] != 0; });
      if (!touched) continue;
      for (uint32_t m : c.members) decided.insert(key_of(m));
    }
  }
  // Automatic merges this phase wants: record -> (survivor, probability).
  std::map<int64_t, std::pair<int64_t, double>> wanted;
  for (const dedup::Cluster& c : matched.clusters.clusters) {
    std::vector<uint32_t> members = c.members;
    // A pair reviewers called distinct never merges: drop the non-survivor
    // of each such pair from the cluster.
    auto distinct_pair = [&]() -> std::optional<uint32_t> {
      for (size_t i = 0; i < members.size(); ++i) {
        for (size_t j = i + 1; j < members.size(); ++j) {
          if (distinct.count(PairOf(key_of(members[i]), key_of(members[j])))) {
            return members[j] == c.survivor ? members[i] : members[j];
          }
        }
      }
      return std::nullopt;
    };
    for (std::optional<uint32_t> drop; (drop = distinct_pair());) {
      members.erase(std::find(members.begin(), members.end(), *drop));
    }
    int64_t survivor = key_of(c.survivor);
    for (uint32_t m : members) {
      if (m == c.survivor) continue;
      int64_t k = key_of(m);
      if (!is_decided(k)) continue;
      auto it = active.find(k);
      if (it != active.end() && !it->second.automatic) continue;  // a reviewer's merge stands
      if (root(survivor) == k) continue;                          // would close a loop
      wanted[k] = {survivor, probability(m, c.survivor)};
    }
  }

  // Against what is in force: keep, add, supersede (only what was decided again).
  std::vector<int64_t> revert;
  int64_t active_automatic = 0, reverting = 0;
  std::vector<std::pair<int64_t, std::pair<int64_t, double>>> add;
  for (const auto& [k, m] : active) {
    if (!m.automatic) continue;
    ++active_automatic;
    int64_t s = 0;
    if (!is_decided(k) && !(ParseKey(m.survivor, &s) && is_decided(s))) continue;
    auto w = wanted.find(k);
    bool same = w != wanted.end() && Key(w->second.first) == m.survivor;
    if (same) continue;
    ++reverting;
    if (!o.dry_run) revert.push_back(m.id);
  }
  for (const auto& [k, w] : wanted) {
    auto it = active.find(k);
    if (it != active.end() && it->second.survivor == Key(w.first)) continue;
    add.emplace_back(k, w);
  }
  result.added = static_cast<int64_t>(add.size());
  result.superseded = reverting;
  // Automatic merges in force after the phase: the kept ones and the added.
  result.auto_merges = active_automatic - reverting + static_cast<int64_t>(add.size());

  // Review pairs: between the thresholds, or kept apart by the chain guard;
  // in a scoped match, those of the records matched.
  std::vector<dedup::ScoredPair> review;
  for (const dedup::ScoredPair& p : matched.review) {
    if (!scoped || changed[p.a] || changed[p.b]) review.push_back(p);
  }
  result.review_pairs = static_cast<int64_t>(review.size());

  const bool record_hashes = o.run_id && !o.dry_run && o.record_merges;
  if (!o.record_merges && review.empty()) {
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return result;
  }
  MM_RETURN_IF_ERROR(target.Exec("BEGIN"));
  auto fail = [&](const Status& s) {
    if (target.is_open()) (void)target.Exec("ROLLBACK");
    return s;
  };
  const std::string run = o.run_id ? std::to_string(*o.run_id) : "";
  if (o.record_merges && !revert.empty()) {
    std::string ids;
    for (int64_t id : revert) ids += (ids.empty() ? "" : ",") + std::to_string(id);
    Result<pg::QueryResult> r = target.Query(fmt::format(
        "UPDATE medmigrate.merges SET reverted_at = now(), reverted_by = {}, reverted_run_id = {}, "
        "revert_reason = 'no longer matched automatically' WHERE id = ANY('{{{}}}'::bigint[])",
        target.QuoteLiteral(o.run_id ? "run " + run : "dedup run"),
        o.run_id ? run : "NULL", ids));
    if (!r.ok()) return fail(r.status());
  }
  if (o.record_merges && !add.empty()) {
    std::string data;
    for (const auto& [k, w] : add) {
      data += fmt::format("{}\t{}\t{}\t{}\t{:.6f}\tauto\t", run.empty() ? "\\N" : run, d.entity, k,
                          w.first, w.second);
      data += fmt::format("match probability {:.6f} at or above the merge threshold {}\n",
                          w.second, d.merge_threshold);
    }
    Status s = target.BeginCopyIn(
        "COPY medmigrate.merges (run_id, entity, legacy_id, survivor_legacy_id, probability, "
        "decided_by, reason) FROM STDIN");
    if (s.ok()) s = target.PutCopyData(data);
    if (s.ok()) s = target.EndCopyIn().status();
    if (!s.ok()) return fail(s);
  }
  if (record_hashes && hash_rows > 0) {
    // What the decisions were taken on: the next incremental run matches
    // only records whose hash then differs. Read back from the spill file
    // and sent in 1 MB pieces.
    constexpr size_t kCopyChunk = 1 << 20;
    constexpr int64_t kRowsPerRead = 4096;
    std::string data;
    std::vector<int64_t> rows(2 * kRowsPerRead);
    Status s = target.BeginCopyIn(
        "COPY medmigrate.row_hashes (entity, legacy_id, run_id, hash) FROM STDIN");
    try {
      for (int64_t at = 0; s.ok() && at < hash_rows; at += kRowsPerRead) {
        const int64_t n = std::min(kRowsPerRead, hash_rows - at);
        hashes->ReadAt(static_cast<uint64_t>(at) * 2 * sizeof(int64_t), rows.data(),
                       static_cast<size_t>(n) * 2 * sizeof(int64_t));
        for (int64_t i = 0; i < n; ++i) {
          fmt::format_to(std::back_inserter(data), "{}\t{}\t{}\t{}\n", hash_entity, rows[2 * i],
                         run, rows[2 * i + 1]);
        }
        if (data.size() >= kCopyChunk || at + n == hash_rows) {
          s = target.PutCopyData(data);
          data.clear();
        }
      }
    } catch (const std::system_error& e) {
      s = Status::Internal(fmt::format("[dedup] {}", e.what()));
    }
    if (s.ok()) s = target.EndCopyIn().status();
    if (!s.ok()) return fail(s);
  }
  if (!o.dry_run && !review.empty()) {
    Status s = target.Exec(
        "CREATE TEMP TABLE IF NOT EXISTS mm_dedup_pairs (entity text, a text, b text, survivor text, "
        "probability double precision, explanation jsonb, run bigint) ON COMMIT DROP");
    if (s.ok()) s = target.BeginCopyIn("COPY pg_temp.mm_dedup_pairs FROM STDIN");
    if (s.ok()) {
      // Sent in pieces: the rows of 40,000 pairs with their explanations
      // were 20 MB and more in one string, the phase's peak at large scale.
      constexpr size_t kCopyChunk = 1 << 20;
      std::string data;
      for (const dedup::ScoredPair& p : review) {
        int64_t a = key_of(p.a), b = key_of(p.b);
        uint32_t survivor = dedup::ChooseSurvivor(prepared, {p.a, p.b});
        auto [lo, hi] = PairOf(a, b);
        std::string expl =
            ExplanationJson(matched.model.Explain(prepared.Get(p.a, &slot_a),
                                                  prepared.Get(p.b, &slot_b)))
                .dump();
        data += fmt::format("{}\t{}\t{}\t{}\t{:.6f}\t", d.entity, lo, hi, key_of(survivor),
                            p.probability);
        AppendCopyTextEscaped(expl, &data);
        data += fmt::format("\t{}\n", run.empty() ? "\\N" : run);
        if (data.size() >= kCopyChunk) {
          s = target.PutCopyData(data);
          if (!s.ok()) break;
          data.clear();
        }
      }
      if (s.ok() && !data.empty()) s = target.PutCopyData(data);
      if (s.ok()) s = target.EndCopyIn().status();
    }
    if (s.ok()) {
      s = target.Exec(
          "INSERT INTO medmigrate.dedup_pairs AS p (entity, legacy_id_a, legacy_id_b, "
          "survivor_legacy_id, probability, explanation, first_run_id) "
          "SELECT entity, a, b, survivor, probability, explanation, run FROM pg_temp.mm_dedup_pairs "
          "ON CONFLICT (entity, legacy_id_a, legacy_id_b) DO UPDATE SET "
          "probability = excluded.probability, explanation = excluded.explanation, "
          "survivor_legacy_id = excluded.survivor_legacy_id, last_seen_at = now()");
    }
    if (!s.ok()) return fail(s);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o.run_id) {
    Result<pg::QueryResult> r = target.Query(
        "INSERT INTO medmigrate.dedup_phases (run_id, entity, records, candidate_pairs, "
        "auto_merges, review_pairs, seconds, matched, model) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
        {run, d.entity, std::to_string(result.records), std::to_string(result.candidate_pairs),
         std::to_string(result.auto_merges), std::to_string(result.review_pairs),
         fmt::format("{:.3f}", result.seconds), std::to_string(result.matched),
         prepared.size() == 0 ? std::optional<std::string>() : matched.model.ToJson()});
    if (!r.ok()) return fail(r.status());
  }
  MM_RETURN_IF_ERROR(target.Commit());
  spdlog::info("dedup {}: {} records, {} matched{}, {} candidate pairs, {} merges added, {} "
               "superseded, {} review pairs, {:.1f}s (read {:.1f}s, count {:.1f}s, block and fit "
               "{:.1f}s, score {:.1f}s, cluster {:.1f}s)",
               d.entity, result.records, result.matched,
               result.kept_model ? " with the kept model" : "", result.candidate_pairs,
               result.added, result.superseded, result.review_pairs, result.seconds, read_seconds,
               count_seconds, matched.stats.fit_seconds, matched.stats.score_seconds,
               matched.stats.cluster_seconds);
  return result;
}

Result<std::optional<std::string>> KeptDedupModel(pg::Connection& target,
                                                  const std::string& entity) {
  return target.QueryValue(
      "SELECT p.model::text FROM medmigrate.dedup_phases p "
      "JOIN medmigrate.runs r ON r.id = p.run_id WHERE p.entity = $1 "
      "AND p.model IS NOT NULL AND NOT r.dry_run AND r.rolled_back_at IS NULL "
      "ORDER BY r.id DESC LIMIT 1",
      {entity});
}

Result<transform::MergeMaps> LoadMergeMaps(pg::Connection& target,
                                           std::optional<int64_t> dry_run_id) {
  std::string sql = "SELECT entity, legacy_id, survivor_legacy_id FROM medmigrate.active_merges";
  if (dry_run_id) {
    sql += fmt::format(
        " UNION SELECT entity, legacy_id, survivor_legacy_id FROM medmigrate.merges "
        "WHERE run_id = {} AND reverted_at IS NULL",
        *dry_run_id);
  }
  MM_ASSIGN_OR_RETURN(pg::QueryResult r, target.Query(sql));
  transform::MergeMaps maps;
  for (int i = 0; i < r.rows(); ++i) {
    maps[std::string(r.Get(i, 0))][std::string(r.Get(i, 1))] = std::string(r.Get(i, 2));
  }
  return maps;
}

Result<int64_t> SoftDeleteMerged(pg::Connection& target, const std::string& entity,
                                 const transform::MergeMap& merges, const std::string& schema,
                                 int64_t run, bool capture) {
  if (merges.empty()) return int64_t{0};
  std::string keys;
  for (const auto& [k, survivor] : merges) {
    int64_t key = 0;
    if (!ParseKey(k, &key)) continue;
    keys += (keys.empty() ? "" : ",") + k;
  }
  MM_RETURN_IF_ERROR(target.Exec("BEGIN"));
  auto fail = [&](const Status& s) {
    if (target.is_open()) (void)target.Exec("ROLLBACK");
    return s;
  };
  Status s = target.Exec(fmt::format("SET LOCAL medmigrate.capture_run = '{}'",
                                     capture ? std::to_string(run) : std::string()));
  if (!s.ok()) return fail(s);
  Result<pg::QueryResult> r = target.Query(
      fmt::format("UPDATE {}.{} t SET deleted_at = now() FROM medmigrate.active_merges m "
                  "WHERE m.entity = $1 AND t.legacy_id::text = m.legacy_id AND t.deleted_at IS NULL "
                  "AND t.legacy_id = ANY($2::bigint[])",
                  target.QuoteIdent(schema), target.QuoteIdent(entity)),
      {entity, "{" + keys + "}"});
  if (!r.ok()) return fail(r.status());
  Result<pg::QueryResult> counted =
      target.Query("UPDATE medmigrate.run_entities SET deleted = deleted + $3 WHERE run_id = $1 "
                   "AND entity = $2",
                   {std::to_string(run), entity, std::to_string(r->AffectedRows())});
  if (!counted.ok()) return fail(counted.status());
  MM_RETURN_IF_ERROR(target.Commit());
  return r->AffectedRows();
}

Result<std::vector<int64_t>> MergeChangedRecords(pg::Connection& target,
                                                 const std::string& entity,
                                                 const std::string& schema, int64_t run) {
  // Since the start of the last good run: decisions taken or taken back.
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      target.Query(
          fmt::format(
              "WITH since AS (SELECT coalesce(max(started_at), '-infinity') AS t "
              "  FROM medmigrate.runs WHERE state = 'succeeded' AND NOT dry_run "
              "  AND rolled_back_at IS NULL AND id <> $2) "
              "SELECT t.legacy_id FROM {0}.{1} t JOIN medmigrate.active_merges m "
              "ON m.entity = $1 AND m.legacy_id = t.legacy_id::text WHERE t.deleted_at IS NULL "
              "UNION "
              "SELECT g.legacy_id::bigint FROM medmigrate.merges g, since "
              "WHERE g.entity = $1 AND g.legacy_id ~ '^-?[0-9]+$' AND (g.run_id = $2 "
              "OR g.decided_at >= since.t OR g.reverted_at >= since.t) "
              "ORDER BY 1",
              target.QuoteIdent(schema), target.QuoteIdent(entity)),
          {entity, std::to_string(run)}));
  std::vector<int64_t> keys;
  for (int i = 0; i < r.rows(); ++i) keys.push_back(r.GetInt(i, 0));
  return keys;
}

}  // namespace medmigrate::pipeline
