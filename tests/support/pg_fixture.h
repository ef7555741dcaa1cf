// The real-PostgreSQL test fixture. Every integration test talks to the private
// cluster of the test run (build/test-pg), started by ctest's pg_cluster_start
// fixture or, when a test binary runs alone, on first use, with the same code
// as `medmigrate pg start`. Each test makes its own databases, so tests run in
// parallel without seeing each other.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pg/connection.h"
#include "pg/embedded_cluster.h"
#include "support/test_macros.h"

namespace medmigrate::testing {

// The run's cluster, started when needed. Aborts the test binary when it cannot start.
const pg::ClusterInfo& TestCluster();

// A fresh, empty database, dropped (with any connections to it) on destruction.
class TestDatabase {
 public:
  // `prefix` becomes part of the name, which is unique across processes.
  explicit TestDatabase(std::string_view prefix = "t");
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  std::string url() const { return TestCluster().Url(name_); }
  // A new connection to this database; fails the test on error.
  pg::Connection Connect() const;

 private:
  std::string name_;
};

// Runs one query on `conn` and returns its single value (empty string when NULL).
// Fails the current test when the query fails.
std::string QueryString(pg::Connection& conn, std::string_view sql);
int64_t QueryInt(pg::Connection& conn, std::string_view sql);

}  // namespace medmigrate::testing
