#include "spec/spec_parser.h"

#include <fmt/format.h>
#include <sodium.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>

#include "spec/embedded_specs.h"

namespace medmigrate::spec {

namespace {

constexpr int64_t kSpecFormatVersion = 1;

constexpr std::string_view kDefaultSpecName = "mdw";

// ---------------------------------------------------------------------------
// The vocabulary of the format. Rules are data: adding a rule or a key means
// adding a row here (and a case in the transformer).

// A column rule: its name in the file and the parameters its table form takes.
struct RuleDef {
  std::string_view name;
  Rule::Kind kind;
  bool takes_from_to;  // replace: from (required, non-empty), to (required)
  bool takes_to;       // default: to (required)
  bool takes_values;   // null_if: values (required, non-empty)
  bool takes_reason;   // reason (optional; default_reason when absent)
  std::string_view default_reason;
};

constexpr std::array<RuleDef, 9> kRuleDefs = {{
    {"trim", Rule::Kind::kTrim, false, false, false, false, ""},
    {"lower", Rule::Kind::kLower, false, false, false, false, ""},
    {"upper", Rule::Kind::kUpper, false, false, false, false, ""},
    {"null_if_empty", Rule::Kind::kNullIfEmpty, false, false, false, false, ""},
    {"replace", Rule::Kind::kReplace, true, false, false, false, ""},
    {"null_if", Rule::Kind::kNullIf, false, false, true, true, ""},
    {"null_if_future_date", Rule::Kind::kNullIfFutureDate, false, false, false, true,
     "future_date"},
    {"email", Rule::Kind::kEmail, false, false, false, true, "invalid_email"},
    {"default", Rule::Kind::kDefault, false, true, false, false, ""},
}};

struct KindDef {
  std::string_view name;
  ColumnSpec::Kind kind;
  // Keys a column of this kind may carry besides "target" and "kind".
  std::vector<std::string_view> keys;
};

const std::vector<KindDef>& KindDefs() {
  static const std::vector<KindDef> defs = {
      {"value",
       ColumnSpec::Kind::kValue,
       {"source", "rules", "enum", "min", "max", "required", "check_reason"}},
      {"reference",
       ColumnSpec::Kind::kReference,
       {"source", "ref", "on_missing", "missing_reason", "follow_merges"}},
      {"json", ColumnSpec::Kind::kJson, {"source", "raw_column", "invalid_reason"}},
      {"legacy_id", ColumnSpec::Kind::kLegacyId, {}},
      {"position", ColumnSpec::Kind::kPosition, {}},
  };
  return defs;
}

constexpr std::array<std::string_view, 7> kTopKeys = {
    "name", "version", "uuid_namespace", "entity", "post_load", "validate", "dedup"};
constexpr std::array<std::string_view, 5> kDedupKeys = {
    "entity", "source", "merge_threshold", "review_threshold", "max_cluster_size"};
constexpr std::array<std::string_view, 3> kValidateKeys = {"money", "sanity", "derived"};
constexpr std::array<std::string_view, 5> kMoneyKeys = {"entity", "amount", "quantity", "currency",
                                                        "per"};
constexpr std::array<std::string_view, 3> kSanityKeys = {"name", "entity", "where"};
constexpr std::array<std::string_view, 3> kDerivedKeys = {"name", "entity", "query"};
constexpr std::array<std::string_view, 8> kEntityKeys = {
    "name", "table", "query", "key", "updated_at", "changes", "explode", "column"};
constexpr std::array<std::string_view, 2> kExplodeKeys = {"parent", "column"};
constexpr std::array<std::string_view, 5> kEnumKeys = {"values", "aliases", "unknown", "raw_column",
                                                       "reason"};
constexpr std::array<std::string_view, 5> kPostLoadKeys = {"name", "after", "sql",
                                                           "incremental_sql", "writes"};

template <typename Range>
std::string JoinNames(const Range& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += std::string_view(n);
  }
  return out;
}

std::string RuleNames() {
  std::vector<std::string_view> names;
  for (const RuleDef& d : kRuleDefs) names.push_back(d.name);
  return JoinNames(names);
}

std::string KindNames() {
  std::vector<std::string_view> names;
  for (const KindDef& d : KindDefs()) names.push_back(d.name);
  return JoinNames(names);
}

// A name used as a SQL identifier (entity names are target tables, targets are
// target columns): lower-case ASCII letters, digits and '_', not starting with
// a digit.
bool IsIdentifier(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

bool IsSelect(std::string_view q) {
  size_t b = q.find_first_not_of(" \t\r\n(");
  if (b == std::string_view::npos) return false;
  std::string head(q.substr(b, 6));
  for (char& c : head) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return head.starts_with("select") || head.starts_with("with");
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

using Pos = toml::source_position;

// Where the parts of an entity that later checks talk about were written.
struct ColumnPos {
  Pos target{};
  Pos ref{};
  Pos raw_column{};  // enum or json raw_column
  Pos kind{};
};
struct EntityPos {
  Pos name{};
  Pos explode_parent{};
  Pos table{};  // the [[entity]] header
  std::vector<ColumnPos> columns;
};
struct PostLoadPos {
  Pos name{};
  std::vector<Pos> after;
};

// One parse of one file. Every method returns the first problem found.
class Parser {
 public:
  explicit Parser(std::string_view file) : file_(file) {}

  Result<MappingSpec> Parse(std::string_view text);

 private:
  Status Err(Pos p, std::string_view what) const {
    if (p.line == 0) p = Pos{1, 1};
    return Status::InvalidArgument(fmt::format("{}:{}:{}: {}", file_, p.line, p.column, what));
  }
  Status Err(const toml::node& n, std::string_view what) const {
    return Err(n.source().begin, what);
  }

  // Unknown keys are errors, not ignored: a typo ("sorce") must not silently
  // drop a rule.
  template <typename Range>
  Status CheckKeys(const toml::table& t, const Range& allowed, std::string_view where) const {
    for (auto&& [k, v] : t) {
      if (std::find(std::begin(allowed), std::end(allowed), k.str()) == std::end(allowed)) {
        return Err(k.source().begin, fmt::format("unknown key '{}' in {} (allowed: {})", k.str(),
                                                 where, JoinNames(allowed)));
      }
    }
    return Status::Ok();
  }

  Result<std::optional<std::string>> OptString(const toml::table& t, std::string_view key,
                                               std::string_view where) const {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::optional<std::string>();
    if (!n->is_string()) return Err(*n, fmt::format("'{}' in {} must be a string", key, where));
    return std::optional<std::string>(n->as_string()->get());
  }
  // A required, non-empty string.
  Result<std::string> ReqString(const toml::table& t, std::string_view key,
                                std::string_view where) const {
    MM_ASSIGN_OR_RETURN(std::optional<std::string> v, OptString(t, key, where));
    if (!v) return Err(t.source().begin, fmt::format("{} has no '{}' (required)", where, key));
    if (v->empty()) {
      return Err(*t.get(key), fmt::format("'{}' in {} must not be empty", key, where));
    }
    return *v;
  }
  Result<std::optional<int64_t>> OptInt(const toml::table& t, std::string_view key,
                                        std::string_view where) const {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::optional<int64_t>();
    if (!n->is_integer()) return Err(*n, fmt::format("'{}' in {} must be an integer", key, where));
    return std::optional<int64_t>(n->as_integer()->get());
  }
  Result<bool> OptBool(const toml::table& t, std::string_view key, bool fallback,
                       std::string_view where) const {
    const toml::node* n = t.get(key);
    if (n == nullptr) return fallback;
    if (!n->is_boolean()) {
      return Err(*n, fmt::format("'{}' in {} must be true or false", key, where));
    }
    return n->as_boolean()->get();
  }
  // An array of strings; absent: empty. Positions of the elements go to `pos`.
  Result<std::vector<std::string>> StringArray(const toml::table& t, std::string_view key,
                                               std::string_view where,
                                               std::vector<Pos>* pos = nullptr) const {
    std::vector<std::string> out;
    const toml::node* n = t.get(key);
    if (n == nullptr) return out;
    const toml::array* a = n->as_array();
    if (a == nullptr) {
      return Err(*n, fmt::format("'{}' in {} must be an array of strings", key, where));
    }
    for (const toml::node& e : *a) {
      if (!e.is_string()) {
        return Err(e, fmt::format("'{}' in {} must be an array of strings", key, where));
      }
      out.push_back(e.as_string()->get());
      if (pos) pos->push_back(e.source().begin);
    }
    return out;
  }
  // A table (inline or not) at t[key]; nullptr when absent.
  Result<const toml::table*> OptTable(const toml::table& t, std::string_view key,
                                      std::string_view where, std::string_view example) const {
    const toml::node* n = t.get(key);
    if (n == nullptr) return static_cast<const toml::table*>(nullptr);
    if (!n->is_table()) {
      return Err(*n, fmt::format("'{}' in {} must be a table, e.g. {}", key, where, example));
    }
    return n->as_table();
  }

  Result<EntitySpec> ParseEntity(const toml::table& t, EntityPos* pos) const;
  Status ParseDedup(const toml::node& n, MappingSpec* spec) const;
  Result<ColumnSpec> ParseColumn(const toml::table& t, const std::string& entity,
                                 ColumnPos* pos) const;
  Result<std::vector<Rule>> ParseRules(const toml::node& n, std::string_view where) const;
  Result<EnumSpec> ParseEnum(const toml::table& t, std::string_view where, Pos* raw_pos) const;
  Result<PostLoadStep> ParsePostLoad(const toml::table& t, PostLoadPos* pos) const;
  Status ParseValidate(const toml::node& n, MappingSpec* spec) const;
  // The column `key` of `t` names a column of `e` of kind `kind`; empty when absent and optional.
  Result<std::string> ValidateColumn(const toml::table& t, std::string_view key, const EntitySpec& e,
                                     ColumnSpec::Kind kind, bool required,
                                     std::string_view where) const;

  Status CheckEntities(const std::vector<EntitySpec>& entities,
                       const std::vector<EntityPos>& pos) const;
  Status CheckRawColumn(const EntitySpec& e, const EntityPos& pos, size_t owner,
                        const std::string& raw, std::string_view what) const;
  Status OrderEntities(MappingSpec* spec, std::vector<EntityPos>* pos) const;

  std::string file_;
};

Result<MappingSpec> Parser::Parse(std::string_view text) {
  toml::table root;
  try {
    root = toml::parse(text, file_);
  } catch (const toml::parse_error& e) {
    return Err(e.source().begin, fmt::format("not valid TOML 1.0: {}", e.description()));
  }
  MM_RETURN_IF_ERROR(CheckKeys(root, kTopKeys, "the spec"));

  MappingSpec spec;
  MM_ASSIGN_OR_RETURN(spec.name, ReqString(root, "name", "the spec"));
  MM_ASSIGN_OR_RETURN(std::optional<int64_t> version, OptInt(root, "version", "the spec"));
  if (version) {
    // The format this file is written in: a newer one may mean what this
    // build would misread, so it is refused rather than guessed at.
    if (*version != kSpecFormatVersion) {
      return Err(*root.get("version"),
                 fmt::format("'version' {} is not a spec format this medmigrate knows (it reads "
                             "version {}): upgrade medmigrate, or write the spec for version {}",
                             *version, kSpecFormatVersion, kSpecFormatVersion));
    }
    spec.version = static_cast<int>(*version);
  }
  const toml::node* ns = root.get("uuid_namespace");
  if (ns == nullptr) {
    return Err(Pos{1, 1},
               "the spec has no 'uuid_namespace' (required: a fixed UUID, e.g. "
               "\"6f1c0d2e-...\"; every target id is derived from it)");
  }
  if (!ns->is_string() || !IsUuid(ns->as_string()->get())) {
    return Err(*ns,
               "'uuid_namespace' must be a UUID string \"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\"");
  }
  spec.uuid_namespace = ns->as_string()->get();
  for (char& c : spec.uuid_namespace)
    c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);

  const toml::node* entities = root.get("entity");
  if (entities == nullptr) {
    return Err(Pos{1, 1}, "the spec has no entities: add at least one [[entity]] table");
  }
  const toml::array* list = entities->as_array();
  if (list == nullptr || list->empty()) {
    return Err(*entities, "'entity' must be a non-empty array of tables: write [[entity]] blocks");
  }
  std::vector<EntityPos> pos;
  for (const toml::node& n : *list) {
    if (!n.is_table()) return Err(n, "each 'entity' must be a table: write [[entity]] blocks");
    EntityPos p;
    MM_ASSIGN_OR_RETURN(EntitySpec e, ParseEntity(*n.as_table(), &p));
    spec.entities.push_back(std::move(e));
    pos.push_back(std::move(p));
  }
  MM_RETURN_IF_ERROR(CheckEntities(spec.entities, pos));

  if (const toml::node* steps = root.get("post_load")) {
    const toml::array* a = steps->as_array();
    if (a == nullptr)
      return Err(*steps, "'post_load' must be an array of tables: write [[post_load]] blocks");
    for (const toml::node& n : *a) {
      if (!n.is_table())
        return Err(n, "each 'post_load' must be a table: write [[post_load]] blocks");
      PostLoadPos p;
      MM_ASSIGN_OR_RETURN(PostLoadStep step, ParsePostLoad(*n.as_table(), &p));
      for (const PostLoadStep& other : spec.post_load) {
        if (other.name == step.name) {
          return Err(p.name, fmt::format("duplicate post_load step '{}'", step.name));
        }
      }
      for (size_t i = 0; i < step.after.size(); ++i) {
        if (spec.Find(step.after[i]) == nullptr) {
          return Err(p.after[i], fmt::format("post_load '{}' runs after '{}', which is not an "
                                             "entity of this spec",
                                             step.name, step.after[i]));
        }
      }
      spec.post_load.push_back(std::move(step));
    }
  }

  if (const toml::node* v = root.get("validate")) MM_RETURN_IF_ERROR(ParseValidate(*v, &spec));
  if (const toml::node* d = root.get("dedup")) MM_RETURN_IF_ERROR(ParseDedup(*d, &spec));

  MM_RETURN_IF_ERROR(OrderEntities(&spec, &pos));
  return spec;
}

Result<std::string> Parser::ValidateColumn(const toml::table& t, std::string_view key,
                                           const EntitySpec& e, ColumnSpec::Kind kind,
                                           bool required, std::string_view where) const {
  MM_ASSIGN_OR_RETURN(std::optional<std::string> name, OptString(t, key, where));
  if (!name) {
    if (required) return Err(t.source().begin, fmt::format("{} needs '{}'", where, key));
    return std::string();
  }
  auto it = std::find_if(e.columns.begin(), e.columns.end(),
                         [&](const ColumnSpec& c) { return c.target == *name; });
  const char* kind_name = kind == ColumnSpec::Kind::kReference ? "reference" : "value";
  if (it == e.columns.end() || it->kind != kind) {
    return Err(*t.get(key), fmt::format("{}: '{}' must name a {} column of entity '{}'", where,
                                        key, kind_name, e.name));
  }
  return *name;
}

Status Parser::ParseDedup(const toml::node& n, MappingSpec* spec) const {
  const toml::table* t = n.as_table();
  if (t == nullptr) return Err(n, "'dedup' must be a table: write [dedup]");
  MM_RETURN_IF_ERROR(CheckKeys(*t, kDedupKeys, "[dedup]"));
  DedupSpec& d = spec->dedup;
  MM_ASSIGN_OR_RETURN(d.entity, ReqString(*t, "entity", "[dedup]"));
  const EntitySpec* e = spec->Find(d.entity);
  if (e == nullptr) {
    return Err(*t->get("entity"), fmt::format("[dedup]: '{}' is not an entity of this spec", d.entity));
  }
  if (e->explode) {
    return Err(*t->get("entity"), "[dedup]: an exploded entity cannot be deduplicated");
  }
  MM_ASSIGN_OR_RETURN(d.source, ReqString(*t, "source", "[dedup]"));
  auto probability = [&](std::string_view key, double* out) -> Status {
    const toml::node* v = t->get(key);
    if (v == nullptr) return Status::Ok();
    std::optional<double> x;
    if (v->is_floating_point()) x = v->as_floating_point()->get();
    if (v->is_integer()) x = static_cast<double>(v->as_integer()->get());
    if (!x || !(*x > 0 && *x < 1)) {
      return Err(*v, fmt::format("'{}' in [dedup] must be a probability between 0 and 1 "
                                 "(exclusive), e.g. 0.999",
                                 key));
    }
    *out = *x;
    return Status::Ok();
  };
  MM_RETURN_IF_ERROR(probability("merge_threshold", &d.merge_threshold));
  MM_RETURN_IF_ERROR(probability("review_threshold", &d.review_threshold));
  if (d.review_threshold > d.merge_threshold) {
    return Err(n, fmt::format("[dedup]: review_threshold ({}) must not exceed merge_threshold ({})",
                              d.review_threshold, d.merge_threshold));
  }
  MM_ASSIGN_OR_RETURN(std::optional<int64_t> size, OptInt(*t, "max_cluster_size", "[dedup]"));
  if (size) {
    if (*size < 2 || *size > 10000) {
      return Err(*t->get("max_cluster_size"), "'max_cluster_size' in [dedup] must be from 2 to 10000");
    }
    d.max_cluster_size = *size;
  }
  return Status::Ok();
}

Status Parser::ParseValidate(const toml::node& n, MappingSpec* spec) const {
  const toml::table* v = n.as_table();
  if (v == nullptr) return Err(n, "'validate' must be a table: write [validate] or [[validate.money]]");
  MM_RETURN_IF_ERROR(CheckKeys(*v, kValidateKeys, "[validate]"));
  auto tables = [&](std::string_view key) -> Result<std::vector<const toml::table*>> {
    std::vector<const toml::table*> out;
    const toml::node* list = v->get(key);
    if (list == nullptr) return out;
    const toml::array* a = list->as_array();
    if (a == nullptr) {
      return Err(*list, fmt::format("'validate.{0}' must be an array of tables: write "
                                    "[[validate.{0}]] blocks",
                                    key));
    }
    for (const toml::node& e : *a) {
      if (!e.is_table()) {
        return Err(e, fmt::format("each 'validate.{0}' must be a table: write [[validate.{0}]] "
                                  "blocks",
                                  key));
      }
      out.push_back(e.as_table());
    }
    return out;
  };
  auto entity_of = [&](const toml::table& t, std::string_view where) -> Result<const EntitySpec*> {
    MM_ASSIGN_OR_RETURN(std::string name, ReqString(t, "entity", where));
    const EntitySpec* e = spec->Find(name);
    if (e == nullptr) {
      return Err(*t.get("entity"),
                 fmt::format("{}: '{}' is not an entity of this spec", where, name));
    }
    return e;
  };
  MM_ASSIGN_OR_RETURN(auto money, tables("money"));
  for (const toml::table* t : money) {
    MM_RETURN_IF_ERROR(CheckKeys(*t, kMoneyKeys, "[[validate.money]]"));
    MM_ASSIGN_OR_RETURN(const EntitySpec* e, entity_of(*t, "[[validate.money]]"));
    const std::string where = fmt::format("[[validate.money]] of '{}'", e->name);
    MoneyCheck m;
    m.entity = e->name;
    MM_ASSIGN_OR_RETURN(m.amount,
                        ValidateColumn(*t, "amount", *e, ColumnSpec::Kind::kValue, true, where));
    MM_ASSIGN_OR_RETURN(m.quantity,
                        ValidateColumn(*t, "quantity", *e, ColumnSpec::Kind::kValue, false, where));
    MM_ASSIGN_OR_RETURN(m.currency,
                        ValidateColumn(*t, "currency", *e, ColumnSpec::Kind::kValue, false, where));
    MM_ASSIGN_OR_RETURN(m.per,
                        ValidateColumn(*t, "per", *e, ColumnSpec::Kind::kReference, false, where));
    if (e->explode) {
      return Err(t->source().begin, fmt::format("{}: exploded entities cannot be reconciled", where));
    }
    spec->validate.money.push_back(std::move(m));
  }
  MM_ASSIGN_OR_RETURN(auto sanity, tables("sanity"));
  for (const toml::table* t : sanity) {
    SanityCheck c;
    MM_ASSIGN_OR_RETURN(c.name, ReqString(*t, "name", "[[validate.sanity]]"));
    const std::string where = fmt::format("[[validate.sanity]] '{}'", c.name);
    MM_RETURN_IF_ERROR(CheckKeys(*t, kSanityKeys, where));
    MM_ASSIGN_OR_RETURN(const EntitySpec* e, entity_of(*t, where));
    c.entity = e->name;
    MM_ASSIGN_OR_RETURN(c.where, ReqString(*t, "where", where));
    for (const SanityCheck& other : spec->validate.sanity) {
      if (other.name == c.name) {
        return Err(*t->get("name"), fmt::format("duplicate sanity check '{}'", c.name));
      }
    }
    spec->validate.sanity.push_back(std::move(c));
  }
  MM_ASSIGN_OR_RETURN(auto derived, tables("derived"));
  for (const toml::table* t : derived) {
    DerivedCheck c;
    MM_ASSIGN_OR_RETURN(c.name, ReqString(*t, "name", "[[validate.derived]]"));
    const std::string where = fmt::format("[[validate.derived]] '{}'", c.name);
    MM_RETURN_IF_ERROR(CheckKeys(*t, kDerivedKeys, where));
    MM_ASSIGN_OR_RETURN(const EntitySpec* e, entity_of(*t, where));
    c.entity = e->name;
    MM_ASSIGN_OR_RETURN(c.query, ReqString(*t, "query", where));
    // Results are stored by check name: one name, one check.
    bool taken = std::any_of(spec->validate.sanity.begin(), spec->validate.sanity.end(),
                             [&](const SanityCheck& o) { return o.name == c.name; }) ||
                 std::any_of(spec->validate.derived.begin(), spec->validate.derived.end(),
                             [&](const DerivedCheck& o) { return o.name == c.name; });
    if (taken) return Err(*t->get("name"), fmt::format("duplicate validation check '{}'", c.name));
    spec->validate.derived.push_back(std::move(c));
  }
  return Status::Ok();
}

Result<EntitySpec> Parser::ParseEntity(const toml::table& t, EntityPos* pos) const {
  pos->table = t.source().begin;
  EntitySpec e;
  MM_ASSIGN_OR_RETURN(e.name, ReqString(t, "name", "[[entity]]"));
  pos->name = t.get("name")->source().begin;
  if (!IsIdentifier(e.name)) {
    return Err(pos->name, fmt::format("entity name '{}' must be a target table name "
                                      "(lower-case letters, digits and '_')",
                                      e.name));
  }
  const std::string where = fmt::format("entity '{}'", e.name);
  MM_RETURN_IF_ERROR(CheckKeys(t, kEntityKeys, where));

  MM_ASSIGN_OR_RETURN(std::optional<std::string> table, OptString(t, "table", where));
  MM_ASSIGN_OR_RETURN(std::optional<std::string> query, OptString(t, "query", where));
  if (table.has_value() == query.has_value()) {
    Pos p = table ? t.get("query")->source().begin : pos->table;
    return Err(p, fmt::format("{} must have exactly one source: 'table' (a legacy table) or "
                              "'query' (a SELECT)",
                              where));
  }
  if (table) {
    if (table->empty()) return Err(*t.get("table"), fmt::format("'table' in {} is empty", where));
    e.source_table = *table;
  } else {
    if (!IsSelect(*query)) {
      return Err(*t.get("query"),
                 fmt::format("'query' in {} must be a SELECT (or WITH ... SELECT)", where));
    }
    e.source_query = *query;
  }
  MM_ASSIGN_OR_RETURN(std::optional<std::string> key, OptString(t, "key", where));
  if (key) {
    if (key->empty()) return Err(*t.get("key"), fmt::format("'key' in {} is empty", where));
    e.key = *key;
  }
  MM_ASSIGN_OR_RETURN(std::optional<std::string> updated_at, OptString(t, "updated_at", where));
  if (updated_at) e.updated_at = *updated_at;
  e.changes = e.updated_at.empty() ? ChangeDetection::kHash : ChangeDetection::kUpdatedAt;
  MM_ASSIGN_OR_RETURN(std::optional<std::string> changes, OptString(t, "changes", where));
  if (changes) {
    if (*changes == "updated_at") {
      if (e.updated_at.empty()) {
        return Err(*t.get("changes"),
                   fmt::format("{} has changes = \"updated_at\" but no 'updated_at' column", where));
      }
      e.changes = ChangeDetection::kUpdatedAt;
    } else if (*changes == "hash") {
      e.changes = ChangeDetection::kHash;
    } else if (*changes == "new_keys") {
      e.changes = ChangeDetection::kNewKeys;
    } else {
      return Err(*t.get("changes"),
                 fmt::format("'changes' in {} is '{}': use updated_at, hash or new_keys", where,
                             *changes));
    }
  }

  MM_ASSIGN_OR_RETURN(
      const toml::table* explode,
      OptTable(t, "explode", where, "{ parent = \"templates\", column = \"tasks\" }"));
  if (explode) {
    const std::string ewhere = fmt::format("'explode' of {}", where);
    MM_RETURN_IF_ERROR(CheckKeys(*explode, kExplodeKeys, ewhere));
    ExplodeSpec x;
    MM_ASSIGN_OR_RETURN(x.parent, ReqString(*explode, "parent", ewhere));
    MM_ASSIGN_OR_RETURN(x.column, ReqString(*explode, "column", ewhere));
    pos->explode_parent = explode->get("parent")->source().begin;
    e.explode = std::move(x);
  }

  const toml::node* columns = t.get("column");
  const toml::array* list = columns ? columns->as_array() : nullptr;
  if (list == nullptr || list->empty()) {
    return Err(columns ? columns->source().begin : pos->table,
               fmt::format("{} has no columns: add [[entity.column]] tables", where));
  }
  for (const toml::node& n : *list) {
    if (!n.is_table()) return Err(n, "each column must be a table: write [[entity.column]] blocks");
    ColumnPos cp;
    MM_ASSIGN_OR_RETURN(ColumnSpec c, ParseColumn(*n.as_table(), e.name, &cp));
    for (size_t i = 0; i < e.columns.size(); ++i) {
      if (e.columns[i].target == c.target) {
        return Err(cp.target, fmt::format("duplicate target column '{}' in {} (first at line {})",
                                          c.target, where, pos->columns[i].target.line));
      }
    }
    e.columns.push_back(std::move(c));
    pos->columns.push_back(cp);
  }
  return e;
}

Result<ColumnSpec> Parser::ParseColumn(const toml::table& t, const std::string& entity,
                                       ColumnPos* pos) const {
  ColumnSpec c;
  const std::string owner = fmt::format("a column of entity '{}'", entity);
  MM_ASSIGN_OR_RETURN(c.target, ReqString(t, "target", owner));
  pos->target = t.get("target")->source().begin;
  if (!IsIdentifier(c.target)) {
    return Err(pos->target, fmt::format("target '{}' must be a column name (lower-case letters, "
                                        "digits and '_')",
                                        c.target));
  }
  const std::string where = fmt::format("column '{}.{}'", entity, c.target);

  MM_ASSIGN_OR_RETURN(std::optional<std::string> kind_name, OptString(t, "kind", where));
  const KindDef* kind = &KindDefs()[0];
  if (kind_name) {
    pos->kind = t.get("kind")->source().begin;
    auto it = std::find_if(KindDefs().begin(), KindDefs().end(),
                           [&](const KindDef& d) { return d.name == *kind_name; });
    if (it == KindDefs().end()) {
      return Err(pos->kind, fmt::format("unknown kind '{}' in {} (allowed: {})", *kind_name, where,
                                        KindNames()));
    }
    kind = &*it;
  }
  c.kind = kind->kind;
  for (auto&& [k, v] : t) {
    if (k.str() == "target" || k.str() == "kind") continue;
    if (std::find(kind->keys.begin(), kind->keys.end(), k.str()) != kind->keys.end()) continue;
    bool known_elsewhere = std::any_of(KindDefs().begin(), KindDefs().end(), [&](const KindDef& d) {
      return std::find(d.keys.begin(), d.keys.end(), k.str()) != d.keys.end();
    });
    std::vector<std::string_view> allowed = {"target", "kind"};
    allowed.insert(allowed.end(), kind->keys.begin(), kind->keys.end());
    if (known_elsewhere) {
      return Err(k.source().begin,
                 fmt::format("key '{}' is not allowed in {} of kind \"{}\" (allowed: {})", k.str(),
                             where, kind->name, JoinNames(allowed)));
    }
    return Err(k.source().begin, fmt::format("unknown key '{}' in {} (allowed: {})", k.str(), where,
                                             JoinNames(allowed)));
  }

  MM_ASSIGN_OR_RETURN(std::optional<std::string> source, OptString(t, "source", where));
  if (source) {
    if (source->empty())
      return Err(*t.get("source"), fmt::format("'source' in {} is empty", where));
    c.source = *source;
  }

  switch (c.kind) {
    case ColumnSpec::Kind::kValue: {
      if (const toml::node* rules = t.get("rules")) {
        MM_ASSIGN_OR_RETURN(c.rules, ParseRules(*rules, where));
      }
      MM_ASSIGN_OR_RETURN(const toml::table* e,
                          OptTable(t, "enum", where, "{ values = [\"upper\", \"lower\"] }"));
      if (e) {
        MM_ASSIGN_OR_RETURN(EnumSpec es,
                            ParseEnum(*e, fmt::format("'enum' of {}", where), &pos->raw_column));
        c.enum_spec = std::move(es);
      }
      MM_ASSIGN_OR_RETURN(c.min, OptInt(t, "min", where));
      MM_ASSIGN_OR_RETURN(c.max, OptInt(t, "max", where));
      if (c.min && c.max && *c.min > *c.max) {
        return Err(*t.get("max"), fmt::format("'max' in {} is below 'min'", where));
      }
      MM_ASSIGN_OR_RETURN(c.required, OptBool(t, "required", false, where));
      MM_ASSIGN_OR_RETURN(std::optional<std::string> reason, OptString(t, "check_reason", where));
      if (reason) c.check_reason = *reason;
      break;
    }
    case ColumnSpec::Kind::kReference: {
      MM_ASSIGN_OR_RETURN(c.ref_entity, ReqString(t, "ref", where));
      pos->ref = t.get("ref")->source().begin;
      MM_ASSIGN_OR_RETURN(std::optional<std::string> on_missing, OptString(t, "on_missing", where));
      if (on_missing) {
        if (*on_missing == "reject") {
          c.on_missing = OnMissing::kReject;
        } else if (*on_missing == "null") {
          c.on_missing = OnMissing::kNullWithWarning;
        } else {
          return Err(*t.get("on_missing"),
                     fmt::format("unknown on_missing '{}' in {} (allowed: reject, null)",
                                 *on_missing, where));
        }
      }
      MM_ASSIGN_OR_RETURN(std::optional<std::string> reason, OptString(t, "missing_reason", where));
      if (reason) c.missing_reason = *reason;
      MM_ASSIGN_OR_RETURN(c.follow_merges, OptBool(t, "follow_merges", false, where));
      break;
    }
    case ColumnSpec::Kind::kJson: {
      MM_ASSIGN_OR_RETURN(std::optional<std::string> raw, OptString(t, "raw_column", where));
      if (raw) {
        c.raw_column = *raw;
        pos->raw_column = t.get("raw_column")->source().begin;
      }
      MM_ASSIGN_OR_RETURN(std::optional<std::string> reason, OptString(t, "invalid_reason", where));
      if (reason) c.invalid_reason = *reason;
      break;
    }
    case ColumnSpec::Kind::kLegacyId:
    case ColumnSpec::Kind::kPosition:
      break;
  }
  return c;
}

Result<std::vector<Rule>> Parser::ParseRules(const toml::node& n, std::string_view where) const {
  const toml::array* a = n.as_array();
  if (a == nullptr) {
    return Err(n, fmt::format("'rules' in {} must be an array, e.g. [\"trim\", \"null_if_empty\"]",
                              where));
  }
  std::vector<Rule> out;
  for (const toml::node& r : *a) {
    const toml::table* t = r.as_table();
    std::string name;
    Pos name_pos = r.source().begin;
    if (r.is_string()) {
      name = r.as_string()->get();
    } else if (t != nullptr) {
      const toml::node* rn = t->get("rule");
      if (rn == nullptr || !rn->is_string()) {
        return Err(r, fmt::format("a rule table in {} needs rule = \"<name>\" (rules: {})", where,
                                  RuleNames()));
      }
      name = rn->as_string()->get();
      name_pos = rn->source().begin;
    } else {
      return Err(r,
                 fmt::format("each rule in {} must be a name or a table {{ rule = \"...\", ... }}",
                             where));
    }
    auto def = std::find_if(kRuleDefs.begin(), kRuleDefs.end(),
                            [&](const RuleDef& d) { return d.name == name; });
    if (def == kRuleDefs.end()) {
      return Err(name_pos,
                 fmt::format("unknown rule '{}' in {} (allowed: {})", name, where, RuleNames()));
    }
    Rule rule;
    rule.kind = def->kind;
    rule.reason = std::string(def->default_reason);
    const std::string rwhere = fmt::format("rule '{}' of {}", name, where);
    if (t == nullptr) {
      if (def->takes_from_to || def->takes_to || def->takes_values) {
        const char* example =
            def->takes_from_to ? "{ rule = \"replace\", from = \"-\", to = \"_\" }"
            : def->takes_to    ? "{ rule = \"default\", to = \"unknown\" }"
                            : "{ rule = \"null_if\", values = [\"1900-01-01\"], reason = \"...\" }";
        return Err(r,
                   fmt::format("rule '{}' in {} needs parameters: write {}", name, where, example));
      }
      out.push_back(std::move(rule));
      continue;
    }
    std::vector<std::string_view> allowed = {"rule"};
    if (def->takes_from_to) allowed.insert(allowed.end(), {"from", "to"});
    if (def->takes_to) allowed.push_back("to");
    if (def->takes_values) allowed.push_back("values");
    if (def->takes_reason) allowed.push_back("reason");
    MM_RETURN_IF_ERROR(CheckKeys(*t, allowed, rwhere));
    if (def->takes_from_to) {
      MM_ASSIGN_OR_RETURN(rule.from, ReqString(*t, "from", rwhere));
    }
    if (def->takes_from_to || def->takes_to) {
      MM_ASSIGN_OR_RETURN(std::optional<std::string> to, OptString(*t, "to", rwhere));
      if (!to) return Err(*t, fmt::format("{} has no 'to' (required)", rwhere));
      rule.to = *to;
    }
    if (def->takes_values) {
      MM_ASSIGN_OR_RETURN(rule.values, StringArray(*t, "values", rwhere));
      if (rule.values.empty()) {
        return Err(*t, fmt::format("{} needs a non-empty 'values' array", rwhere));
      }
    }
    if (def->takes_reason) {
      MM_ASSIGN_OR_RETURN(std::optional<std::string> reason, OptString(*t, "reason", rwhere));
      if (reason) rule.reason = *reason;
    }
    out.push_back(std::move(rule));
  }
  return out;
}

Result<EnumSpec> Parser::ParseEnum(const toml::table& t, std::string_view where,
                                   Pos* raw_pos) const {
  MM_RETURN_IF_ERROR(CheckKeys(t, kEnumKeys, where));
  EnumSpec e;
  MM_ASSIGN_OR_RETURN(e.values, StringArray(t, "values", where));
  if (e.values.empty()) {
    return Err(
        t.get("values") ? t.get("values")->source().begin : t.source().begin,
        fmt::format("{} needs a non-empty 'values' array (the allowed target values)", where));
  }
  MM_ASSIGN_OR_RETURN(const toml::table* aliases,
                      OptTable(t, "aliases", where, "{ canceled = \"cancelled\" }"));
  if (aliases) {
    for (auto&& [k, v] : *aliases) {
      if (!v.is_string()) {
        return Err(v, fmt::format("alias '{}' in {} must map to a string", k.str(), where));
      }
      const std::string& to = v.as_string()->get();
      if (std::find(e.values.begin(), e.values.end(), to) == e.values.end()) {
        return Err(v, fmt::format("alias '{}' in {} maps to '{}', which is not one of its values "
                                  "({})",
                                  k.str(), where, to, JoinNames(e.values)));
      }
      e.aliases.emplace(std::string(k.str()), to);
    }
  }
  MM_ASSIGN_OR_RETURN(e.unknown, OptString(t, "unknown", where));
  MM_ASSIGN_OR_RETURN(std::optional<std::string> raw, OptString(t, "raw_column", where));
  if (raw) {
    if (!e.unknown) {
      return Err(*t.get("raw_column"),
                 fmt::format("'raw_column' in {} needs 'unknown': without it an unmatched value "
                             "rejects the row and there is no raw text to keep",
                             where));
    }
    e.raw_column = *raw;
    *raw_pos = t.get("raw_column")->source().begin;
  }
  MM_ASSIGN_OR_RETURN(std::optional<std::string> reason, OptString(t, "reason", where));
  if (reason) {
    if (reason->empty())
      return Err(*t.get("reason"), fmt::format("'reason' in {} is empty", where));
    e.reason = *reason;
  }
  return e;
}

Result<PostLoadStep> Parser::ParsePostLoad(const toml::table& t, PostLoadPos* pos) const {
  PostLoadStep step;
  MM_ASSIGN_OR_RETURN(step.name, ReqString(t, "name", "[[post_load]]"));
  pos->name = t.get("name")->source().begin;
  const std::string where = fmt::format("post_load '{}'", step.name);
  MM_RETURN_IF_ERROR(CheckKeys(t, kPostLoadKeys, where));
  MM_ASSIGN_OR_RETURN(step.after, StringArray(t, "after", where, &pos->after));
  if (step.after.empty()) {
    return Err(t.get("after") ? t.get("after")->source().begin : t.source().begin,
               fmt::format("{} needs 'after': the entities whose load it follows", where));
  }
  MM_ASSIGN_OR_RETURN(step.sql, ReqString(t, "sql", where));
  MM_ASSIGN_OR_RETURN(std::optional<std::string> incremental, OptString(t, "incremental_sql", where));
  if (incremental) step.incremental_sql = *incremental;
  MM_ASSIGN_OR_RETURN(step.writes, StringArray(t, "writes", where));
  return step;
}

Status Parser::CheckRawColumn(const EntitySpec& e, const EntityPos& pos, size_t owner,
                              const std::string& raw, std::string_view what) const {
  const ColumnSpec& o = e.columns[owner];
  const Pos p = pos.columns[owner].raw_column;
  auto it = std::find_if(e.columns.begin(), e.columns.end(),
                         [&](const ColumnSpec& c) { return c.target == raw; });
  const std::string example = fmt::format("{{ target = \"{}\", source = \"{}\" }}", raw, o.source);
  if (it == e.columns.end()) {
    return Err(p, fmt::format("{} raw_column '{}' of column '{}.{}' is not a column of entity "
                              "'{}': add {}",
                              what, raw, e.name, o.target, e.name, example));
  }
  const ColumnSpec& r = *it;
  if (r.kind != ColumnSpec::Kind::kValue || r.source != o.source || !r.rules.empty() ||
      r.enum_spec || r.min || r.max || r.required) {
    return Err(p, fmt::format("{} raw_column '{}' of column '{}.{}' must be a plain column "
                              "reading the same source, {} (the engine fills it with the raw "
                              "text; rules on it would not run)",
                              what, raw, e.name, o.target, example));
  }
  for (size_t i = 0; i < e.columns.size(); ++i) {
    if (i == owner) continue;
    const ColumnSpec& c = e.columns[i];
    const std::string& other = c.kind == ColumnSpec::Kind::kJson ? c.raw_column
                               : c.enum_spec                     ? c.enum_spec->raw_column
                                                                 : std::string();
    if (other == raw) {
      return Err(p, fmt::format("raw_column '{}' is already the raw column of '{}.{}'", raw, e.name,
                                c.target));
    }
  }
  return Status::Ok();
}

Status Parser::CheckEntities(const std::vector<EntitySpec>& entities,
                             const std::vector<EntityPos>& pos) const {
  auto find = [&](const std::string& name) -> const EntitySpec* {
    for (const EntitySpec& e : entities) {
      if (e.name == name) return &e;
    }
    return nullptr;
  };
  std::string names;
  for (const EntitySpec& e : entities) names += (names.empty() ? "" : ", ") + e.name;

  for (size_t i = 0; i < entities.size(); ++i) {
    const EntitySpec& e = entities[i];
    const EntityPos& p = pos[i];
    for (size_t j = 0; j < i; ++j) {
      if (entities[j].name == e.name) {
        return Err(p.name, fmt::format("duplicate entity '{}' (first defined at line {})", e.name,
                                       pos[j].name.line));
      }
    }
    if (e.explode) {
      if (e.explode->parent == e.name) {
        return Err(p.explode_parent, fmt::format("entity '{}' cannot explode from itself", e.name));
      }
      if (find(e.explode->parent) == nullptr) {
        return Err(p.explode_parent,
                   fmt::format("explode parent '{}' of entity '{}' is not an entity (entities: {})",
                               e.explode->parent, e.name, names));
      }
    }
    bool has_legacy_id = false;
    for (size_t k = 0; k < e.columns.size(); ++k) {
      const ColumnSpec& c = e.columns[k];
      const ColumnPos& cp = p.columns[k];
      const std::string where = fmt::format("column '{}.{}'", e.name, c.target);
      switch (c.kind) {
        case ColumnSpec::Kind::kLegacyId:
          has_legacy_id = true;
          break;
        case ColumnSpec::Kind::kPosition:
          if (!e.explode) {
            return Err(cp.kind, fmt::format("{} has kind \"position\", which only an entity with "
                                            "'explode' may use",
                                            where));
          }
          break;
        case ColumnSpec::Kind::kReference:
          if (find(c.ref_entity) == nullptr) {
            return Err(cp.ref, fmt::format("{} references '{}', which is not an entity of this "
                                           "spec (entities: {})",
                                           where, c.ref_entity, names));
          }
          if (c.source.empty() && !e.explode) {
            return Err(cp.target, fmt::format("{} has no 'source' (required: the source column "
                                              "holding the referenced legacy id)",
                                              where));
          }
          break;
        case ColumnSpec::Kind::kValue:
        case ColumnSpec::Kind::kJson:
          if (c.source.empty()) {
            return Err(cp.target, fmt::format("{} has no 'source' (required: {})", where,
                                              e.explode ? "the field of the array element"
                                                        : "the source column it reads"));
          }
          if (c.kind == ColumnSpec::Kind::kJson && !c.raw_column.empty()) {
            MM_RETURN_IF_ERROR(CheckRawColumn(e, p, k, c.raw_column, "json"));
          }
          if (c.enum_spec && !c.enum_spec->raw_column.empty()) {
            MM_RETURN_IF_ERROR(CheckRawColumn(e, p, k, c.enum_spec->raw_column, "enum"));
          }
          break;
      }
    }
    if (!has_legacy_id) {
      return Err(p.table, fmt::format("entity '{}' maps no legacy id: add a column "
                                      "{{ target = \"legacy_id\", kind = \"legacy_id\" }}",
                                      e.name));
    }
  }
  return Status::Ok();
}

Status Parser::OrderEntities(MappingSpec* spec, std::vector<EntityPos>* pos) const {
  const size_t n = spec->entities.size();
  // Where each dependency edge was written, for the cycle message.
  std::vector<std::vector<Pos>> dep_pos(n);
  for (size_t i = 0; i < n; ++i) {
    EntitySpec& e = spec->entities[i];
    auto add = [&](const std::string& dep, Pos p) {
      if (dep == e.name) return;  // a self-reference needs no order
      if (std::find(e.depends_on.begin(), e.depends_on.end(), dep) != e.depends_on.end()) return;
      e.depends_on.push_back(dep);
      dep_pos[i].push_back(p);
    };
    for (size_t k = 0; k < e.columns.size(); ++k) {
      if (e.columns[k].kind == ColumnSpec::Kind::kReference) {
        add(e.columns[k].ref_entity, (*pos)[i].columns[k].ref);
      }
    }
    if (e.explode) add(e.explode->parent, (*pos)[i].explode_parent);
  }

  // Kahn's algorithm, always taking the earliest entity of the file whose
  // dependencies are placed, so independent entities keep the file's order.
  std::vector<bool> placed(n, false);
  std::vector<size_t> order;
  auto index_of = [&](const std::string& name) {
    for (size_t i = 0; i < n; ++i) {
      if (spec->entities[i].name == name) return i;
    }
    return n;
  };
  auto ready = [&](size_t i) {
    return std::all_of(spec->entities[i].depends_on.begin(), spec->entities[i].depends_on.end(),
                       [&](const std::string& d) { return placed[index_of(d)]; });
  };
  while (order.size() < n) {
    size_t next = n;
    for (size_t i = 0; i < n && next == n; ++i) {
      if (!placed[i] && ready(i)) next = i;
    }
    if (next == n) {
      // Every unplaced entity waits on another unplaced one: walk those edges
      // from the first until an entity repeats; the repeat closes a cycle.
      size_t at = 0;
      while (placed[at]) ++at;
      std::vector<size_t> path;
      std::vector<size_t> via;  // index into depends_on of path[k] taken next
      while (std::find(path.begin(), path.end(), at) == path.end()) {
        path.push_back(at);
        const EntitySpec& e = spec->entities[at];
        size_t d = 0;
        while (placed[index_of(e.depends_on[d])]) ++d;
        via.push_back(d);
        at = index_of(e.depends_on[d]);
      }
      size_t start = static_cast<size_t>(std::find(path.begin(), path.end(), at) - path.begin());
      std::string cycle;
      for (size_t k = start; k < path.size(); ++k) cycle += spec->entities[path[k]].name + " -> ";
      cycle += spec->entities[at].name;
      return Err(dep_pos[path[start]][via[start]],
                 fmt::format("dependency cycle: {} (references and explode parents must form no "
                             "cycle; a reference to the entity itself is allowed)",
                             cycle));
    }
    placed[next] = true;
    order.push_back(next);
  }
  std::vector<EntitySpec> sorted;
  sorted.reserve(n);
  for (size_t i : order) sorted.push_back(std::move(spec->entities[i]));
  spec->entities = std::move(sorted);
  return Status::Ok();
}

}  // namespace

Result<MappingSpec> ParseSpec(std::string_view toml_text, std::string_view file_name) {
  Parser parser(file_name);
  MM_ASSIGN_OR_RETURN(MappingSpec spec, parser.Parse(toml_text));
  spec.checksum = Sha256Hex(toml_text);
  return spec;
}

Result<MappingSpec> LoadSpecFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::NotFound(fmt::format(
        "spec file {} does not exist or cannot be read (give a readable .toml file, or omit it "
        "to use the embedded '{}' spec)",
        path, kDefaultSpecName));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::NotFound(fmt::format("spec file {} cannot be read", path));
  return ParseSpec(text.str(), path);
}

Result<MappingSpec> EmbeddedSpec(std::string_view name) {
  for (const EmbeddedSpecFile& f : EmbeddedSpecFiles()) {
    if (f.name == name) return ParseSpec(f.content, f.path);
  }
  return Status::NotFound(
      fmt::format("no embedded spec '{}' (embedded: {})", name, JoinNames(EmbeddedSpecNames())));
}

Result<MappingSpec> DefaultSpec() { return EmbeddedSpec(kDefaultSpecName); }

std::vector<std::string> EmbeddedSpecNames() {
  std::vector<std::string> names;
  for (const EmbeddedSpecFile& f : EmbeddedSpecFiles()) names.emplace_back(f.name);
  return names;
}

}  // namespace medmigrate::spec
