// A private PostgreSQL cluster under a folder of the project (default
// .medmigrate/pg), run with the system's PostgreSQL binaries: the demo's
// database server and the test harness's. initdb on first use, a free loopback
// port, listening on 127.0.0.1 only (no Unix socket), password (SCRAM)
// authentication for every connection. PostgreSQL refuses to run as root, so
// when the caller is root the server runs as the unprivileged system user
// "medmigrate", created on first use.
//
// Layout of the folder:
//   data/          PGDATA, owned by the server's user, mode 0700
//   cluster.json   port, user, password; mode 0600, owned by the caller
//   postgres.log   the server's log
//   .lock          flock()ed while starting or stopping, so concurrent callers
//                  (parallel test binaries) start one server, not several
//
// The cluster is disposable (demo, tests, benchmarks): fsync is off.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace medmigrate::pg {

struct ClusterOptions {
  std::string data_dir = ".medmigrate/pg";
  // Where initdb, pg_ctl and postgres live; empty: $MEDMIGRATE_PG_BINDIR, else the
  // newest /usr/lib/postgresql/<version>/bin.
  std::string bin_dir;
  // Databases created (when missing) on every start.
  std::vector<std::string> databases = {"mdw_legacy", "platform"};
};

struct ClusterInfo {
  std::string data_dir;  // absolute
  std::string bin_dir;
  int port = 0;
  std::string user;      // the database superuser
  std::string password;
  bool running = false;
  int pid = 0;           // the postmaster's, when running
  std::string version;   // "15.18"

  // postgres://user:password@127.0.0.1:port/dbname (holds the password: mask before printing).
  std::string Url(std::string_view dbname) const;
  std::string LegacyUrl() const { return Url("mdw_legacy"); }
  std::string TargetUrl() const { return Url("platform"); }
};

// Starts the cluster, creating it first when the folder holds none. Idempotent:
// a running cluster is left running. Safe to call from several processes at once.
Result<ClusterInfo> StartCluster(const ClusterOptions& options);

// Stops the cluster (fast shutdown) when it runs. NotFound when there is none.
Status StopCluster(const ClusterOptions& options);

// What the folder holds and whether its server runs. NotFound when there is no cluster.
Result<ClusterInfo> ClusterStatus(const ClusterOptions& options);

}  // namespace medmigrate::pg
