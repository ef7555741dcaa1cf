#include "pg/connection.h"

#include <thread>

#include <gtest/gtest.h>

#include "support/pg_fixture.h"

namespace medmigrate::pg {
namespace {

using testing::TestCluster;
using testing::TestDatabase;

std::string WithPassword(const std::string& url, const std::string& password) {
  // postgres://user:PASSWORD@host...
  size_t colon = url.find(':', url.find("://") + 3);
  size_t at = url.find('@');
  return url.substr(0, colon + 1) + password + url.substr(at);
}

TEST(ConnectionTest, WrongPasswordNamesUserAndHidesPassword) {
  std::string url = WithPassword(TestCluster().Url("postgres"), "not-the-password-42");
  Result<Connection> c = Connection::Open(url, "legacy database");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(c.status().message().find("wrong password"), std::string::npos);
  EXPECT_NE(c.status().message().find("\"postgres\""), std::string::npos);
  EXPECT_EQ(c.status().message().find("not-the-password-42"), std::string::npos);
  EXPECT_NE(c.status().message().find("****"), std::string::npos);
}

TEST(ConnectionTest, MissingDatabaseSaysSo) {
  Result<Connection> c = Connection::Open(TestCluster().Url("no_such_db"), "target database");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("database \"no_such_db\" does not exist"), std::string::npos)
      << c.status().message();
  EXPECT_EQ(c.status().message().find(TestCluster().password), std::string::npos);
}

TEST(ConnectionTest, UnreachablePortIsUnavailableAndTransient) {
  // Port 1 on loopback: nobody listens there.
  Result<Connection> c = Connection::Open("postgres://u:secretpw@127.0.0.1:1/db", "legacy database");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(c.status().message().find("cannot reach 127.0.0.1:1"), std::string::npos)
      << c.status().message();
  EXPECT_EQ(c.status().message().find("secretpw"), std::string::npos);
  EXPECT_TRUE(IsTransient(c.status()));
}

TEST(ConnectionTest, NotAUrlIsInvalidArgument) {
  for (const char* bad : {"mysql://u:p@h/db", "localhost:5432/db", "", "postgres://h:notaport/db"}) {
    Result<Connection> c = Connection::Open(bad, "--legacy-url");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << bad << ": " << c.status().message();
    EXPECT_NE(c.status().message().find("--legacy-url"), std::string::npos);
  }
}

TEST(ConnectionTest, QueryWithParametersAndNulls) {
  TestDatabase db("conn");
  Connection c = db.Connect();
  Result<QueryResult> r = c.Query("SELECT $1::int + 1, $2::text IS NULL, $3::text", {"41", std::nullopt, "x"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->GetInt(0, 0), 42);
  EXPECT_EQ(r->Get(0, 1), "t");
  EXPECT_EQ(*r->GetOptional(0, 2), "x");
}

TEST(ConnectionTest, CopyRoundTripKeepsEveryByte) {
  TestDatabase db("copy");
  Connection c = db.Connect();
  ASSERT_OK(c.Exec("CREATE TABLE t (id int, v text)"));
  const std::vector<std::optional<std::string>> values = {
      "plain", "tab\there", "new\nline", "back\\slash", "quote\"'", "\x01\x02\x1f control",
      "José Müller 李", "<script>alert(1)</script>", "", std::nullopt, "\\N literal"};
  ASSERT_OK(c.BeginCopyIn("COPY t (id, v) FROM STDIN"));
  CopyTextWriter w(&c, 16);  // tiny buffer: forces many flushes
  for (size_t i = 0; i < values.size(); ++i) {
    w.Int(static_cast<int64_t>(i));
    w.Optional(values[i]);
    ASSERT_OK(w.EndRow());
  }
  ASSERT_OK(w.Flush());
  Result<int64_t> rows = c.EndCopyIn();
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, static_cast<int64_t>(values.size()));

  Result<QueryResult> r = c.Query("SELECT v FROM t ORDER BY id");
  ASSERT_TRUE(r.ok());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(r->GetOptional(static_cast<int>(i), 0), values[i]) << "row " << i;
  }

  // And back out through COPY TO STDOUT.
  ASSERT_OK(c.BeginCopyOut("COPY (SELECT id FROM t ORDER BY id) TO STDOUT"));
  std::string chunk;
  int lines = 0;
  while (true) {
    Result<bool> more = c.GetCopyData(&chunk);
    ASSERT_TRUE(more.ok()) << more.status().message();
    if (!*more) break;
    EXPECT_EQ(chunk, std::to_string(lines) + "\n");
    ++lines;
  }
  EXPECT_EQ(lines, static_cast<int>(values.size()));
}

TEST(ConnectionTest, DataErrorsWithholdTheValue) {
  TestDatabase db("withhold");
  Connection c = db.Connect();
  Result<QueryResult> r = c.Query("SELECT 'Jane Doe 1984-02-30'::date");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().sqlstate().substr(0, 2), "22");
  EXPECT_EQ(r.status().message().find("Jane"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("value withheld"), std::string::npos);
}

TEST(ConnectionTest, TerminatedBackendIsTransient) {
  TestDatabase db("terminate");
  Connection victim = db.Connect();
  Connection killer = db.Connect();
  int pid = victim.backend_pid();
  ASSERT_OK(killer.Query("SELECT pg_terminate_backend($1)", {std::to_string(pid)}).status());
  // The backend may take a moment to go.
  Status s;
  for (int i = 0; i < 50 && s.ok(); ++i) {
    s = victim.Exec("SELECT 1");
    if (s.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(IsTransient(s)) << s.message() << " sqlstate=" << s.sqlstate();
}

}  // namespace
}  // namespace medmigrate::pg
