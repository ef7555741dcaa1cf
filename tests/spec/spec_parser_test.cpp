#include "spec/spec_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "support/test_macros.h"

namespace medmigrate::spec {
namespace {

// Two lines every case starts with, so a case's own lines start at line 3.
const std::string kHeader =
    "name = \"t\"\n"
    "uuid_namespace = \"5b1c681e-02fe-4408-960c-0654dfa06e0f\"\n";

// A valid entity, for cases that need a second one.
const std::string kOffices =
    "[[entity]]\n"
    "name = \"offices\"\n"
    "table = \"office\"\n"
    "  [[entity.column]]\n"
    "  target = \"legacy_id\"\n"
    "  kind = \"legacy_id\"\n";

struct BadCase {
  std::string name;
  std::string text;      // the whole file
  std::string expected;  // a substring of the message, "t.toml:<line>:<col>: ..."
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadSpecTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadSpecTest, IsInvalidArgumentPointingAtTheProblem) {
  const BadCase& c = GetParam();
  Result<MappingSpec> r = ParseSpec(c.text, "t.toml");
  ASSERT_FALSE(r.ok()) << "parsed:\n" << c.text;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(c.expected), std::string::npos)
      << "message: " << r.status().message() << "\nexpected: " << c.expected;
}

const std::vector<BadCase> kBadCases = {
    {"not_toml_multiline_inline_table", kHeader + "x = { a = 1,\n  b = 2 }\n",
     "t.toml:3:13: not valid TOML 1.0: Error while parsing inline table"},
    {"unknown_top_level_key", kHeader + "entities = []\n",
     "t.toml:3:1: unknown key 'entities' in the spec (allowed: name, version, uuid_namespace, "
     "entity, post_load, validate, dedup)"},
    {"missing_uuid_namespace", "name = \"t\"\n" + kOffices,
     "t.toml:1:1: the spec has no 'uuid_namespace'"},
    {"uuid_namespace_not_a_uuid", "name = \"t\"\nuuid_namespace = \"mdw-namespace\"\n" + kOffices,
     "t.toml:2:18: 'uuid_namespace' must be a UUID"},
    {"no_entities", kHeader, "t.toml:1:1: the spec has no entities"},
    {"empty_entity_list", kHeader + "entity = []\n",
     "t.toml:3:10: 'entity' must be a non-empty array of tables"},
    {"entity_with_neither_table_nor_query",
     kHeader + "[[entity]]\nname = \"a\"\n  [[entity.column]]\n  target = \"legacy_id\"\n"
               "  kind = \"legacy_id\"\n",
     "t.toml:3:1: entity 'a' must have exactly one source: 'table' (a legacy table) or 'query'"},
    {"entity_with_both_table_and_query",
     kHeader + "[[entity]]\nname = \"a\"\ntable = \"a\"\nquery = \"SELECT 1\"\n",
     "t.toml:6:9: entity 'a' must have exactly one source"},
    {"query_not_a_select", kHeader + "[[entity]]\nname = \"a\"\nquery = \"DELETE FROM a\"\n",
     "t.toml:5:9: 'query' in entity 'a' must be a SELECT"},
    {"typo_in_entity_key", kHeader + "[[entity]]\nname = \"a\"\nsorce = \"a\"\n",
     "t.toml:5:1: unknown key 'sorce' in entity 'a' (allowed: name, table, query, key, "
     "updated_at, changes, explode, column)"},
    {"unknown_change_detection",
     kHeader + "[[entity]]\nname = \"a\"\ntable = \"a\"\nchanges = \"sometimes\"\n",
     "t.toml:6:11: 'changes' in entity 'a' is 'sometimes': use updated_at, hash or new_keys"},
    {"updated_at_changes_without_column",
     kHeader + "[[entity]]\nname = \"a\"\ntable = \"a\"\nchanges = \"updated_at\"\n",
     "t.toml:6:11: entity 'a' has changes = \"updated_at\" but no 'updated_at' column"},
    {"typo_in_column_key",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"name\"\n"
         "  sorce = \"name\"\n",
     "t.toml:11:3: unknown key 'sorce' in column 'offices.name' (allowed: target, kind, source, "
     "rules, enum, min, max, required, check_reason)"},
    {"key_of_another_kind",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"name\"\n  source = \"name\"\n"
         "  ref = \"offices\"\n",
     "t.toml:12:3: key 'ref' is not allowed in column 'offices.name' of kind \"value\""},
    {"unknown_kind",
     kHeader + kOffices + "  [[entity.column]]\n  target = \"name\"\n  kind = \"text\"\n",
     "t.toml:11:10: unknown kind 'text' in column 'offices.name' (allowed: value, reference, "
     "json, legacy_id, position)"},
    {"unknown_rule",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"name\"\n  source = \"name\"\n"
         "  rules = [\"trim\", \"trimm\"]\n",
     "t.toml:12:20: unknown rule 'trimm' in column 'offices.name' (allowed: trim, lower, upper, "
     "null_if_empty, replace, null_if, null_if_future_date, email, default)"},
    {"unknown_rule_in_table_form",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"name\"\n  source = \"name\"\n"
         "  rules = [{ rule = \"strip\" }]\n",
     "t.toml:12:21: unknown rule 'strip'"},
    {"rule_needs_parameters",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"name\"\n  source = \"name\"\n"
         "  rules = [\"replace\"]\n",
     "t.toml:12:12: rule 'replace' in column 'offices.name' needs parameters: write { rule = "
     "\"replace\", from = \"-\", to = \"_\" }"},
    {"unknown_rule_parameter",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"name\"\n  source = \"name\"\n"
         "  rules = [{ rule = \"email\", reasn = \"x\" }]\n",
     "t.toml:12:30: unknown key 'reasn' in rule 'email' of column 'offices.name' (allowed: rule, "
     "reason)"},
    {"rules_not_an_array",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"name\"\n  source = \"name\"\n"
         "  rules = \"trim\"\n",
     "t.toml:12:11: 'rules' in column 'offices.name' must be an array"},
    {"value_without_source", kHeader + kOffices + "  [[entity.column]]\n  target = \"name\"\n",
     "t.toml:10:12: column 'offices.name' has no 'source'"},
    {"reference_to_unknown_entity",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"doctor_id\"\n  kind = \"reference\"\n"
         "  source = \"doctor_id\"\n  ref = \"doctors\"\n",
     "t.toml:13:9: column 'offices.doctor_id' references 'doctors', which is not an entity of "
     "this spec (entities: offices)"},
    {"bad_on_missing",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"parent_id\"\n  kind = \"reference\"\n"
         "  source = \"parent_id\"\n  ref = \"offices\"\n  on_missing = \"skip\"\n",
     "t.toml:14:16: unknown on_missing 'skip' in column 'offices.parent_id' (allowed: reject, "
     "null)"},
    {"duplicate_entity", kHeader + kOffices + kOffices,
     "t.toml:10:8: duplicate entity 'offices' (first defined at line 4)"},
    {"duplicate_target_column",
     kHeader + kOffices + "  [[entity.column]]\n  target = \"legacy_id\"\n  kind = \"legacy_id\"\n",
     "t.toml:10:12: duplicate target column 'legacy_id' in entity 'offices' (first at line 7)"},
    {"no_legacy_id_column",
     kHeader + "[[entity]]\nname = \"a\"\ntable = \"a\"\n  [[entity.column]]\n  target = \"x\"\n"
               "  source = \"x\"\n",
     "t.toml:3:1: entity 'a' maps no legacy id"},
    {"entity_without_columns", kHeader + "[[entity]]\nname = \"a\"\ntable = \"a\"\n",
     "t.toml:3:1: entity 'a' has no columns"},
    {"enum_raw_column_not_a_column",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"status\"\n  source = \"status\"\n"
         "  enum = { values = [\"a\"], unknown = \"a\", raw_column = \"raw\" }\n",
     "t.toml:12:56: enum raw_column 'raw' of column 'offices.status' is not a column of entity "
     "'offices': add { target = \"raw\", source = \"status\" }"},
    {"enum_raw_column_with_rules",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"status\"\n  source = \"status\"\n"
         "  enum = { values = [\"a\"], unknown = \"a\", raw_column = \"raw\" }\n"
         "  [[entity.column]]\n  target = \"raw\"\n  source = \"status\"\n"
         "  rules = [\"trim\"]\n",
     "t.toml:12:56: enum raw_column 'raw' of column 'offices.status' must be a plain column"},
    {"enum_raw_column_without_unknown",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"status\"\n  source = \"status\"\n"
         "  enum = { values = [\"a\"], raw_column = \"raw\" }\n",
     "t.toml:12:41: 'raw_column' in 'enum' of column 'offices.status' needs 'unknown'"},
    {"enum_alias_to_unlisted_value",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"status\"\n  source = \"status\"\n"
         "  enum = { values = [\"a\"], aliases = { b = \"c\" } }\n",
     "t.toml:12:44: alias 'b' in 'enum' of column 'offices.status' maps to 'c', which is not one "
     "of its values (a)"},
    {"enum_without_values",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"status\"\n  source = \"status\"\n"
         "  enum = { unknown = \"a\" }\n",
     "t.toml:12:10: 'enum' of column 'offices.status' needs a non-empty 'values' array"},
    {"json_raw_column_not_a_column",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"meta\"\n  kind = \"json\"\n"
         "  source = \"meta\"\n  raw_column = \"meta_raw\"\n",
     "t.toml:13:16: json raw_column 'meta_raw' of column 'offices.meta' is not a column of "
     "entity 'offices'"},
    {"rules_on_json_column",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"meta\"\n  kind = \"json\"\n"
         "  source = \"meta\"\n  rules = [\"trim\"]\n",
     "t.toml:13:3: key 'rules' is not allowed in column 'offices.meta' of kind \"json\""},
    {"explode_parent_not_an_entity",
     kHeader + kOffices +
         "[[entity]]\nname = \"tasks\"\ntable = \"office\"\n"
         "explode = { parent = \"templates\", column = \"tasks\" }\n"
         "  [[entity.column]]\n  target = \"legacy_id\"\n  kind = \"legacy_id\"\n",
     "t.toml:12:22: explode parent 'templates' of entity 'tasks' is not an entity (entities: "
     "offices, tasks)"},
    {"explode_without_column",
     kHeader + kOffices +
         "[[entity]]\nname = \"tasks\"\ntable = \"office\"\n"
         "explode = { parent = \"offices\" }\n",
     "t.toml:12:11: 'explode' of entity 'tasks' has no 'column' (required)"},
    {"position_outside_explode",
     kHeader + kOffices + "  [[entity.column]]\n  target = \"position\"\n  kind = \"position\"\n",
     "t.toml:11:10: column 'offices.position' has kind \"position\", which only an entity with "
     "'explode' may use"},
    {"min_not_an_integer",
     kHeader + kOffices +
         "  [[entity.column]]\n  target = \"qty\"\n  source = \"qty\"\n"
         "  min = \"0\"\n",
     "t.toml:12:9: 'min' in column 'offices.qty' must be an integer"},
    {"bad_entity_name", kHeader + "[[entity]]\nname = \"Offices\"\n",
     "t.toml:4:8: entity name 'Offices' must be a target table name"},
    {"dependency_cycle",
     kHeader +
         "[[entity]]\nname = \"a\"\ntable = \"a\"\n"
         "  [[entity.column]]\n  target = \"legacy_id\"\n  kind = \"legacy_id\"\n"
         "  [[entity.column]]\n  target = \"b_id\"\n  kind = \"reference\"\n  source = \"b_id\"\n"
         "  ref = \"b\"\n"
         "[[entity]]\nname = \"b\"\ntable = \"b\"\n"
         "  [[entity.column]]\n  target = \"legacy_id\"\n  kind = \"legacy_id\"\n"
         "  [[entity.column]]\n  target = \"a_id\"\n  kind = \"reference\"\n  source = \"a_id\"\n"
         "  ref = \"a\"\n",
     "t.toml:13:9: dependency cycle: a -> b -> a"},
    {"post_load_after_unknown_entity",
     kHeader + kOffices + "[[post_load]]\nname = \"x\"\nafter = [\"orders\"]\nsql = \"SELECT 1\"\n",
     "t.toml:11:10: post_load 'x' runs after 'orders', which is not an entity of this spec"},
    {"post_load_without_sql",
     kHeader + kOffices + "[[post_load]]\nname = \"x\"\nafter = [\"offices\"]\n",
     "t.toml:9:1: post_load 'x' has no 'sql' (required)"},
    {"post_load_typo", kHeader + kOffices + "[[post_load]]\nname = \"x\"\nafterr = []\n",
     "t.toml:11:1: unknown key 'afterr' in post_load 'x' (allowed: name, after, sql, "
     "incremental_sql, writes)"},
    {"validate_unknown_key", kHeader + kOffices + "[validate]\nmoney_checks = []\n",
     "unknown key 'money_checks' in [validate] (allowed: money, sanity, derived)"},
    {"validate_money_unknown_entity",
     kHeader + kOffices + "[[validate.money]]\nentity = \"orders\"\namount = \"x\"\n",
     "[[validate.money]]: 'orders' is not an entity of this spec"},
    {"validate_money_amount_not_a_value_column",
     kHeader + kOffices + "[[validate.money]]\nentity = \"offices\"\namount = \"legacy_id\"\n",
     "'amount' must name a value column of entity 'offices'"},
    {"validate_money_needs_amount", kHeader + kOffices + "[[validate.money]]\nentity = \"offices\"\n",
     "[[validate.money]] of 'offices' needs 'amount'"},
    {"validate_sanity_unknown_key",
     kHeader + kOffices +
         "[[validate.sanity]]\nname = \"a\"\nentity = \"offices\"\nwhere = \"true\"\nwhen = 1\n",
     "unknown key 'when' in [[validate.sanity]] 'a' (allowed: name, entity, where)"},
    {"validate_sanity_duplicate",
     kHeader + kOffices +
         "[[validate.sanity]]\nname = \"a\"\nentity = \"offices\"\nwhere = \"true\"\n"
         "[[validate.sanity]]\nname = \"a\"\nentity = \"offices\"\nwhere = \"true\"\n",
     "duplicate sanity check 'a'"},
    {"validate_derived_unknown_key",
     kHeader + kOffices +
         "[[validate.derived]]\nname = \"d\"\nentity = \"offices\"\nquery = \"SELECT 1\"\n"
         "where = \"true\"\n",
     "unknown key 'where' in [[validate.derived]] 'd' (allowed: name, entity, query)"},
    {"validate_derived_needs_query",
     kHeader + kOffices + "[[validate.derived]]\nname = \"d\"\nentity = \"offices\"\n",
     "[[validate.derived]] 'd' has no 'query' (required)"},
    {"validate_derived_name_of_a_sanity_check",
     kHeader + kOffices +
         "[[validate.sanity]]\nname = \"a\"\nentity = \"offices\"\nwhere = \"true\"\n"
         "[[validate.derived]]\nname = \"a\"\nentity = \"offices\"\nquery = \"SELECT 1\"\n",
     "duplicate validation check 'a'"},
    {"dedup_unknown_entity", kHeader + kOffices + "[dedup]\nentity = \"people\"\nsource = \"x\"\n",
     "[dedup]: 'people' is not an entity of this spec"},
    {"dedup_needs_source", kHeader + kOffices + "[dedup]\nentity = \"offices\"\n",
     "[dedup] has no 'source' (required)"},
    {"dedup_threshold_not_a_probability",
     kHeader + kOffices + "[dedup]\nentity = \"offices\"\nsource = \"x\"\nmerge_threshold = 1.5\n",
     "'merge_threshold' in [dedup] must be a probability between 0 and 1"},
    {"dedup_review_above_merge",
     kHeader + kOffices +
         "[dedup]\nentity = \"offices\"\nsource = \"x\"\nmerge_threshold = 0.9\n"
         "review_threshold = 0.95\n",
     "review_threshold (0.95) must not exceed merge_threshold (0.9)"},
    {"dedup_typo", kHeader + kOffices + "[dedup]\nentity = \"offices\"\nsource = \"x\"\nmerge = 0.9\n",
     "unknown key 'merge' in [dedup]"},
};

INSTANTIATE_TEST_SUITE_P(Cases, BadSpecTest, ::testing::ValuesIn(kBadCases),
                         [](const ::testing::TestParamInfo<BadCase>& i) { return i.param.name; });

// ---------------------------------------------------------------------------
// Good specs.

// Entities listed children first: the parser orders them, keeping the file's
// order among independent ones.
const std::string kFamily = kHeader + R"(
[[entity]]
name = "children"
table = "child"
  [[entity.column]]
  target = "legacy_id"
  kind = "legacy_id"
  [[entity.column]]
  target = "parent_id"
  kind = "reference"
  source = "parent_id"
  ref = "parents"
  [[entity.column]]
  target = "sibling_id"
  kind = "reference"
  source = "sibling_id"
  ref = "children"

[[entity]]
name = "zebras"
query = "SELECT z.id, z.name FROM zebra z JOIN child c ON c.id = z.child_id"
  [[entity.column]]
  target = "legacy_id"
  kind = "legacy_id"

[[entity]]
name = "parents"
table = "parent"
key = "pk"
updated_at = "modified"
  [[entity.column]]
  target = "legacy_id"
  kind = "legacy_id"
  [[entity.column]]
  target = "name"
  source = "name"
  rules = ["trim", { rule = "replace", from = "\\", to = "/" }, "null_if_empty"]
  [[entity.column]]
  target = "kind"
  source = "kind"
  enum = { values = ["a", "b"], aliases = { x = "a" }, unknown = "b", raw_column = "kind_raw" }
  [[entity.column]]
  target = "kind_raw"
  source = "kind"

[[entity]]
name = "items"
table = "parent"
explode = { parent = "parents", column = "items" }
  [[entity.column]]
  target = "legacy_id"
  kind = "legacy_id"
  [[entity.column]]
  target = "parent_id"
  kind = "reference"
  ref = "parents"
  [[entity.column]]
  target = "position"
  kind = "position"
  [[entity.column]]
  target = "label"
  source = "label"
)";

std::vector<std::string> Names(const MappingSpec& s) {
  std::vector<std::string> out;
  for (const EntitySpec& e : s.entities) out.push_back(e.name);
  return out;
}

TEST(SpecParserTest, OrdersByDependencyStablyAndFillsDependsOn) {
  ASSERT_OK_AND_ASSIGN(MappingSpec s, ParseSpec(kFamily, "family.toml"));
  EXPECT_EQ(Names(s), (std::vector<std::string>{"zebras", "parents", "children", "items"}));
  const EntitySpec* children = s.Find("children");
  ASSERT_NE(children, nullptr);
  // The self-reference needs no order, so it is not a dependency.
  EXPECT_EQ(children->depends_on, std::vector<std::string>{"parents"});
  EXPECT_EQ(s.Find("items")->depends_on, std::vector<std::string>{"parents"});
  EXPECT_TRUE(s.Find("zebras")->depends_on.empty());
}

TEST(SpecParserTest, ReadsEveryField) {
  ASSERT_OK_AND_ASSIGN(MappingSpec s, ParseSpec(kFamily, "family.toml"));
  EXPECT_EQ(s.name, "t");
  EXPECT_EQ(s.version, 1);
  EXPECT_EQ(s.uuid_namespace, "5b1c681e-02fe-4408-960c-0654dfa06e0f");
  const EntitySpec& p = *s.Find("parents");
  EXPECT_EQ(p.source_table, "parent");
  EXPECT_EQ(p.key, "pk");
  EXPECT_EQ(p.updated_at, "modified");
  ASSERT_EQ(p.columns.size(), 4u);
  const ColumnSpec& name = p.columns[1];
  ASSERT_EQ(name.rules.size(), 3u);
  EXPECT_EQ(name.rules[1].kind, Rule::Kind::kReplace);
  EXPECT_EQ(name.rules[1].from, "\\");
  EXPECT_EQ(name.rules[1].to, "/");
  const ColumnSpec& kind = p.columns[2];
  ASSERT_TRUE(kind.enum_spec);
  EXPECT_EQ(kind.enum_spec->aliases.at("x"), "a");
  EXPECT_EQ(kind.enum_spec->unknown, "b");
  EXPECT_EQ(kind.enum_spec->raw_column, "kind_raw");
  EXPECT_EQ(kind.enum_spec->reason, "invalid_value");
  const EntitySpec& z = *s.Find("zebras");
  EXPECT_TRUE(z.source_table.empty());
  EXPECT_NE(z.source_query.find("JOIN"), std::string::npos);
  const EntitySpec& items = *s.Find("items");
  ASSERT_TRUE(items.explode);
  EXPECT_EQ(items.explode->column, "items");
  EXPECT_EQ(items.SourceColumns(), (std::vector<std::string>{"id", "items"}));
  const ColumnSpec& ref = s.Find("children")->columns[1];
  EXPECT_EQ(ref.kind, ColumnSpec::Kind::kReference);
  EXPECT_EQ(ref.on_missing, OnMissing::kReject);
  EXPECT_EQ(ref.missing_reason, "orphan_reference");
  EXPECT_FALSE(ref.follow_merges);
}

TEST(SpecParserTest, RuleShorthandsTakeDefaultReasons) {
  ASSERT_OK_AND_ASSIGN(
      MappingSpec s,
      ParseSpec(kHeader + kOffices +
                    "  [[entity.column]]\n  target = \"email\"\n  source = \"email\"\n"
                    "  rules = [\"email\", \"null_if_future_date\"]\n",
                "t.toml"));
  const std::vector<Rule>& rules = s.entities[0].columns[1].rules;
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].reason, "invalid_email");
  EXPECT_EQ(rules[1].reason, "future_date");
}

TEST(SpecParserTest, ChecksumIsSha256OfTheBytes) {
  ASSERT_OK_AND_ASSIGN(MappingSpec a, ParseSpec(kFamily, "a.toml"));
  ASSERT_OK_AND_ASSIGN(MappingSpec b, ParseSpec(kFamily + "# a comment\n", "a.toml"));
  EXPECT_EQ(a.checksum.size(), 64u);
  EXPECT_EQ(a.checksum.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a.checksum, b.checksum);
  // The bytes alone decide it, not the file name.
  ASSERT_OK_AND_ASSIGN(MappingSpec c, ParseSpec(kFamily, "other-name.toml"));
  EXPECT_EQ(a.checksum, c.checksum);
}

TEST(SpecParserTest, MissingFileIsNotFoundNamingThePath) {
  Result<MappingSpec> r = LoadSpecFile("/nonexistent/dir/custom.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/dir/custom.toml"), std::string::npos);
}

TEST(SpecParserTest, FileErrorsNameTheFile) {
  std::string path = ::testing::TempDir() + "/bad_spec.toml";
  {
    std::ofstream out(path, std::ios::binary);
    out << kHeader << "sorce = 1\n";
  }
  Result<MappingSpec> r = LoadSpecFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path + ":3:1: unknown key 'sorce'"), std::string::npos)
      << r.status().message();
  std::filesystem::remove(path);
}

TEST(SpecParserTest, UnknownEmbeddedSpecListsTheEmbeddedOnes) {
  Result<MappingSpec> r = EmbeddedSpec("nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("mdw"), std::string::npos);
}

// ---------------------------------------------------------------------------
// The shipped MDW spec.

TEST(MdwSpecTest, IsEmbeddedAndIsTheDefault) {
  std::vector<std::string> names = EmbeddedSpecNames();
  EXPECT_NE(std::find(names.begin(), names.end(), "mdw"), names.end());
  ASSERT_OK_AND_ASSIGN(MappingSpec embedded, DefaultSpec());
  ASSERT_OK_AND_ASSIGN(MappingSpec file, LoadSpecFile(MEDMIGRATE_SOURCE_DIR "/specs/mdw.toml"));
  EXPECT_EQ(embedded.name, "mdw");
  EXPECT_EQ(embedded.checksum, file.checksum) << "the embedded spec is stale";
}

TEST(MdwSpecTest, DeduplicatesPatientsAndOrdersJawsAndPlansFollowMerges) {
  ASSERT_OK_AND_ASSIGN(MappingSpec s, DefaultSpec());
  EXPECT_EQ(s.dedup.entity, "patients");
  EXPECT_GT(s.dedup.merge_threshold, s.dedup.review_threshold);
  for (const char* child : {"orders", "jaws", "treatment_plans"}) {
    const EntitySpec* e = s.Find(child);
    ASSERT_NE(e, nullptr) << child;
    bool follows = false;
    for (const ColumnSpec& c : e->columns) {
      if (c.kind == ColumnSpec::Kind::kReference && c.ref_entity == "patients") {
        follows = c.follow_merges;
      }
    }
    EXPECT_TRUE(follows) << child << "'s patient reference must follow merges";
  }
}

TEST(MdwSpecTest, ReconcilesMoneyAndReportsClinicalSanity) {
  ASSERT_OK_AND_ASSIGN(MappingSpec s, DefaultSpec());
  ASSERT_EQ(s.validate.money.size(), 2u);
  EXPECT_EQ(s.validate.money[0].entity, "orders");
  EXPECT_EQ(s.validate.money[0].amount, "total_price");
  EXPECT_EQ(s.validate.money[0].currency, "currency");
  EXPECT_EQ(s.validate.money[1].entity, "products");
  EXPECT_EQ(s.validate.money[1].quantity, "quantity");
  EXPECT_EQ(s.validate.money[1].per, "order_id");
  std::vector<std::string> sanity;
  for (const auto& c : s.validate.sanity) sanity.push_back(c.name);
  EXPECT_EQ(sanity, (std::vector<std::string>{"birthdate_in_future", "order_total_negative",
                                               "state_before_order_created"}));
  ASSERT_EQ(s.validate.derived.size(), 1u);
  EXPECT_EQ(s.validate.derived[0].name, "state_analytics_per_order");
  EXPECT_EQ(s.validate.derived[0].entity, "orders");
}

TEST(MdwSpecTest, HasEveryEntityInDependencyOrder) {
  ASSERT_OK_AND_ASSIGN(MappingSpec s, DefaultSpec());
  std::vector<std::string> names = Names(s);
  std::set<std::string> got(names.begin(), names.end());
  EXPECT_EQ(got, (std::set<std::string>{"offices", "profiles", "doctors", "patients", "orders",
                                        "products", "jaws", "projects", "treatment_plans",
                                        "workflow_templates", "workflow_template_tasks",
                                        "instruction_states"}));
  auto at = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) - names.begin();
  };
  for (const auto& [before, after] : std::vector<std::pair<std::string, std::string>>{
           {"profiles", "doctors"},
           {"offices", "doctors"},
           {"profiles", "patients"},
           {"patients", "orders"},
           {"doctors", "orders"},
           {"orders", "products"},
           {"orders", "jaws"},
           {"patients", "treatment_plans"},
           {"workflow_templates", "workflow_template_tasks"},
           {"orders", "instruction_states"},
           {"profiles", "instruction_states"},
       }) {
    EXPECT_LT(at(before), at(after)) << before << " must load before " << after;
  }
  for (size_t i = 0; i < s.entities.size(); ++i) {
    for (const std::string& d : s.entities[i].depends_on) {
      EXPECT_LT(at(d), static_cast<std::ptrdiff_t>(i)) << s.entities[i].name << " needs " << d;
    }
  }
}

// The target schema, read from sql/main: table -> column -> its definition line.
struct TargetColumn {
  std::string type;
  bool nullable = true;
};
using TargetSchema = std::map<std::string, std::map<std::string, TargetColumn>>;

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t,");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

TargetSchema ReadTargetSchema(std::map<std::string, std::set<std::string>>* enums) {
  TargetSchema schema;
  std::vector<std::filesystem::path> files;
  for (const auto& f : std::filesystem::directory_iterator(MEDMIGRATE_SOURCE_DIR "/sql/main")) {
    if (f.path().extension() == ".sql") files.push_back(f.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path);
    std::stringstream all;
    all << in.rdbuf();
    std::string text = all.str();
    // CREATE TYPE public.x AS ENUM ('a', 'b', ...);
    for (size_t p = text.find("CREATE TYPE public."); p != std::string::npos;
         p = text.find("CREATE TYPE public.", p + 1)) {
      size_t name_end = text.find(' ', p + 19);
      std::string name = "public." + text.substr(p + 19, name_end - p - 19);
      size_t open = text.find('(', name_end), close = text.find(')', open);
      std::string body = text.substr(open + 1, close - open - 1);
      for (size_t q = body.find('\''); q != std::string::npos; q = body.find('\'', q + 1)) {
        size_t r = body.find('\'', q + 1);
        (*enums)[name].insert(body.substr(q + 1, r - q - 1));
        q = r;
      }
    }
    std::istringstream lines(text);
    std::string line, table;
    while (std::getline(lines, line)) {
      if (line.starts_with("CREATE TABLE public.")) {
        table = line.substr(20, line.find(' ', 20) - 20);
        schema[table];
        continue;
      }
      if (table.empty()) continue;
      if (line.starts_with(")")) {
        table.clear();
        continue;
      }
      std::string l = Trim(line.substr(0, line.find("--")));
      if (l.empty()) continue;
      std::istringstream words(l);
      std::string col, type;
      words >> col >> type;
      if (col == "UNIQUE" || col == "PRIMARY" || col == "CHECK" || col == "CONSTRAINT") continue;
      schema[table][col] = TargetColumn{type, l.find("NOT NULL") == std::string::npos &&
                                                  l.find("PRIMARY KEY") == std::string::npos};
    }
  }
  return schema;
}

TEST(MdwSpecTest, EveryTargetColumnExistsInSqlMain) {
  ASSERT_OK_AND_ASSIGN(MappingSpec s, DefaultSpec());
  std::map<std::string, std::set<std::string>> enums;
  TargetSchema schema = ReadTargetSchema(&enums);
  ASSERT_FALSE(schema.empty());
  ASSERT_FALSE(enums.empty());
  for (const EntitySpec& e : s.entities) {
    ASSERT_TRUE(schema.contains(e.name)) << "no table " << e.name << " in sql/main";
    const auto& columns = schema.at(e.name);
    for (const ColumnSpec& c : e.columns) {
      ASSERT_TRUE(columns.contains(c.target)) << e.name << "." << c.target << " not in sql/main";
      const TargetColumn& t = columns.at(c.target);
      // Enum values (and the fallback) are labels of the target's enum type.
      if (c.enum_spec && t.type.starts_with("public.")) {
        ASSERT_TRUE(enums.contains(t.type)) << t.type;
        std::vector<std::string> values = c.enum_spec->values;
        if (c.enum_spec->unknown) values.push_back(*c.enum_spec->unknown);
        for (const std::string& v : values) {
          EXPECT_TRUE(enums.at(t.type).contains(v)) << e.name << "." << c.target << ": " << v;
        }
      }
    }
    // Every NOT NULL column without a default is mapped.
    for (const auto& [name, t] : columns) {
      if (name == "id" || t.nullable) continue;
      bool mapped = std::any_of(e.columns.begin(), e.columns.end(),
                                [&](const ColumnSpec& c) { return c.target == name; });
      EXPECT_TRUE(mapped) << e.name << "." << name << " is NOT NULL and not mapped";
    }
  }
}

bool IsRawColumn(const EntitySpec& e, const std::string& target) {
  return std::any_of(e.columns.begin(), e.columns.end(), [&](const ColumnSpec& c) {
    return (c.kind == ColumnSpec::Kind::kJson && c.raw_column == target) ||
           (c.enum_spec && c.enum_spec->raw_column == target);
  });
}

bool HasRule(const ColumnSpec& c, Rule::Kind k) {
  return std::any_of(c.rules.begin(), c.rules.end(), [&](const Rule& r) { return r.kind == k; });
}

// sql/main: "Free text that is empty in the legacy database ('') is NULL here",
// and a NOT NULL column must never be made NULL by a rule.
TEST(MdwSpecTest, EmptyTextBecomesNullExactlyWhereTheTargetAllowsIt) {
  ASSERT_OK_AND_ASSIGN(MappingSpec s, DefaultSpec());
  std::map<std::string, std::set<std::string>> enums;
  TargetSchema schema = ReadTargetSchema(&enums);
  for (const EntitySpec& e : s.entities) {
    for (const ColumnSpec& c : e.columns) {
      if (c.kind != ColumnSpec::Kind::kValue || c.enum_spec || IsRawColumn(e, c.target)) continue;
      const TargetColumn& t = schema[e.name][c.target];
      bool nulls_empty = HasRule(c, Rule::Kind::kNullIfEmpty);
      if (t.type == "text" && t.nullable) {
        EXPECT_TRUE(nulls_empty) << e.name << "." << c.target << ": '' must become NULL";
      }
      if (!t.nullable) {
        EXPECT_FALSE(nulls_empty || HasRule(c, Rule::Kind::kNullIf) ||
                     HasRule(c, Rule::Kind::kEmail))
            << e.name << "." << c.target << " is NOT NULL";
      }
    }
  }
}

const ColumnSpec& Col(const MappingSpec& s, const std::string& entity, const std::string& target) {
  const EntitySpec* e = s.Find(entity);
  EXPECT_NE(e, nullptr) << entity;
  for (const ColumnSpec& c : e->columns) {
    if (c.target == target) return c;
  }
  ADD_FAILURE() << entity << "." << target << " is not mapped";
  static const ColumnSpec kNone;
  return kNone;
}

std::vector<Rule::Kind> Kinds(const ColumnSpec& c) {
  std::vector<Rule::Kind> out;
  for (const Rule& r : c.rules) out.push_back(r.kind);
  return out;
}

// The product owner's rules, one row each.
struct Reference {
  std::string entity, target, ref;
  OnMissing on_missing;
  std::string reason;
  bool follow_merges;
};

TEST(MdwSpecTest, ReferencesFollowTheProductRules) {
  ASSERT_OK_AND_ASSIGN(MappingSpec s, DefaultSpec());
  const OnMissing kReject = OnMissing::kReject, kNull = OnMissing::kNullWithWarning;
  for (const Reference& r : std::vector<Reference>{
           {"doctors", "profile_id", "profiles", kReject, "orphan_reference", false},
           {"doctors", "office_id", "offices", kNull, "missing_reference", false},
           {"patients", "profile_id", "profiles", kReject, "orphan_reference", false},
           {"orders", "patient_id", "patients", kReject, "orphan_reference", true},
           {"orders", "doctor_id", "doctors", kNull, "missing_reference", false},
           {"orders", "office_id", "offices", kNull, "missing_reference", false},
           {"products", "order_id", "orders", kReject, "parent_rejected", false},
           {"jaws", "patient_id", "patients", kReject, "orphan_reference", true},
           {"jaws", "order_id", "orders", kNull, "missing_reference", false},
           {"treatment_plans", "patient_id", "patients", kReject, "orphan_reference", true},
           {"treatment_plans", "doctor_id", "doctors", kNull, "missing_reference", false},
           {"workflow_template_tasks", "workflow_template_id", "workflow_templates", kReject,
            "parent_rejected", false},
           {"instruction_states", "order_id", "orders", kReject, "parent_rejected", false},
           {"instruction_states", "changed_by_id", "profiles", kNull, "missing_reference", false},
       }) {
    SCOPED_TRACE(r.entity + "." + r.target);
    const ColumnSpec& c = Col(s, r.entity, r.target);
    EXPECT_EQ(c.kind, ColumnSpec::Kind::kReference);
    EXPECT_EQ(c.ref_entity, r.ref);
    EXPECT_EQ(c.on_missing, r.on_missing);
    EXPECT_EQ(c.missing_reason, r.reason);
    EXPECT_EQ(c.follow_merges, r.follow_merges);
  }
}

TEST(MdwSpecTest, ValueRulesFollowTheProductRules) {
  ASSERT_OK_AND_ASSIGN(MappingSpec s, DefaultSpec());
  using K = Rule::Kind;
  // Profiles: names trimmed, '' NULL; e-mail trimmed, lower-cased, checked.
  EXPECT_EQ(Kinds(Col(s, "profiles", "first_name")), (std::vector<K>{K::kTrim, K::kNullIfEmpty}));
  EXPECT_EQ(Kinds(Col(s, "profiles", "last_name")), (std::vector<K>{K::kTrim, K::kNullIfEmpty}));
  const ColumnSpec& email = Col(s, "profiles", "email");
  EXPECT_EQ(Kinds(email), (std::vector<K>{K::kTrim, K::kLower, K::kNullIfEmpty, K::kEmail}));
  EXPECT_EQ(email.rules.back().reason, "invalid_email");
  for (const ColumnSpec& c : s.Find("profiles")->columns) {
    EXPECT_NE(c.source, "password") << "the password hash must never be read";
  }

  // Patients: sex M/F, quietly unknown for NULL, '' and U; sentinel and future dates.
  const ColumnSpec& sex = Col(s, "patients", "sex");
  ASSERT_EQ(Kinds(sex), (std::vector<K>{K::kTrim, K::kUpper, K::kDefault}));
  ASSERT_TRUE(sex.enum_spec);
  EXPECT_EQ(sex.enum_spec->aliases.at(sex.rules[2].to), "unknown");
  EXPECT_EQ(sex.enum_spec->aliases.at("M"), "male");
  EXPECT_EQ(sex.enum_spec->aliases.at("F"), "female");
  EXPECT_EQ(sex.enum_spec->unknown, "unknown");
  const ColumnSpec& birthdate = Col(s, "patients", "birthdate");
  ASSERT_EQ(Kinds(birthdate), (std::vector<K>{K::kNullIf, K::kNullIfFutureDate}));
  EXPECT_EQ(birthdate.rules[0].values, std::vector<std::string>{"1900-01-01"});
  EXPECT_EQ(birthdate.rules[0].reason, "sentinel_date");
  EXPECT_EQ(birthdate.rules[1].reason, "future_date");

  // Orders: status normalised, canceled -> cancelled, else unknown + raw text.
  const ColumnSpec& status = Col(s, "orders", "status");
  ASSERT_EQ(Kinds(status), (std::vector<K>{K::kTrim, K::kLower, K::kReplace, K::kReplace}));
  EXPECT_EQ(status.rules[2].from + status.rules[2].to, "-_");
  EXPECT_EQ(status.rules[3].from + status.rules[3].to, " _");
  ASSERT_TRUE(status.enum_spec);
  EXPECT_EQ(status.enum_spec->aliases.at("canceled"), "cancelled");
  EXPECT_EQ(status.enum_spec->unknown, "unknown");
  EXPECT_EQ(status.enum_spec->raw_column, "legacy_status");
  EXPECT_EQ(status.enum_spec->reason, "unknown_status");
  EXPECT_TRUE(Col(s, "orders", "total_price").rules.empty()) << "amounts pass untouched";

  // Products: a negative quantity is rejected.
  const ColumnSpec& quantity = Col(s, "products", "quantity");
  EXPECT_EQ(quantity.min, 0);
  EXPECT_EQ(quantity.check_reason, "invalid_value");
  EXPECT_TRUE(Col(s, "products", "unit_price").rules.empty());

  // Jaws: upper/lower or rejected; scan paths with forward slashes.
  const ColumnSpec& jaw_type = Col(s, "jaws", "jaw_type");
  EXPECT_EQ(Kinds(jaw_type), (std::vector<K>{K::kTrim, K::kLower}));
  ASSERT_TRUE(jaw_type.enum_spec);
  EXPECT_FALSE(jaw_type.enum_spec->unknown);
  EXPECT_EQ(jaw_type.enum_spec->values, (std::vector<std::string>{"upper", "lower"}));
  EXPECT_EQ(jaw_type.enum_spec->reason, "invalid_value");
  const ColumnSpec& scan = Col(s, "jaws", "scan_file");
  auto replace = std::find_if(scan.rules.begin(), scan.rules.end(),
                              [](const Rule& r) { return r.kind == K::kReplace; });
  ASSERT_NE(replace, scan.rules.end());
  EXPECT_EQ(replace->from, "\\");
  EXPECT_EQ(replace->to, "/");
  EXPECT_EQ(scan.rules.back().kind, K::kNullIfEmpty);

  // JSON: invalid text is kept raw with a warning.
  for (const auto& [entity, target, raw] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"projects", "metadata", "metadata_raw"},
           {"workflow_templates", "tasks", "tasks_raw"}}) {
    const ColumnSpec& c = Col(s, entity, target);
    EXPECT_EQ(c.kind, ColumnSpec::Kind::kJson) << target;
    EXPECT_EQ(c.raw_column, raw);
    EXPECT_EQ(c.invalid_reason, "invalid_json");
  }

  // Template tasks: one row per element of dispatch_template.tasks.
  const EntitySpec& tasks = *s.Find("workflow_template_tasks");
  ASSERT_TRUE(tasks.explode);
  EXPECT_EQ(tasks.explode->parent, "workflow_templates");
  EXPECT_EQ(tasks.explode->column, "tasks");
  EXPECT_EQ(Col(s, "workflow_template_tasks", "legacy_id").kind, ColumnSpec::Kind::kLegacyId);
  EXPECT_EQ(Col(s, "workflow_template_tasks", "position").kind, ColumnSpec::Kind::kPosition);
  for (const char* field : {"name", "role", "sequence", "duration_hours"}) {
    EXPECT_EQ(Col(s, "workflow_template_tasks", field).source, field);
  }

  // Instruction states: codes 0..9 by name, others unknown with the code kept.
  const std::vector<std::string> names = {
      "created",       "received", "in_design", "design_approved", "manufacturing",
      "quality_check", "shipped",  "delivered", "on_hold",         "cancelled"};
  for (const char* target : {"state", "previous_state"}) {
    const ColumnSpec& c = Col(s, "instruction_states", target);
    ASSERT_TRUE(c.enum_spec) << target;
    for (size_t code = 0; code < names.size(); ++code) {
      EXPECT_EQ(c.enum_spec->aliases.at(std::to_string(code)), names[code]);
    }
    EXPECT_EQ(c.enum_spec->unknown, "unknown");
    EXPECT_EQ(c.enum_spec->reason, "unknown_state");
  }
  EXPECT_EQ(Col(s, "instruction_states", "state_code").source, "state_code");
  EXPECT_EQ(Col(s, "instruction_states", "previous_state_code").source, "previous_state_code");
}

TEST(MdwSpecTest, IncrementalColumnsAndPostLoadSteps) {
  ASSERT_OK_AND_ASSIGN(MappingSpec s, DefaultSpec());
  EXPECT_EQ(s.uuid_namespace, "5b1c681e-02fe-4408-960c-0654dfa06e0f") << "never change it";
  for (const EntitySpec& e : s.entities) {
    bool has_no_updated_at = e.source_table == "auth_user" || e.source_table == "dispatch_state";
    EXPECT_EQ(e.updated_at, has_no_updated_at ? "" : "updated_at") << e.name;
  }
  ASSERT_EQ(s.post_load.size(), 2u);
  const PostLoadStep& doctor = s.post_load[0];
  EXPECT_EQ(doctor.name, "patients_primary_doctor");
  EXPECT_NE(std::find(doctor.after.begin(), doctor.after.end(), "orders"), doctor.after.end());
  EXPECT_NE(doctor.sql.find("primary_doctor_id"), std::string::npos);
  const PostLoadStep& analytics = s.post_load[1];
  EXPECT_EQ(analytics.after, std::vector<std::string>{"instruction_states"});
  EXPECT_NE(analytics.sql.find("INSERT INTO public.state_analytics"), std::string::npos);
  EXPECT_NE(analytics.sql.find("ON CONFLICT (order_id, state)"), std::string::npos);
}

}  // namespace
}  // namespace medmigrate::spec

namespace medmigrate::spec {
namespace {

// docs/spec.md's second-system example must stay a valid spec.
TEST(SpecDocsTest, SecondSystemExampleParses) {
  std::ifstream in(MEDMIGRATE_SOURCE_DIR "/docs/spec.md");
  std::stringstream all;
  all << in.rdbuf();
  const std::string doc = all.str();
  size_t at = doc.find("name = \"acme\"");
  ASSERT_NE(at, std::string::npos);
  size_t begin = doc.rfind("```toml\n", at) + 8;
  size_t end = doc.find("```", at);
  ASSERT_OK_AND_ASSIGN(MappingSpec s, ParseSpec(doc.substr(begin, end - begin), "docs/spec.md"));
  EXPECT_EQ(Names(s), (std::vector<std::string>{"patients", "orders"}));
  EXPECT_EQ(s.Find("orders")->key, "case_no");
}

}  // namespace
}  // namespace medmigrate::spec
