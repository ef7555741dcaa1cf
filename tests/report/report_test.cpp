// `medmigrate migrate`, `validate` and `report` as processes, as an operator
// runs them: the report's counts equal the tracking schema's and the target's,
// its JSON follows docs/report-schema.json, the HTML renders in headless
// Chromium (screenshot in build/Testing/artifacts/) and no report holds a
// patient's name, e-mail or birth date; bad input gets one line and a
// non-zero exit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/pg_fixture.h"
#include "support/process.h"

namespace medmigrate::report {
namespace {

using ::testing::HasSubstr;
using testing::ProcessOutput;
using testing::QueryInt;
using testing::QueryString;
using testing::RunMedmigrate;
using testing::TestDatabase;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A small JSON Schema check: type, const, enum, required, properties, items,
// oneOf and local $ref. Appends what does not match to *errors.
void Check(const nlohmann::json& schema, const nlohmann::json& root, const nlohmann::json& v,
           const std::string& at, std::vector<std::string>* errors) {
  if (schema.contains("$ref")) {
    std::string ref = schema["$ref"];  // "#/$defs/name"
    Check(root["$defs"][ref.substr(ref.rfind('/') + 1)], root, v, at, errors);
    return;
  }
  if (schema.contains("oneOf")) {
    int matches = 0;
    for (const auto& s : schema["oneOf"]) {
      std::vector<std::string> e;
      Check(s, root, v, at, &e);
      if (e.empty()) ++matches;
    }
    if (matches != 1) errors->push_back(at + ": matches " + std::to_string(matches) + " of oneOf");
    return;
  }
  if (schema.contains("type")) {
    std::vector<std::string> types;
    if (schema["type"].is_array()) {
      for (const auto& t : schema["type"]) types.push_back(t);
    } else {
      types.push_back(schema["type"]);
    }
    bool ok = false;
    for (const std::string& t : types) {
      ok = ok || (t == "object" && v.is_object()) || (t == "array" && v.is_array()) ||
           (t == "string" && v.is_string()) || (t == "integer" && v.is_number_integer()) ||
           (t == "number" && v.is_number()) || (t == "boolean" && v.is_boolean()) ||
           (t == "null" && v.is_null());
    }
    if (!ok) errors->push_back(at + ": not of type " + schema["type"].dump());
  }
  if (schema.contains("const") && v != schema["const"]) errors->push_back(at + ": not the const");
  if (schema.contains("enum") &&
      std::find(schema["enum"].begin(), schema["enum"].end(), v) == schema["enum"].end()) {
    errors->push_back(at + ": " + v.dump() + " not in enum");
  }
  if (v.is_object()) {
    for (const auto& r : schema.value("required", nlohmann::json::array())) {
      if (!v.contains(r.get<std::string>())) errors->push_back(at + ": missing " + r.dump());
    }
    const nlohmann::json properties = schema.value("properties", nlohmann::json::object());
    for (const auto& [k, s] : properties.items()) {
      if (v.contains(k)) Check(s, root, v[k], at + "." + k, errors);
    }
  }
  if (v.is_array() && schema.contains("items")) {
    for (size_t i = 0; i < v.size(); ++i) {
      Check(schema["items"], root, v[i], at + "[" + std::to_string(i) + "]", errors);
    }
  }
}

class ReportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    legacy_ = new TestDatabase("rlegacy");
    target_ = new TestDatabase("rtarget");
    dir_ = testing::MakeTempDir("report");
    ProcessOutput g =
        RunMedmigrate({"--log-level", "warn", "generate", "--scale", "tiny", "--seed", "3",
                       "--quiet", "--legacy-url", legacy_->url(), "--truth", dir_ + "/truth.json"});
    ASSERT_EQ(g.exit_code, 0) << g.err;
    ProcessOutput i =
        RunMedmigrate({"--log-level", "warn", "init", "--target-url", target_->url()});
    ASSERT_EQ(i.exit_code, 0) << i.err;
    ProcessOutput m =
        RunMedmigrate({"--log-level", "warn", "migrate", "--legacy-url", legacy_->url(),
                       "--target-url", target_->url(), "--max-concurrency", "2", "--json"},
                      Options());
    ASSERT_EQ(m.exit_code, 0) << m.err;
    summary_ = nlohmann::json::parse(m.out);
    run_ = summary_["run_id"];
  }
  static void TearDownTestSuite() {
    delete legacy_;
    delete target_;
  }
  static testing::ProcessOptions Options() {
    testing::ProcessOptions o;
    o.cwd = dir_;
    return o;
  }
  static ProcessOutput Report(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--log-level",        "warn",         "report",
                                     std::to_string(run_), "--target-url", target_->url()};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunMedmigrate(args, Options());
  }

  static TestDatabase* legacy_;
  static TestDatabase* target_;
  static std::string dir_;
  static nlohmann::json summary_;
  static int64_t run_;
};

TestDatabase* ReportTest::legacy_ = nullptr;
TestDatabase* ReportTest::target_ = nullptr;
std::string ReportTest::dir_;
nlohmann::json ReportTest::summary_;
int64_t ReportTest::run_ = 0;

TEST_F(ReportTest, MigrateValidatesAtTheEndAndSaysSo) {
  ASSERT_TRUE(summary_["validation"].is_object()) << summary_.dump();
  EXPECT_EQ(summary_["validation"]["result"], "passed");
  ProcessOutput v = RunMedmigrate({"--log-level", "warn", "validate", std::to_string(run_),
                                   "--legacy-url", legacy_->url(), "--target-url", target_->url()},
                                  Options());
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_THAT(v.out, HasSubstr("passed"));
}

TEST_F(ReportTest, JsonFollowsTheSchemaAndItsCountsAreTheDatabases) {
  std::string file = dir_ + "/report.json";
  ProcessOutput r = Report({"--format", "json", "--output", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json report = nlohmann::json::parse(ReadFile(file));
  nlohmann::json schema = nlohmann::json::parse(
      ReadFile(std::string(MEDMIGRATE_SOURCE_DIR) + "/docs/report-schema.json"));
  std::vector<std::string> errors;
  Check(schema, schema, report, "$", &errors);
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  ASSERT_TRUE(report["validation"].is_object());
  EXPECT_EQ(report["validation"]["passed"], true);

  pg::Connection c = target_->Connect();
  ASSERT_EQ(report["entities"].size(),
            static_cast<size_t>(QueryInt(c,
                                         "SELECT count(*) FROM medmigrate.run_entities WHERE "
                                         "run_id = " +
                                             std::to_string(run_))));
  int64_t read = 0;
  for (const auto& e : report["entities"]) {
    std::string name = e["entity"];
    std::string where = " WHERE run_id = " + std::to_string(run_) + " AND entity = '" + name + "'";
    for (const char* col :
         {"read", "loaded", "rejected", "merged", "warnings", "inserted", "updated", "deleted"}) {
      EXPECT_EQ(e[col].get<int64_t>(),
                QueryInt(c, std::string("SELECT ") + col + " FROM medmigrate.run_entities" + where))
          << name << "." << col;
    }
    EXPECT_EQ(e["loaded"].get<int64_t>(),
              QueryInt(c, "SELECT count(*) FROM public." + name + " WHERE deleted_at IS NULL"))
        << name;
    EXPECT_EQ(e["rejected"].get<int64_t>(),
              QueryInt(c, "SELECT count(*) FROM medmigrate.rejects" + where))
        << name;
    EXPECT_EQ(e["warnings"].get<int64_t>(),
              QueryInt(c, "SELECT count(*) FROM medmigrate.warnings" + where))
        << name;
    read += e["read"].get<int64_t>();
  }
  EXPECT_EQ(report["totals"]["read"].get<int64_t>(), read);
  EXPECT_EQ(report["run"]["rows_read"].get<int64_t>(), read);
  // Reject groups add up to the rejects.
  int64_t grouped = 0;
  for (const auto& g : report["rejects"]) grouped += g["count"].get<int64_t>();
  EXPECT_EQ(grouped, QueryInt(c, "SELECT count(*) FROM medmigrate.rejects WHERE run_id = " +
                                     std::to_string(run_)));
  EXPECT_FALSE(report["throughput"].empty());
}

TEST_F(ReportTest, MarkdownHasTheEntityTableAndTheValidation) {
  ProcessOutput r = Report({"--format", "md"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("| entity | state | read | loaded |"));
  EXPECT_THAT(r.out, HasSubstr("| orders | succeeded |"));
  EXPECT_THAT(r.out, HasSubstr("## Rejects by reason"));
  EXPECT_THAT(r.out, HasSubstr("orphan_reference"));
  EXPECT_THAT(r.out, HasSubstr("passed"));
}

TEST_F(ReportTest, HtmlRendersInHeadlessChromiumAndHoldsNoPatientData) {
  std::string html = dir_ + "/report.html";
  ProcessOutput r = Report({"--format", "html", "--output", html});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string text = ReadFile(html);
  // Self-contained: no external asset.
  EXPECT_EQ(text.find("src=\"http"), std::string::npos);
  EXPECT_EQ(text.find("href=\"http"), std::string::npos);
  EXPECT_THAT(text, HasSubstr("<svg"));

  std::filesystem::create_directories(MEDMIGRATE_ARTIFACTS_DIR);
  std::string png = std::string(MEDMIGRATE_ARTIFACTS_DIR) + "/report.png";
  std::filesystem::remove(png);
  std::string cmd =
      "timeout 120 chromium --headless --no-sandbox --disable-gpu --screenshot=" + png +
      " --window-size=1200,1600 file://" + html + " >" + dir_ + "/chromium.log 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0)
      << "headless chromium failed (install it: scripts/setup.sh); "
      << ReadFile(dir_ + "/chromium.log");
  ASSERT_TRUE(std::filesystem::exists(png));
  std::string image = ReadFile(png);
  EXPECT_GT(image.size(), 20000u) << "a near-empty screenshot";
  EXPECT_EQ(image.substr(1, 3), "PNG");
  std::string dom_file = dir_ + "/dom.html";
  std::string dump =
      "timeout 120 chromium --headless --no-sandbox --disable-gpu --dump-dom file://" + html +
      " >" + dom_file + " 2>/dev/null";
  ASSERT_EQ(std::system(dump.c_str()), 0);
  std::string dom = ReadFile(dom_file);
  EXPECT_THAT(dom, HasSubstr("id=\"entities\""));
  for (const char* e : {"profiles", "patients", "orders", "products", "instruction_states"}) {
    EXPECT_THAT(dom, HasSubstr("data-entity=\"" + std::string(e) + "\"")) << e;
  }

  // Every generated name, e-mail and birth date is absent from every format,
  // as a word of its own (a name may be part of a word: 'mary' in 'primary').
  // The generator's non-address e-mail tokens (n/a, none, unknown) are not a
  // person's data and are words of the report's own vocabulary.
  std::string md = Report({"--format", "md"}).out;
  std::string json = Report({"--format", "json"}).out;
  pg::Connection legacy = legacy_->Connect();
  std::string values =
      QueryString(legacy,
                  "SELECT string_agg(v, E'\\n') FROM (SELECT DISTINCT btrim(v) AS v FROM ("
                  "SELECT first_name AS v FROM auth_user UNION ALL SELECT last_name FROM auth_user "
                  "UNION ALL SELECT email FROM auth_user UNION ALL "
                  "SELECT birthdate::text FROM dispatch_patient WHERE birthdate IS NOT NULL) x) y "
                  "WHERE length(v) >= 3 AND lower(v) NOT IN ('n/a', 'none', 'unknown')");
  auto holds = [](const std::string& doc, const std::string& v) {
    auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    for (size_t i = doc.find(v); i != std::string::npos; i = doc.find(v, i + 1)) {
      bool before = i > 0 && word(doc[i - 1]) && word(v.front());
      bool after = i + v.size() < doc.size() && word(doc[i + v.size()]) && word(v.back());
      if (!before && !after) return true;
    }
    return false;
  };
  std::istringstream in(values);
  int searched = 0;
  for (std::string v; std::getline(in, v);) {
    ++searched;
    EXPECT_FALSE(holds(text, v)) << "HTML report holds legacy value #" << searched;
    EXPECT_FALSE(holds(md, v)) << "Markdown report holds legacy value #" << searched;
    EXPECT_FALSE(holds(json, v)) << "JSON report holds legacy value #" << searched;
  }
  EXPECT_GT(searched, 1000);
}

TEST_F(ReportTest, BadInputGetsOneLineAndANonZeroExit) {
  ProcessOutput unknown = RunMedmigrate(
      {"--log-level", "warn", "report", "987654", "--target-url", target_->url()}, Options());
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("run 987654 does not exist"));
  EXPECT_EQ(std::count(unknown.err.begin(), unknown.err.end(), '\n'), 1) << unknown.err;

  ProcessOutput format = Report({"--format", "pdf"});
  EXPECT_EQ(format.exit_code, 2);
  EXPECT_THAT(format.err, HasSubstr("--format"));

  ProcessOutput unwritable = Report({"--format", "html", "--output", "/nonexistent-dir/r.html"});
  EXPECT_NE(unwritable.exit_code, 0);
  EXPECT_THAT(unwritable.err, HasSubstr("/nonexistent-dir/r.html"));
  EXPECT_EQ(std::count(unwritable.err.begin(), unwritable.err.end(), '\n'), 1) << unwritable.err;

  ProcessOutput validate =
      RunMedmigrate({"--log-level", "warn", "validate", "987654", "--legacy-url", legacy_->url(),
                     "--target-url", target_->url()},
                    Options());
  EXPECT_EQ(validate.exit_code, 1);
  EXPECT_THAT(validate.err, HasSubstr("run 987654 does not exist"));
}

// ctest runs each test in its own process, with its own databases, so this
// one may tamper with its target.
TEST_F(ReportTest, TamperedTargetFailsValidateAndTheReportNamesIt) {
  pg::Connection c = target_->Connect();
  std::string id = QueryString(c, "SELECT legacy_id FROM public.orders ORDER BY legacy_id LIMIT 1");
  ASSERT_OK(
      c.Exec("DELETE FROM public.instruction_states WHERE order_id IN (SELECT id FROM "
             "public.orders WHERE legacy_id = " +
             id +
             "); DELETE FROM public.jaws WHERE "
             "order_id IN (SELECT id FROM public.orders WHERE legacy_id = " +
             id +
             "); "
             "DELETE FROM public.products WHERE order_id IN (SELECT id FROM public.orders "
             "WHERE legacy_id = " +
             id + "); DELETE FROM public.orders WHERE legacy_id = " + id));
  ProcessOutput v =
      RunMedmigrate({"--log-level", "warn", "validate", std::to_string(run_), "--legacy-url",
                     legacy_->url(), "--target-url", target_->url(), "--completeness"},
                    Options());
  EXPECT_NE(v.exit_code, 0);
  EXPECT_THAT(v.out, HasSubstr("key_sets"));
  EXPECT_THAT(v.out, HasSubstr("FAILED (legacy ids " + id));
  EXPECT_THAT(v.err, HasSubstr("validation of run " + std::to_string(run_) + " failed"));
  ProcessOutput md = Report({"--format", "md"});
  EXPECT_THAT(md.out, HasSubstr("FAILED"));
  EXPECT_THAT(md.out, HasSubstr("| completeness | key_sets | orders |"));
}

}  // namespace
}  // namespace medmigrate::report
