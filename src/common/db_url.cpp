#include "common/db_url.h"

#include <array>
#include <cctype>

#include <fmt/format.h>

namespace medmigrate {

namespace {

// Masks the value after every "password=" (keyword/value strings and URL query).
std::string MaskPasswordKeywords(std::string s) {
  static constexpr std::string_view kKey = "password=";
  size_t pos = 0;
  while ((pos = s.find(kKey, pos)) != std::string::npos) {
    size_t start = pos + kKey.size();
    size_t end = start;
    if (end < s.size() && s[end] == '\'') {
      ++end;
      while (end < s.size() && s[end] != '\'') end += (s[end] == '\\' ? 2 : 1);
      end = std::min(end + 1, s.size());
    } else {
      while (end < s.size() && s[end] != '&' && s[end] != ' ') ++end;
    }
    s.replace(start, end - start, "****");
    pos = start + 4;
  }
  return s;
}

}  // namespace

std::string MaskUrl(std::string_view url) {
  std::string s(url);
  size_t scheme = 0;
  // Every URL in the text (a message may quote several).
  while ((scheme = s.find("://", scheme)) != std::string::npos) {
    size_t auth_start = scheme + 3;
    size_t auth_end = s.find_first_of("/? \t\n)'\"", auth_start);
    if (auth_end == std::string::npos) auth_end = s.size();
    // The last '@' before the path ends the userinfo (a password may hold '@').
    size_t at = s.rfind('@', auth_end == 0 ? 0 : auth_end - 1);
    if (at != std::string::npos && at >= auth_start) {
      size_t colon = s.find(':', auth_start);
      if (colon != std::string::npos && colon < at) {
        s.replace(colon + 1, at - colon - 1, "****");
      }
    }
    scheme = auth_start;
  }
  return MaskPasswordKeywords(std::move(s));
}

std::string PercentEncode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Result<std::string> BuildUrl(const UrlParts& p, std::string_view what) {
  if (p.host.empty()) return Status::InvalidArgument(fmt::format("{}: the host is not set", what));
  if (p.dbname.empty()) {
    return Status::InvalidArgument(fmt::format("{}: the database name is not set", what));
  }
  if (!p.port.empty()) {
    bool digits = p.port.size() <= 5;
    for (char c : p.port) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    if (!digits || std::stoi(p.port) < 1 || std::stoi(p.port) > 65535) {
      return Status::InvalidArgument(
          fmt::format("{}: port '{}' is not a number from 1 to 65535", what, p.port));
    }
  }
  std::string sslmode;
  if (!p.ssl.empty()) {
    std::string v;
    for (char c : p.ssl) v.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    static constexpr std::array<std::string_view, 6> kModes = {
        "disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
    if (v == "true" || v == "1" || v == "yes" || v == "on") {
      sslmode = "require";
    } else if (v == "false" || v == "0" || v == "no" || v == "off") {
      sslmode = "disable";
    } else {
      for (std::string_view m : kModes) {
        if (v == m) sslmode = v;
      }
      if (sslmode.empty()) {
        return Status::InvalidArgument(fmt::format(
            "{}: SSL setting '{}' is not understood: use true, false or an sslmode "
            "(disable, allow, prefer, require, verify-ca, verify-full)",
            what, p.ssl));
      }
    }
  }
  std::string url = "postgres://";
  if (!p.user.empty()) {
    url += PercentEncode(p.user);
    if (!p.password.empty()) url += ":" + PercentEncode(p.password);
    url += "@";
  }
  bool ipv6 = p.host.find(':') != std::string::npos;
  url += ipv6 ? "[" + p.host + "]" : p.host;
  if (!p.port.empty()) url += ":" + p.port;
  url += "/" + PercentEncode(p.dbname);
  if (!sslmode.empty()) url += "?sslmode=" + sslmode;
  return url;
}

}  // namespace medmigrate
