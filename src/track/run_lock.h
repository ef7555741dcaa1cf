// The run lock: one run, rollback or validation at a time per target, across
// processes and hosts, as a PostgreSQL session-level advisory lock. The lock
// lives exactly as long as the session holding it, so a killed process frees
// it, and so does a dropped or terminated connection: the holder must notice
// (RunLock watches its session) and must not write once it is gone. Every
// batch a run commits proves in its own transaction that the holding session
// still holds the lock (CommitGuardSql), so no write of a run lands after a
// second run could have taken the lock, however late the watcher notices.
//
// Threads: a RunLock's watcher thread owns its connection; the other members
// may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/status.h"
#include "pg/connection.h"

namespace medmigrate::track {

// The advisory lock key of "a run (or a rollback) holds this target" ('mmig').
inline constexpr int64_t kRunLockKey = 0x6d6d6967;

// A condition that holds while the run lock of the session's database is
// held by backend `pid`, or with `pid` 0 by any backend but `except_pid`.
std::string RunLockHeldSql(int pid, int except_pid = 0);

class RunLock {
 public:
  // Takes the lock on a connection of its own. nullptr when another session
  // holds it.
  static Result<std::unique_ptr<RunLock>> TryAcquire(const std::string& target_url);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  // Checks the holding session every `interval_ms` from a thread of its own;
  // when it is gone (terminated, dropped, server restarted), calls `on_lost`
  // once, from that thread. The lock is not taken again: the holder stops.
  void Watch(std::function<void()> on_lost, int interval_ms = 200);
  bool lost() const { return lost_.load(); }
  // The backend holding the lock (for CommitGuardSql).
  int holder_pid() const { return pid_; }

  // A query that returns one row while the lock is held by this RunLock's
  // session and none once it is not: run it in a write transaction before
  // COMMIT, and roll back when it returns nothing.
  std::string CommitGuardSql() const;

 private:
  RunLock() = default;
  pg::Connection conn_;
  int pid_ = 0;
  std::atomic<bool> lost_{false};
  std::atomic<bool> stop_{false};
  std::thread watcher_;
};

// Runs left `running` by a process that died (SIGKILL, a crash, a lost lock
// connection) are marked interrupted when no session holds the run lock: a
// live run always holds it. A run that holds the lock itself passes its
// backend as `holder_pid`. Returns how many were marked. One statement, so a
// run that takes the lock meanwhile is not marked.
Result<int64_t> MarkAbandonedRuns(pg::Connection& conn, int holder_pid = 0);

}  // namespace medmigrate::track
