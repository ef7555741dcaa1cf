#include "track/run_lock.h"

#include <chrono>

#include <fmt/format.h>

namespace medmigrate::track {

std::string RunLockHeldSql(int pid, int except_pid) {
  // A bigint advisory key shows as classid (high half), objid (low half) and
  // objsubid 1; advisory locks are per database.
  return fmt::format(
      "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = {} "
      "AND objid = {} AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname "
      "= current_database()){})",
      static_cast<uint32_t>(kRunLockKey >> 32), static_cast<uint32_t>(kRunLockKey & 0xffffffff),
      pid != 0 ? fmt::format(" AND pid = {}", pid)
               : (except_pid != 0 ? fmt::format(" AND pid <> {}", except_pid) : ""));
}

Result<std::unique_ptr<RunLock>> RunLock::TryAcquire(const std::string& target_url) {
  MM_ASSIGN_OR_RETURN(pg::Connection conn,
                      pg::Connection::Open(target_url, "target database", "medmigrate lock"));
  MM_ASSIGN_OR_RETURN(pg::QueryResult locked, conn.Query(fmt::format(
                                                   "SELECT pg_try_advisory_lock({})", kRunLockKey)));
  if (locked.rows() != 1 || locked.Get(0, 0) != "t") return std::unique_ptr<RunLock>();
  std::unique_ptr<RunLock> lock(new RunLock());
  lock->pid_ = conn.backend_pid();
  lock->conn_ = std::move(conn);
  return lock;
}

RunLock::~RunLock() {
  stop_.store(true);
  if (watcher_.joinable()) watcher_.join();
  // Closing the session releases the lock.
}

void RunLock::Watch(std::function<void()> on_lost, int interval_ms) {
  watcher_ = std::thread([this, on_lost = std::move(on_lost), interval_ms] {
    using namespace std::chrono;
    while (!stop_.load()) {
      // A terminated backend, a dropped connection or a restarted server all
      // fail this round trip; the server has then freed the lock (or will,
      // once it notices, and until then nobody else can take it).
      if (!conn_.Exec("SELECT 1").ok()) {
        lost_.store(true);
        on_lost();
        return;
      }
      for (int waited = 0; waited < interval_ms && !stop_.load(); waited += 20) {
        std::this_thread::sleep_for(milliseconds(20));
      }
    }
  });
}

std::string RunLock::CommitGuardSql() const {
  return "SELECT 1 WHERE " + RunLockHeldSql(pid_);
}

Result<int64_t> MarkAbandonedRuns(pg::Connection& conn, int holder_pid) {
  const std::string held =
      holder_pid != 0 ? RunLockHeldSql(0, holder_pid) : RunLockHeldSql(0);
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn.Query(fmt::format(
          "WITH marked AS (UPDATE medmigrate.runs SET state = 'interrupted', "
          "finished_at = coalesce(finished_at, now()), error = coalesce(error, "
          "'the run''s process ended without finishing it (killed, or its connection to the "
          "target was lost): resume it with ''medmigrate migrate --resume ' || id || '''') "
          "WHERE state = 'running' AND NOT {} RETURNING id), "
          "live AS (UPDATE medmigrate.live_status SET state = 'interrupted', updated_at = now() "
          "WHERE state = 'running' AND run_id IN (SELECT id FROM marked) RETURNING 1) "
          "SELECT (SELECT count(*) FROM marked), (SELECT count(*) FROM live)",
          held)));
  return r.GetInt(0, 0);
}

}  // namespace medmigrate::track
