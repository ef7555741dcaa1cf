#include "transform/row_transformer.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace medmigrate::transform {

namespace {

using spec::ColumnSpec;
using spec::Rule;

const std::string kIdColumn = "id";

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// local@domain.tld: one '@', a non-empty local part, a dotted domain, no spaces.
bool LooksLikeEmail(std::string_view v) {
  size_t at = v.find('@');
  if (at == std::string_view::npos || at == 0 || v.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  std::string_view domain = v.substr(at + 1);
  size_t dot = domain.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= domain.size()) return false;
  if (domain.find("..") != std::string_view::npos) return false;
  return std::none_of(v.begin(), v.end(), [](char c) {
    return IsSpace(c) || static_cast<unsigned char>(c) < 0x20;
  });
}

}  // namespace

Result<RowTransformer> RowTransformer::Create(const spec::MappingSpec& spec,
                                              const spec::EntitySpec& entity,
                                              TransformContext context) {
  RowTransformer t;
  t.entity_ = &entity;
  t.context_ = std::move(context);
  MM_ASSIGN_OR_RETURN(ids::UuidDerivation uuids, ids::UuidDerivation::Create(spec.uuid_namespace));
  t.uuids_.emplace(std::move(uuids));

  const std::vector<std::string> sources = entity.SourceColumns();
  auto source_index = [&](const std::string& name) -> int {
    auto it = std::find(sources.begin(), sources.end(), name);
    return it == sources.end() ? -1 : static_cast<int>(it - sources.begin());
  };
  if (entity.explode) t.explode_source_ = source_index(entity.explode->column);

  t.columns_.push_back(kIdColumn);
  t.plan_.push_back(Plan{});
  for (const ColumnSpec& c : entity.columns) {
    Plan p;
    p.column = &c;
    if (!entity.explode || c.kind == ColumnSpec::Kind::kReference) {
      p.source_index = source_index(c.source);
    }
    t.columns_.push_back(c.target);
    t.plan_.push_back(p);
  }
  // Raw columns: listed ones are taken over; unlisted ones are appended.
  for (size_t i = 1; i < entity.columns.size() + 1; ++i) {
    if (t.plan_[i].column == nullptr) continue;  // itself the raw column of an earlier one
    const ColumnSpec& c = *t.plan_[i].column;
    std::string raw = c.kind == ColumnSpec::Kind::kJson ? c.raw_column
                      : c.enum_spec                    ? c.enum_spec->raw_column
                                                       : "";
    if (raw.empty()) continue;
    auto it = std::find(t.columns_.begin(), t.columns_.end(), raw);
    size_t r;
    if (it == t.columns_.end()) {
      t.columns_.push_back(raw);
      t.plan_.push_back(Plan{});
      r = t.plan_.size() - 1;
    } else {
      r = static_cast<size_t>(it - t.columns_.begin());
    }
    t.plan_[r].raw_of = static_cast<int>(i);
    t.plan_[r].column = nullptr;
    t.plan_[i].raw_target = static_cast<int>(r);
  }
  auto merges_of = [&](const std::string& name) -> const MergeMap* {
    if (t.context_.merges == nullptr) return nullptr;
    auto it = t.context_.merges->find(name);
    return it == t.context_.merges->end() || it->second.empty() ? nullptr : &it->second;
  };
  t.own_merges_ = merges_of(entity.name);
  for (size_t i = 0; i < t.plan_.size(); ++i) {
    Plan& p = t.plan_[i];
    if (p.column && p.column->kind == ColumnSpec::Kind::kReference) {
      t.references_.push_back(ReferenceColumn{i, p.column});
      if (p.column->follow_merges) p.merges = merges_of(p.column->ref_entity);
    }
    bool needs_source = p.column && (p.column->kind == ColumnSpec::Kind::kValue ||
                                     p.column->kind == ColumnSpec::Kind::kJson ||
                                     p.column->kind == ColumnSpec::Kind::kReference);
    if (needs_source && !entity.explode && p.source_index < 0) {
      return Status::InvalidArgument(fmt::format("{}.{}: source column '{}' is not read",
                                                 entity.name, p.column->target, p.column->source));
    }
  }
  t.row_.values.resize(t.columns_.size());
  t.row_.nulls.resize(t.columns_.size());
  return t;
}

void RowTransformer::SetNull(size_t i) {
  row_.values[i].clear();
  row_.nulls[i] = 1;
}

void RowTransformer::SetValue(size_t i, std::string_view v) {
  row_.values[i].assign(v.data(), v.size());
  row_.nulls[i] = 0;
}

bool RowTransformer::ApplyRules(const ColumnSpec& c, bool* is_null, std::string* v) {
  for (const Rule& r : c.rules) {
    if (*is_null && r.kind != Rule::Kind::kDefault) continue;
    switch (r.kind) {
      case Rule::Kind::kTrim: {
        size_t b = 0, e = v->size();
        while (b < e && IsSpace((*v)[b])) ++b;
        while (e > b && IsSpace((*v)[e - 1])) --e;
        v->erase(e);
        v->erase(0, b);
        break;
      }
      case Rule::Kind::kLower:
        for (char& ch : *v) {
          if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
        }
        break;
      case Rule::Kind::kUpper:
        for (char& ch : *v) {
          if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
        }
        break;
      case Rule::Kind::kNullIfEmpty:
        if (v->empty()) *is_null = true;
        break;
      case Rule::Kind::kReplace: {
        if (r.from.empty()) break;
        size_t pos = 0;
        while ((pos = v->find(r.from, pos)) != std::string::npos) {
          v->replace(pos, r.from.size(), r.to);
          pos += r.to.size();
        }
        break;
      }
      case Rule::Kind::kNullIf:
        if (std::find(r.values.begin(), r.values.end(), *v) != r.values.end()) {
          *is_null = true;
          if (!r.reason.empty()) warnings_.push_back(RowIssue{&c.target, &r.reason});
        }
        break;
      case Rule::Kind::kNullIfFutureDate:
        if (v->size() >= 10 && std::string_view(*v).substr(0, 10) > context_.run_date) {
          *is_null = true;
          if (!r.reason.empty()) warnings_.push_back(RowIssue{&c.target, &r.reason});
        }
        break;
      case Rule::Kind::kEmail:
        if (!LooksLikeEmail(*v)) {
          *is_null = true;
          if (!r.reason.empty()) warnings_.push_back(RowIssue{&c.target, &r.reason});
        }
        break;
      case Rule::Kind::kDefault:
        if (*is_null || v->empty()) {
          *is_null = false;
          *v = r.to;
        }
        break;
    }
  }
  return true;
}

bool RowTransformer::FillColumn(size_t i, bool is_null, std::string_view value) {
  const Plan& p = plan_[i];
  const ColumnSpec& c = *p.column;
  switch (c.kind) {
    case ColumnSpec::Kind::kReference:
      if (is_null) {
        SetNull(i);
      } else {
        if (p.merges) {
          auto it = p.merges->find(value);
          if (it != p.merges->end()) value = it->second;
        }
        uuids_->Derive(c.ref_entity, value, &uuid_);
        SetValue(i, std::string_view(uuid_.data(), uuid_.size()));
      }
      return true;
    case ColumnSpec::Kind::kJson:
      if (is_null) {
        SetNull(i);
      } else if (nlohmann::json::accept(value)) {
        SetValue(i, value);
      } else {
        SetNull(i);
        if (p.raw_target >= 0) SetValue(static_cast<size_t>(p.raw_target), value);
        warnings_.push_back(RowIssue{&c.target, &c.invalid_reason});
      }
      return true;
    case ColumnSpec::Kind::kLegacyId:
      SetValue(i, row_.legacy_id);
      return true;
    case ColumnSpec::Kind::kPosition:
      return true;  // set by TransformExplode
    case ColumnSpec::Kind::kValue:
      break;
  }
  scratch_.assign(value.data(), value.size());
  ApplyRules(c, &is_null, &scratch_);
  if (c.enum_spec && !is_null) {
    const spec::EnumSpec& e = *c.enum_spec;
    auto alias = e.aliases.find(scratch_);
    if (alias != e.aliases.end()) scratch_ = alias->second;
    if (std::find(e.values.begin(), e.values.end(), scratch_) == e.values.end()) {
      if (!e.unknown) {
        issue_ = RowIssue{&c.target, &e.reason};
        return false;
      }
      scratch_ = *e.unknown;
      warnings_.push_back(RowIssue{&c.target, &e.reason});
      if (p.raw_target >= 0) SetValue(static_cast<size_t>(p.raw_target), value);
    }
  }
  if (is_null) {
    if (c.required) {
      issue_ = RowIssue{&c.target, &c.check_reason};
      return false;
    }
    SetNull(i);
    return true;
  }
  if (c.min || c.max) {
    int64_t n = 0;
    auto [end, ec] = std::from_chars(scratch_.data(), scratch_.data() + scratch_.size(), n);
    if (ec != std::errc() || end != scratch_.data() + scratch_.size() || (c.min && n < *c.min) ||
        (c.max && n > *c.max)) {
      issue_ = RowIssue{&c.target, &c.check_reason};
      return false;
    }
  }
  SetValue(i, scratch_);
  return true;
}

Status RowTransformer::Transform(const CopyRow& source, RowSink& sink) {
  if (entity_->explode) return TransformExplode(source, sink);
  warnings_.clear();
  row_.legacy_id.assign(source.Get(0));
  if (own_merges_ && own_merges_->count(std::string_view(row_.legacy_id))) {
    return sink.Merge(row_.legacy_id);
  }
  uuids_->Derive(entity_->name, row_.legacy_id, &uuid_);
  SetValue(0, std::string_view(uuid_.data(), uuid_.size()));
  // Raw columns are NULL unless their column falls back below.
  for (size_t i = 1; i < plan_.size(); ++i) {
    if (plan_[i].raw_of >= 0) SetNull(i);
  }
  for (size_t i = 1; i < plan_.size(); ++i) {
    const Plan& p = plan_[i];
    if (p.column == nullptr) continue;
    bool is_null = p.source_index >= 0 && source.IsNull(static_cast<size_t>(p.source_index));
    std::string_view value =
        p.source_index >= 0 ? source.Get(static_cast<size_t>(p.source_index)) : std::string_view();
    if (!FillColumn(i, is_null, value)) return sink.Reject(row_.legacy_id, issue_);
  }
  return sink.Accept(row_, warnings_);
}

Status RowTransformer::TransformExplode(const CopyRow& source, RowSink& sink) {
  if (explode_source_ < 0 || source.IsNull(static_cast<size_t>(explode_source_))) {
    return Status::Ok();
  }
  nlohmann::json array = nlohmann::json::parse(source.Get(static_cast<size_t>(explode_source_)),
                                                nullptr, /*allow_exceptions=*/false);
  if (!array.is_array()) return Status::Ok();  // the parent's JSON column warns about it
  const std::string parent_key(source.Get(0));
  std::string field;
  for (size_t pos = 0; pos < array.size(); ++pos) {
    const nlohmann::json& element = array[pos];
    warnings_.clear();
    row_.legacy_id = fmt::format("{}:{}", parent_key, pos);
    uuids_->Derive(entity_->name, row_.legacy_id, &uuid_);
    SetValue(0, std::string_view(uuid_.data(), uuid_.size()));
    bool rejected = false;
    for (size_t i = 1; i < plan_.size() && !rejected; ++i) {
      const Plan& p = plan_[i];
      if (p.raw_of >= 0) {
        SetNull(i);
        continue;
      }
      const ColumnSpec& c = *p.column;
      if (c.kind == ColumnSpec::Kind::kPosition) {
        SetValue(i, std::to_string(pos));
        continue;
      }
      if (c.kind == ColumnSpec::Kind::kReference &&
          (c.source.empty() || c.source == entity_->key)) {
        rejected = !FillColumn(i, false, parent_key);
        continue;
      }
      bool is_null = true;
      field.clear();
      if (element.is_object()) {
        auto it = element.find(c.source);
        if (it != element.end() && !it->is_null()) {
          is_null = false;
          field = it->is_string() ? it->get<std::string>() : it->dump();
        }
      }
      rejected = !FillColumn(i, is_null, field);
    }
    if (rejected) {
      MM_RETURN_IF_ERROR(sink.Reject(row_.legacy_id, issue_));
    } else {
      MM_RETURN_IF_ERROR(sink.Accept(row_, warnings_));
    }
  }
  return Status::Ok();
}

}  // namespace medmigrate::transform
