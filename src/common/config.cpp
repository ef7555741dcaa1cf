#include "common/config.h"

#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "common/db_url.h"

namespace medmigrate {

namespace {

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

bool ValidKey(std::string_view k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  for (char c : k) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

}  // namespace

Result<std::map<std::string, std::string>> ReadDotEnv(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(fmt::format("{} does not exist", path));
  std::map<std::string, std::string> vars;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (t.rfind("export ", 0) == 0) t = Trim(std::string_view(t).substr(7));
    size_t eq = t.find('=');
    std::string key = Trim(std::string_view(t).substr(0, eq == std::string::npos ? 0 : eq));
    if (eq == std::string::npos || !ValidKey(key)) {
      return Status::InvalidArgument(
          fmt::format("{} line {}: expected KEY=VALUE with a name of letters, digits and _",
                      path, number));
    }
    std::string raw = Trim(std::string_view(t).substr(eq + 1));
    std::string value;
    if (!raw.empty() && (raw[0] == '\'' || raw[0] == '"')) {
      char q = raw[0];
      size_t i = 1;
      bool closed = false;
      for (; i < raw.size(); ++i) {
        char c = raw[i];
        if (c == q) {
          closed = true;
          break;
        }
        if (q == '"' && c == '\\' && i + 1 < raw.size()) {
          char n = raw[++i];
          value.push_back(n == 'n' ? '\n' : n == 't' ? '\t' : n);
        } else {
          value.push_back(c);
        }
      }
      std::string rest = closed ? Trim(std::string_view(raw).substr(i + 1)) : "";
      if (!closed || (!rest.empty() && rest[0] != '#')) {
        return Status::InvalidArgument(
            fmt::format("{} line {}: the quoted value of {} is not closed", path, number, key));
      }
    } else {
      size_t hash = raw.find(" #");
      value = Trim(std::string_view(raw).substr(0, hash));
    }
    vars[key] = value;
  }
  return vars;
}

VariableLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

VariableLookup Layered(VariableLookup first, VariableLookup second) {
  return [first = std::move(first),
          second = std::move(second)](const std::string& name) -> std::optional<std::string> {
    if (auto v = first(name)) return v;
    return second(name);
  };
}

VariableLookup FromMap(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Result<std::optional<DatabaseUrl>> ResolveDatabaseUrl(DatabaseRole role,
                                                      const std::optional<std::string>& flag,
                                                      const VariableLookup& vars) {
  const bool legacy = role == DatabaseRole::kLegacy;
  // Whatever the URL holds as a password is masked in every message from now
  // on, however it is spelled (common/db_url.h).
  if (flag && !flag->empty()) {
    RegisterUrlSecrets(*flag);
    return std::optional<DatabaseUrl>(DatabaseUrl{*flag, legacy ? "--legacy-url" : "--target-url"});
  }
  const std::string url_var = legacy ? "MEDMIGRATE_LEGACY_URL" : "MEDMIGRATE_TARGET_URL";
  if (auto v = vars(url_var); v && !v->empty()) {
    RegisterUrlSecrets(*v);
    return std::optional<DatabaseUrl>(DatabaseUrl{*v, url_var});
  }
  if (!legacy) return std::optional<DatabaseUrl>();
  UrlParts parts;
  bool any = false;
  auto get = [&](const char* name, std::string& out) {
    if (auto v = vars(name); v && !v->empty()) {
      out = *v;
      any = true;
    }
  };
  get("LEGACY_DB_HOST", parts.host);
  get("LEGACY_DB_PORT", parts.port);
  get("LEGACY_DB_NAME", parts.dbname);
  get("LEGACY_DB_USER", parts.user);
  get("LEGACY_DB_PASSWORD", parts.password);
  get("LEGACY_DB_SSL", parts.ssl);
  if (!any) return std::optional<DatabaseUrl>();
  RegisterSecret(parts.password);
  MM_ASSIGN_OR_RETURN(std::string url, BuildUrl(parts, "LEGACY_DB_* variables"));
  return std::optional<DatabaseUrl>(DatabaseUrl{url, "LEGACY_DB_* variables"});
}

}  // namespace medmigrate
