#include "support/pg_fixture.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

namespace medmigrate::testing {

const pg::ClusterInfo& TestCluster() {
  static const pg::ClusterInfo info = [] {
    pg::ClusterOptions o;
    o.data_dir = MEDMIGRATE_TEST_PG_DIR;
    o.databases = {};
    Result<pg::ClusterInfo> r = pg::StartCluster(o);
    if (!r.ok()) {
      std::cerr << "cannot start the test cluster: " << r.status().message() << "\n";
      std::abort();
    }
    return *r;
  }();
  return info;
}

TestDatabase::TestDatabase(std::string_view prefix) {
  static std::atomic<int> counter{0};
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  name_ = fmt::format("{}_{}_{}_{}", prefix, getpid(), counter++, now % 100000);
  Result<pg::Connection> admin = pg::Connection::Open(TestCluster().Url("postgres"), "test cluster");
  if (!admin.ok()) {
    ADD_FAILURE() << admin.status().message();
    return;
  }
  Status s = admin->Exec("CREATE DATABASE " + admin->QuoteIdent(name_));
  if (!s.ok()) ADD_FAILURE() << s.message();
}

TestDatabase::~TestDatabase() {
  if (std::getenv("MEDMIGRATE_KEEP_TEST_DB") != nullptr) {
    std::cerr << "keeping test database " << name_ << "\n";
    return;
  }
  Result<pg::Connection> admin = pg::Connection::Open(TestCluster().Url("postgres"), "test cluster");
  if (!admin.ok()) return;
  (void)admin->Exec("DROP DATABASE IF EXISTS " + admin->QuoteIdent(name_) + " WITH (FORCE)");
}

pg::Connection TestDatabase::Connect() const {
  Result<pg::Connection> c = pg::Connection::Open(url(), "test database");
  if (!c.ok()) {
    ADD_FAILURE() << c.status().message();
    return pg::Connection();
  }
  return std::move(c).value();
}

std::string QueryString(pg::Connection& conn, std::string_view sql) {
  Result<std::optional<std::string>> r = conn.QueryValue(sql);
  if (!r.ok()) {
    ADD_FAILURE() << sql << ": " << r.status().message();
    return {};
  }
  return r->value_or("");
}

int64_t QueryInt(pg::Connection& conn, std::string_view sql) {
  std::string s = QueryString(conn, sql);
  return s.empty() ? 0 : std::stoll(s);
}

}  // namespace medmigrate::testing
