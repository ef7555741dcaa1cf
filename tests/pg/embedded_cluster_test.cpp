#include "pg/embedded_cluster.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "pg/connection.h"
#include "support/pg_fixture.h"
#include "support/process.h"

namespace medmigrate::pg {
namespace {

// One cluster of its own (not the shared test cluster): created, stopped,
// restarted and removed by the test.
class EmbeddedClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("cluster");
    options_.data_dir = dir_ + "/pg";
    options_.databases = {"mdw_legacy", "platform"};
  }
  void TearDown() override {
    (void)StopCluster(options_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
  ClusterOptions options_;
};

TEST_F(EmbeddedClusterTest, LifecycleKeepsDataAndCredentials) {
  EXPECT_EQ(ClusterStatus(options_).status().code(), StatusCode::kNotFound);

  ASSERT_OK_AND_ASSIGN(ClusterInfo first, StartCluster(options_));
  EXPECT_TRUE(first.running);
  EXPECT_GT(first.pid, 0);
  EXPECT_GT(first.port, 0);
  EXPECT_GE(first.password.size(), 24u);

  {
    ASSERT_OK_AND_ASSIGN(Connection c, Connection::Open(first.LegacyUrl(), "legacy"));
    ASSERT_OK(c.Exec("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)"));
    // Loopback only, password authentication, no Unix socket.
    EXPECT_EQ(*c.QueryValue("SHOW listen_addresses").value(), "127.0.0.1");
    EXPECT_EQ(*c.QueryValue("SHOW unix_socket_directories").value(), "");
    EXPECT_EQ(*c.QueryValue("SHOW password_encryption").value(), "scram-sha-256");
    ASSERT_OK_AND_ASSIGN(Connection t, Connection::Open(first.TargetUrl(), "target"));
  }
  // Without the password the server refuses.
  Result<Connection> nopw = Connection::Open(
      "postgres://postgres@127.0.0.1:" + std::to_string(first.port) + "/postgres", "legacy");
  EXPECT_EQ(nopw.status().code(), StatusCode::kUnauthenticated) << nopw.status().message();

  ASSERT_OK(StopCluster(options_));
  ASSERT_OK_AND_ASSIGN(ClusterInfo stopped, ClusterStatus(options_));
  EXPECT_FALSE(stopped.running);
  EXPECT_FALSE(Connection::Open(first.LegacyUrl(), "legacy").ok());

  ASSERT_OK_AND_ASSIGN(ClusterInfo again, StartCluster(options_));
  EXPECT_EQ(again.password, first.password);
  ASSERT_OK_AND_ASSIGN(Connection c, Connection::Open(again.LegacyUrl(), "legacy"));
  EXPECT_EQ(*c.QueryValue("SELECT x FROM kept").value(), "7");
}

TEST_F(EmbeddedClusterTest, ConcurrentStartsMakeOneServer) {
  auto start = [&] { return StartCluster(options_); };
  auto a = std::async(std::launch::async, start);
  auto b = std::async(std::launch::async, start);
  Result<ClusterInfo> ra = a.get(), rb = b.get();
  ASSERT_TRUE(ra.ok()) << ra.status().message();
  ASSERT_TRUE(rb.ok()) << rb.status().message();
  EXPECT_EQ(ra->port, rb->port);
  EXPECT_EQ(ra->pid, rb->pid);
}

TEST_F(EmbeddedClusterTest, ATakenPortIsReplacedOnRestart) {
  ASSERT_OK_AND_ASSIGN(ClusterInfo first, StartCluster(options_));
  ASSERT_OK(StopCluster(options_));
  ClusterOptions other = options_;
  other.data_dir = dir_ + "/other";
  ASSERT_OK_AND_ASSIGN(ClusterInfo squatter, StartCluster(other));
  // Record the squatter's port as ours, as if another program had taken our
  // port while we were stopped.
  std::string info_path = options_.data_dir + "/cluster.json";
  nlohmann::json j = nlohmann::json::parse(std::ifstream(info_path));
  j["port"] = squatter.port;
  std::ofstream(info_path) << j.dump();

  ASSERT_OK_AND_ASSIGN(ClusterInfo again, StartCluster(options_));
  EXPECT_TRUE(again.running);
  EXPECT_NE(again.port, squatter.port);
  EXPECT_EQ(again.password, first.password);
  ASSERT_OK_AND_ASSIGN(Connection c, Connection::Open(again.LegacyUrl(), "legacy"));
  (void)StopCluster(other);
}

}  // namespace
}  // namespace medmigrate::pg

namespace medmigrate::pg {
namespace {

// As root, a folder the server's user cannot enter (a project under /root)
// still gets a cluster: its files live elsewhere, cluster.json stays.
TEST_F(EmbeddedClusterTest, FolderOutOfTheServerUsersReachStillWorks) {
  if (geteuid() != 0) GTEST_SKIP() << "only root runs the server as another user";
  std::string closed = dir_ + "/closed";
  std::filesystem::create_directories(closed);
  std::filesystem::permissions(closed, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace);
  options_.data_dir = closed + "/pg";
  ASSERT_OK_AND_ASSIGN(ClusterInfo info, StartCluster(options_));
  ASSERT_OK_AND_ASSIGN(Connection c, Connection::Open(info.LegacyUrl(), "legacy"));
  nlohmann::json j = nlohmann::json::parse(std::ifstream(options_.data_dir + "/cluster.json"));
  std::string home = j["server_home"];
  EXPECT_EQ(home.rfind("/var/lib/medmigrate/clusters/", 0), 0u) << home;
  ASSERT_OK(StopCluster(options_));
  ASSERT_OK_AND_ASSIGN(ClusterInfo again, StartCluster(options_));
  EXPECT_EQ(again.password, info.password);
  ASSERT_OK(StopCluster(options_));
  std::error_code ec;
  std::filesystem::remove_all(home, ec);
}

TEST_F(EmbeddedClusterTest, DamagedRecordIsNeverMistakenForNoCluster) {
  ASSERT_OK_AND_ASSIGN(ClusterInfo info, StartCluster(options_));
  (void)info;
  ASSERT_OK(StopCluster(options_));
  std::ofstream(options_.data_dir + "/cluster.json") << "{ not json";
  Result<ClusterInfo> r = StartCluster(options_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(std::filesystem::exists(options_.data_dir + "/data/PG_VERSION"));
}

}  // namespace
}  // namespace medmigrate::pg
