// The declarative mapping: what moves from which legacy table to which target
// table, with which column rules. The engine knows nothing of MDW: everything
// MDW-specific lives in specs/mdw.toml, parsed into these structs. See
// docs/spec.md for the file format.
//
// Identity: a target row's id is UUIDv5(uuid_namespace, "<entity name>:<legacy id>"),
// so a reference column holds UUIDv5(ns, "<referenced entity>:<source value>")
// without a lookup.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace medmigrate::spec {

// One step applied to a text value. Rules of a column run in order; a NULL
// input stays NULL through every rule except kDefault.
struct Rule {
  enum class Kind {
    kTrim,              // strip leading/trailing ASCII whitespace (space, \t, \n, \r, \v, \f)
    kLower,             // ASCII lower case (bytes >= 0x80 untouched)
    kUpper,             // ASCII upper case
    kNullIfEmpty,       // "" -> NULL
    kReplace,           // every occurrence of `from` -> `to`
    kNullIf,            // value equal to one of `values` -> NULL, with warning `reason`
    kNullIfFutureDate,  // a date (YYYY-MM-DD...) after the run's start date -> NULL, warning `reason`
    kEmail,             // not an e-mail address (local@domain.tld shape) -> NULL, warning `reason`
    kDefault,           // NULL (or "" after the rules before it) -> `to`
  };
  Kind kind = Kind::kTrim;
  std::string from;                 // kReplace
  std::string to;                   // kReplace, kDefault
  std::vector<std::string> values;  // kNullIf
  std::string reason;               // warning reason for kNullIf, kNullIfFutureDate, kEmail
};

// After the rules, the value must be one of `values` (exact match).
struct EnumSpec {
  std::vector<std::string> values;
  std::map<std::string, std::string> aliases;  // checked first: "canceled" -> "cancelled"
  // A value outside `values`: with `unknown` set, it becomes `unknown` and a
  // warning `reason` is recorded (the raw source text goes to `raw_column`
  // when set); without it, the row is rejected with `reason`.
  std::optional<std::string> unknown;
  std::string raw_column;            // a target column of the same entity; empty: none
  std::string reason = "invalid_value";
};

// What to do when a referenced row is not in the target (never existed in
// the legacy database, or was rejected).
enum class OnMissing {
  kReject,           // reject the row with `missing_reason`
  kNullWithWarning,  // set the column NULL and warn with `missing_reason`
};

struct ColumnSpec {
  enum class Kind {
    kValue,      // the text of source column `source`, through `rules` and `enum_spec`
    kReference,  // the UUID of entity `ref_entity` whose legacy id is source column `source`
    kJson,       // source text parsed as JSON: valid -> kept (normalised), invalid -> NULL,
                 // raw text to `raw_column`, warning `invalid_reason`
    kLegacyId,   // the row's legacy id (for child rows, "<parent key>:<position>")
    kPosition,   // exploded child rows only: the element's 0-based position in the array
  };
  std::string target;  // target column name
  Kind kind = Kind::kValue;
  // Source column name. For exploded child rows: a field of the array element
  // (a JSON object member); "" for kLegacyId/kPosition.
  std::string source;
  std::vector<Rule> rules;
  std::optional<EnumSpec> enum_spec;

  // kReference
  std::string ref_entity;
  OnMissing on_missing = OnMissing::kReject;
  std::string missing_reason = "orphan_reference";
  bool follow_merges = false;  // redirect through the merge map (deduplicated patients)

  // kJson
  std::string raw_column;
  std::string invalid_reason = "invalid_json";

  // Checks on the final value (numeric text); out of range -> reject `check_reason`.
  std::optional<int64_t> min;
  std::optional<int64_t> max;
  bool required = false;  // NULL after the rules -> reject `check_reason`
  std::string check_reason = "invalid_value";
};

// Child rows made from a JSON array held in a column of the parent's source
// row: one target row per element. Its legacy id is "<parent key>:<position>".
// An array that is not valid JSON yields no child rows (the parent's kJson
// column, if any, records the warning).
struct ExplodeSpec {
  std::string parent;  // the parent entity's name (same source)
  std::string column;  // the source column holding the JSON array
};

// How an incremental run finds the source rows that changed since the last run.
// Every mode also takes up keys the target has never seen (new rows) and
// soft-deletes target rows whose key left the source.
enum class ChangeDetection {
  kUpdatedAt,  // rows whose `updated_at` is at or after the last run's watermark (less an overlap)
  kHash,       // every row is read; those whose hash differs from the one last loaded go on
  kNewKeys,    // append-only: only keys the target does not hold yet
};

struct EntitySpec {
  std::string name;          // the target table; also the UUID prefix
  std::string source_table;  // a legacy table, or
  std::string source_query;  // a SELECT (may join) exposing `key` and every source column
  std::string key = "id";    // integer key: chunks, checkpoints, legacy ids
  std::string updated_at;    // source column for incremental runs; empty: none
  // `changes = "updated_at" | "hash" | "new_keys"`; the default is updated_at
  // when the entity names one, else hash.
  ChangeDetection changes = ChangeDetection::kHash;
  std::vector<ColumnSpec> columns;
  std::optional<ExplodeSpec> explode;
  // Entities whose rows must be loaded first: every kReference target and the
  // explode parent. Filled by the parser; order is the spec's.
  std::vector<std::string> depends_on;

  // The distinct source columns the entity reads, key first (kValue,
  // kReference, kJson sources, raw-column sources and the explode column).
  std::vector<std::string> SourceColumns() const;
};

// SQL run after the load of the entities it names in `after` (derived
// columns and tables, e.g. a patient's primary doctor, state analytics).
struct PostLoadStep {
  std::string name;
  std::vector<std::string> after;
  std::string sql;
  // In an incremental run, when set, instead of `sql`: the same work limited
  // to the rows the run changed (medmigrate.row_images of the run named by
  // current_setting('medmigrate.run_id')).
  std::string incremental_sql;
  // Target tables the step writes besides the entities' own: their changes
  // are recorded for rollback like the load's.
  std::vector<std::string> writes;
};

// Money reconciled by `medmigrate validate` against the legacy database, to
// the cent: every row's amount, sums per `per` (the referenced row, e.g. the
// order of a product) and per `currency`. Columns are target columns of
// `entity`; amount, quantity and currency are value columns, per a reference.
struct MoneyCheck {
  std::string entity;
  std::string amount;    // a numeric value column
  std::string quantity;  // optional: summed as amount x quantity
  std::string currency;  // optional: sums per currency code
  std::string per;       // optional reference column: sums per referenced row
};

// A clinical sanity finding, reported by `medmigrate validate` and never
// fixed: loaded rows of `entity` for which the SQL condition `where` holds
// (evaluated on public.<entity>, with unqualified columns of that table).
struct SanityCheck {
  std::string name;
  std::string entity;
  std::string where;
};

// A property of derived data (post-load steps) that `medmigrate validate`
// proves and that fails the validation when it does not hold: `query`, run on
// the target with search_path = public, returns the legacy ids (first column)
// of the `entity` rows whose derived data is wrong; no row means it holds.
struct DerivedCheck {
  std::string name;
  std::string entity;
  std::string query;
};

// The spec's [validate] section.
struct ValidateSpec {
  std::vector<MoneyCheck> money;
  std::vector<SanityCheck> sanity;
  std::vector<DerivedCheck> derived;
};

// Deduplication of one entity's records (docs/spec.md, docs/design/dedup.md):
// `source` is a SELECT run in the run's legacy snapshot that returns one row
// per record, its first column the entity's key, the others named after the
// person fields they fill (given, family, birth_date, sex, email,
// street_number, street, address_line2, locality, region, postcode,
// national_id). Pairs at or above merge_threshold merge automatically; those
// between review_threshold and it wait for a person (`medmigrate dedup`).
struct DedupSpec {
  std::string entity;  // empty: no deduplication
  std::string source;
  double merge_threshold = 0.999;
  double review_threshold = 0.5;
  int64_t max_cluster_size = 50;
};

struct MappingSpec {
  std::string name;            // "mdw"
  int version = 1;
  std::string uuid_namespace;  // a UUID, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
  std::vector<EntitySpec> entities;  // dependency order (parents before children)
  std::vector<PostLoadStep> post_load;
  ValidateSpec validate;
  DedupSpec dedup;
  std::string checksum;        // SHA-256 hex of the file's bytes

  const EntitySpec* Find(const std::string& entity) const;
};

}  // namespace medmigrate::spec
