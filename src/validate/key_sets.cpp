// Key sets, references and the run's deletes of one entity, in one pass: the
// legacy keys (and the source values of every reference) streamed in key
// order from the legacy database, the target's rows (live or soft-deleted),
// rejects, merges and cascade records (parent_deleted warnings) streamed in
// the same order from the target, merged here. Two COPY streams; memory is a
// row. The target's cumulative state is judged, so the same pass proves a
// full run and an incremental one (whose own counts cover only its change set).
#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <optional>

#include "ids/uuid_derivation.h"
#include "transform/row_transformer.h"
#include "validate/checks.h"

namespace medmigrate::validate {

namespace {

using spec::ColumnSpec;

// One legacy row (or exploded element) with the reference ids it must have.
struct LegacyKey {
  Key key;
  std::vector<ids::UuidText> refs;  // expected target ids
  std::vector<char> ref_null;       // 1: the reference must be NULL
};

// Streams an entity's legacy keys in order, exploding through the engine's
// own transformer when the entity is made of JSON array elements.
class LegacyKeys : public transform::RowSink {
 public:
  LegacyKeys(const CheckContext& ctx, const spec::EntitySpec& e, pg::Connection* conn)
      : ctx_(ctx), e_(e), conn_(conn), stream_(conn) {}

  // The reference columns compared, by target name.
  const std::vector<const ColumnSpec*>& refs() const { return refs_; }

  Status Begin() {
    MM_ASSIGN_OR_RETURN(uuids_, ids::UuidDerivation::Create(ctx_.spec->uuid_namespace));
    std::vector<std::string> cols;
    if (e_.explode) {
      MM_ASSIGN_OR_RETURN(transform::RowTransformer t,
                          transform::RowTransformer::Create(
                              *ctx_.spec, e_, transform::TransformContext{ctx_.run.started_date}));
      transformer_.emplace(std::move(t));
      for (const auto& r : transformer_->References()) {
        refs_.push_back(r.spec);
        ref_index_.push_back(static_cast<int>(r.index));
      }
      cols = e_.SourceColumns();
    } else {
      cols.push_back(e_.key);
      for (const ColumnSpec& c : e_.columns) {
        if (c.kind != ColumnSpec::Kind::kReference || c.source.empty()) continue;
        refs_.push_back(&c);
        ref_index_.push_back(static_cast<int>(cols.size()));
        cols.push_back(c.source);
      }
    }
    last_value_.assign(refs_.size(), std::string("\x01"));
    last_uuid_.resize(refs_.size());
    std::string list;
    for (const std::string& c : cols) list += (list.empty() ? "" : ", ") + conn_->QuoteIdent(c);
    return stream_.Begin(fmt::format("SELECT {} FROM {} ORDER BY {}", list, SourceFrom(*conn_, e_),
                                     conn_->QuoteIdent(e_.key)));
  }

  // The next key, or nullptr at the end; valid until the next call.
  Result<const LegacyKey*> Next() {
    if (transformer_) {
      while (pending_.empty()) {
        MM_ASSIGN_OR_RETURN(bool more, stream_.Next());
        if (!more) return static_cast<const LegacyKey*>(nullptr);
        MM_RETURN_IF_ERROR(transformer_->Transform(stream_.row(), *this));
      }
      current_ = std::move(pending_.front());
      pending_.pop_front();
      return &current_;
    }
    MM_ASSIGN_OR_RETURN(bool more, stream_.Next());
    if (!more) return static_cast<const LegacyKey*>(nullptr);
    const CopyRow& row = stream_.row();
    LegacyKey& k = current_;
    if (row.IsNull(0) || !ParseKey(row.Get(0), &k.key)) {
      return Status::DataLoss(fmt::format("{}: a legacy key is not an integer", e_.name));
    }
    k.refs.resize(refs_.size());
    k.ref_null.assign(refs_.size(), 0);
    for (size_t i = 0; i < refs_.size(); ++i) {
      size_t f = static_cast<size_t>(ref_index_[i]);
      if (row.IsNull(f)) {
        k.ref_null[i] = 1;
        continue;
      }
      std::string_view value = row.Get(f);
      const ColumnSpec& c = *refs_[i];
      if (c.follow_merges) {
        auto m = ctx_.merges.find(c.ref_entity);
        if (m != ctx_.merges.end()) {
          auto s = m->second.find(std::string(value));
          if (s != m->second.end()) value = s->second;
        }
      }
      // Children of one parent tend to come together: derive once per run of values.
      if (value != last_value_[i]) {
        last_value_[i].assign(value);
        uuids_->Derive(c.ref_entity, value, &last_uuid_[i]);
      }
      k.refs[i] = last_uuid_[i];
    }
    return &current_;
  }

  // RowSink, for exploded entities: every element is a key, loaded or not.
  Status Accept(const transform::TargetRow& row, std::span<const transform::RowIssue>) override {
    LegacyKey k;
    if (!ParseKey(row.legacy_id, &k.key)) {
      return Status::DataLoss(
          fmt::format("{}: legacy id {} is not <key>:<position>", e_.name, row.legacy_id));
    }
    for (int idx : ref_index_) {
      ids::UuidText u{};
      const std::string& v = row.values[static_cast<size_t>(idx)];
      bool null = row.nulls[static_cast<size_t>(idx)] || v.size() != u.size();
      if (!null) std::copy(v.begin(), v.end(), u.begin());
      k.refs.push_back(u);
      k.ref_null.push_back(null ? 1 : 0);
    }
    pending_.push_back(std::move(k));
    return Status::Ok();
  }
  Status Reject(std::string_view legacy_id, const transform::RowIssue&) override {
    LegacyKey k;
    if (!ParseKey(legacy_id, &k.key)) {
      return Status::DataLoss(
          fmt::format("{}: legacy id {} is not <key>:<position>", e_.name, legacy_id));
    }
    k.refs.assign(ref_index_.size(), ids::UuidText{});
    k.ref_null.assign(ref_index_.size(), 1);
    pending_.push_back(std::move(k));
    return Status::Ok();
  }

 private:
  const CheckContext& ctx_;
  const spec::EntitySpec& e_;
  pg::Connection* conn_;
  CopyStream stream_;
  std::optional<ids::UuidDerivation> uuids_;
  std::optional<transform::RowTransformer> transformer_;
  std::vector<const ColumnSpec*> refs_;
  std::vector<int> ref_index_;  // source field (plain) or target column (exploded)
  std::deque<LegacyKey> pending_;
  LegacyKey current_;
  std::vector<std::string> last_value_;
  std::vector<ids::UuidText> last_uuid_;
};

// What the target holds for one legacy key.
struct TargetKey {
  Key key;
  int live = 0, dead = 0;
  int dead_here = 0;  // soft-deleted while this run ran (deleted_at in its window)
  bool rejected_here = false, rejected = false, merged = false;
  bool cascaded = false, cascaded_here = false;  // a parent_deleted warning (of this run)
  std::vector<std::string> refs;                 // of the (first) live row
  std::vector<char> ref_null;
};

class TargetKeys {
 public:
  TargetKeys(const CheckContext& ctx, const spec::EntitySpec& e, pg::Connection* conn)
      : ctx_(ctx), e_(e), conn_(conn), stream_(conn) {}

  Status Begin(const std::vector<const ColumnSpec*>& refs) {
    nrefs_ = refs.size();
    bool ex = e_.explode.has_value();
    std::string fk, nulls;
    for (const ColumnSpec* c : refs) {
      fk += ", t." + conn_->QuoteIdent(c->target) + "::text";
      nulls += ", NULL::text";
    }
    std::string entity = conn_->QuoteLiteral(e_.name);
    // Target rows: 'l' live, 'd' soft-deleted during this run (between its
    // start and end, as ApplyDeletes stamps them), 'o' soft-deleted at any
    // other time. Records: rejects and cascades of this run and earlier ones
    // (flag: this run's), merges in force.
    std::string sql = fmt::format(
        "SELECT {0}, 'T', CASE WHEN t.deleted_at IS NULL THEN 'l' WHEN t.deleted_at >= "
        "(SELECT started_at FROM medmigrate.runs WHERE id = {4}) AND t.deleted_at <= "
        "(SELECT coalesce(finished_at, now()) FROM medmigrate.runs WHERE id = {4}) THEN 'd' "
        "ELSE 'o' END{1} FROM public.{2} t "
        "UNION ALL SELECT {3}, 'R', (r.run_id = {4})::text{5} FROM medmigrate.rejects r "
        "WHERE r.entity = {6} AND r.{7} "
        "UNION ALL SELECT {8}, 'M', 'true'{5} FROM medmigrate.active_merges m "
        "WHERE m.entity = {6} "
        "UNION ALL SELECT {9}, 'W', (w.run_id = {4})::text{5} FROM medmigrate.warnings w "
        "WHERE w.entity = {6} AND w.reason = 'parent_deleted' AND w.{7} ORDER BY 1, 2",
        SortKeySql("t.legacy_id", ex), fk, conn_->QuoteIdent(e_.name),
        SortKeySql("r.legacy_id", true), ctx_.run.id, nulls, entity, ctx_.reject_runs_sql,
        SortKeySql("m.legacy_id", true), SortKeySql("w.legacy_id", true));
    return stream_.Begin(sql);
  }

  // The next key's rows and records, or nullptr at the end; valid until the next call.
  Result<const TargetKey*> Next() {
    bool started = false;
    TargetKey& out = current_;
    while (true) {
      if (!have_row_) {
        MM_ASSIGN_OR_RETURN(bool more, stream_.Next());
        if (!more) return started ? &out : nullptr;
        have_row_ = true;
      }
      const CopyRow& row = stream_.row();
      Key k;
      std::string_view a = row.Get(0), b = row.Get(1);
      std::from_chars(a.data(), a.data() + a.size(), k.a);
      std::from_chars(b.data(), b.data() + b.size(), k.b);
      if (started && k != out.key) return &out;
      if (!started) {
        started = true;
        out.key = k;
        out.live = out.dead = out.dead_here = 0;
        out.rejected_here = out.rejected = out.merged = false;
        out.cascaded = out.cascaded_here = false;
        out.refs.resize(nrefs_);
        out.ref_null.assign(nrefs_, 1);
      }
      std::string_view kind = row.Get(2);
      std::string_view state = row.Get(3);
      bool flag = state == "true";
      if (kind == "T") {
        if (state == "l") {
          if (out.live++ == 0) {
            for (size_t i = 0; i < nrefs_; ++i) {
              out.ref_null[i] = row.IsNull(4 + i) ? 1 : 0;
              if (!row.IsNull(4 + i)) out.refs[i].assign(row.Get(4 + i));
            }
          }
        } else {
          ++out.dead;
          if (state == "d") ++out.dead_here;
        }
      } else if (kind == "R") {
        out.rejected = true;
        out.rejected_here = out.rejected_here || flag;
      } else if (kind == "W") {
        out.cascaded = true;
        out.cascaded_here = out.cascaded_here || flag;
      } else {
        out.merged = true;
      }
      have_row_ = false;
    }
  }

 private:
  const CheckContext& ctx_;
  const spec::EntitySpec& e_;
  pg::Connection* conn_;
  CopyStream stream_;
  size_t nrefs_ = 0;
  bool have_row_ = false;
  TargetKey current_;
};

}  // namespace

Result<std::vector<CheckResult>> CheckKeySets(const CheckContext& ctx, const spec::EntitySpec& e) {
  auto started = std::chrono::steady_clock::now();
  MM_ASSIGN_OR_RETURN(pg::Connection legacy, OpenLegacy(ctx));
  MM_ASSIGN_OR_RETURN(pg::Connection target, OpenTarget(ctx));
  // What the run says it soft-deleted (0 for a full run).
  int64_t run_deleted = 0;
  {
    MM_ASSIGN_OR_RETURN(auto d, target.QueryValue("SELECT deleted FROM medmigrate.run_entities "
                                                  "WHERE run_id = $1 AND entity = $2",
                                                  {std::to_string(ctx.run.id), e.name}));
    if (d) run_deleted = std::stoll(*d);
  }
  LegacyKeys lk(ctx, e, &legacy);
  MM_RETURN_NOT_OK_PREPEND(lk.Begin(), "legacy keys of " + e.name);
  TargetKeys tk(ctx, e, &target);
  MM_RETURN_NOT_OK_PREPEND(tk.Begin(lk.refs()), "target keys of " + e.name);

  CheckResult keys = NewCheck("completeness", "key_sets", e.name);
  CheckResult refs = NewCheck("integrity", "references", e.name);
  CheckResult dels = NewCheck("completeness", "deletes", e.name);
  Failures key_failures(&keys, ctx.options->max_examples);
  Failures ref_failures(&refs, ctx.options->max_examples);
  Failures del_failures(&dels, ctx.options->max_examples);
  int64_t legacy_rows = 0, loaded = 0, rejected = 0, merged = 0, deleted = 0, cascaded = 0;
  int64_t deleted_here = 0;
  nlohmann::json ref_columns = nlohmann::json::object();

  MM_ASSIGN_OR_RETURN(const LegacyKey* l, lk.Next());
  MM_ASSIGN_OR_RETURN(const TargetKey* t, tk.Next());
  while (l || t) {
    if (l && (!t || l->key < t->key)) {
      ++legacy_rows;
      key_failures.Add(l->key.Text(), "missing");
      MM_ASSIGN_OR_RETURN(l, lk.Next());
      continue;
    }
    if (!l || t->key < l->key) {
      // Not (or no longer) in the legacy database: only soft-deleted rows,
      // rejects and merges of earlier runs may stay.
      deleted_here += t->dead_here;
      if (t->live > 0) {
        key_failures.Add(t->key.Text(), "not_in_legacy");
      } else if (t->dead > 0) {
        ++deleted;
      }
      MM_ASSIGN_OR_RETURN(t, tk.Next());
      continue;
    }
    ++legacy_rows;
    deleted_here += t->dead_here;
    // Soft-deleted by this run although still in the legacy database: only
    // a cascade from a deleted parent (recorded by this run), a reject by
    // this run of a row loaded earlier, or a merge in force may do that.
    if (t->dead_here > 0 && t->live == 0 && !t->cascaded_here && !t->rejected_here &&
        !t->merged) {
      del_failures.Add(l->key.Text(), "deleted_but_in_legacy");
    }
    if (t->live > 1) {
      key_failures.Add(l->key.Text(), "duplicate");
    } else if (t->live == 1 && t->merged) {
      key_failures.Add(l->key.Text(), "merged_and_loaded");
    } else if (t->live == 1 && t->rejected_here && !ctx.later_runs) {
      key_failures.Add(l->key.Text(), "loaded_and_rejected");
    } else if (t->live == 1) {
      ++loaded;
    } else if (t->merged) {
      ++merged;
    } else if (t->rejected) {
      ++rejected;
    } else if (t->dead > 0 && t->cascaded) {
      ++cascaded;
    } else {
      key_failures.Add(l->key.Text(), t->dead > 0 ? "deleted_but_in_legacy" : "missing");
    }
    if (t->live >= 1) {
      for (size_t i = 0; i < lk.refs().size(); ++i) {
        const ColumnSpec& c = *lk.refs()[i];
        ++refs.checked;
        bool want_null = l->ref_null[i], have_null = t->ref_null[i];
        bool ok = want_null ? have_null
                  : have_null
                      ? c.on_missing == spec::OnMissing::kNullWithWarning
                      : std::string_view(l->refs[i].data(), l->refs[i].size()) == t->refs[i];
        if (!ok) {
          ref_failures.Add(l->key.Text(), c.target);
          ref_columns[c.target] = ref_columns.value(c.target, 0) + 1;
        }
      }
    }
    MM_ASSIGN_OR_RETURN(l, lk.Next());
    MM_ASSIGN_OR_RETURN(t, tk.Next());
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  keys.checked = legacy_rows;
  keys.details["legacy_rows"] = legacy_rows;
  keys.details["loaded"] = loaded;
  keys.details["rejected"] = rejected;
  keys.details["merged"] = merged;
  keys.details["cascaded"] = cascaded;  // in legacy, soft-deleted with their parent
  keys.details["deleted"] = deleted;    // soft-deleted, no longer in legacy
  keys.details["balanced"] = legacy_rows == loaded + rejected + merged + cascaded;
  keys.seconds = seconds;
  // The run's deleted count is the rows it soft-deleted.
  dels.checked = run_deleted;
  dels.details["run_deleted"] = run_deleted;
  dels.details["soft_deleted_in_run"] = deleted_here;
  if (run_deleted != deleted_here) {
    // No one row to name: the rows that differ are named by key_sets.
    dels.passed = false;
    dels.failures += std::abs(run_deleted - deleted_here);
    dels.details["count_differs"] = true;
  }
  dels.seconds = seconds;
  refs.details["columns"] = nlohmann::json::array();
  for (const ColumnSpec* c : lk.refs()) refs.details["columns"].push_back(c->target);
  refs.details["failures_by_column"] = ref_columns;
  refs.seconds = seconds;
  std::vector<CheckResult> out;
  out.push_back(std::move(keys));
  out.push_back(std::move(dels));
  if (!lk.refs().empty()) out.push_back(std::move(refs));
  return out;
}

}  // namespace medmigrate::validate
