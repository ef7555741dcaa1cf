#include "spec/mapping_spec.h"

#include <algorithm>

namespace medmigrate::spec {

std::vector<std::string> EntitySpec::SourceColumns() const {
  std::vector<std::string> out = {key};
  auto add = [&](const std::string& c) {
    if (!c.empty() && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  };
  if (explode) {
    add(explode->column);
    return out;  // child columns read fields of the array's elements, not the source row
  }
  for (const ColumnSpec& c : columns) {
    if (c.kind == ColumnSpec::Kind::kValue || c.kind == ColumnSpec::Kind::kReference ||
        c.kind == ColumnSpec::Kind::kJson) {
      add(c.source);
    }
  }
  if (!updated_at.empty()) add(updated_at);
  return out;
}

const EntitySpec* MappingSpec::Find(const std::string& entity) const {
  for (const EntitySpec& e : entities) {
    if (e.name == entity) return &e;
  }
  return nullptr;
}

}  // namespace medmigrate::spec
