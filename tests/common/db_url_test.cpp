#include "common/db_url.h"

#include <gtest/gtest.h>

namespace medmigrate {
namespace {

struct MaskCase {
  const char* in;
  const char* out;
};

class MaskUrlTest : public ::testing::TestWithParam<MaskCase> {};

TEST_P(MaskUrlTest, HidesEveryPassword) { EXPECT_EQ(MaskUrl(GetParam().in), GetParam().out); }

INSTANTIATE_TEST_SUITE_P(
    Table, MaskUrlTest,
    ::testing::Values(
        MaskCase{"postgres://u:secret@h:5432/db", "postgres://u:****@h:5432/db"},
        MaskCase{"postgresql://u:p%40ss@h/db?sslmode=require",
                 "postgresql://u:****@h/db?sslmode=require"},
        MaskCase{"postgres://u:a@b@h/db", "postgres://u:****@h/db"},
        MaskCase{"postgres://u@h/db", "postgres://u@h/db"},
        MaskCase{"postgres://h/db?password=x&user=u", "postgres://h/db?password=****&user=u"},
        MaskCase{"host=h password=secret user=u", "host=h password=**** user=u"},
        MaskCase{"host=h password='se cret' user=u", "host=h password=**** user=u"},
        MaskCase{"legacy (postgres://a:1@x/y) and target (postgres://b:2@z/w)",
                 "legacy (postgres://a:****@x/y) and target (postgres://b:****@z/w)"},
        MaskCase{"postgres://u:Pa55/Secret@host/db", "postgres://u:****@host/db"},
        MaskCase{"postgres://u:pa?ss@h/db", "postgres://u:****@h/db"},
        MaskCase{"postgres://u:p#w@h/db", "postgres://u:****@h/db"},
        MaskCase{"'postgres://u:a/b?c@d@h/db' is bad", "'postgres://u:****@h/db' is bad"},
        MaskCase{"not a url", "not a url"}));

// Issue 14 item 2: a registered password is masked wherever a message quotes
// it, in any spelling, whatever characters it holds.
TEST(RegisterSecretTest, MasksTheSecretInEveryForm) {
  const std::string secret = "Zq9/?@#:%&=+ x";
  RegisterSecret(secret);
  EXPECT_EQ(MaskUrl("failed for " + secret + "!"), "failed for ****!");
  EXPECT_EQ(MaskUrl("encoded " + PercentEncode(secret)), "encoded ****");
  EXPECT_EQ(MaskUrl("nothing here"), "nothing here");
  RegisterUrlSecrets("postgres://u:Kx7%2Fw%40v@h/db?password=Yw8qq&x=1");
  EXPECT_EQ(MaskUrl("Kx7/w@v and Kx7%2Fw%40v and Yw8qq"), "**** and **** and ****");
  RegisterSecret("ab");  // too short to mask in free text
  EXPECT_EQ(MaskUrl("a table"), "a table");
}

UrlParts Parts(std::string host, std::string port, std::string db, std::string user,
               std::string password, std::string ssl) {
  UrlParts p;
  p.host = host;
  p.port = port;
  p.dbname = db;
  p.user = user;
  p.password = password;
  p.ssl = ssl;
  return p;
}

TEST(BuildUrlTest, BuildsFromParts) {
  UrlParts p = Parts("db.example", "6543", "mdw", "app", "p@ss word", "true");
  Result<std::string> url = BuildUrl(p, "LEGACY_DB_*");
  ASSERT_TRUE(url.ok()) << url.status().message();
  EXPECT_EQ(*url, "postgres://app:p%40ss%20word@db.example:6543/mdw?sslmode=require");
}

TEST(BuildUrlTest, RejectsBadPortWithoutLeakingPassword) {
  UrlParts p = Parts("h", "99999", "d", "u", "hunter2", "");
  Result<std::string> url = BuildUrl(p, "LEGACY_DB_* variables");
  ASSERT_FALSE(url.ok());
  EXPECT_EQ(url.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(url.status().message().find("99999"), std::string::npos);
  EXPECT_EQ(url.status().message().find("hunter2"), std::string::npos);
}

TEST(BuildUrlTest, NamesMissingHostAndBadSsl) {
  EXPECT_NE(BuildUrl(Parts("", "", "d", "", "", ""), "X").status().message().find("host"),
            std::string::npos);
  Result<std::string> r = BuildUrl(Parts("h", "", "d", "", "", "maybe"), "X");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("maybe"), std::string::npos);
  EXPECT_EQ(*BuildUrl(Parts("h", "", "d", "", "", "0"), "X"),
            "postgres://h/d?sslmode=disable");
}

}  // namespace
}  // namespace medmigrate
