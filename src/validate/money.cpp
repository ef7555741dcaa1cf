// Financial reconciliation of one [[validate.money]] entry: every row's
// amount (and quantity and currency) exactly as the engine would load it,
// the sum per referenced row (`per`, e.g. per order) and per currency, all
// to the cent. Both databases stream the rows sorted by (per, key); the
// legacy rows pass through the engine's RowTransformer restricted to the
// money columns, so the rules that shaped the loaded values shape these.
#include <fmt/format.h>

#include <chrono>
#include <optional>

#include "transform/row_transformer.h"
#include "validate/checks.h"

namespace medmigrate::validate {

namespace {

using spec::ColumnSpec;

struct MoneyRow {
  std::optional<int64_t> group;  // the referenced row's legacy id; NULL sorts last
  int64_t key = 0;
  bool amount_null = false;
  Decimal amount, quantity;
  std::string currency;
  Decimal Total() const {
    Decimal d;
    // quantity is scaled by 10^9 like amount: divide once.
    d.units = amount.units * (quantity.units / 1'000'000'000);
    return d;
  }
};

// Both databases sort NULLS LAST (ascending's default, so the legacy side can
// use an index on the reference column).
bool Before(const MoneyRow& a, const MoneyRow& b) {
  if (a.group != b.group) return a.group && (!b.group || *a.group < *b.group);
  return a.key < b.key;
}

const ColumnSpec* FindColumn(const spec::EntitySpec& e, const std::string& target) {
  for (const ColumnSpec& c : e.columns) {
    if (c.target == target) return &c;
  }
  return nullptr;
}

// The legacy side: the entity's source rows through a transformer that knows
// only the money columns.
class LegacyMoney : public transform::RowSink {
 public:
  LegacyMoney(const CheckContext& ctx, const spec::EntitySpec& e, const spec::MoneyCheck& m,
              pg::Connection* conn)
      : ctx_(ctx), e_(e), m_(m), conn_(conn), stream_(conn) {}

  Status Begin() {
    reduced_.name = e_.name;
    reduced_.source_table = e_.source_table;
    reduced_.source_query = e_.source_query;
    reduced_.key = e_.key;
    for (const ColumnSpec& c : e_.columns) {
      if (c.kind == ColumnSpec::Kind::kLegacyId) reduced_.columns.push_back(c);
    }
    for (const std::string* name : {&m_.amount, &m_.quantity, &m_.currency, &m_.per}) {
      if (name->empty()) continue;
      ColumnSpec c = *FindColumn(e_, *name);
      if (c.enum_spec) c.enum_spec->raw_column.clear();
      reduced_.columns.push_back(std::move(c));
    }
    MM_ASSIGN_OR_RETURN(
        transform::RowTransformer t,
        transform::RowTransformer::Create(*ctx_.spec, reduced_,
                                          transform::TransformContext{ctx_.run.started_date}));
    transformer_.emplace(std::move(t));
    const auto& cols = transformer_->TargetColumns();
    auto index = [&](const std::string& n) -> int {
      for (size_t i = 0; i < cols.size(); ++i) {
        if (cols[i] == n) return static_cast<int>(i);
      }
      return -1;
    };
    amount_ = index(m_.amount);
    quantity_ = m_.quantity.empty() ? -1 : index(m_.quantity);
    currency_ = m_.currency.empty() ? -1 : index(m_.currency);
    std::vector<std::string> sources = reduced_.SourceColumns();
    std::string list;
    for (size_t i = 0; i < sources.size(); ++i) {
      list += (list.empty() ? "" : ", ") + conn_->QuoteIdent(sources[i]);
      if (!m_.per.empty() && sources[i] == FindColumn(e_, m_.per)->source) {
        per_source_ = static_cast<int>(i);
      }
    }
    std::string order = conn_->QuoteIdent(e_.key);
    if (per_source_ >= 0) {
      order = conn_->QuoteIdent(sources[static_cast<size_t>(per_source_)]) + ", " + order;
    }
    return stream_.Begin(
        fmt::format("SELECT {} FROM {} ORDER BY {}", list, SourceFrom(*conn_, e_), order));
  }

  // The next row the engine would load (rows it rejects are skipped).
  Result<std::optional<MoneyRow>> Next() {
    while (true) {
      MM_ASSIGN_OR_RETURN(bool more, stream_.Next());
      if (!more) return std::optional<MoneyRow>();
      const CopyRow& row = stream_.row();
      accepted_ = false;
      MM_RETURN_IF_ERROR(transformer_->Transform(row, *this));
      if (!accepted_) continue;
      if (per_source_ >= 0 && !row.IsNull(static_cast<size_t>(per_source_))) {
        current_.group = std::stoll(std::string(row.Get(static_cast<size_t>(per_source_))));
      } else {
        current_.group.reset();
      }
      return std::optional<MoneyRow>(current_);
    }
  }

  Status Accept(const transform::TargetRow& row, std::span<const transform::RowIssue>) override {
    accepted_ = true;
    current_ = MoneyRow{};
    current_.key = std::stoll(row.legacy_id);
    auto value = [&](int i, Decimal* d, bool* null) -> Status {
      if (row.nulls[static_cast<size_t>(i)]) {
        if (null) *null = true;
        return Status::Ok();
      }
      if (!Decimal::Parse(row.values[static_cast<size_t>(i)], d)) {
        return Status::DataLoss(fmt::format("{} {}: legacy id {} is not a number", e_.name,
                                            transformer_->TargetColumns()[static_cast<size_t>(i)],
                                            row.legacy_id));
      }
      return Status::Ok();
    };
    MM_RETURN_IF_ERROR(value(amount_, &current_.amount, &current_.amount_null));
    Decimal::Parse("1", &current_.quantity);
    if (quantity_ >= 0) MM_RETURN_IF_ERROR(value(quantity_, &current_.quantity, nullptr));
    if (currency_ >= 0 && !row.nulls[static_cast<size_t>(currency_)]) {
      current_.currency = row.values[static_cast<size_t>(currency_)];
    }
    return Status::Ok();
  }
  Status Reject(std::string_view, const transform::RowIssue&) override { return Status::Ok(); }

 private:
  const CheckContext& ctx_;
  const spec::EntitySpec& e_;
  const spec::MoneyCheck& m_;
  pg::Connection* conn_;
  CopyStream stream_;
  spec::EntitySpec reduced_;
  std::optional<transform::RowTransformer> transformer_;
  int amount_ = -1, quantity_ = -1, currency_ = -1, per_source_ = -1;
  bool accepted_ = false;
  MoneyRow current_;
};

class TargetMoney {
 public:
  TargetMoney(const spec::EntitySpec& e, const spec::MoneyCheck& m, pg::Connection* conn)
      : e_(e), m_(m), conn_(conn), stream_(conn) {}

  Status Begin() {
    auto col = [&](const std::string& n) { return "t." + conn_->QuoteIdent(n) + "::text"; };
    std::string sql = "SELECT t.legacy_id::text, ";
    sql += m_.per.empty() ? "NULL::text" : "p.legacy_id::text";
    sql += ", " + col(m_.amount);
    sql += ", " + (m_.quantity.empty() ? std::string("'1'") : col(m_.quantity));
    sql += ", " + (m_.currency.empty() ? std::string("''") : col(m_.currency));
    sql += " FROM public." + conn_->QuoteIdent(e_.name) + " t";
    std::string order = "t.legacy_id";
    if (!m_.per.empty()) {
      const ColumnSpec* per = FindColumn(e_, m_.per);
      sql += fmt::format(" LEFT JOIN public.{} p ON p.id = t.{}",
                         conn_->QuoteIdent(per->ref_entity), conn_->QuoteIdent(m_.per));
      order = "p.legacy_id, t.legacy_id";
    }
    sql += " WHERE t.deleted_at IS NULL ORDER BY " + order;
    return stream_.Begin(sql);
  }

  Result<std::optional<MoneyRow>> Next() {
    MM_ASSIGN_OR_RETURN(bool more, stream_.Next());
    if (!more) return std::optional<MoneyRow>();
    const CopyRow& row = stream_.row();
    MoneyRow r;
    r.key = std::stoll(std::string(row.Get(0)));
    if (!row.IsNull(1)) r.group = std::stoll(std::string(row.Get(1)));
    r.amount_null = row.IsNull(2);
    if ((!r.amount_null && !Decimal::Parse(row.Get(2), &r.amount)) ||
        (!row.IsNull(3) && !Decimal::Parse(row.Get(3), &r.quantity))) {
      return Status::DataLoss(
          fmt::format("{}: legacy id {} has an amount that is not a number", e_.name, r.key));
    }
    if (!row.IsNull(4)) r.currency = row.Get(4);
    return std::optional<MoneyRow>(std::move(r));
  }

 private:
  const spec::EntitySpec& e_;
  const spec::MoneyCheck& m_;
  pg::Connection* conn_;
  CopyStream stream_;
};

}  // namespace

Result<std::vector<CheckResult>> CheckMoney(const CheckContext& ctx, const spec::MoneyCheck& m) {
  auto started = std::chrono::steady_clock::now();
  const spec::EntitySpec& e = *ctx.spec->Find(m.entity);
  MM_ASSIGN_OR_RETURN(pg::Connection legacy, OpenLegacy(ctx));
  MM_ASSIGN_OR_RETURN(pg::Connection target, OpenTarget(ctx));
  MM_ASSIGN_OR_RETURN(pg::Connection tracking, OpenTarget(ctx));
  MM_ASSIGN_OR_RETURN(auto unloaded, UnloadedIds(tracking, ctx, e.name));
  LegacyMoney lm(ctx, e, m, &legacy);
  MM_RETURN_NOT_OK_PREPEND(lm.Begin(), "money of " + e.name + " (legacy)");
  TargetMoney tm(e, m, &target);
  MM_RETURN_NOT_OK_PREPEND(tm.Begin(), "money of " + e.name + " (target)");

  const int n = ctx.options->max_examples;
  CheckResult rows = NewCheck("completeness", "money_rows", e.name);
  rows.details["amount"] = m.amount;
  if (!m.quantity.empty()) rows.details["quantity"] = m.quantity;
  Failures row_failures(&rows, n);
  std::optional<CheckResult> groups, currencies;
  std::optional<Failures> group_failures, currency_failures;
  if (!m.per.empty()) {
    groups = NewCheck("completeness", "money_per_" + m.per, e.name);
    groups->details["sum"] = m.quantity.empty() ? m.amount : m.amount + " x " + m.quantity;
    group_failures.emplace(&*groups, n);
  }
  std::map<std::string, std::pair<Decimal, Decimal>> by_currency;

  std::optional<int64_t> group;
  bool in_group = false;
  Decimal group_legacy, group_target;
  auto close_group = [&] {
    if (!groups || !in_group) return;
    ++groups->checked;
    if (group_legacy.units != group_target.units) {
      group_failures->Add(group ? std::to_string(*group) : "NULL", "sum_differs");
    }
  };
  auto enter = [&](const MoneyRow& r) {
    if (!in_group || r.group != group) {
      close_group();
      group = r.group;
      in_group = true;
      group_legacy = Decimal{};
      group_target = Decimal{};
    }
  };

  MM_ASSIGN_OR_RETURN(std::optional<MoneyRow> l, lm.Next());
  MM_ASSIGN_OR_RETURN(std::optional<MoneyRow> t, tm.Next());
  while (l || t) {
    bool take_l = l && (!t || !Before(*t, *l));
    bool take_t = t && (!l || !Before(*l, *t));
    if (take_l && take_t && (l->key != t->key || l->group != t->group)) take_t = false;
    if (take_l && !take_t && unloaded.count(std::to_string(l->key))) {
      MM_ASSIGN_OR_RETURN(l, lm.Next());
      continue;
    }
    const MoneyRow& any = take_l ? *l : *t;
    enter(any);
    std::string id = std::to_string(any.key);
    ++rows.checked;
    if (take_l) {
      group_legacy.units += l->Total().units;
      by_currency[l->currency].first.units += l->Total().units;
    }
    if (take_t) {
      group_target.units += t->Total().units;
      by_currency[t->currency].second.units += t->Total().units;
    }
    if (take_l && take_t) {
      if (l->amount.units != t->amount.units || l->amount_null != t->amount_null) {
        row_failures.Add(id, m.amount);
      } else if (l->quantity.units != t->quantity.units) {
        row_failures.Add(id, m.quantity);
      } else if (l->currency != t->currency) {
        row_failures.Add(id, m.currency);
      }
    } else if (take_l) {
      // A row absent under this group: missing, or moved to another one.
      row_failures.Add(id, m.per.empty() ? "missing" : "missing_under_" + m.per);
    } else {
      row_failures.Add(id, m.per.empty() ? "not_in_legacy" : "extra_under_" + m.per);
    }
    if (take_l) {
      MM_ASSIGN_OR_RETURN(l, lm.Next());
    }
    if (take_t) {
      MM_ASSIGN_OR_RETURN(t, tm.Next());
    }
  }
  close_group();

  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::vector<CheckResult> out;
  rows.seconds = seconds;
  out.push_back(std::move(rows));
  if (groups) {
    groups->seconds = seconds;
    out.push_back(std::move(*groups));
  }
  if (!m.currency.empty()) {
    currencies = NewCheck("completeness", "money_per_currency", e.name);
    currency_failures.emplace(&*currencies, n);
    nlohmann::json totals = nlohmann::json::object();
    for (const auto& [code, sums] : by_currency) {
      ++currencies->checked;
      // Aggregates over many rows: not any one patient's data.
      totals[code.empty() ? "(none)" : code] = {{"legacy", sums.first.Text()},
                                                {"target", sums.second.Text()}};
      if (sums.first.units != sums.second.units) {
        currency_failures->Add(code.empty() ? "(none)" : code, "sum_differs");
      }
    }
    currencies->details["totals"] = totals;
    currencies->seconds = seconds;
    out.push_back(std::move(*currencies));
  }
  return out;
}

}  // namespace medmigrate::validate
