// The run lock under faults (issue 14 items 1 and 6), with the CLI as a
// process: the lock's connection terminated mid-run (alone, and with every
// other backend of the target), SIGTERM and SIGKILL. A run that lost its lock
// commits nothing after, ends interrupted and resumes to the same counts; no
// command ever shows `running` for a run whose process is gone.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "generate/legacy_generator.h"
#include "schema/migrator.h"
#include "support/pg_fixture.h"
#include "support/process.h"
#include "support/test_macros.h"

namespace medmigrate {
namespace {

using testing::QueryInt;
using testing::QueryString;
using testing::TestDatabase;

class RunLockTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    legacy_ = new TestDatabase("lock_legacy");
    generate::GenerateOptions g;
    g.url = legacy_->url();
    g.scale = generate::Scale::kTiny;
    g.seed = 5;
    ASSERT_TRUE(generate::GenerateLegacy(g).ok());
  }
  static void TearDownTestSuite() {
    delete legacy_;
    legacy_ = nullptr;
  }

  void SetUp() override {
    target_ = std::make_unique<TestDatabase>("lock_target");
    auto r = schema::InitSchemas(target_->url(), {});
    ASSERT_TRUE(r.ok()) << r.status().message();
    t_ = target_->Connect();
  }

  std::vector<std::string> MigrateArgs(const std::string& resume = "") const {
    // Small batches, one worker, no validation: a run long enough to be hit mid-way.
    std::vector<std::string> args = {"--log-level", "warn",          "migrate",
                                     "--legacy-url", legacy_->url(), "--target-url",
                                     target_->url(), "--batch-size", "20",
                                     "--max-concurrency", "1",       "--no-validate"};
    if (!resume.empty()) {
      args.push_back("--resume");
      args.push_back(resume);
    }
    return args;
  }

  // Waits until the run has committed some rows (true), or process `pid`
  // (0: none to watch) ended first.
  bool WaitForCommittedRows(pid_t pid, int64_t rows = 200) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      if (QueryInt(t_, "SELECT coalesce(sum(read), 0) FROM medmigrate.run_entities") >= rows) {
        return true;
      }
      int status;
      if (pid != 0 && waitpid(pid, &status, WNOHANG) == pid) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  std::string RunState(const std::string& run) {
    return QueryString(t_, "SELECT state FROM medmigrate.runs WHERE id = " + run);
  }

  // Runs `migrate --resume run` to the end and checks every entity balances.
  void ResumeToSuccess(const std::string& run) {
    testing::ProcessOutput resumed = testing::RunMedmigrate(MigrateArgs(run));
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    EXPECT_EQ(RunState(run), "succeeded");
    EXPECT_EQ(QueryInt(t_, "SELECT count(*) FROM medmigrate.run_entities WHERE run_id = " + run +
                               " AND read <> loaded + rejected + merged"),
              0);
    EXPECT_EQ(QueryInt(t_, "SELECT count(*) FROM patients"),
              QueryInt(t_, "SELECT loaded FROM medmigrate.run_entities WHERE entity = 'patients' "
                           "AND run_id = " + run));
  }

  // Terminates the target's backends of the run: the lock's alone, or all,
  // and waits until they are gone. Returns the server's clock then.
  std::string Terminate(bool every_backend) {
    int64_t n = QueryInt(
        t_, fmt::format("SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity WHERE "
                        "datname = current_database() AND pid <> pg_backend_pid() AND "
                        "application_name {}",
                        every_backend ? "LIKE 'medmigrate%'" : "= 'medmigrate lock'"));
    EXPECT_GE(n, 1);
    return QueryString(t_, "SELECT clock_timestamp()::text");
  }

  static TestDatabase* legacy_;
  std::unique_ptr<TestDatabase> target_;
  pg::Connection t_;
};

TestDatabase* RunLockTest::legacy_ = nullptr;

TEST_F(RunLockTest, TerminatedLockConnectionStopsTheRunBeforeASecondOneStarts) {
  testing::ProcessOutput first;
  // RunMedmigrate blocks and captures the output: on a thread.
  std::thread runner([&] { first = testing::RunMedmigrate(MigrateArgs()); });
  // Wait until the lock is held and rows are committed.
  const bool hit = WaitForCommittedRows(0);
  ASSERT_TRUE(hit) << "the run committed no rows in time";
  const std::string killed_at = Terminate(/*every_backend=*/false);
  // A second run right away: it is accepted (the lock is free) only once the
  // first has stopped writing.
  testing::ProcessOutput second = testing::RunMedmigrate(MigrateArgs());
  runner.join();
  ASSERT_NE(first.exit_code, 0) << first.out;
  EXPECT_NE(first.err.find("run lock was lost"), std::string::npos) << first.err;
  const std::string run1 = QueryString(t_, "SELECT min(id) FROM medmigrate.runs");
  EXPECT_EQ(RunState(run1), "interrupted");
  EXPECT_NE(QueryString(t_, "SELECT error FROM medmigrate.runs WHERE id = " + run1)
                .find("--resume " + run1),
            std::string::npos);
  // Nothing of run 1 committed after its lock was lost.
  EXPECT_EQ(QueryInt(t_, fmt::format("SELECT count(*) FROM medmigrate.checkpoints WHERE run_id = "
                                     "{} AND committed_at > '{}'::timestamptz",
                                     run1, killed_at)),
            0);
  // The second run either ran alone to the end, or (started while the first
  // was still stopping) was refused; never both at once.
  if (second.exit_code == 0) {
    const std::string run2 = QueryString(t_, "SELECT max(id) FROM medmigrate.runs");
    EXPECT_NE(run2, run1);
    EXPECT_EQ(RunState(run2), "succeeded");
    EXPECT_GE(QueryInt(t_, fmt::format("SELECT count(*) FROM medmigrate.runs r1, medmigrate.runs "
                                       "r2 WHERE r1.id = {} AND r2.id = {} AND r2.started_at >= "
                                       "'{}'::timestamptz",
                                       run1, run2, killed_at)),
              1);
  } else {
    EXPECT_NE(second.err.find("another migration is running"), std::string::npos) << second.err;
    ResumeToSuccess(run1);
  }
}

TEST_F(RunLockTest, EveryBackendTerminatedEndsInterruptedAndResumes) {
  std::thread runner;
  testing::ProcessOutput first;
  runner = std::thread([&] { first = testing::RunMedmigrate(MigrateArgs()); });
  const bool hit = WaitForCommittedRows(0);
  ASSERT_TRUE(hit) << "the run committed no rows in time";
  const std::string killed_at = Terminate(/*every_backend=*/true);
  runner.join();
  ASSERT_NE(first.exit_code, 0) << first.out;
  const std::string run = QueryString(t_, "SELECT max(id) FROM medmigrate.runs");
  EXPECT_EQ(RunState(run), "interrupted");
  // The message names the cause, not a phase that failed because of it.
  EXPECT_NE(first.err.find("run lock was lost"), std::string::npos) << first.err;
  EXPECT_EQ(QueryInt(t_, fmt::format("SELECT count(*) FROM medmigrate.checkpoints WHERE run_id = "
                                     "{} AND committed_at > '{}'::timestamptz",
                                     run, killed_at)),
            0);
  ResumeToSuccess(run);
}

TEST_F(RunLockTest, SigtermEndsTheRunInterruptedAndResumable) {
  pid_t pid = testing::SpawnMedmigrate(MigrateArgs());
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(WaitForCommittedRows(pid)) << "the run ended before it could be signalled";
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  // Not killed by the signal: it stopped at a batch boundary and said so.
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  const std::string run = QueryString(t_, "SELECT max(id) FROM medmigrate.runs");
  EXPECT_EQ(RunState(run), "interrupted");
  EXPECT_NE(QueryString(t_, "SELECT error FROM medmigrate.runs WHERE id = " + run)
                .find("--resume " + run),
            std::string::npos);
  ResumeToSuccess(run);
}

TEST_F(RunLockTest, AfterSigkillStatusAndListSayInterrupted) {
  pid_t pid = testing::SpawnMedmigrate(MigrateArgs());
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(WaitForCommittedRows(pid)) << "the run ended before it could be killed";
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  const std::string run = QueryString(t_, "SELECT max(id) FROM medmigrate.runs");
  // The killed process could not say so: the row still says running.
  EXPECT_EQ(RunState(run), "running");
  // The server frees the lock when it sees the session gone.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (QueryInt(t_, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND application_name = 'medmigrate lock'") > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  testing::ProcessOutput st =
      testing::RunMedmigrate({"status", "--target-url", target_->url()});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  EXPECT_NE(st.out.find("no migration is running"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find(fmt::format("latest run {}: full interrupted", run)), std::string::npos)
      << st.out;
  EXPECT_EQ(RunState(run), "interrupted");
  testing::ProcessOutput list = testing::RunMedmigrate({"list", "--target-url", target_->url()});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out.find("running"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("interrupted"), std::string::npos) << list.out;
  ResumeToSuccess(run);
}

TEST_F(RunLockTest, StatusOfALiveRunLeavesItRunning) {
  pid_t pid = testing::SpawnMedmigrate(MigrateArgs());
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(WaitForCommittedRows(pid)) << "the run ended before status could see it";
  testing::ProcessOutput st =
      testing::RunMedmigrate({"status", "--target-url", target_->url()});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  const std::string run = QueryString(t_, "SELECT max(id) FROM medmigrate.runs");
  const std::string state = RunState(run);
  int status = 0;
  waitpid(pid, &status, 0);
  // Still running when status looked (or finished by itself), never marked.
  EXPECT_TRUE(state == "running" || state == "succeeded") << state;
  EXPECT_EQ(RunState(run), "succeeded");
}

}  // namespace
}  // namespace medmigrate
