#include "schema/migrator.h"

#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <map>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "schema/embedded_sql.h"

namespace medmigrate::schema {

namespace {

// The key of the transaction-level advisory lock that serializes inits
// ("mm_init" in ASCII). Distinct from the run lock of principle 9, so an init
// does not wait for a migration run, and the other way round.
constexpr int64_t kInitLockKey = 0x6d6d5f696e6974;

// Bootstraps medmigrate.schema_migrations; see the file's comment.
constexpr std::string_view kBootstrapPath = "tracking/bootstrap.sql";

// How much of a checksum an error message shows.
constexpr size_t kChecksumPrefix = 12;

std::string Prefix(std::string_view checksum) {
  return std::string(checksum.substr(0, kChecksumPrefix));
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return {};
  return buf;
}

std::optional<SchemaScope> ParseScope(std::string_view name) {
  if (name == "main") return SchemaScope::kMain;
  if (name == "tracking") return SchemaScope::kTracking;
  return std::nullopt;
}

// One recorded row of medmigrate.schema_migrations.
struct Recorded {
  SchemaScope scope = SchemaScope::kMain;
  int version = 0;
  std::string name;
  std::string checksum;
  std::optional<std::string> applied_at;
  std::optional<std::string> applied_by;
  int64_t duration_ms = 0;

  std::string path() const { return fmt::format("{}/{}", ScopeName(scope), name); }
};

using Key = std::pair<SchemaScope, int>;

Result<bool> BookkeepingExists(pg::Connection& conn) {
  MM_ASSIGN_OR_RETURN(std::optional<std::string> v,
                      conn.QueryValue("SELECT to_regclass('medmigrate.schema_migrations')"));
  return v.has_value();
}

Result<std::vector<Recorded>> ReadRecorded(pg::Connection& conn) {
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn.Query("SELECT scope, version, name, checksum, applied_at::text, applied_by, "
                 "duration_ms FROM medmigrate.schema_migrations ORDER BY scope, version"));
  std::vector<Recorded> out;
  for (int i = 0; i < r.rows(); ++i) {
    std::optional<SchemaScope> scope = ParseScope(r.Get(i, 0));
    if (!scope) {
      return Status::DataLoss(fmt::format(
          "medmigrate.schema_migrations holds an unknown scope '{}'", r.Get(i, 0)));
    }
    out.push_back(Recorded{.scope = *scope,
                           .version = static_cast<int>(r.GetInt(i, 1)),
                           .name = std::string(r.Get(i, 2)),
                           .checksum = std::string(r.Get(i, 3)),
                           .applied_at = r.GetOptional(i, 4),
                           .applied_by = r.GetOptional(i, 5),
                           .duration_ms = r.GetInt(i, 6)});
  }
  return out;
}

Status ChecksumMismatch(const Migration& m, std::string_view recorded) {
  return Status::DataLoss(fmt::format(
      "{} was changed after it was applied to this database (recorded checksum {}, this "
      "medmigrate has {}); nothing was applied: restore the file as it was, and put the change "
      "in a new numbered migration instead of editing an applied one",
      m.path(), Prefix(recorded), Prefix(m.checksum)));
}

// Checks every recorded file against `available`; the first problem found.
Status VerifyRecorded(const std::vector<Recorded>& recorded,
                      const std::map<Key, const Migration*>& by_key) {
  for (const Recorded& r : recorded) {
    auto it = by_key.find({r.scope, r.version});
    if (it == by_key.end()) {
      return Status::FailedPrecondition(fmt::format(
          "this database was initialised by a newer medmigrate: it has {} applied, which this "
          "medmigrate does not know; nothing was applied: use the medmigrate version that "
          "initialised it, or a newer one",
          r.path()));
    }
    if (it->second->checksum != r.checksum) return ChecksumMismatch(*it->second, r.checksum);
  }
  return Status::Ok();
}

// Runs `body` in a transaction that holds the init lock; commits when it
// returns OK, else rolls back and returns its Status.
template <typename F>
Status InLockedTransaction(pg::Connection& conn, F&& body) {
  MM_RETURN_IF_ERROR(conn.Exec("BEGIN"));
  Status s = conn.Exec(
      // NOTICEs such as "schema already exists, skipping" are noise for an operator.
      "SET LOCAL client_min_messages = warning; " +
      fmt::format("SELECT pg_advisory_xact_lock({})", kInitLockKey));
  if (s.ok()) s = body();
  if (s.ok()) s = conn.Exec("COMMIT");
  if (!s.ok()) (void)conn.Exec("ROLLBACK");  // may fail too when the connection is gone
  return s;
}

}  // namespace

std::string_view ScopeName(SchemaScope scope) {
  return scope == SchemaScope::kMain ? "main" : "tracking";
}

std::vector<SchemaScope> AllScopes() { return {SchemaScope::kTracking, SchemaScope::kMain}; }

std::string Migration::path() const { return fmt::format("{}/{}", ScopeName(scope), name); }

std::string Sha256Hex(std::string_view bytes) {
  static const int sodium_ready = sodium_init();  // thread-safe, idempotent
  (void)sodium_ready;  // crypto_hash_sha256 does not depend on it succeeding
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  std::string hex;
  hex.reserve(2 * sizeof(digest));
  for (unsigned char c : digest) hex += fmt::format("{:02x}", c);
  return hex;
}

std::optional<Migration> ParseMigrationPath(std::string_view path, std::string_view sql) {
  size_t slash = path.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::optional<SchemaScope> scope = ParseScope(path.substr(0, slash));
  if (!scope) return std::nullopt;
  std::string_view file = path.substr(slash + 1);
  constexpr std::string_view kExt = ".sql";
  if (file.size() <= kExt.size() || file.substr(file.size() - kExt.size()) != kExt) {
    return std::nullopt;
  }
  size_t underscore = file.find('_');
  if (underscore == std::string_view::npos || underscore < 4) return std::nullopt;
  std::string_view digits = file.substr(0, underscore);
  std::string_view name = file.substr(underscore + 1, file.size() - kExt.size() - underscore - 1);
  if (name.empty() || digits.size() > 9) return std::nullopt;
  int version = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    version = version * 10 + (c - '0');
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return std::nullopt;
  }
  if (version <= 0) return std::nullopt;
  return Migration{.scope = *scope,
                   .version = version,
                   .name = std::string(file),
                   .sql = sql,
                   .checksum = Sha256Hex(sql)};
}

Result<std::vector<Migration>> EmbeddedMigrations() {
  std::vector<Migration> out;
  for (const EmbeddedSqlFile& f : EmbeddedSqlFiles()) {
    if (std::optional<Migration> m = ParseMigrationPath(f.path, f.content)) out.push_back(*m);
  }
  std::sort(out.begin(), out.end(), [](const Migration& a, const Migration& b) {
    return std::pair(a.scope, a.version) < std::pair(b.scope, b.version);
  });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].scope == out[i - 1].scope && out[i].version == out[i - 1].version) {
      return Status::Internal(fmt::format("{} and {} share version {}", out[i - 1].path(),
                                          out[i].path(), out[i].version));
    }
  }
  return out;
}

Result<std::vector<Migration>> EmbeddedMigrations(SchemaScope scope) {
  MM_ASSIGN_OR_RETURN(std::vector<Migration> all, EmbeddedMigrations());
  std::erase_if(all, [scope](const Migration& m) { return m.scope != scope; });
  return all;
}

int InitReport::AppliedCount() const {
  return static_cast<int>(
      std::count_if(files.begin(), files.end(), [](const auto& f) { return f.applied_now; }));
}

int InitReport::AlreadyAppliedCount() const {
  return static_cast<int>(files.size()) - AppliedCount();
}

Result<InitReport> ApplyMigrations(pg::Connection& conn, const std::vector<SchemaScope>& scopes,
                                   const std::vector<Migration>& available) {
  std::map<Key, const Migration*> by_key;
  for (const Migration& m : available) {
    if (!by_key.emplace(Key{m.scope, m.version}, &m).second) {
      return Status::Internal(fmt::format("two migrations have version {} of {}", m.version,
                                          ScopeName(m.scope)));
    }
  }
  std::string_view bootstrap = FindEmbeddedSql(kBootstrapPath);
  if (bootstrap.empty()) return Status::Internal(fmt::format("{} is not embedded", kBootstrapPath));

  // 1. Bookkeeping and verification, before anything is applied.
  std::set<Key> recorded_keys;
  Status s = InLockedTransaction(conn, [&]() -> Status {
    MM_ASSIGN_OR_RETURN(bool exists, BookkeepingExists(conn));
    if (!exists) {
      MM_RETURN_NOT_OK_PREPEND(conn.Exec(bootstrap),
                               "create medmigrate.schema_migrations (" +
                                   std::string(kBootstrapPath) + ")");
    }
    MM_ASSIGN_OR_RETURN(std::vector<Recorded> recorded, ReadRecorded(conn));
    MM_RETURN_IF_ERROR(VerifyRecorded(recorded, by_key));
    std::map<SchemaScope, int> max_recorded;
    for (const Recorded& r : recorded) {
      recorded_keys.insert({r.scope, r.version});
      max_recorded[r.scope] = std::max(max_recorded[r.scope], r.version);
    }
    for (const auto& [key, m] : by_key) {
      if (recorded_keys.contains(key)) continue;
      auto it = max_recorded.find(key.first);
      if (it != max_recorded.end() && key.second < it->second) {
        return Status::FailedPrecondition(fmt::format(
            "{} is not applied but a later {} migration (version {}) is; nothing was applied: "
            "a new migration must take the next number after the last applied one",
            m->path(), ScopeName(key.first), it->second));
      }
    }
    return Status::Ok();
  });
  MM_RETURN_IF_ERROR(s);

  // 2. Each pending file in its own transaction, with its record.
  const std::string host = HostName();
  InitReport report;
  for (SchemaScope scope : AllScopes()) {
    if (std::find(scopes.begin(), scopes.end(), scope) == scopes.end()) continue;
    for (const auto& [key, m] : by_key) {
      if (key.first != scope) continue;
      MigrationOutcome outcome{.scope = scope, .version = m->version, .path = m->path(),
                               .applied_now = false, .duration_ms = 0};
      if (recorded_keys.contains(key)) {
        report.files.push_back(std::move(outcome));
        continue;
      }
      s = InLockedTransaction(conn, [&]() -> Status {
        // Another init may have applied it since step 1.
        MM_ASSIGN_OR_RETURN(
            std::optional<std::string> recorded,
            conn.QueryValue("SELECT checksum FROM medmigrate.schema_migrations "
                            "WHERE scope = $1 AND version = $2",
                            {std::string(ScopeName(scope)), std::to_string(m->version)}));
        if (recorded) {
          return *recorded == m->checksum ? Status::Ok() : ChecksumMismatch(*m, *recorded);
        }
        auto start = std::chrono::steady_clock::now();
        MM_RETURN_IF_ERROR(conn.Exec(m->sql));
        outcome.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - start)
                                  .count();
        outcome.applied_now = true;
        MM_ASSIGN_OR_RETURN(
            pg::QueryResult ignored,
            conn.Query("INSERT INTO medmigrate.schema_migrations "
                       "(scope, version, name, checksum, client_host, duration_ms) "
                       "VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6)",
                       {std::string(ScopeName(scope)), std::to_string(m->version), m->name,
                        m->checksum, host, std::to_string(outcome.duration_ms)}));
        (void)ignored;
        return Status::Ok();
      });
      if (!s.ok()) return s.Prepend("apply " + m->path());
      report.files.push_back(std::move(outcome));
    }
  }
  return report;
}

Result<InitReport> InitSchemas(std::string_view target_url, std::vector<SchemaScope> scopes) {
  if (scopes.empty()) scopes = AllScopes();
  MM_ASSIGN_OR_RETURN(std::vector<Migration> available, EmbeddedMigrations());
  MM_ASSIGN_OR_RETURN(pg::Connection conn,
                      pg::Connection::Open(target_url, "target database", "medmigrate init"));
  return ApplyMigrations(conn, scopes, available);
}

Result<std::vector<MigrationState>> ListMigrationStates(pg::Connection& conn,
                                                        const std::vector<Migration>& available) {
  std::vector<Recorded> recorded;
  MM_ASSIGN_OR_RETURN(bool exists, BookkeepingExists(conn));
  if (exists) {
    MM_ASSIGN_OR_RETURN(recorded, ReadRecorded(conn));
  }
  std::map<Key, MigrationState> states;
  for (const Migration& m : available) {
    states[{m.scope, m.version}] = MigrationState{.scope = m.scope,
                                                  .version = m.version,
                                                  .path = m.path(),
                                                  .kind = MigrationState::Kind::kPending,
                                                  .checksum = m.checksum,
                                                  .recorded_checksum = {},
                                                  .applied_at = std::nullopt,
                                                  .applied_by = std::nullopt,
                                                  .duration_ms = 0};
  }
  for (const Recorded& r : recorded) {
    auto [it, inserted] = states.try_emplace({r.scope, r.version});
    MigrationState& st = it->second;
    if (inserted) {
      st.scope = r.scope;
      st.version = r.version;
      st.path = r.path();
      st.kind = MigrationState::Kind::kUnknown;
    } else {
      st.kind = st.checksum == r.checksum ? MigrationState::Kind::kApplied
                                          : MigrationState::Kind::kModified;
    }
    st.recorded_checksum = r.checksum;
    st.applied_at = r.applied_at;
    st.applied_by = r.applied_by;
    st.duration_ms = r.duration_ms;
  }
  std::vector<MigrationState> out;
  out.reserve(states.size());
  for (auto& [key, st] : states) out.push_back(std::move(st));
  return out;
}

}  // namespace medmigrate::schema
