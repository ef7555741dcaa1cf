#include "generate/ground_truth.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "generate/vocabulary.h"

namespace medmigrate::generate {

void TableTruth::AddFact(std::string_view fact, int64_t id) {
  auto it = facts.find(fact);
  if (it == facts.end()) it = facts.emplace(std::string(fact), std::vector<int64_t>{}).first;
  it->second.push_back(id);
}

void TableTruth::CountValue(std::string_view column, std::string_view raw) {
  auto col = values.find(column);
  if (col == values.end()) {
    col = values.emplace(std::string(column), std::map<std::string, int64_t, std::less<>>{}).first;
  }
  auto it = col->second.find(raw);
  if (it == col->second.end()) it = col->second.emplace(std::string(raw), 0).first;
  ++it->second;
}

void TableTruth::CountText(std::string_view column, uint8_t flags) {
  static constexpr std::array<std::pair<uint8_t, std::string_view>, 6> kNames = {{
      {kTextHtml, "html"},
      {kTextControl, "control"},
      {kTextTabNewline, "tab_newline"},
      {kTextBackslash, "backslash"},
      {kTextQuote, "quote"},
      {kTextNonAscii, "non_ascii"},
  }};
  if (flags == 0) return;
  auto col = free_text.find(column);
  if (col == free_text.end()) {
    col = free_text.emplace(std::string(column), std::map<std::string, int64_t, std::less<>>{})
              .first;
  }
  for (const auto& [bit, name] : kNames) {
    if ((flags & bit) == 0) continue;
    auto it = col->second.find(name);
    if (it == col->second.end()) it = col->second.emplace(std::string(name), 0).first;
    ++it->second;
  }
}

nlohmann::json GroundTruth::ToJson() const {
  using nlohmann::json;
  json j;
  j["format"] = "medmigrate.legacy-truth.v1";
  j["seed"] = seed;
  j["scale"] = scale;
  json tables_json = json::object();
  json facts = json::object();
  json values = json::object();
  json free_text = json::object();
  for (const TableInfo& info : kTables) {
    const TableTruth& t = of(info.table);
    tables_json[std::string(info.name)] = {{"rows", t.rows}, {"id_max", t.id_max}};
    for (const auto& [name, ids] : t.facts) facts[name] = ids;
    for (const auto& [column, counts] : t.values) {
      json c = json::object();
      for (const auto& [raw, n] : counts) c[raw] = n;
      values[column] = c;
    }
    for (const auto& [column, counts] : t.free_text) {
      json c = json::object();
      for (const auto& [kind, n] : counts) c[kind] = n;
      free_text[column] = c;
    }
  }
  j["tables"] = tables_json;
  json clusters = json::array();
  for (const auto& [root, c] : of(Table::kPatient).clusters) {
    json patient_ids = json::array({c.root_patient_id});
    json user_ids = json::array({c.root_user_id});
    json dups = json::array();
    for (const DuplicateMember& m : c.duplicates) {
      patient_ids.push_back(m.patient_id);
      user_ids.push_back(m.user_id);
      dups.push_back(
          {{"patient_id", m.patient_id}, {"user_id", m.user_id}, {"variations", m.variations}});
    }
    clusters.push_back({{"patient_ids", patient_ids}, {"user_ids", user_ids}, {"duplicates", dups}});
  }
  j["duplicate_clusters"] = clusters;
  json groups = json::array();
  for (const DistinctGroup& g : of(Table::kPatient).distinct_groups) {
    groups.push_back({{"kind", g.kind}, {"patient_ids", g.patient_ids}, {"user_ids", g.user_ids}});
  }
  j["distinct_groups"] = groups;
  j["facts"] = facts;
  j["values"] = values;
  j["free_text"] = free_text;
  j["shared_emails"] = shared_emails;
  return j;
}

Status WriteJsonFile(const std::string& path, const nlohmann::json& json) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) {
      return Status::InvalidArgument(
          fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
    }
    out << json.dump(1) << "\n";
    if (!out.flush()) {
      return Status::Internal(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::Internal(
        fmt::format("cannot rename {} to {}: {}", tmp, path, std::strerror(errno)));
  }
  return Status::Ok();
}

}  // namespace medmigrate::generate
