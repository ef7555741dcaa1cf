#include "transform/row_transformer.h"

#include <gtest/gtest.h>

#include "ids/uuid_derivation.h"

namespace medmigrate::transform {
namespace {

using spec::ColumnSpec;
using spec::Rule;

constexpr const char* kNamespace = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

// Collects what the transformer makes of rows.
class CollectingSink : public RowSink {
 public:
  struct Out {
    std::string legacy_id;
    std::vector<std::optional<std::string>> values;
    std::vector<std::string> warnings;  // "column:reason"
  };
  Status Accept(const TargetRow& row, std::span<const RowIssue> warnings) override {
    Out o{row.legacy_id, {}, {}};
    for (size_t i = 0; i < row.values.size(); ++i) {
      o.values.push_back(row.nulls[i] ? std::nullopt : std::optional<std::string>(row.values[i]));
    }
    for (const RowIssue& w : warnings) o.warnings.push_back(*w.column + ":" + *w.reason);
    rows.push_back(std::move(o));
    return Status::Ok();
  }
  Status Reject(std::string_view legacy_id, const RowIssue& issue) override {
    rejects.push_back(std::string(legacy_id) + ":" + *issue.column + ":" + *issue.reason);
    return Status::Ok();
  }
  std::vector<Out> rows;
  std::vector<std::string> rejects;
};

CopyRow Row(const std::vector<std::optional<std::string>>& fields) {
  CopyRow r;
  for (const auto& f : fields) {
    r.values.push_back(f.value_or(""));
    r.nulls.push_back(f ? 0 : 1);
  }
  r.size = fields.size();
  return r;
}

Rule R(Rule::Kind k) {
  Rule r;
  r.kind = k;
  return r;
}

ColumnSpec Value(std::string target, std::string source, std::vector<Rule> rules = {}) {
  ColumnSpec c;
  c.target = std::move(target);
  c.source = std::move(source);
  c.rules = std::move(rules);
  return c;
}

spec::MappingSpec OneEntity(spec::EntitySpec e) {
  spec::MappingSpec s;
  s.name = "test";
  s.uuid_namespace = kNamespace;
  s.entities.push_back(std::move(e));
  return s;
}

struct RuleCase {
  std::string name;
  std::vector<Rule> rules;
  std::optional<std::string> in;
  std::optional<std::string> out;
  std::string warning;  // "" when none
};

class RuleTableTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(RuleTableTest, AppliesRulesInOrder) {
  const RuleCase& c = GetParam();
  spec::EntitySpec e;
  e.name = "things";
  e.source_table = "t";
  e.columns.push_back(Value("v", "v", c.rules));
  spec::MappingSpec s = OneEntity(e);
  auto t = RowTransformer::Create(s, s.entities[0], TransformContext{"2026-06-01"});
  ASSERT_TRUE(t.ok()) << t.status().message();
  CollectingSink sink;
  ASSERT_TRUE(t->Transform(Row({"7", c.in}), sink).ok());
  ASSERT_EQ(sink.rows.size(), 1u);
  EXPECT_EQ(sink.rows[0].values[1], c.out);
  if (c.warning.empty()) {
    EXPECT_TRUE(sink.rows[0].warnings.empty());
  } else {
    ASSERT_EQ(sink.rows[0].warnings.size(), 1u);
    EXPECT_EQ(sink.rows[0].warnings[0], "v:" + c.warning);
  }
}

Rule Replace(std::string from, std::string to) {
  Rule r = R(Rule::Kind::kReplace);
  r.from = std::move(from);
  r.to = std::move(to);
  return r;
}
Rule WithReason(Rule::Kind k, std::string reason, std::vector<std::string> values = {}) {
  Rule r = R(k);
  r.reason = std::move(reason);
  r.values = std::move(values);
  return r;
}
Rule Default(std::string to) {
  Rule r = R(Rule::Kind::kDefault);
  r.to = std::move(to);
  return r;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, RuleTableTest,
    ::testing::Values(
        RuleCase{"trim", {R(Rule::Kind::kTrim)}, " \t a b \n", "a b", ""},
        RuleCase{"lower_keeps_utf8", {R(Rule::Kind::kLower)}, "JOSÉ O'Brien", "josÉ o'brien", ""},
        RuleCase{"upper", {R(Rule::Kind::kUpper)}, "m", "M", ""},
        RuleCase{"null_if_empty", {R(Rule::Kind::kTrim), R(Rule::Kind::kNullIfEmpty)}, "   ",
                 std::nullopt, ""},
        RuleCase{"null_stays_null", {R(Rule::Kind::kTrim), R(Rule::Kind::kLower)}, std::nullopt,
                 std::nullopt, ""},
        RuleCase{"replace_all", {Replace("\\", "/")}, "C:\\scans\\a.stl", "C:/scans/a.stl", ""},
        RuleCase{"null_if_sentinel", {WithReason(Rule::Kind::kNullIf, "sentinel_date", {"1900-01-01"})},
                 "1900-01-01", std::nullopt, "sentinel_date"},
        RuleCase{"null_if_other", {WithReason(Rule::Kind::kNullIf, "sentinel_date", {"1900-01-01"})},
                 "1980-02-03", "1980-02-03", ""},
        RuleCase{"future_date", {WithReason(Rule::Kind::kNullIfFutureDate, "future_date")},
                 "2031-01-01", std::nullopt, "future_date"},
        RuleCase{"run_date_is_not_future", {WithReason(Rule::Kind::kNullIfFutureDate, "future_date")},
                 "2026-06-01", "2026-06-01", ""},
        RuleCase{"email_ok", {WithReason(Rule::Kind::kEmail, "invalid_email")}, "a.b@x.org",
                 "a.b@x.org", ""},
        RuleCase{"email_na", {WithReason(Rule::Kind::kEmail, "invalid_email")}, "n/a", std::nullopt,
                 "invalid_email"},
        RuleCase{"email_no_domain", {WithReason(Rule::Kind::kEmail, "invalid_email")}, "john@",
                 std::nullopt, "invalid_email"},
        RuleCase{"default_on_null", {Default("unknown")}, std::nullopt, "unknown", ""},
        RuleCase{"default_on_empty", {R(Rule::Kind::kTrim), Default("unknown")}, " ", "unknown", ""}),
    [](const ::testing::TestParamInfo<RuleCase>& p) { return p.param.name; });

spec::EntitySpec Orders() {
  spec::EntitySpec e;
  e.name = "orders";
  e.source_table = "dispatch_order";
  ColumnSpec legacy;
  legacy.target = "legacy_id";
  legacy.kind = ColumnSpec::Kind::kLegacyId;
  e.columns.push_back(legacy);
  ColumnSpec status = Value("status", "status",
                            {R(Rule::Kind::kTrim), R(Rule::Kind::kLower), Replace("-", "_"),
                             Replace(" ", "_")});
  spec::EnumSpec en;
  en.values = {"new", "in_progress", "cancelled", "unknown"};
  en.aliases = {{"canceled", "cancelled"}};
  en.unknown = "unknown";
  en.raw_column = "legacy_status";
  en.reason = "unknown_status";
  status.enum_spec = en;
  e.columns.push_back(status);
  ColumnSpec patient;
  patient.target = "patient_id";
  patient.kind = ColumnSpec::Kind::kReference;
  patient.source = "patient_id";
  patient.ref_entity = "patients";
  e.columns.push_back(patient);
  ColumnSpec qty = Value("quantity", "quantity");
  qty.min = 0;
  e.columns.push_back(qty);
  return e;
}

TEST(RowTransformerTest, EnumAliasesUnknownsAndRawColumn) {
  spec::MappingSpec s = OneEntity(Orders());
  auto t = RowTransformer::Create(s, s.entities[0], TransformContext{"2026-06-01"});
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->TargetColumns(), (std::vector<std::string>{"id", "legacy_id", "status", "patient_id",
                                                          "quantity", "legacy_status"}));
  ASSERT_EQ(t->References().size(), 1u);
  EXPECT_EQ(t->References()[0].index, 3u);

  CollectingSink sink;
  // Source columns: id, status, patient_id, quantity.
  ASSERT_TRUE(t->Transform(Row({"1", " In Progress", "42", "3"}), sink).ok());
  ASSERT_TRUE(t->Transform(Row({"2", "Canceled", "42", "0"}), sink).ok());
  ASSERT_TRUE(t->Transform(Row({"3", "lost in post", std::nullopt, "1"}), sink).ok());
  ASSERT_TRUE(t->Transform(Row({"4", "new", "42", "-2"}), sink).ok());
  ASSERT_EQ(sink.rows.size(), 3u);

  auto ids = ids::UuidDerivation::Create(kNamespace);
  EXPECT_EQ(sink.rows[0].values[0], ids->Derive("orders", "1"));
  EXPECT_EQ(sink.rows[0].values[1], "1");
  EXPECT_EQ(sink.rows[0].values[2], "in_progress");
  EXPECT_EQ(sink.rows[0].values[3], ids->Derive("patients", "42"));
  EXPECT_EQ(sink.rows[0].values[5], std::nullopt);
  EXPECT_EQ(sink.rows[1].values[2], "cancelled");
  EXPECT_EQ(sink.rows[2].values[2], "unknown");
  EXPECT_EQ(sink.rows[2].values[5], "lost in post");  // the raw source text, untouched
  EXPECT_EQ(sink.rows[2].values[3], std::nullopt);
  EXPECT_EQ(sink.rows[2].warnings, std::vector<std::string>{"status:unknown_status"});
  EXPECT_EQ(sink.rejects, std::vector<std::string>{"4:quantity:invalid_value"});
}

TEST(RowTransformerTest, EnumWithoutUnknownRejects) {
  spec::EntitySpec e;
  e.name = "jaws";
  e.source_table = "dispatch_jaw";
  ColumnSpec type = Value("jaw_type", "jaw_type", {R(Rule::Kind::kTrim), R(Rule::Kind::kLower)});
  spec::EnumSpec en;
  en.values = {"upper", "lower"};
  type.enum_spec = en;
  e.columns.push_back(type);
  spec::MappingSpec s = OneEntity(e);
  auto t = RowTransformer::Create(s, s.entities[0], TransformContext{"2026-06-01"});
  ASSERT_TRUE(t.ok());
  CollectingSink sink;
  ASSERT_TRUE(t->Transform(Row({"1", "UPPER"}), sink).ok());
  ASSERT_TRUE(t->Transform(Row({"2", "both"}), sink).ok());
  ASSERT_EQ(sink.rows.size(), 1u);
  EXPECT_EQ(sink.rows[0].values[1], "upper");
  EXPECT_EQ(sink.rejects, std::vector<std::string>{"2:jaw_type:invalid_value"});
}

TEST(RowTransformerTest, InvalidJsonKeepsRawTextAndWarns) {
  spec::EntitySpec e;
  e.name = "projects";
  e.source_table = "dispatch_project";
  ColumnSpec meta;
  meta.target = "metadata";
  meta.kind = ColumnSpec::Kind::kJson;
  meta.source = "metadata";
  meta.raw_column = "metadata_raw";
  e.columns.push_back(meta);
  spec::MappingSpec s = OneEntity(e);
  auto t = RowTransformer::Create(s, s.entities[0], TransformContext{"2026-06-01"});
  ASSERT_TRUE(t.ok());
  CollectingSink sink;
  ASSERT_TRUE(t->Transform(Row({"1", "{\"a\": [1, 2]}"}), sink).ok());
  ASSERT_TRUE(t->Transform(Row({"2", "{not json"}), sink).ok());
  ASSERT_EQ(sink.rows.size(), 2u);
  EXPECT_EQ(sink.rows[0].values[1], "{\"a\": [1, 2]}");
  EXPECT_EQ(sink.rows[0].values[2], std::nullopt);
  EXPECT_EQ(sink.rows[1].values[1], std::nullopt);
  EXPECT_EQ(sink.rows[1].values[2], "{not json");
  EXPECT_EQ(sink.rows[1].warnings, std::vector<std::string>{"metadata:invalid_json"});
}

TEST(RowTransformerTest, ExplodeMakesOneRowPerElement) {
  spec::EntitySpec e;
  e.name = "workflow_template_tasks";
  e.source_table = "dispatch_template";
  e.explode = spec::ExplodeSpec{"workflow_templates", "tasks"};
  ColumnSpec legacy;
  legacy.target = "legacy_id";
  legacy.kind = ColumnSpec::Kind::kLegacyId;
  e.columns.push_back(legacy);
  ColumnSpec parent;
  parent.target = "template_id";
  parent.kind = ColumnSpec::Kind::kReference;
  parent.source = "id";
  parent.ref_entity = "workflow_templates";
  e.columns.push_back(parent);
  ColumnSpec position;
  position.target = "position";
  position.kind = ColumnSpec::Kind::kPosition;
  e.columns.push_back(position);
  e.columns.push_back(Value("name", "name", {R(Rule::Kind::kTrim)}));
  e.columns.push_back(Value("duration_hours", "duration_hours"));
  spec::MappingSpec s = OneEntity(e);
  auto t = RowTransformer::Create(s, s.entities[0], TransformContext{"2026-06-01"});
  ASSERT_TRUE(t.ok()) << t.status().message();
  CollectingSink sink;
  ASSERT_TRUE(t->Transform(Row({"7", R"([{"name":" Scan ","duration_hours":4.5},{"role":"x"}])"}), sink).ok());
  ASSERT_TRUE(t->Transform(Row({"8", "[{broken"}), sink).ok());
  ASSERT_TRUE(t->Transform(Row({"9", "[]"}), sink).ok());
  ASSERT_EQ(sink.rows.size(), 2u);
  auto ids = ids::UuidDerivation::Create(kNamespace);
  EXPECT_EQ(sink.rows[0].legacy_id, "7:0");
  EXPECT_EQ(sink.rows[0].values[0], ids->Derive("workflow_template_tasks", "7:0"));
  EXPECT_EQ(sink.rows[0].values[1], "7:0");
  EXPECT_EQ(sink.rows[0].values[2], ids->Derive("workflow_templates", "7"));
  EXPECT_EQ(sink.rows[0].values[3], "0");
  EXPECT_EQ(sink.rows[0].values[4], "Scan");
  EXPECT_EQ(sink.rows[0].values[5], "4.5");
  EXPECT_EQ(sink.rows[1].values[3], "1");
  EXPECT_EQ(sink.rows[1].values[4], std::nullopt);
}

}  // namespace
}  // namespace medmigrate::transform
